"""The exact least-squares Y step: PᵀP (d×n×d), PᵀB and a d×d Cholesky solve."""

from ._common import StageSuite


class YSolveN(StageSuite):
    """Time against n at the grid's fixed d (claim: ∝ n², the n×n×d product dominates)."""

    stage = "y_solve"
    sweep = "n"


class YSolveD(StageSuite):
    """Time against d at the grid's fixed n (claim: ∝ d^(ω−2) while n ≫ d)."""

    stage = "y_solve"
    sweep = "d"

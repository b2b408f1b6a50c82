"""The exact least-squares Y step: the logits and P = S A3, a thin SVD of P and V Σ⁺ Uᵀ B (docs/maths.md §3)."""

from ._common import StageSuite


class YSolveN(StageSuite):
    """Time against n at the grid's fixed d (claim: ∝ n², the n×n×d product dominates)."""

    stage = "y_solve"
    sweep = "n"


class YSolveD(StageSuite):
    """Time against d at the grid's fixed n (claim: ∝ d^(ω−2) while n ≫ d)."""

    stage = "y_solve"
    sweep = "d"

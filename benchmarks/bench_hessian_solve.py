"""Cholesky solve with a d²×d² Hessian: the d^{2ω} term of the claim."""

from ._common import StageSuite


class HessianSolveD(StageSuite):
    """Time against d at the grid's fixed n (claim: ∝ d^(2ω), d⁶ classically, at large d)."""

    stage = "hessian_solve"
    sweep = "solve_d"

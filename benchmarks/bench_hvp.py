"""Hessian–vector product H_X·vec(D) without forming the d²×d² Hessian."""

from ._common import StageSuite


class HvpN(StageSuite):
    """Time against n at the grid's fixed d (claim: ∝ n²)."""

    stage = "hvp"
    sweep = "n"


class HvpD(StageSuite):
    """Time against d at the grid's fixed n (claim: ∝ d^(ω−2) while n ≫ d)."""

    stage = "hvp"
    sweep = "d"

"""Loss gradients ∇_X L and ∇_Y L: the same products as the forward pass, about three times over."""

from ._common import StageSuite


class GradientN(StageSuite):
    """Time against n at the grid's fixed d (claim: ∝ n²)."""

    stage = "gradient"
    sweep = "n"


class GradientD(StageSuite):
    """Time against d at the grid's fixed n (claim: ∝ d^(ω−2) while n ≫ d)."""

    stage = "gradient"
    sweep = "d"

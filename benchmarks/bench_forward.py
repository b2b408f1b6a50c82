"""Logits A1·X·A2ᵀ, row softmax and output S·(A3·Y): the n×n×d and n×d×d products (docs/maths.md §7)."""

from ._common import StageSuite


class ForwardN(StageSuite):
    """Time against n at the grid's fixed d (claim: ∝ n²)."""

    stage = "forward"
    sweep = "n"


class ForwardD(StageSuite):
    """Time against d at the grid's fixed n (claim: ∝ d^(ω−2) while n ≫ d)."""

    stage = "forward"
    sweep = "d"

"""Assembly of the structured d²×d² X-Hessian: S@K (n×n×d²) and the d²×n×d² Kronecker product."""

from ._common import StageSuite


class HessianAssemblyD(StageSuite):
    """Time against d at the grid's fixed n (claim: ∝ d⁴ classically while n < d²)."""

    stage = "hessian_assembly"
    sweep = "solve_d"


class HessianAssemblyAcross(StageSuite):
    """Time against n at the grid's d values, across n = d² (n²d² and n·d⁴ overtake d⁶ beyond it)."""

    stage = "hessian_assembly"
    sweep = "cross_n"

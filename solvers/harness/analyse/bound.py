"""Does the claim's upper bound hold along a sweep? Time over the claim's own cost, fitted.

The claim is an Õ bound: time ≤ C·(n²d + nd² + d^{2ω}) up to logarithms. For one stage, the
*claim's cost* is the named terms that apply to it (:attr:`solvers.harness.claims.Claim.bound_terms`),
their constants fitted by non-negative least squares over all the stage's undisturbed,
compute-bound sizes (:func:`solvers.harness.analyse.costmodel.fit_cost_model`). Along a sweep the
bound **holds** when the ratio time / cost has no upward trend: the whole confidence interval of
the slope of log(ratio) against log(size) lies at or below +δ; it **does not hold** when the
interval lies entirely above +δ; otherwise the verdict is **inconclusive**. A stage that grows
more slowly than the bound where the bound's term does not yet dominate is consistent with it;
whether the bound is tight is the other question (the exponent fitted where the claimed term
dominates, :mod:`solvers.harness.analyse.scaling`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..claims import CLAIMS, Rule
from .costmodel import CostModel, fit_cost_model, separable_terms
from .disturbance import fit_time
from .fits import Fit, fit_loglog


@dataclass
class Bound:
    """The bound verdict of one stage along one sweep.

    Attributes
    ----------
    verdict : str
        "holds", "does not hold" or "inconclusive".
    why : str
        The reason, computed from the data.
    terms : list of str
        The named terms whose fitted sum is the claim's cost here.
    fit : Fit or None
        Slope of log(time / cost) against log(size), with its CI.
    sizes : list of int
        The sizes of the sweep the ratio was fitted over.
    """

    verdict: str = "inconclusive"
    why: str = ""
    terms: list[str] = field(default_factory=list)
    fit: Fit | None = None
    sizes: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "fit": asdict(self.fit) if self.fit else None}


def bound_model(points: Sequence[dict[str, Any]], stage: str, backend: str) -> CostModel | None:
    """The claim's cost for ``stage``: its named terms fitted over ``points`` (undisturbed, compute-bound),
    or None when the stage has no claim or the sizes cannot separate its terms."""
    spec = CLAIMS.get(stage)
    sizes = [(r["n"], r["d"]) for r in points]
    if spec is None or not spec.bound_terms or not sizes:
        return None
    terms = separable_terms(spec.bound_terms, sizes)
    if len(set(sizes)) <= len(terms):
        return None
    return fit_cost_model(sizes, [fit_time(r) for r in points], terms, stage, backend)


def judge_bound(model: CostModel | None, points: Sequence[dict[str, Any]], axis: str, rule: Rule) -> Bound:
    """The bound verdict along one sweep: ``points`` are its undisturbed, compute-bound sizes, in order."""
    if model is None:
        return Bound(why="no cost model of the claim's named terms for this stage (too few distinct sizes)")
    result = Bound(terms=list(model.terms), sizes=[r[axis] for r in points])
    if len(points) < 3:
        result.why = f"only {len(points)} undisturbed compute-bound size(s) along the sweep: needs at least three"
        return result
    ratios = [fit_time(r) / model.predict(r["n"], r["d"]) for r in points]
    if not all(math.isfinite(v) and v > 0 for v in ratios):
        result.why = "the fitted cost is zero at some size of the sweep"
        return result
    result.fit = fit = fit_loglog(result.sizes, ratios, rule.confidence)
    ci = f"time / ({' + '.join(model.terms)}) grows as size^{fit.slope:.2f}, {rule.confidence:.0%} CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}]"
    if fit.ci_high <= rule.delta:
        result.verdict, result.why = "holds", f"{ci}: no upward trend beyond +{rule.delta:g}"
    elif fit.ci_low > rule.delta:
        result.verdict, result.why = "does not hold", f"{ci}: entirely above +{rule.delta:g}"
    else:
        result.why = f"{ci} reaches above +{rule.delta:g}"
    return result

"""Scaling of one stage along one sweep: the log–log slope of its time against n or d over the
compute-bound sizes where the stage's cost model puts the time in the terms of the claimed
exponent, and the verdict on that slope (equivalence test, :mod:`solvers.harness.analyse.equivalence`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..claims import CLAIMS, DEFAULT_SWEEPS, OMEGA_BEST, OMEGA_CLASSICAL, SWEEP_AXES, TERMS, Rule
from .bound import Bound, judge_bound
from .costmodel import MAX_MODEL_ERROR, CostModel
from .disturbance import cautious, disturbed, fit_time
from .equivalence import judge
from .fits import Fit, fit_loglog, local_slopes

#: Points faster than this are launch/overhead-bound and never enter a fit (seconds).
MIN_FIT_TIME = 1e-3
#: Sweeps that only feed the cost models: no exponent is fitted or judged along them.
MODEL_ONLY_SWEEPS = ("plane",)
#: Untagged records (asv) form a line of the sweep across n = d² from this many values of n at one d.
MIN_CROSS_SIZES = 4
#: A size enters a slope fit only where the cost model gives the terms growing with the claimed
#: exponent at least this share of the time (so the fitted slope can differ from the claimed
#: one by at most a quarter of the other terms' exponent gap).
REGIME_SHARE = 0.75


@dataclass
class ScalingResult:
    """The scaling of one stage on one backend along one sweep, and the verdict.

    Attributes
    ----------
    stage, backend, sweep, axis : str
        What was fitted: time against ``axis`` ("n" or "d") along ``sweep``.
    fixed : int or None
        The other size, held fixed.
    expected : float or None
        Exponent implied by the claim with classical products (ω = 3).
    expected_best : float or None
        Exponent implied with ω ≈ 2.37.
    fit : Fit or None
        Fitted on the compute-bound points only.
    flop_slope : float or None
        Exponent of the stage's classical flop count over the same points.
    used, excluded : list
        Sizes used in the fit, and ``(size, why)`` for those left out.
    local : list of float
        Exponents between consecutive sizes used in the fit.
    verdict : str
        Whether the claimed exponent is tight: "holds", "does not hold", "inconclusive" or "no data".
    why : str
        The reason for the verdict, in words, computed from the data.
    regime : list of str
        The cost-model terms whose exponent along the axis is the claimed one (the named ones
        where the claim names any); the fit uses only sizes where they hold at least
        :data:`REGIME_SHARE` of the modelled time (empty: no cost model for this stage, every
        compute-bound size is used).
    bound : Bound
        Whether the claim's upper bound holds along the whole sweep (:mod:`solvers.harness.analyse.bound`).
    points : list of dict
        The stage points of the sweep (what the figures draw; not in :meth:`to_dict`).
    fractions : list of (int, float)
        (size, achieved fraction of the backend's matrix-product rate) of the measured, undisturbed
        points that have a flop count (not in :meth:`to_dict`).
    """

    stage: str
    backend: str
    sweep: str
    axis: str
    fixed: int | None
    expected: float | None
    expected_best: float | None
    fit: Fit | None
    flop_slope: float | None
    used: list[int] = field(default_factory=list)
    excluded: list[tuple[int, str]] = field(default_factory=list)
    local: list[float] = field(default_factory=list)
    verdict: str = "no data"
    why: str = ""
    regime: list[str] = field(default_factory=list)
    bound: Bound = field(default_factory=Bound)
    points: list[dict[str, Any]] = field(default_factory=list, repr=False)
    fractions: list[tuple[int, float]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the fit and the verdict (the points stay in ``measurements.json``)."""
        out = asdict(replace(self, points=[], fractions=[]))
        del out["points"], out["fractions"]
        out["fit"] = asdict(self.fit) if self.fit else None
        out["bound"] = self.bound.to_dict()
        return out


def fraction_of_peak(record: dict[str, Any], gemm: float | None) -> float | None:
    """Achieved FLOP/s of a measured point as a fraction of the backend's matrix-product rate (``None``
    where it was not measured, has no flop count or rate, or was disturbed: its time is not the stage's)."""
    if record["status"] != "ok" or not record.get("flops") or not gemm or disturbed(record):
        return None
    return record["flops"] / record["median"] / gemm


def sweep_records(records: Iterable[dict[str, Any]], stage: str, backend: str, sweep: str,
                  fixed: int | None = None) -> list[dict[str, Any]]:
    """The records of ``stage``/``backend`` on ``sweep``, sorted by the varied size.

    Records tagged with ``"sweeps"`` are selected by tag (and by the other size ``fixed``
    when given: a sweep may run at several). Untagged records (asv results) are grouped by
    the other size: the group at ``fixed`` when given, else the one with the most distinct
    varied sizes. The ``wide_d`` sweep holds only sizes with d > n.
    """
    axis = SWEEP_AXES[sweep][0]
    other = "d" if axis == "n" else "n"
    mine = _mine(records, stage, backend, sweep)
    if any("sweeps" in r for r in mine):
        chosen = [r for r in mine if sweep in r.get("sweeps", ()) and fixed in (None, r[other])]
    else:
        groups = _untagged_groups(mine, stage, sweep)
        if not groups:
            return []
        chosen = (groups.get(fixed, []) if fixed is not None else
                  max(groups.values(), key=lambda g: (len({r[axis] for r in g}), -min(r[other] for r in g))))
    return sorted(chosen, key=lambda r: r[axis])


def _mine(records: Iterable[dict[str, Any]], stage: str, backend: str, sweep: str) -> list[dict[str, Any]]:
    """The records of ``stage``/``backend`` whose size can lie on ``sweep``: every one, except that ``wide_d``
    (T_mat(n,d,d), :data:`~solvers.harness.claims.SWEEP_AXES`) holds only sizes with d > n, tagged or not."""
    return [r for r in records if r["stage"] == stage and r["backend"] == backend
            and (sweep != "wide_d" or r["d"] > r["n"])]


def _untagged_groups(mine: list[dict[str, Any]], stage: str, sweep: str) -> dict[int, list[dict[str, Any]]]:
    """Untagged records of one stage and backend grouped by the size ``sweep`` holds fixed."""
    if sweep not in (CLAIMS[stage].sweeps if stage in CLAIMS else DEFAULT_SWEEPS):
        return {}
    other = "d" if SWEEP_AXES[sweep][0] == "n" else "n"
    groups: dict[int, list[dict[str, Any]]] = {}
    for r in mine:
        groups.setdefault(r[other], []).append(r)
    return groups


def _explain(result: ScalingResult, records: list[dict[str, Any]], gemm: float | None, tolerance: float) -> str:
    """Why a fit disagrees with the claim, from the flop model and the achieved rates."""
    if result.fit is None or result.expected is None:
        return ""
    parts = []
    if result.flop_slope is not None:
        if abs(result.flop_slope - result.expected) > tolerance:
            parts.append(f"the stage's own flop count grows as size^{result.flop_slope:.2f} over these sizes "
                         f"(lower-order terms still matter: not yet the asymptotic regime)")
        elif abs(result.fit.slope - result.flop_slope) > tolerance:
            trend = "rises" if result.fit.slope < result.flop_slope else "falls"
            parts.append(f"the flop count grows as size^{result.flop_slope:.2f} but the achieved FLOP/s {trend} "
                         f"with size (overhead, memory traffic or cache effects, not arithmetic, set the time)")
    used = [r for r in records if r[SWEEP_AXES[result.sweep][0]] in result.used]
    fractions = [r["flops"] / fit_time(r) / gemm for r in used if r.get("flops") and gemm]
    if fractions:
        parts.append(f"achieved {min(fractions):.0%}–{max(fractions):.0%} of the measured matrix-product rate")
    return "; ".join(parts)


def analyse_scaling(records: list[dict[str, Any]], stage: str, backend: str, sweep: str,
                    gemm: float | None = None, min_time: float = MIN_FIT_TIME, rule: Rule = Rule(),
                    model: CostModel | None = None, fixed: int | None = None,
                    bound_cost: CostModel | None = None) -> ScalingResult:
    """Fit the exponent of ``stage`` on ``backend`` along ``sweep`` (at the other size ``fixed``) and judge it.

    Compute-bound rule: a point enters the fit when it was measured (status ok), was not
    disturbed (:mod:`solvers.harness.analyse.disturbance`) and its fastest call took at least
    ``min_time``; faster points are launch/overhead-bound. With a cost ``model``, a point
    enters only where the claimed terms hold at least :data:`REGIME_SHARE` of the modelled
    time. The confidence interval is at ``rule.confidence``; the verdict is
    :func:`solvers.harness.analyse.equivalence.judge`'s. ``bound_cost`` (the claim's named terms
    fitted, :func:`solvers.harness.analyse.bound.bound_model`) gives the bound verdict over every
    undisturbed compute-bound size. Neither verdict is "does not hold" on a sweep with a disturbed size,
    nor the tight one where ``model`` misses a fitted size's time by more than :data:`MAX_MODEL_ERROR`.
    """
    axis, claim_attr = SWEEP_AXES[sweep]
    spec = CLAIMS.get(stage)
    claim = getattr(spec, claim_attr) if spec else None
    chosen = sweep_records(records, stage, backend, sweep, fixed)
    other = "d" if axis == "n" else "n"
    result = ScalingResult(stage=stage, backend=backend, sweep=sweep, axis=axis,
                           fixed=chosen[0][other] if chosen else None,
                           expected=claim(OMEGA_CLASSICAL) if claim else None,
                           expected_best=claim(OMEGA_BEST) if claim else None, fit=None, flop_slope=None,
                           points=chosen)
    result.fractions = [(r[axis], f) for r in chosen if (f := fraction_of_peak(r, gemm)) is not None]
    if model is not None and result.expected is not None:
        result.regime = claimed_terms(model.terms, axis, result.expected)
    compute_bound, lost = [], 0
    for r in chosen:
        if r["status"] != "ok":
            result.excluded.append((r[axis], f"{r['status']}: {r.get('reason', '')}"))
        elif disturbed(r):
            lost += 1
            result.excluded.append((r[axis], f"disturbed: {r.get('disturbance', '')}"))
        elif fit_time(r) < min_time:
            result.excluded.append((r[axis], f"{fit_time(r) * 1e3:.3g} ms < {min_time * 1e3:g} ms (overhead-bound)"))
        else:
            compute_bound.append(r)
            if model is not None and result.expected is not None and (why := _off_regime(model, result.regime, r)):
                result.excluded.append((r[axis], why))
            else:
                result.used.append(r[axis])
    bound = judge_bound(bound_cost, compute_bound, axis, rule)  # the bound needs no exponent: every sweep has one
    bound.verdict, bound.why = cautious(bound.verdict, bound.why, lost)
    result.bound = bound
    used = [r for r in compute_bound if r[axis] in result.used]
    if len(used) >= 2:
        result.local = local_slopes([r[axis] for r in used], [fit_time(r) for r in used])
    if not chosen:
        return result
    if len(used) >= 2:
        result.fit = fit_loglog([r[axis] for r in used], [fit_time(r) for r in used], rule.confidence)
        if all(r.get("flops") is not None for r in used):  # the flop count each point was recorded with
            result.flop_slope = fit_loglog([r[axis] for r in used], [r["flops"] for r in used]).slope
    if result.expected is None:
        result.verdict, why = "no claim", "the claim fixes no exponent for this stage along this axis"
    else:
        shift = (fit_loglog(result.used, [model.predict(r["n"], r["d"]) for r in used]).slope - result.expected
                 if model is not None and len(used) >= 2 else 0.0)
        result.verdict, why = cautious(*judge(result.fit, result.expected, rule, result.used, shift), lost)
        if result.verdict == "does not hold" and model is not None and (miss := _model_misses(model, used, axis)):
            result.verdict, why = "inconclusive", (f"{why}; but the cost model that chose these sizes misses the time "
                                                   f"at {miss}, so where the claimed term dominates is uncertain")
    extra = _explain(result, used, gemm, rule.delta) if result.verdict != "holds" else ""
    if model is not None and result.regime and result.verdict == "inconclusive" and len(used) < 3:
        largest = max(r[axis] for r in chosen)
        start = _regime_start(model, result.regime, axis, result.fixed, largest)
        extra = (f"the cost model gives {' + '.join(result.regime)} ≥ {REGIME_SHARE:.0%} of the time at "
                 + (f"{axis} = {', '.join(map(str, result.used))} only" if used else "no compute-bound size")
                 + (f": by its extrapolation, sizes from {axis} ≈ {start:.0f} would test the claim"
                    + _reach(model, axis, result.fixed, start, [r[axis] for r in chosen]) if start else
                    f": not even at 64× the largest {axis} by its extrapolation, so no sweep along {axis} at "
                    f"{'d' if axis == 'n' else 'n'} = {result.fixed} can test it"))
    if lost and result.verdict == "inconclusive" and len(used) < 3:
        extra = f"{lost} size(s) disturbed by other work and left out" + (f"; {extra}" if extra else "")
    result.why = f"{why}; {extra}" if extra else why
    return result


def without_model(result: ScalingResult) -> ScalingResult:
    """``result`` of a stage whose cost model could not be fitted or does not fit: a tight exponent
    fitted over every size is no evidence against the claim (lower-order terms may set the time
    there), so "does not hold" becomes inconclusive; the bound verdict is unchanged."""
    if result.verdict == "does not hold":
        result.verdict = "inconclusive"
        result.why = (f"{result.why}; but no usable cost model says where the claimed term dominates (too few sizes "
                      "to separate the stage's terms), so a different exponent over every size is no evidence against "
                      "the claim")
    return result


def claimed_terms(terms: list[str], axis: str, expected: float) -> list[str]:
    """The terms of a cost model that grow with the claimed exponent along ``axis``: the named ones
    where the claim names any with that exponent (n²d against n, not the n² elementwise work), else all."""
    growing = [t for t in terms if math.isclose(TERMS[t].power(axis), expected)]
    return [t for t in growing if TERMS[t].named] or growing


def _model_misses(model: CostModel, used: list[dict[str, Any]], axis: str) -> str:
    """The fitted sizes whose time ``model`` misses by more than :data:`MAX_MODEL_ERROR` ("" when none)."""
    misses = [(r[axis], fit_time(r) / model.predict(r["n"], r["d"])) for r in used]
    return ", ".join(f"{axis} = {size} ({ratio:.2g}× the model)" for size, ratio in misses
                     if abs(ratio - 1.0) > MAX_MODEL_ERROR)


def _reach(model: CostModel, axis: str, fixed: int, start: float, sizes: list[int]) -> str:
    """How long the modelled calls of four sizes from ``start`` (at the sweep's own ratio) would take."""
    ratio = (sizes[-1] / sizes[0]) ** (1 / (len(sizes) - 1)) if len(sizes) > 1 and sizes[0] > 0 else 2.0
    values = [start * ratio**k for k in range(4)]
    calls = [model.predict(*((v, fixed) if axis == "n" else (fixed, v))) for v in values]
    return (f" (four sizes {axis} ≈ {values[0]:.0f}…{values[-1]:.0f}: about {calls[-1]:.3g} s per call at the largest, "
            f"{sum(calls):.3g} s for one call at each, by the cost model)")


def _regime_start(model: CostModel, regime: list[str], axis: str, fixed: int, largest: int) -> float | None:
    """The smallest size beyond ``largest`` (up to 64×) where ``model`` gives ``regime`` ≥ :data:`REGIME_SHARE`."""
    for value in np.geomspace(largest, 64 * largest, 200)[1:]:
        shares = model.share(*((value, fixed) if axis == "n" else (fixed, value)))
        if sum(shares[t] for t in regime) >= REGIME_SHARE:
            return float(value)
    return None


def _off_regime(model: CostModel, regime: list[str], record: dict[str, Any]) -> str:
    """Why ``record`` lies outside the regime of the claimed exponent by ``model`` ("" when inside)."""
    shares = model.share(record["n"], record["d"])
    inside = sum(shares[t] for t in regime)
    if inside >= REGIME_SHARE:
        return ""
    top, share = max(shares.items(), key=lambda item: item[1])
    claimed = " + ".join(regime) if regime else "no term with the claimed exponent"
    return f"cost model: {claimed} {inside:.0%} of the time (< {REGIME_SHARE:.0%}); {top} {share:.0%}"


def approaches(result: ScalingResult, target: float, tolerance: float = 1.0) -> tuple[bool, str]:
    """Whether the time of ``result`` grows like size^``target`` over its compute-bound sizes.

    True when (a) the exponent between the two largest compute-bound sizes lies within
    ``tolerance`` of ``target``, or (b) the exponent fitted over all of them does and its
    CI contains ``target``, or (c) the local exponents rise towards ``target`` from
    below and the last is the closest to it.
    """
    if not result.local:
        return False, "fewer than two compute-bound sizes"
    local = result.local
    last = local[-1]
    text = "local exponents " + ", ".join(f"{v:.2f}" for v in local)
    if abs(last - target) <= tolerance:
        return True, f"{text}: the last is within ±{tolerance:g} of {target:g}"
    fit = result.fit
    if (fit is not None and abs(fit.slope - target) <= tolerance and math.isfinite(fit.half_width)
            and fit.ci_low <= target <= fit.ci_high):
        return True, (f"fitted exponent {fit.slope:.2f} within ±{tolerance:g} of {target:g}, which its CI "
                      f"contains ({text})")
    tail = local[-3:]
    rising = len(tail) > 1 and all(b >= a - 0.1 for a, b in zip(tail, tail[1:]))
    if rising and last < target and min(local, key=lambda v: abs(v - target)) == last:
        return True, f"{text}: rising towards {target:g} but still {target - last:.2f} short"
    return False, f"{text}: not approaching {target:g} over these sizes"


def fixed_sizes(records: list[dict[str, Any]], stage: str, backend: str, sweep: str) -> list[int | None]:
    """The other sizes ``sweep`` ran at for ``stage``: from the tags, or (untagged records, as from
    asv) every fixed size with more than one varied size when ``sweep`` runs at several (``cross_n``),
    else ``[None]`` (the largest group)."""
    axis = SWEEP_AXES[sweep][0]
    other = "d" if axis == "n" else "n"
    mine = _mine(records, stage, backend, sweep)
    tagged = sorted({r[other] for r in mine if sweep in r.get("sweeps", ())})
    if tagged or sweep != "cross_n":
        return tagged or [None]
    groups = _untagged_groups(mine, stage, sweep)
    return sorted(k for k, g in groups.items() if len({r[axis] for r in g}) >= MIN_CROSS_SIZES) or [None]

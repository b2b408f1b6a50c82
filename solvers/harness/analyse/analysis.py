"""Fits and verdicts for the reproduction report.

Everything the report claims is computed here from the raw measurements: each stage's cost
model over (n, d) (:mod:`solvers.harness.analyse.costmodel`), log–log slopes of time against size
with confidence intervals (ordinary least squares, Student t) over the compute-bound sizes
where the model puts the time in the terms of the claimed exponent, the verdict against
the exponents the paper's claim implies (equivalence test, :mod:`solvers.harness.analyse.equivalence`),
iterations-to-ε against log10(1/ε) and the convergence study (:mod:`solvers.harness.analyse.study`),
achieved fractions of the backend's matrix-product rate and speedups between backends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..claims import (CLAIMS, DEFAULT_SWEEPS, OMEGA_BEST, OMEGA_CLASSICAL, REFERENCE_SOLVER, SWEEP_AXES, TERMS,
                      Rule)
from .convergence import ConvergenceResult, SizeSummary, analyse_convergence, summarise_size
from .costmodel import CostModel, Coverage, coverage, fit_cost_model, identifiable
from .equivalence import judge
from .fits import Fit, fit_loglog, local_slopes
from .sparsify import SparsifyAnalysis, analyse_sparsification
from .study import Study, analyse_study

#: The stage whose exponent against n stands for T_mat(n, n, d) (the S·V product dominates it).
NND_STAGE = "forward"
#: The d²×d² solve, expected to approach d^6 with classical products.
SOLVE_STAGE = "hessian_solve"
#: The accepted range for the n×n×d exponent against n.
NND_RANGE = (1.7, 2.3)
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
        "holds", "does not hold", "inconclusive" or "no data".
    why : str
        The reason for the verdict, in words, computed from the data.
    regime : list of str
        The cost-model terms whose exponent along the axis is the claimed one; the fit uses
        only sizes where they hold at least :data:`REGIME_SHARE` of the modelled time
        (empty: no cost model for this stage, every compute-bound size is used).
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["fit"] = asdict(self.fit) if self.fit else None
        return out


def sweep_records(records: Iterable[dict[str, Any]], stage: str, backend: str, sweep: str,
                  fixed: int | None = None) -> list[dict[str, Any]]:
    """The records of ``stage``/``backend`` on ``sweep``, sorted by the varied size.

    Records tagged with ``"sweeps"`` are selected by tag (and by the other size ``fixed``
    when given: a sweep may run at several). Untagged records (asv results) are grouped by
    the other size: the group at ``fixed`` when given, else the one with the most distinct
    varied sizes.
    """
    axis = SWEEP_AXES[sweep][0]
    other = "d" if axis == "n" else "n"
    mine = [r for r in records if r["stage"] == stage and r["backend"] == backend]
    if any("sweeps" in r for r in mine):
        chosen = [r for r in mine if sweep in r.get("sweeps", ()) and fixed in (None, r[other])]
    else:
        groups = _untagged_groups(mine, stage, sweep)
        if not groups:
            return []
        chosen = (groups.get(fixed, []) if fixed is not None else
                  max(groups.values(), key=lambda g: (len({r[axis] for r in g}), -min(r[other] for r in g))))
    return sorted(chosen, key=lambda r: r[axis])


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
    fractions = [r["flops"] / r["median"] / gemm for r in used if r.get("flops") and gemm]
    if fractions:
        parts.append(f"achieved {min(fractions):.0%}–{max(fractions):.0%} of the measured matrix-product rate")
    return "; ".join(parts)


def analyse_scaling(records: list[dict[str, Any]], stage: str, backend: str, sweep: str,
                    gemm: float | None = None, min_time: float = MIN_FIT_TIME, rule: Rule = Rule(),
                    model: CostModel | None = None, fixed: int | None = None) -> ScalingResult:
    """Fit the exponent of ``stage`` on ``backend`` along ``sweep`` (at the other size ``fixed``) and judge it.

    Compute-bound rule: a point enters the fit when it was measured (status ok) and its
    median time is at least ``min_time``; faster points are launch/overhead-bound. With a
    cost ``model``, a point enters only where the terms growing with the claimed exponent
    hold at least :data:`REGIME_SHARE` of the modelled time. The confidence interval is at
    ``rule.confidence``; the verdict is :func:`solvers.harness.analyse.equivalence.judge`'s.
    """
    axis, claim_attr = SWEEP_AXES[sweep]
    spec = CLAIMS.get(stage)
    claim = getattr(spec, claim_attr) if spec else None
    chosen = sweep_records(records, stage, backend, sweep, fixed)
    other = "d" if axis == "n" else "n"
    result = ScalingResult(stage=stage, backend=backend, sweep=sweep, axis=axis,
                           fixed=chosen[0][other] if chosen else None,
                           expected=claim(OMEGA_CLASSICAL) if claim else None,
                           expected_best=claim(OMEGA_BEST) if claim else None, fit=None, flop_slope=None)
    ok = [r for r in chosen if r["status"] == "ok"]
    if model is not None and result.expected is not None:
        result.regime = [t for t in model.terms if math.isclose(TERMS[t].power(axis), result.expected)]
    for r in chosen:
        if r["status"] != "ok":
            result.excluded.append((r[axis], f"{r['status']}: {r.get('reason', '')}"))
        elif r["median"] < min_time:
            result.excluded.append((r[axis], f"{r['median'] * 1e3:.3g} ms < {min_time * 1e3:g} ms (overhead-bound)"))
        elif model is not None and result.expected is not None and (why := _off_regime(model, result.regime, r)):
            result.excluded.append((r[axis], why))
        else:
            result.used.append(r[axis])
    used = [r for r in ok if r[axis] in result.used]
    if len(used) >= 2:
        result.local = local_slopes([r[axis] for r in used], [r["median"] for r in used])
    if not chosen:
        return result
    if len(used) >= 2:
        result.fit = fit_loglog([r[axis] for r in used], [r["median"] for r in used], rule.confidence)
        if all(r.get("flops") is not None for r in used):  # the flop count each point was recorded with
            result.flop_slope = fit_loglog([r[axis] for r in used], [r["flops"] for r in used]).slope
    if result.expected is None:
        result.verdict, why = "no claim", "the claim fixes no exponent for this stage along this axis"
    else:
        result.verdict, why = judge(result.fit, result.expected, rule, result.used)
    extra = _explain(result, used, gemm, rule.delta) if result.verdict != "holds" else ""
    if model is not None and result.regime and result.verdict == "inconclusive" and len(used) < 3:
        largest = max(r[axis] for r in chosen)
        start = _regime_start(model, result.regime, axis, result.fixed, largest)
        extra = (f"the cost model gives {' + '.join(result.regime)} ≥ {REGIME_SHARE:.0%} of the time at "
                 + (f"{axis} = {', '.join(map(str, result.used))} only" if used else "no compute-bound size")
                 + (f": by its extrapolation, sizes from {axis} ≈ {start:.0f} would test the claim" if start else
                    f": not even at 64× the largest {axis} by its extrapolation, so no sweep along {axis} at "
                    f"{'d' if axis == 'n' else 'n'} = {result.fixed} can test it"))
    result.why = f"{why}; {extra}" if extra else why
    return result


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


def cost_models(records: list[dict[str, Any]]) -> list[CostModel]:
    """The cost model of every (stage, backend) whose measured sizes can separate its terms.

    Only a :attr:`~solvers.harness.analyse.costmodel.CostModel.usable` one selects the sizes of a
    slope fit, gives a coverage or predicts a per-iteration time."""
    models = []
    for backend in dict.fromkeys(r["backend"] for r in records):
        for stage in dict.fromkeys(r["stage"] for r in records):
            spec = CLAIMS.get(stage)
            ok = [r for r in records if r["stage"] == stage and r["backend"] == backend and r["status"] == "ok"
                  and r.get("median", 0) > 0]
            sizes = [(r["n"], r["d"]) for r in ok]
            if spec is None or not identifiable(spec.cost_terms, sizes):
                continue
            models.append(fit_cost_model(sizes, [r["median"] for r in ok], spec.cost_terms, stage, backend))
    return models


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


def fraction_of_peak(record: dict[str, Any], gemm: float | None) -> float | None:
    """Achieved FLOP/s of a measured point as a fraction of the backend's matrix-product rate."""
    if record["status"] != "ok" or not record.get("flops") or not gemm:
        return None
    return record["flops"] / record["median"] / gemm


def speedups(records: list[dict[str, Any]], reference: str = "numpy") -> list[dict[str, Any]]:
    """Speedup of each other backend over ``reference`` at every (stage, n, d) both measured."""
    base = {(r["stage"], r["n"], r["d"]): r["median"] for r in records
            if r["backend"] == reference and r["status"] == "ok"}
    out = []
    for r in records:
        key = (r["stage"], r["n"], r["d"])
        if r["backend"] != reference and r["status"] == "ok" and key in base:
            out.append({"stage": r["stage"], "n": r["n"], "d": r["d"], "backend": r["backend"],
                        "speedup": base[key] / r["median"]})
    return out


@dataclass
class BestFraction:
    """A stage's highest achieved fraction of its backend's matrix-product rate, and where."""

    stage: str
    backend: str
    fraction: float
    n: int
    d: int
    flops_per_s: float


@dataclass
class Noise:
    """Relative spread (IQR / median) of repeated calls: at a typical point and the worst."""

    typical: float
    worst: float


@dataclass
class Analysis:
    """Everything the report states, computed once from a measurements record.

    The report (:mod:`solvers.harness.render.report`) and the figures only read this object.
    """

    min_fit_time: float
    rule: Rule
    models: list[CostModel]
    coverage: list[Coverage]
    scaling: list[ScalingResult]
    convergence: list[ConvergenceResult]
    speedups: list[dict[str, Any]]
    gemm: dict[str, float]
    best_fractions: list[BestFraction]
    nnd_checks: list[tuple[ScalingResult, bool]]              # (fit against n, inside NND_RANGE)
    solve_checks: list[tuple[ScalingResult, bool, str]]       # (fit against d, approaches 6, why)
    sizes: list[SizeSummary]
    noise: Noise | None
    study: Study | None = None
    sparsification: SparsifyAnalysis | None = None             # report.md only: not part of analysis.json

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``analysis.json``."""
        return {"min_fit_time": self.min_fit_time, "verdict_rule": asdict(self.rule),
                "cost_models": [m.to_dict() for m in self.models],
                "coverage": [asdict(c) for c in self.coverage],
                "convergence_study": self.study.to_dict() if self.study else None, "scaling": [r.to_dict() for r in self.scaling],
                "convergence": [r.to_dict() for r in self.convergence], "speedups": self.speedups,
                "gemm": self.gemm}


def gemm_rates(data: dict[str, Any]) -> dict[str, float]:
    """Backend -> measured square matrix-product rate (flop/s), where it was measured."""
    return {name: entry["flops_per_s"] for name, entry in data.get("gemm", {}).items()
            if entry.get("status") == "ok" and entry.get("flops_per_s")}


def analyse(data: dict[str, Any], min_fit_time: float = MIN_FIT_TIME, rule: Rule | None = None) -> Analysis:
    """All fits, verdicts and comparisons of a measurements record.

    ``min_fit_time`` (seconds) is the compute-bound threshold of the scaling fits; ``rule``
    the verdict rule (default: the one recorded in ``data``, else :class:`Rule`'s defaults).
    """
    rule = rule or Rule.from_record(data)
    records = data.get("points", [])
    sparsified = data.get("sparsification") or {}
    rates = gemm_rates(data)
    models = cost_models(records)
    scaling: list[ScalingResult] = []
    for backend in dict.fromkeys(r["backend"] for r in records):
        for stage in dict.fromkeys(r["stage"] for r in records):
            sweeps = CLAIMS[stage].sweeps if stage in CLAIMS else DEFAULT_SWEEPS
            model = next((m for m in models if (m.stage, m.backend) == (stage, backend) and m.usable), None)
            for sweep in (s for s in sweeps if s not in MODEL_ONLY_SWEEPS):
                for fixed in _fixed_sizes(records, stage, backend, sweep):
                    result = analyse_scaling(records, stage, backend, sweep, rates.get(backend), min_fit_time, rule,
                                             model, fixed)
                    if result.fixed is not None and len(sweep_records(records, stage, backend, sweep, fixed)) > 1:
                        scaling.append(result)
    convergence = [analyse_convergence(run) for run in data.get("convergence", [])]
    return Analysis(
        min_fit_time=min_fit_time, rule=rule, models=models, coverage=_coverage(models, scaling, records),
        scaling=scaling, convergence=convergence, speedups=speedups(records),
        gemm=rates, best_fractions=best_fractions(records, rates),
        nnd_checks=[(r, r.fit is not None and NND_RANGE[0] <= r.fit.slope <= NND_RANGE[1])
                    for r in scaling if r.stage == NND_STAGE and r.sweep == "n"],
        solve_checks=[(r, *approaches(r, 6.0)) for r in scaling if r.stage == SOLVE_STAGE and r.sweep == "solve_d"],
        sizes=[summarise_size(convergence, size) for size in dict.fromkeys((r.n, r.d) for r in convergence)],
        noise=timing_noise(records),
        study=analyse_study(data["convergence_study"], _per_iteration(records, models))
        if data.get("convergence_study") else None,
        sparsification=analyse_sparsification(sparsified["data"]) if sparsified.get("status") == "ok" else None)


def _coverage(models: list[CostModel], scaling: list[ScalingResult], records: list[dict[str, Any]]) -> list[Coverage]:
    """Along every sweep of a stage with a cost model, where the claim's named terms hold the time."""
    out = []
    for res in scaling:
        model = next((m for m in models if (m.stage, m.backend) == (res.stage, res.backend) and m.usable), None)
        values = [r[res.axis] for r in sweep_records(records, res.stage, res.backend, res.sweep, res.fixed)
                  if r["status"] == "ok"]
        if model is not None and res.fixed is not None and values:
            out.append(coverage(model, res.sweep, res.axis, res.fixed, values))
    return out


def _per_iteration(records: list[dict[str, Any]], models: list[CostModel]) -> Callable[[int, int], tuple[float | None, str]]:
    """Seconds of one iteration of the paper's method at (n, d): its stage timing where measured,
    else its cost model's prediction inside the measured ranges."""
    stage = f"iteration:{REFERENCE_SOLVER}"
    timed = {(r["n"], r["d"]): r["median"] for r in records if r["stage"] == stage and r["status"] == "ok"}
    model = next((m for m in models if m.stage == stage and m.usable), None)

    def per_iteration(n: int, d: int) -> tuple[float | None, str]:
        if (n, d) in timed:
            return timed[(n, d)], "stage timing"
        if model is not None and (min(s[0] for s in model.sizes) <= n <= max(s[0] for s in model.sizes)
                                  and min(s[1] for s in model.sizes) <= d <= max(s[1] for s in model.sizes)):
            return model.predict(n, d), "cost model"
        return None, "not timed"

    return per_iteration


def _fixed_sizes(records: list[dict[str, Any]], stage: str, backend: str, sweep: str) -> list[int | None]:
    """The other sizes ``sweep`` ran at for ``stage``: from the tags, or (untagged records, as from
    asv) every fixed size with more than one varied size when ``sweep`` runs at several (``cross_n``),
    else ``[None]`` (the largest group)."""
    axis = SWEEP_AXES[sweep][0]
    other = "d" if axis == "n" else "n"
    mine = [r for r in records if r["stage"] == stage and r["backend"] == backend]
    tagged = sorted({r[other] for r in mine if sweep in r.get("sweeps", ())})
    if tagged or sweep != "cross_n":
        return tagged or [None]
    groups = _untagged_groups(mine, stage, sweep)
    return sorted(k for k, g in groups.items() if len({r[axis] for r in g}) >= MIN_CROSS_SIZES) or [None]


def best_fractions(records: list[dict[str, Any]], rates: dict[str, float]) -> list[BestFraction]:
    """Per stage and backend with a measured rate, the point closest to that rate."""
    out = []
    for stage in dict.fromkeys(r["stage"] for r in records):
        for backend, rate in rates.items():
            fracs = [(fraction_of_peak(r, rate), r) for r in records if r["stage"] == stage and r["backend"] == backend]
            fracs = [(f, r) for f, r in fracs if f is not None]
            if fracs:
                best, where = max(fracs, key=lambda pair: pair[0])
                out.append(BestFraction(stage, backend, best, where["n"], where["d"], best * rate))
    return out


def timing_noise(records: list[dict[str, Any]]) -> Noise | None:
    """The spread of repeated calls relative to their median, over points timed more than once."""
    spreads = sorted((r["q75"] - r["q25"]) / r["median"] for r in records
                     if r["status"] == "ok" and r.get("median") and r.get("q25") is not None
                     and r.get("q75") is not None and r.get("repeats", 2) > 1)
    return Noise(spreads[len(spreads) // 2], spreads[-1]) if spreads else None

"""Fits and verdicts for the reproduction report.

Everything the report claims is computed here from the raw measurements: log–log slopes
of time against size with 95 % confidence intervals (ordinary least squares, Student t),
the compute-bound selection of the points a slope is fitted on, the verdict against the
exponents the paper's claim implies, iterations-to-ε against log10(1/ε), achieved
fractions of the backend's matrix-product rate and speedups between backends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from .stages import OMEGA_BEST, OMEGA_CLASSICAL, STAGES

#: Points faster than this are launch/overhead-bound and never enter a fit (seconds).
MIN_FIT_TIME = 1e-3
#: A fitted exponent "holds" when its 95 % CI comes within this distance of the expected one.
TOLERANCE = 0.3
#: A CI wider than this (half-width) makes the verdict "inconclusive".
MAX_HALF_WIDTH = 0.5
#: Targets for iterations-to-ε.
EPS_LEVELS = (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12)
#: Sweep -> (axis varied, attribute of Stage holding the claimed exponent).
SWEEP_AXES = {"n": ("n", "claim_n"), "d": ("d", "claim_d"), "solve_d": ("d", "claim_d")}


@dataclass
class Fit:
    """A straight-line fit y = slope·x + intercept with a 95 % confidence interval on the slope.

    Attributes
    ----------
    slope, intercept : float
    stderr : float
        Standard error of the slope (NaN with only two points).
    ci_low, ci_high : float
        95 % confidence interval of the slope (Student t, ``points − 2`` degrees of freedom);
        NaN when it cannot be computed.
    points : int
        Number of points used.
    """

    slope: float
    intercept: float
    stderr: float
    ci_low: float
    ci_high: float
    points: int

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval (NaN when there is none)."""
        return (self.ci_high - self.ci_low) / 2.0


def fit_line(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> Fit:
    """Ordinary least squares of ``y`` on ``x`` with a t-based confidence interval on the slope.

    Raises
    ------
    ValueError
        Fewer than two points, or all ``x`` equal.
    """
    x_arr, y_arr = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x_arr.size < 2 or np.ptp(x_arr) == 0:
        raise ValueError("a fit needs at least two distinct x values")
    if x_arr.size == 2:
        slope = (y_arr[1] - y_arr[0]) / (x_arr[1] - x_arr[0])
        return Fit(float(slope), float(y_arr[0] - slope * x_arr[0]), math.nan, math.nan, math.nan, 2)
    res = stats.linregress(x_arr, y_arr)
    t = stats.t.ppf(0.5 + confidence / 2.0, x_arr.size - 2)
    return Fit(float(res.slope), float(res.intercept), float(res.stderr), float(res.slope - t * res.stderr),
               float(res.slope + t * res.stderr), int(x_arr.size))


def fit_loglog(sizes: Sequence[float], times: Sequence[float]) -> Fit:
    """Slope of log(time) against log(size): the measured exponent."""
    return fit_line(np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(times, dtype=float)))


def local_slopes(sizes: Sequence[float], times: Sequence[float]) -> list[float]:
    """Exponents between consecutive sizes, d log t / d log size."""
    s, t = np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(times, dtype=float))
    return [float(v) for v in np.diff(t) / np.diff(s)]


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["fit"] = asdict(self.fit) if self.fit else None
        return out


def sweep_records(records: Iterable[dict[str, Any]], stage: str, backend: str, sweep: str) -> list[dict[str, Any]]:
    """The records of ``stage``/``backend`` on ``sweep``, sorted by the varied size.

    Records tagged with ``"sweeps"`` are selected by tag. Untagged records (asv results)
    are grouped by the fixed size: the group with the most distinct varied sizes wins.
    """
    axis = SWEEP_AXES[sweep][0]
    other = "d" if axis == "n" else "n"
    mine = [r for r in records if r["stage"] == stage and r["backend"] == backend]
    if any("sweeps" in r for r in mine):
        chosen = [r for r in mine if sweep in r.get("sweeps", ())]
    else:
        stage_sweeps = STAGES[stage].sweeps if stage in STAGES else ("n", "d")
        if sweep not in stage_sweeps:
            return []
        groups: dict[int, list[dict[str, Any]]] = {}
        for r in mine:
            groups.setdefault(r[other], []).append(r)
        if not groups:
            return []
        chosen = max(groups.values(), key=lambda g: (len({r[axis] for r in g}), -min(r[other] for r in g)))
    return sorted(chosen, key=lambda r: r[axis])


def verdict(fit: Fit | None, expected: float | None, tolerance: float = TOLERANCE,
            max_half_width: float = MAX_HALF_WIDTH) -> tuple[str, str]:
    """Verdict on a fitted exponent against the expected one.

    Rule: with fewer than three fitted points, or a CI half-width above ``max_half_width``,
    "inconclusive"; otherwise "holds" when the 95 % CI [lo, hi] meets
    [expected − tolerance, expected + tolerance], else "does not hold".
    """
    if expected is None:
        return "no claim", "the claim fixes no exponent for this stage along this axis"
    if fit is None:
        return "inconclusive", "fewer than two compute-bound sizes"
    if fit.points < 3 or not math.isfinite(fit.half_width):
        return "inconclusive", f"only {fit.points} compute-bound sizes: no confidence interval"
    if fit.half_width > max_half_width:
        return "inconclusive", f"95 % CI too wide (±{fit.half_width:.2f})"
    gap = max(fit.ci_low - (expected + tolerance), (expected - tolerance) - fit.ci_high, 0.0)
    if gap == 0.0:
        inside = fit.ci_low <= expected <= fit.ci_high
        return "holds", ("expected exponent inside the 95 % CI" if inside else
                         f"95 % CI within the tolerance ±{tolerance} of the expected exponent")
    side = "above" if fit.slope > expected else "below"
    return "does not hold", f"fitted exponent {side} the expected one by {abs(fit.slope - expected):.2f}"


def _explain(result: ScalingResult, records: list[dict[str, Any]], gemm: float | None) -> str:
    """Why a fit disagrees with the claim, from the flop model and the achieved rates."""
    if result.fit is None or result.expected is None:
        return ""
    parts = []
    if result.flop_slope is not None:
        if abs(result.flop_slope - result.expected) > TOLERANCE:
            parts.append(f"the stage's own flop count grows as size^{result.flop_slope:.2f} over these sizes "
                         f"(lower-order terms still matter: not yet the asymptotic regime)")
        elif abs(result.fit.slope - result.flop_slope) > TOLERANCE:
            trend = "rises" if result.fit.slope < result.flop_slope else "falls"
            parts.append(f"the flop count grows as size^{result.flop_slope:.2f} but the achieved FLOP/s {trend} "
                         f"with size (overhead, memory traffic or cache effects, not arithmetic, set the time)")
    used = [r for r in records if r[SWEEP_AXES[result.sweep][0]] in result.used]
    fractions = [r["flops"] / r["median"] / gemm for r in used if r.get("flops") and gemm]
    if fractions:
        parts.append(f"achieved {min(fractions):.0%}–{max(fractions):.0%} of the measured matrix-product rate")
    return "; ".join(parts)


def analyse_scaling(records: list[dict[str, Any]], stage: str, backend: str, sweep: str,
                    gemm: float | None = None, min_time: float = MIN_FIT_TIME) -> ScalingResult:
    """Fit the exponent of ``stage`` on ``backend`` along ``sweep`` and judge it.

    Compute-bound rule: a point enters the fit when it was measured (status ok) and its
    median time is at least ``min_time``; faster points are launch/overhead-bound.
    """
    axis, claim_attr = SWEEP_AXES[sweep]
    spec = STAGES.get(stage)
    claim = getattr(spec, claim_attr) if spec else None
    chosen = sweep_records(records, stage, backend, sweep)
    other = "d" if axis == "n" else "n"
    result = ScalingResult(stage=stage, backend=backend, sweep=sweep, axis=axis,
                           fixed=chosen[0][other] if chosen else None,
                           expected=claim(OMEGA_CLASSICAL) if claim else None,
                           expected_best=claim(OMEGA_BEST) if claim else None, fit=None, flop_slope=None)
    ok = [r for r in chosen if r["status"] == "ok"]
    for r in chosen:
        if r["status"] != "ok":
            result.excluded.append((r[axis], f"{r['status']}: {r.get('reason', '')}"))
        elif r["median"] < min_time:
            result.excluded.append((r[axis], f"{r['median'] * 1e3:.3g} ms < {min_time * 1e3:g} ms (overhead-bound)"))
        else:
            result.used.append(r[axis])
    used = [r for r in ok if r[axis] in result.used]
    if len(used) >= 2:
        result.local = local_slopes([r[axis] for r in used], [r["median"] for r in used])
    if not chosen:
        return result
    if len(used) >= 2:
        result.fit = fit_loglog([r[axis] for r in used], [r["median"] for r in used])
        if spec is not None and spec.flops is not None:
            result.flop_slope = fit_loglog([r[axis] for r in used], [spec.flops(r["n"], r["d"]) for r in used]).slope
    result.verdict, why = verdict(result.fit, result.expected)
    extra = _explain(result, used, gemm) if result.verdict != "holds" else ""
    result.why = f"{why}; {extra}" if extra else why
    return result


def approaches(result: ScalingResult, target: float, tolerance: float = 1.0) -> tuple[bool, str]:
    """Whether the time of ``result`` grows like size^``target`` over its compute-bound sizes.

    True when (a) the exponent between the two largest compute-bound sizes lies within
    ``tolerance`` of ``target``, or (b) the exponent fitted over all of them does and its
    95 % CI contains ``target``, or (c) the local exponents rise towards ``target`` from
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
        return True, (f"fitted exponent {fit.slope:.2f} within ±{tolerance:g} of {target:g}, which its 95 % CI "
                      f"contains ({text})")
    tail = local[-3:]
    rising = len(tail) > 1 and all(b >= a - 0.1 for a, b in zip(tail, tail[1:]))
    if rising and last < target and min(local, key=lambda v: abs(v - target)) == last:
        return True, f"{text}: rising towards {target:g} but still {target - last:.2f} short"
    return False, f"{text}: not approaching {target:g} over these sizes"


@dataclass
class ConvergenceResult:
    """Iterations-to-ε of one solve, and its slope against log10(1/ε).

    Attributes
    ----------
    solver, backend, status : str
    n, d : int
    iterations : dict
        ε -> first iteration with loss ≤ ε (``None``: not reached).
    times : dict
        ε -> solver time at that iteration.
    fit : Fit or None
        Iterations against log10(1/ε) over the ε reached (slope: iterations per decade).
    final_loss : float
        Loss at the last recorded iterate.
    total_iterations : int
        Iterations the run performed.
    """

    solver: str
    backend: str
    n: int
    d: int
    status: str
    iterations: dict[float, int | None]
    times: dict[float, float | None]
    fit: Fit | None
    final_loss: float
    total_iterations: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["fit"] = asdict(self.fit) if self.fit else None
        return out


def analyse_convergence(run: dict[str, Any], eps_levels: Sequence[float] = EPS_LEVELS) -> ConvergenceResult:
    """Iterations and time to reach each ε in ``run`` (a ``SolveResult.to_dict()`` plus n, d).

    A run without a history but with ``iterations_to_eps`` ({ε: iterations or None}, as
    stored asv results give it) is read from that table instead.
    """
    history = run.get("history") or []
    iterations: dict[float, int | None] = {}
    times: dict[float, float | None] = {}
    if not history and run.get("iterations_to_eps"):
        for eps, it in sorted(run["iterations_to_eps"].items(), key=lambda item: -float(item[0])):
            iterations[float(eps)] = None if it is None or not math.isfinite(it) else int(it)
            times[float(eps)] = None
    for eps in eps_levels if not iterations else ():
        row = next((h for h in history if h["loss"] <= eps), None)
        iterations[eps] = row["iteration"] if row else None
        times[eps] = row["time"] if row else None
    reached = [(math.log10(1.0 / eps), it) for eps, it in iterations.items() if it is not None]
    fit = None
    if len({x for x, _ in reached}) >= 2:
        fit = fit_line([x for x, _ in reached], [it for _, it in reached])
    return ConvergenceResult(solver=run["solver"], backend=run.get("backend", ""), n=run["n"], d=run["d"],
                             status=run.get("status", ""), iterations=iterations, times=times, fit=fit,
                             final_loss=history[-1]["loss"] if history else run.get("loss", math.nan),
                             total_iterations=run.get("iterations", 0))


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

"""Fits and verdicts for the reproduction report, gathered into one :class:`Analysis`.

Everything the report claims is computed here from the raw measurements: each stage's cost
model over (n, d) (:mod:`solvers.harness.analyse.costmodel`), log–log slopes of time against size
with confidence intervals (ordinary least squares, Student t) over the compute-bound sizes
where the model puts the time in the terms of the claimed exponent, the verdict against
the exponents the paper's claim implies (:mod:`solvers.harness.analyse.scaling`),
iterations-to-ε against log10(1/ε) and the convergence study (:mod:`solvers.harness.analyse.study`),
achieved fractions of the backend's matrix-product rate, backends side by side
(:mod:`solvers.harness.analyse.backends`), and the
sparsification summaries (:mod:`solvers.harness.analyse.sparsify`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ..claims import CLAIMS, DEFAULT_SWEEPS, REFERENCE_SOLVER, SWEEP_AXES, TERMS, Rule
from .backends import BackendComparison, compare_backends
from .bound import bound_model
from .convergence import ConvergenceResult, SizeSummary, analyse_convergence, summarise_size
from .costmodel import CostModel, Coverage, coverage, fit_cost_model, identifiable, separable_terms
from .disturbance import disturbed, fit_time, stalls
from .scaling import (MIN_FIT_TIME, MODEL_ONLY_SWEEPS, ScalingResult, analyse_scaling, approaches, fixed_sizes,
                      fraction_of_peak, sweep_records, without_model)
from .roofline import RooflinePoint, best_roofline, exp_pricing, exp_rates, roofline_points
from .sparsify import SparsifyAnalysis, analyse_sparsification
from .study import Study, analyse_study

#: The stage whose exponent against n stands for T_mat(n, n, d) (the S·V product dominates it).
NND_STAGE = "forward"
#: The d²×d² solve, expected to approach d^6 with classical products.
SOLVE_STAGE = "hessian_solve"
#: The accepted range for the n×n×d exponent against n.
NND_RANGE = (1.7, 2.3)
def cost_models(records: list[dict[str, Any]]) -> list[CostModel]:
    """The cost model of every (stage, backend) whose undisturbed sizes can separate its terms
    (:func:`~solvers.harness.analyse.costmodel.separable_terms`: at one n, the terms that differ only in n are one).

    Only a :attr:`~solvers.harness.analyse.costmodel.CostModel.usable` one selects the sizes of a
    slope fit, gives a coverage or predicts a per-iteration time."""
    models = []
    for backend in dict.fromkeys(r["backend"] for r in records):
        for stage in dict.fromkeys(r["stage"] for r in records):
            spec = CLAIMS.get(stage)
            ok = [r for r in records if r["stage"] == stage and r["backend"] == backend and r["status"] == "ok"
                  and r.get("median", 0) > 0 and not disturbed(r)]
            sizes = [(r["n"], r["d"]) for r in ok]
            terms = separable_terms(spec.cost_terms, sizes) if spec else []
            if spec is None or not identifiable(terms, sizes):
                continue
            models.append(fit_cost_model(sizes, [fit_time(r) for r in ok], terms, stage, backend))
    return models


def mark_stalls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` with the stalls along each sweep (:func:`~solvers.harness.analyse.disturbance.stalls`)
    marked ``disturbed`` (copies; the input is not changed)."""
    found: dict[tuple[str, str, int, int], str] = {}
    for backend in dict.fromkeys(r["backend"] for r in records):
        for stage in dict.fromkeys(r["stage"] for r in records):
            spec = CLAIMS.get(stage)
            for sweep in (spec.sweeps if spec else DEFAULT_SWEEPS):
                axis = SWEEP_AXES[sweep][0]
                steepest = max(TERMS[t].power(axis) for t in spec.cost_terms) if spec else None
                for fixed in fixed_sizes(records, stage, backend, sweep):
                    line = [r for r in sweep_records(records, stage, backend, sweep, fixed)
                            if r["status"] == "ok" and r.get("median", 0) > 0 and not disturbed(r)]
                    for size, why in stalls([r[axis] for r in line], [fit_time(r) for r in line], steepest).items():
                        r = next(r for r in line if r[axis] == size)
                        found.setdefault((stage, backend, r["n"], r["d"]), why)
    return [{**r, "disturbed": True, "disturbance": why} if (why := found.get((r["stage"], r["backend"], r["n"], r["d"])))
            else r for r in records]


@dataclass
class BestFraction:
    """A stage's highest achieved fraction of its backend's matrix-product rate, and where; and its
    point closest to the roofline limit (:mod:`solvers.harness.analyse.roofline`), where the run
    measured the ``exp`` rate too."""

    stage: str
    backend: str
    fraction: float
    n: int
    d: int
    flops_per_s: float
    roofline: RooflinePoint | None = None


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
    backends: BackendComparison | None                         # backends side by side (None: one backend)
    gemm: dict[str, float]
    best_fractions: list[BestFraction]
    exp: dict[str, float]                                     # backend -> measured exp rate (entries/s)
    roofline: list[RooflinePoint]
    exp_pricing: list[tuple[str, float]]                      # (backend, forward's n² coefficient / s per exp)
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
                "convergence": [r.to_dict() for r in self.convergence],
                "backends": self.backends.to_dict() if self.backends else None,
                "gemm": self.gemm, "exp": self.exp, "exp_pricing": self.exp_pricing,
                "roofline": [{**asdict(p), "limit": p.limit, "fraction": p.fraction} for p in self.roofline]}


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
    rates, exps = gemm_rates(data), exp_rates(data)
    records = mark_stalls(records)
    models = cost_models(records)
    roofline = roofline_points([r for r in records if not disturbed(r)], rates, exps)
    scaling: list[ScalingResult] = []
    for backend in dict.fromkeys(r["backend"] for r in records):
        for stage in dict.fromkeys(r["stage"] for r in records):
            sweeps = CLAIMS[stage].sweeps if stage in CLAIMS else DEFAULT_SWEEPS
            model = next((m for m in models if (m.stage, m.backend) == (stage, backend) and m.usable), None)
            claimed = bound_model([r for r in records if r["stage"] == stage and r["backend"] == backend
                                   and r["status"] == "ok" and not disturbed(r) and fit_time(r) >= min_fit_time],
                                  stage, backend)
            for sweep in (s for s in sweeps if s not in MODEL_ONLY_SWEEPS):
                for fixed in fixed_sizes(records, stage, backend, sweep):
                    result = analyse_scaling(records, stage, backend, sweep, rates.get(backend), min_fit_time, rule,
                                             model, fixed, claimed)
                    if model is None and stage in CLAIMS:
                        without_model(result)
                    if result.fixed is not None and len(sweep_records(records, stage, backend, sweep, fixed)) > 1:
                        scaling.append(result)
    convergence = [analyse_convergence(run) for run in data.get("convergence", [])]
    return Analysis(
        min_fit_time=min_fit_time, rule=rule, models=models, coverage=_coverage(models, scaling, records),
        scaling=scaling, convergence=convergence, backends=compare_backends(records),
        gemm=rates, best_fractions=best_fractions(records, rates, roofline), exp=exps, roofline=roofline,
        exp_pricing=exp_pricing(models, exps),
        nnd_checks=[(r, r.fit is not None and NND_RANGE[0] <= r.fit.slope <= NND_RANGE[1])
                    for r in scaling if r.stage == NND_STAGE and r.sweep == "n"],
        solve_checks=[(r, *approaches(r, 6.0)) for r in scaling if r.stage == SOLVE_STAGE and r.sweep == "solve_d"],
        sizes=[summarise_size(convergence, size) for size in dict.fromkeys((r.n, r.d) for r in convergence)],
        noise=timing_noise(records),
        study=_study(data.get("convergence_study") or [], records, models),
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


def _study(runs: list[dict[str, Any]], records: list[dict[str, Any]], models: list[CostModel]) -> Study | None:
    """The convergence study (``None`` without runs), its end-to-end check priced on the backend its runs
    used: those of the first backend the study ran on (a file resumed with another first backend holds
    runs of two; their times must not share one median)."""
    if not runs:
        return None
    backend = _requested_backend(runs[0])
    return analyse_study([run for run in runs if _requested_backend(run) == backend],
                         _per_iteration(records, models, backend))


def _requested_backend(run: dict[str, Any]) -> str:
    """The backend a convergence run was asked to run on (files before ``requested_backend``: its ``backend``, NumPy)."""
    return run.get("requested_backend") or run.get("backend") or "numpy"


def _per_iteration(records: list[dict[str, Any]], models: list[CostModel],
                   backend: str) -> Callable[[int, int], tuple[float | None, str]]:
    """Seconds of one iteration of the paper's method on ``backend`` at (n, d): its stage timing where
    measured and not disturbed, else its cost model's prediction inside the measured ranges (a disturbed
    timing is never used, and the source says it was left out)."""
    stage = f"iteration:{REFERENCE_SOLVER}"
    mine = [r for r in records if r["stage"] == stage and r["backend"] == backend and r["status"] == "ok"]
    timed = {(r["n"], r["d"]): r["median"] for r in mine if not disturbed(r)}
    left_out = {(r["n"], r["d"]) for r in mine if disturbed(r)} - timed.keys()
    model = next((m for m in models if (m.stage, m.backend) == (stage, backend) and m.usable), None)

    def per_iteration(n: int, d: int) -> tuple[float | None, str]:
        if (n, d) in timed:
            return timed[(n, d)], "stage timing"
        why = " (its stage timing was disturbed)" if (n, d) in left_out else ""
        if model is not None and (min(s[0] for s in model.sizes) <= n <= max(s[0] for s in model.sizes)
                                  and min(s[1] for s in model.sizes) <= d <= max(s[1] for s in model.sizes)):
            return model.predict(n, d), "cost model" + why
        return None, "stage timing disturbed" if why else "not timed"

    return per_iteration


def best_fractions(records: list[dict[str, Any]], rates: dict[str, float],
                   roofline: list[RooflinePoint]) -> list[BestFraction]:
    """Per stage and backend with a measured rate, the point closest to that rate (and the one closest to the roofline)."""
    out = []
    for stage in dict.fromkeys(r["stage"] for r in records):
        for backend, rate in rates.items():
            fracs = [(fraction_of_peak(r, rate), r) for r in records if r["stage"] == stage and r["backend"] == backend]
            fracs = [(f, r) for f, r in fracs if f is not None]
            if fracs:
                best, where = max(fracs, key=lambda pair: pair[0])
                out.append(BestFraction(stage, backend, best, where["n"], where["d"], best * rate,
                                        best_roofline(roofline, stage, backend)))
    return out


def timing_noise(records: list[dict[str, Any]]) -> Noise | None:
    """The spread of repeated calls relative to their median, over points timed more than once."""
    spreads = sorted((r["q75"] - r["q25"]) / r["median"] for r in records
                     if r["status"] == "ok" and r.get("median") and r.get("q25") is not None
                     and r.get("q75") is not None and r.get("repeats", 2) > 1)
    return Noise(spreads[len(spreads) // 2], spreads[-1]) if spreads else None

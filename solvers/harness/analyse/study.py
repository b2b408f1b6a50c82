"""Convergence across sizes: the paper's method and the Newton-type methods on planted problems
at several (n, d) and seeds.

For a linearly converging method the constant hidden in the claim's log(1/ε) is the number of
iterations per decade of ε; its trend in n and d (a log–log slope over sizes and seeds) says
whether conditioning makes it grow. Newton-type methods converge superlinearly, so their
summary is the order q fitted from successive losses, log L_{k+1} ≈ q·log L_k + c (q = 1:
linear, q = 2: quadratic). The end-to-end check puts the paper's method's total time to ε
against n and d next to per-iteration time (from the stage timings) × iterations to ε.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..claims import LINEAR_SOLVERS, REFERENCE_SOLVER, STUDY_EPS
from .convergence import analyse_convergence
from .fits import Fit, fit_line, fit_loglog
#: Successive losses enter the order fit only inside (ORDER_FLOOR, ORDER_START): the local
#: phase, above the rounding floor of float64 losses.
ORDER_START = 1e-2
ORDER_FLOOR = 1e-26


@dataclass
class StudyRun:
    """One run of the study, summarised.

    Attributes
    ----------
    solver : str
    n, d, seed : int
    status : str
    iterations, time : int or None, float or None
        Iterations and solver seconds to reach :data:`STUDY_EPS` (None: not reached).
    per_decade : Fit or None
        Iterations against log10(1/ε) (linear methods).
    order : Fit or None
        log L_{k+1} against log L_k over the local phase (Newton-type methods).
    """

    solver: str
    n: int
    d: int
    seed: int
    status: str
    iterations: int | None
    time: float | None
    per_decade: Fit | None
    order: Fit | None


def order_of_convergence(history: Sequence[dict[str, float]]) -> Fit | None:
    """The order q of log L_{k+1} = q·log L_k + c over successive iterations in the local phase.

    A pair of consecutive iterations enters while both losses lie in (:data:`ORDER_FLOOR`,
    :data:`ORDER_START`) and the loss decreases; None with fewer than two such pairs.
    """
    pairs = [(math.log(a["loss"]), math.log(b["loss"])) for a, b in zip(history, history[1:])
             if b["iteration"] == a["iteration"] + 1 and ORDER_FLOOR < b["loss"] < a["loss"] < ORDER_START]
    if len({x for x, _ in pairs}) < 2:
        return None
    return fit_line([x for x, _ in pairs], [y for _, y in pairs])


def summarise_run(run: dict[str, Any]) -> StudyRun:
    """A :class:`StudyRun` of one stored run (a convergence record with its ``seed``)."""
    result = analyse_convergence(run)
    history = run.get("history") or []
    reached = next((h for h in history if h["loss"] <= STUDY_EPS), None)
    newton = run["solver"] not in LINEAR_SOLVERS
    return StudyRun(solver=run["solver"], n=run["n"], d=run["d"], seed=run.get("seed", 0),
                    status=run.get("status", ""), iterations=reached["iteration"] if reached else None,
                    time=reached["time"] if reached else None, per_decade=None if newton else result.fit,
                    order=order_of_convergence(history) if newton else None)


@dataclass
class Trend:
    """A quantity's log–log slope against one size, the other held fixed, over sizes and seeds."""

    what: str
    solver: str
    axis: str
    fixed: int
    sizes: list[int]
    fit: Fit | None


@dataclass
class EndToEnd:
    """The paper's method at one size: measured time to ε next to per-iteration time × iterations."""

    n: int
    d: int
    iterations: float          # median over seeds
    time: float                # median measured solver time to ε over seeds
    per_iteration: float | None   # stage timing of one iteration (or its cost model), seconds
    source: str                # where per_iteration comes from

    @property
    def predicted(self) -> float | None:
        """Per-iteration time × iterations to ε."""
        return None if self.per_iteration is None else self.per_iteration * self.iterations


@dataclass
class Study:
    """Everything the report says about convergence across sizes."""

    runs: list[StudyRun]
    trends: list[Trend] = field(default_factory=list)
    end_to_end: list[EndToEnd] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"runs": [asdict(r) for r in self.runs], "trends": [asdict(t) for t in self.trends],
                "end_to_end": [{**asdict(e), "predicted": e.predicted} for e in self.end_to_end]}


def lines(sizes: Sequence[tuple[int, int]]) -> list[tuple[str, int, list[int]]]:
    """The sweeps within ``sizes``: (axis, fixed other size, values) with at least three values."""
    out = []
    for axis, index in (("n", 0), ("d", 1)):
        other = 1 - index
        for fixed in sorted({s[other] for s in sizes}):
            values = sorted({s[index] for s in sizes if s[other] == fixed})
            if len(values) >= 3:
                out.append((axis, fixed, values))
    return out


def _trend(runs: list[StudyRun], what: str, solver: str, axis: str, fixed: int, values: list[int],
           value: Callable[[StudyRun], float | None]) -> Trend:
    other = "d" if axis == "n" else "n"
    points = [(getattr(r, axis), value(r)) for r in runs
              if r.solver == solver and getattr(r, other) == fixed and getattr(r, axis) in values]
    points = [(x, y) for x, y in points if y is not None and y > 0]
    fit = fit_loglog([x for x, _ in points], [y for _, y in points]) if len({x for x, _ in points}) >= 2 else None
    return Trend(what, solver, axis, fixed, sorted({x for x, _ in points}), fit)


def analyse_study(records: list[dict[str, Any]],
                  per_iteration: Callable[[int, int], tuple[float | None, str]] | None = None) -> Study:
    """Summaries, trends in n and d, and the end-to-end check of the study's runs.

    ``per_iteration(n, d)`` gives the seconds of one iteration of the paper's method at
    (n, d) and where that number comes from (stage timing, cost model), or (None, why).
    """
    runs = [summarise_run(r) for r in records]
    study = Study(runs)
    for axis, fixed, values in lines([(r.n, r.d) for r in runs]):
        for solver in LINEAR_SOLVERS:
            study.trends.append(_trend(runs, "iterations per decade of ε", solver, axis, fixed, values,
                                       lambda r: r.per_decade.slope if r.per_decade else None))
            study.trends.append(_trend(runs, f"time to {STUDY_EPS:g}", solver, axis, fixed, values,
                                       lambda r: r.time))
    for n, d in dict.fromkeys((r.n, r.d) for r in runs if r.solver == REFERENCE_SOLVER):
        reached = [r for r in runs if r.solver == REFERENCE_SOLVER and (r.n, r.d) == (n, d) and r.time is not None]
        if not reached:
            continue
        seconds, source = per_iteration(n, d) if per_iteration else (None, "no stage timing")
        study.end_to_end.append(EndToEnd(n, d, statistics.median(r.iterations for r in reached),
                                         statistics.median(r.time for r in reached), seconds, source))
    return study


def median_order(runs: list[StudyRun], solver: str, n: int, d: int) -> tuple[float, float, float] | None:
    """Median, lowest and highest fitted order of ``solver`` at (n, d) over seeds."""
    orders = [r.order.slope for r in runs if (r.solver, r.n, r.d) == (solver, n, d) and r.order is not None]
    return (statistics.median(orders), min(orders), max(orders)) if orders else None

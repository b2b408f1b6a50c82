"""Convergence of the solver runs: iterations and time to each ε, iterations per decade of ε,
and how the methods compare at each planted size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..claims import EPS_LEVELS, REFERENCE_SOLVER
from .fits import Fit, fit_line


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


@dataclass
class SizeSummary:
    """How the solvers compare on one planted size (every field computed from the runs)."""

    n: int
    d: int
    reference: ConvergenceResult | None
    fewest_iterations: tuple[str, int] | None     # to 1e-8
    least_time: tuple[str, float] | None          # solver time to 1e-8
    lowest_loss: ConvergenceResult | None


def summarise_size(results: list[ConvergenceResult], size: tuple[int, int], target: float = 1e-8) -> SizeSummary:
    """The reference method, the fewest iterations and least time to ``target``, the lowest loss at ``size``."""
    mine = [r for r in results if (r.n, r.d) == size]
    finite = [r for r in mine if r.final_loss is not None and math.isfinite(r.final_loss)]
    reached = {r.solver: r.iterations[target] for r in mine if r.iterations.get(target) is not None}
    timed = {r.solver: r.times[target] for r in mine if r.times.get(target) is not None}
    return SizeSummary(
        n=size[0], d=size[1], reference=next((r for r in mine if r.solver == REFERENCE_SOLVER), None),
        fewest_iterations=min(reached.items(), key=lambda item: item[1]) if reached else None,
        least_time=min(timed.items(), key=lambda item: item[1]) if timed else None,
        lowest_loss=min(finite, key=lambda r: r.final_loss) if finite else None)

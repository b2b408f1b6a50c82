"""The race: wall time to a target loss for the project's methods and the peers a user would pick.

On planted problems (min L = 0) from the start every comparison uses (X* + 0.5·G,
:meth:`Problem.start_near_solution`; Y the exact least-squares step, computed once and
given to every method), each method is run to ``L ≤ target`` and timed from outside, as a
user waits for it (wall time of the whole ``solve`` call, monitoring included). Before
each timed call the garbage collector runs and the process sleeps briefly, so that the
previous method's BLAS threads are idle (DESIGN-NOTES, "Measuring against peers").

The project's methods run first; each peer then gets a solver-time budget of
``budget_factor`` × the best project time for that problem. A peer that does not reach
the target within it cannot beat the project by less than that factor, and is recorded as
not reached (the ratio is then a lower bound, shown as "> k×").
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import oracles
from ..problem import Problem
from ..registry import get_solver, list_solvers

#: The project's methods in the race.
PROJECT_METHODS = ("varpro", "gauss-newton", "newton-cg", "joint-newton")
#: The peers: SciPy's minimisers with the project's exact oracles (and JAX when installed).
PEER_METHODS = ("lbfgs", "scipy-trust-ncg", "scipy-trust-krylov", "scipy-newton-cg", "scipy-trust-exact",
                "jax-newton", "jax-newton-cg")
#: (n, d) of the race.
SIZES = ((128, 16), (512, 32), (1024, 64))
SEEDS = (0, 1, 2)


@dataclass
class RaceEntry:
    """One method on one problem: wall time to the target (``None``: not reached), and what the solve said."""

    method: str
    project: bool
    n: int
    d: int
    seed: int
    wall: float | None
    solver_time: float
    iterations: int
    loss: float
    status: str
    message: str
    budget: float | None


def available(methods: Iterable[str]) -> list[str]:
    """The methods among ``methods`` that can be constructed here (an optional extra such as JAX may be absent)."""
    registered = set(list_solvers())
    usable = []
    for method in methods:
        try:
            if method in registered:
                get_solver(method)
                usable.append(method)
        except ValueError:
            continue
    return usable


def time_to_target(method: str, problem: Problem, X0: Any, Y0: Any, *, target: float, max_time: float | None,
                   max_iter: int, pause: float) -> tuple[float | None, Any]:
    """Wall time of one ``solve`` to ``L ≤ target`` (``None`` when not reached), and its result.

    A method with a ``warm_up(problem)`` (JAX: compilation) runs it before the clock starts.
    """
    solver = get_solver(method)
    if hasattr(solver, "warm_up"):
        solver.warm_up(problem)
    gc.collect()
    time.sleep(pause)
    started = time.perf_counter()
    result = solver.solve(problem, X0, Y0, eps=target, max_iter=max_iter, max_time=max_time)
    wall = time.perf_counter() - started
    return (wall if result.loss <= target else None), result


def run_race(sizes: Sequence[tuple[int, int]] = SIZES, seeds: Sequence[int] = SEEDS, *,
             project: Sequence[str] = PROJECT_METHODS, peers: Sequence[str] = PEER_METHODS,
             target: float = 1e-10, max_time: float = 300.0, budget_factor: float = 3.0, max_iter: int = 10_000,
             pause: float = 0.2, noise: float = 0.5,
             progress: Callable[[RaceEntry], None] | None = None) -> list[RaceEntry]:
    """Run every method on every planted problem; see the module docstring.

    Parameters
    ----------
    sizes, seeds
        The planted problems ``Problem.planted(n, d, seed)``.
    project, peers
        Registry names; unregistered ones (an optional extra not installed) are left out.
    target : float
        The loss to reach.
    max_time : float
        Solver-time limit of a project method (and the cap of every peer budget).
    budget_factor : float
        A peer's solver-time limit, relative to the best project time on that problem.
    progress : callable, optional
        Called with each entry as it is measured.
    """
    entries: list[RaceEntry] = []
    for n, d in sizes:
        for seed in seeds:
            problem = Problem.planted(n, d, seed=seed)
            X0 = problem.start_near_solution(noise)
            Y0 = problem.backend.to_numpy(oracles.y_solve(problem, X0))
            best: float | None = None
            for is_project, methods in ((True, available(project)), (False, available(peers))):
                for method in methods:
                    budget = max_time if is_project or best is None else min(max_time, budget_factor * best)
                    wall, result = time_to_target(method, problem, X0, Y0, target=target, max_time=budget,
                                                  max_iter=max_iter, pause=pause)
                    if is_project and wall is not None:
                        best = wall if best is None else min(best, wall)
                    entry = RaceEntry(method, is_project, n, d, seed, wall, result.time, result.iterations,
                                      result.loss, result.status, result.message, None if is_project else budget)
                    entries.append(entry)
                    if progress is not None:
                        progress(entry)
    return entries


@dataclass
class RaceRow:
    """One problem: the fastest project method and the fastest peer, and their ratio (peer / project)."""

    n: int
    d: int
    seed: int
    project: str
    project_wall: float | None
    peer: str
    peer_wall: float | None
    ratio: float | None
    ratio_is_lower_bound: bool


def summarise(entries: Iterable[RaceEntry]) -> list[RaceRow]:
    """Per (n, d, seed): best project method against best peer.

    When no peer reached the target, the ratio is the smallest budget over the best project
    time, a lower bound (``ratio_is_lower_bound``); ``None`` when the project did not reach it.
    """
    groups: dict[tuple[int, int, int], list[RaceEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.n, entry.d, entry.seed), []).append(entry)
    rows = []
    for (n, d, seed), group in groups.items():
        project = _fastest(e for e in group if e.project)
        peer = _fastest(e for e in group if not e.project)
        project_wall = project.wall if project else None
        peer_wall = peer.wall if peer else None
        lower = peer_wall is None
        if project_wall is None:
            ratio = None
        elif not lower:
            ratio = peer_wall / project_wall
        else:
            budgets = [e.budget for e in group if not e.project and e.budget is not None]
            ratio = min(budgets) / project_wall if budgets else None
        rows.append(RaceRow(n, d, seed, project.method if project else "–", project_wall,
                            peer.method if peer else "–", peer_wall, ratio, lower))
    return rows


def _fastest(entries: Iterable[RaceEntry]) -> RaceEntry | None:
    reached = [e for e in entries if e.wall is not None]
    return min(reached, key=lambda e: e.wall) if reached else None  # type: ignore[arg-type, return-value]


def _seconds(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "not reached"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def markdown(entries: Sequence[RaceEntry], target: float = 1e-10) -> str:
    """The race as Markdown: the summary table (ratio per problem), then every method's wall time."""
    lines = [f"| n, d | seed | project's best | best peer | peer / project |", "| --- | --- | --- | --- | --- |"]
    for row in summarise(entries):
        ratio = "–" if row.ratio is None else f"{'> ' if row.ratio_is_lower_bound else ''}{row.ratio:.1f}×"
        peer = "none reached the target" if row.peer_wall is None else f"{row.peer} {_seconds(row.peer_wall)}"
        lines.append(f"| {row.n}, {row.d} | {row.seed} | {row.project} {_seconds(row.project_wall)} | {peer} | {ratio} |")
    lines += ["", f"Wall time to L ≤ {target:g} (solver time, iterations, status) of every method:", "",
              "| n, d | seed | method | wall | solver time | iterations | status |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for e in entries:
        name = e.method if e.project else f"{e.method} (peer)"
        lines.append(f"| {e.n}, {e.d} | {e.seed} | {name} | {_seconds(e.wall)} | {_seconds(e.solver_time)} | "
                     f"{e.iterations} | {e.status} |")
    return "\n".join(lines) + "\n"


def to_records(entries: Iterable[RaceEntry]) -> list[dict[str, Any]]:
    """JSON-ready records of the entries."""
    return [asdict(entry) for entry in entries]

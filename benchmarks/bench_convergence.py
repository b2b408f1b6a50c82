"""Iterations each second-order solver needs to reach ε on the grid's planted problems.

The paper's bound carries a log(1/ε) factor: for a method with that rate, iterations grow
linearly in log(1/ε). Every solver starts from the report's start
(:meth:`solvers.Problem.start_near_solution`, X* + 0.5·G) with Y the exact least-squares
step; each solve runs once per asv run (``setup_cache``) and serves every ε.
"""

from __future__ import annotations

import math
from typing import Any

from solvers.backends import BACKEND_NAMES, backend_unavailable_reason
from solvers.harness.measure.grids import GRIDS
from solvers.harness.claims import ITERATION_SOLVERS

from ._common import active_grid, whole_run_backends

EPSILONS = [1e-2, 1e-4, 1e-8, 1e-12]
#: Budget of each solve; an ε not reached within it is reported as NaN (n/a).
MAX_ITER = 100
MAX_TIME = 15.0

Key = tuple[str, str, int, int]


def _convergence_values() -> tuple[list[int], list[int]]:
    sizes = {size for grid in GRIDS.values() for size in grid.convergence_sizes}
    return sorted({n for n, _ in sizes}), sorted({d for _, d in sizes})


def solve_all() -> dict[Key, Any]:
    """Solve every active (solver, backend, size); values are iterations per ε, or why not.

    A backend the grid times on only some stages (``Grid.backend_stages``) runs no solver either.

    Returns
    -------
    dict
        ``(solver, backend, n, d)`` → ``{eps: iterations or None}``, or a string saying why
        that combination does not run here.
    """
    from solvers import Problem, get_solver, list_solvers

    grid, registered = active_grid(), list_solvers()
    runs: dict[Key, Any] = {}
    for backend in whole_run_backends():
        reason = backend_unavailable_reason(backend)
        for n, d in grid.convergence_sizes:
            for solver in ITERATION_SOLVERS:
                key = (solver, backend, n, d)
                if reason is not None or solver not in registered:
                    runs[key] = reason or f"solver {solver!r} is not registered"
                    continue
                problem = Problem.planted(n, d, seed=0, backend=backend)
                result = get_solver(solver).solve(problem, problem.start_near_solution(), eps=min(EPSILONS),
                                                  max_iter=MAX_ITER, max_time=MAX_TIME)
                runs[key] = {eps: result.iterations_to_reach(eps) for eps in EPSILONS}
    return runs


class IterationsToEps:
    """Iterations to reach L ≤ ε on a planted problem (NaN: not reached within the budget)."""

    param_names = ["solver", "backend", "n", "d", "eps"]
    params = [list(ITERATION_SOLVERS), list(BACKEND_NAMES), *_convergence_values(), EPSILONS]
    timeout = 1800.0

    def setup_cache(self) -> dict[Key, Any]:
        return solve_all()

    setup_cache.timeout = 1800.0

    def setup(self, runs: dict[Key, Any], solver: str, backend: str, n: int, d: int, eps: float) -> None:
        run = runs.get((solver, backend, n, d), f"{backend}, n={n}, d={d} is not on the active grid")
        if isinstance(run, str):
            raise NotImplementedError(run)

    def track_iterations(self, runs: dict[Key, Any], solver: str, backend: str, n: int, d: int,
                         eps: float) -> float:
        """First iteration with L ≤ ε."""
        iterations = runs[(solver, backend, n, d)][eps]
        return math.nan if iterations is None else float(iterations)

    track_iterations.unit = "iterations"

"""The oracles' speed, three ways: against ``jax.jit``, layout against layout, ``lbfgs`` against ``jax-lbfgs``.

What issue #20's done-when tables measure, side by side in one process so that a busy machine
slows every contender alike (best of ``repeat`` interleaved calls, :func:`._side_by_side`):

* :func:`versus_jax_table` — JAX time / project time per oracle and size
  (:func:`solvers.harness.measure.versus_jax.versus_jax`: one core each);
* :func:`layout_table` — each product stage of the quick grid at each of its points, the
  problem's default layout against the row-blocked and the full-S path, with the default's
  time over the faster of the two (the default is one of them: ≤ 1.1 is the target);
* :func:`lbfgs_versus_jax` — wall time per iteration of ``lbfgs`` (SciPy L-BFGS-B on the
  project's fused value and gradient) and of ``jax-lbfgs`` (the same SciPy on ``jax.jit`` of
  value_and_grad), the same iterations from the same start, on the machine's threads and on one
  core.

``scripts/oracle_speed.py`` prints the three tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import Any

from ...problem import Problem
from . import versus_jax as _versus_jax
from .grids import get_grid
from .race import _side_by_side
from .stages import STAGES, stage_point

#: The product stages whose layout the problem chooses (the Hessians' blocks are budget-sized either way).
LAYOUT_STAGES = ("forward", "gradient", "y_solve", "hvp")


def versus_jax_table(sizes: Sequence[tuple[int, int]] = _versus_jax.SIZES,
                     oracles: Sequence[str] = _versus_jax.ORACLES, *, repeat: int = _versus_jax.REPEAT,
                     progress: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """One row per (size, oracle): ``n``, ``d``, ``oracle``, seconds ``project`` and ``jax``, ``ratio`` = JAX / project."""
    rows = []
    for n, d in sizes:
        for oracle in oracles:
            row = {"n": n, "d": d, "oracle": oracle, **_versus_jax.versus_jax(n, d, oracle, repeat=repeat)}
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


def quick_points(grid: str = "quick") -> list[tuple[int, int]]:
    """The (n, d) points at which the grid times the product stages: its n- and d-sweeps and its plane."""
    chosen = get_grid(grid)
    return sorted({*chosen.points("n"), *chosen.points("d"), *chosen.points("plane")})


def layout_table(points: Iterable[tuple[int, int]] | None = None, stages: Sequence[str] = LAYOUT_STAGES, *,
                 repeat: int = 3, threads: int | None = None,
                 progress: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """One row per (stage, n, d): seconds of the ``blocked`` and ``full`` paths, the ``default`` layout's
    name, and ``ratio`` = the default's time / the faster path's (1.0 where the default is the faster).

    ``threads``: BLAS threads (and so the blocks' workers) for every call; default the machine's.
    On a machine other jobs keep busy, two-thread timings stall at random (a 1 ms call measured
    at 13 ms, best of five): compare on one thread there.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        return _layout_rows(quick_points() if points is None else points, stages, repeat, progress)


def _layout_rows(points: Iterable[tuple[int, int]], stages: Sequence[str], repeat: int,
                 progress: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    rows = []
    for n, d in points:
        problems = {name: Problem.planted(n, d, blocked=flag) for name, flag in (("blocked", True), ("full", False))}
        default = Problem.planted(n, d).layout
        X, Y = stage_point(problems["blocked"])
        for stage in stages:
            bodies = [STAGES[stage].prepare(problems[name], X, Y) for name in ("blocked", "full")]
            blocked, full = _side_by_side(repeat, *bodies)
            mine = blocked if default == "blocked" else full
            row = {"stage": stage, "n": n, "d": d, "default": "blocked" if default == "blocked" else "full",
                   "blocked": blocked, "full": full, "ratio": mine / min(blocked, full)}
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


def lbfgs_versus_jax(n: int = 512, d: int = 32, iterations: int = 100, *, one_core: bool = False, seed: int = 0,
                     repeat: int = _versus_jax.REPEAT) -> dict[str, float]:
    """Seconds per iteration of ``lbfgs`` and of ``jax-lbfgs``, and ``ratio`` = lbfgs / jax-lbfgs.

    Both run ``iterations`` L-BFGS-B iterations from the race's start (X* + 0.5·G, Y the exact
    step), JAX compiled off the clock; each solve is timed from outside, as a user waits for it.
    On the machine's threads, or with ``one_core`` one BLAS thread and every thread of the
    process pinned to one core — which holds only if JAX has not started in this process before
    (its thread pools keep the affinity they start with): run each setting in a fresh process.
    Raises ``ValueError`` (from the registry) where JAX is not installed.
    """
    from ...registry import get_solver

    problem = Problem.planted(n, d, seed=seed)
    X0 = problem.start_near_solution()
    Y0 = problem.oracle(X0).least_squares()[1].Y
    runs: dict[str, Any] = {}

    def solve(name: str) -> Callable[[], None]:
        solver = get_solver(name)
        if name == "jax-lbfgs":
            solver.warm_up(problem)  # compiled once, off the clock

        def body() -> None:
            runs[name] = solver.solve(problem, X0, Y0, eps=0.0, max_iter=iterations)
        return body

    from threadpoolctl import threadpool_limits

    with _versus_jax.one_core() if one_core else nullcontext(), threadpool_limits(1 if one_core else None):
        project, jax = _side_by_side(repeat, solve("lbfgs"), solve("jax-lbfgs"))
    steps = {name: max(1, result.iterations) for name, result in runs.items()}
    out = {"lbfgs": project / steps["lbfgs"], "jax-lbfgs": jax / steps["jax-lbfgs"]}
    return {**out, "ratio": out["lbfgs"] / out["jax-lbfgs"], "iterations": float(steps["lbfgs"])}

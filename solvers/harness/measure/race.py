"""The race: wall time to a target loss for the project's methods and the peers a user would pick.

On planted problems (min L = 0) from the start every comparison uses (X* + 0.5·G,
:meth:`Problem.start_near_solution`; Y the exact least-squares step, computed once and
given to every method), each method is run to ``L ≤ target`` and timed from outside, as a
user waits for it (wall time of the whole ``solve`` call, monitoring included). Before
each timed call the garbage collector runs and the process sleeps briefly, so that the
previous method's BLAS threads are idle (DESIGN-NOTES, "Measuring against peers").

The project's methods run first (the fastest first); once one has reached the target,
every further method gets a solver-time budget of ``budget_factor`` × the best project
time for that problem. A peer that does not reach the target within it cannot beat the
project by less than that factor, and is recorded as not reached (the ratio is then a
lower bound, shown as "> k×"); a slower project method cannot become the project's best.

:func:`run_case` runs the methods on one problem from one start under these budgets; the
benchmark matrix (:mod:`solvers.harness.measure.matrix`) runs it on every case of its own, with
stationarity targets where min L is not known.

A side-by-side check of overhead lives here too: :func:`lbfgs_overhead` (the
project's ``lbfgs`` against raw SciPy L-BFGS-B for the same iterations); the oracles
against ``jax.jit`` are in :mod:`solvers.harness.measure.versus_jax`.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ... import oracles
from ...problem import Problem
from ...loop import describe_exception
from ...registry import get_solver, list_solvers, solver_class
from ..records import Provenance, RaceEntry
from .environment import measured_under

#: The project's methods in the race (the expected fastest first).
PROJECT_METHODS = ("varpro", "newton-cg", "gauss-newton")
#: The peers: SciPy's minimisers with the project's exact oracles (and JAX when installed).
PEER_METHODS = ("lbfgs", "scipy-trust-ncg", "scipy-trust-krylov", "scipy-newton-cg", "scipy-trust-exact",
                "jax-newton", "jax-newton-cg", "jax-lbfgs", "jax-trust-krylov", "torch-lbfgs")
#: (n, d) of the race.
SIZES = ((128, 16), (512, 32), (1024, 64))
SEEDS = (0, 1, 2)


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
                   max_iter: int, pause: float, kind: str = "loss") -> tuple[float | None, Any]:
    """Wall time of one ``solve`` to the target (``None`` when not reached), and its result.

    ``kind`` ``"loss"``: L ≤ ``target`` (``eps`` = target). ``"stationary"``: ‖∇L‖/‖∇L(start)‖ ≤
    ``target`` (the method's ``gtol`` = target, ``eps`` = 0), for problems whose minimum is not
    known. A method with a ``warm_up(problem)`` (JAX: compilation) runs it before the clock starts.
    """
    solver = get_solver(method) if kind == "loss" else get_solver(method, gtol=target)
    if hasattr(solver, "warm_up"):
        solver.warm_up(problem)
    gc.collect()
    time.sleep(pause)
    started = time.perf_counter()
    result = solver.solve(problem, X0, Y0, eps=target if kind == "loss" else 0.0, max_iter=max_iter,
                          max_time=max_time)
    wall = time.perf_counter() - started
    return (wall if reached(result, kind, target) else None), result


def reached(result: Any, kind: str, target: float) -> bool:
    """Whether ``result`` met the target: L ≤ target, or ‖∇L‖/‖∇L(start)‖ ≤ target (``"stationary"``)."""
    if not result.history or result.status in ("error", "diverged", "skipped"):
        return False
    if kind == "loss":
        return result.loss <= target
    return grad_ratio(result) <= target


def grad_ratio(result: Any) -> float:
    """‖∇L‖/‖∇L(start)‖ at the last iterate of ``result`` (NaN without history)."""
    if not result.history:
        return math.nan
    first = result.history[0].grad_norm
    return result.history[-1].grad_norm / first if first else 0.0


def run_case(problem: Problem, X0: Any, Y0: Any, methods: Sequence[tuple[str, bool]], *, fields: dict[str, Any],
             provenance: Provenance, target: float = 1e-10, kind: str = "loss", max_time: float = 300.0,
             budget_factor: float = 3.0, project_sets_budget: bool = True, max_iter: int = 10_000,
             pause: float = 0.2, memory_limit: float = 4e9, refuse: Callable[[str], str | None] | None = None,
             progress: Callable[[RaceEntry], None] | None = None) -> list[RaceEntry]:
    """Every method of ``methods`` (name, is-a-project-method) on one problem from (X0, Y0).

    Each method runs under a solver-time limit of ``max_time``; once a method that sets the
    budget (a project method with ``project_sets_budget``, else any) has reached the target,
    every further one runs under ``min(max_time, budget_factor × the best time so far)``
    (recorded as ``budget``). ``refuse(method)`` may name why a method is not run here (recorded
    as skipped), as may a method whose ``memory_bytes(n, d)`` exceeds ``memory_limit``.
    ``fields`` go into every entry (the case).
    """
    n, d = problem.n, problem.d
    entries: list[RaceEntry] = []
    best: float | None = None
    for method, is_project in methods:
        case = {"method": method, "project": is_project, "n": n, "d": d, **fields}
        budgeted = best is not None
        budget = min(max_time, budget_factor * best) if budgeted else max_time
        needs = getattr(solver_class(method), "memory_bytes", lambda n, d: 0.0)(n, d)
        why = refuse(method) if refuse is not None else None
        if needs > memory_limit:
            why = f"needs about {needs / 1e9:.0f} GB > memory_limit {memory_limit / 1e9:.0f} GB"
        if why:
            entry = RaceEntry(**case, wall=None, solver_time=math.nan, iterations=0, loss=math.nan,
                              status="skipped", message=why, budget=None, provenance=provenance)
        else:
            try:
                wall, result = time_to_target(method, problem, X0, Y0, target=target, max_time=budget,
                                              max_iter=max_iter, pause=pause, kind=kind)
            except Exception as exc:  # noqa: BLE001 - a method that cannot even start is a result
                entry = RaceEntry(**case, wall=None, solver_time=math.nan, iterations=0, loss=math.nan,
                                  status="error", message=describe_exception(exc),
                                  budget=budget if budgeted else None, provenance=provenance)
            else:
                if wall is not None and (is_project or not project_sets_budget):
                    best = wall if best is None else min(best, wall)
                entry = RaceEntry(**case, wall=wall,
                                  solver_time=result.time, iterations=result.iterations, loss=result.loss,
                                  status=result.status, message=result.message, grad_ratio=grad_ratio(result),
                                  budget=budget if budgeted else None,
                                  provenance=provenance)
        entries.append(entry)
        if progress is not None:
            progress(entry)
    return entries


def run_race(sizes: Sequence[tuple[int, int]] = SIZES, seeds: Sequence[int] = SEEDS, *,
             project: Sequence[str] = PROJECT_METHODS, peers: Sequence[str] = PEER_METHODS,
             target: float = 1e-10, max_time: float = 300.0, budget_factor: float = 3.0, max_iter: int = 10_000,
             pause: float = 0.2, noise: float = 0.5, memory_limit: float = 4e9,
             progress: Callable[[RaceEntry], None] | None = None,
             on_case: Callable[[list[RaceEntry]], None] | None = None) -> list[RaceEntry]:
    """Run every method on every planted problem; see the module docstring.

    Every entry's provenance names the commit and the race's settings (sizes, seeds, target,
    caps, budget factor, pause, start noise, memory limit).

    Parameters
    ----------
    sizes, seeds
        The planted problems ``Problem.planted(n, d, seed)``.
    project, peers
        Registry names; unregistered ones (an optional extra not installed) are left out.
    target : float
        The loss to reach.
    max_time : float
        Solver-time limit of every method (and the cap of every budget).
    budget_factor : float
        The solver-time limit of every method after the first project method that reached
        the target, relative to the best project time on that problem.
    memory_limit : float
        Bytes; a method whose class states a ``memory_bytes(n, d)`` above it is not run and
        is recorded with status "skipped" (jax.hessian needs 2d² n×n tangents at once).
    progress : callable, optional
        Called with each entry as it is measured.
    on_case : callable, optional
        Called with every entry so far once all methods have run on a problem (to save them:
        a ``KeyboardInterrupt`` propagates at once, and the problem under way is lost).
    """
    settings = {"sizes": [list(size) for size in sizes], "seeds": list(seeds), "target": target, "max_time": max_time,
                "budget_factor": budget_factor, "max_iter": max_iter, "pause": pause, "noise": noise,
                "memory_limit": memory_limit}
    provenance: Provenance = measured_under(threads=None, grid="race", options=settings)
    methods = [(name, True) for name in available(project)] + [(name, False) for name in available(peers)]
    entries: list[RaceEntry] = []
    for n, d in sizes:
        for seed in seeds:
            problem = Problem.planted(n, d, seed=seed)
            X0 = problem.start_near_solution(noise)
            Y0 = problem.backend.to_numpy(oracles.y_solve(problem, X0))
            entries += run_case(problem, X0, Y0, methods, fields={"seed": seed}, provenance=provenance,
                                target=target, max_time=max_time, budget_factor=budget_factor, max_iter=max_iter,
                                pause=pause, memory_limit=memory_limit, progress=progress)
            if on_case is not None:
                on_case(entries)
    return entries


def interleaved(repeat: int, bodies: Sequence[Callable[[], Any]], *, warmup: int = 1,
                pause: float = 0.2) -> list[list[float]]:
    """Wall times of each of ``bodies`` over ``repeat`` rounds (after ``warmup`` untimed calls of each).

    The bodies take turns, the first of a round rotating from round to round, and every
    call runs after ``gc.collect()`` and a ``pause`` in seconds, so that the previous call's
    thread pools are idle (DESIGN-NOTES, "Measuring against peers"): after a call on two BLAS
    threads OpenBLAS's idle worker spins for 2²⁸ clock ticks before it sleeps (measured here: two
    single-threaded products beside it took 22 ms after a pause of up to 0.09 s, 15.7 ms after
    0.1 s, 11.5 ms after 0.12 s). Returns one list of seconds per body, in the order given.
    """
    for _ in range(warmup):
        for body in bodies:
            body()
    times: list[list[float]] = [[] for _ in bodies]
    for round_ in range(repeat):
        for k in range(len(bodies)):
            index = (round_ + k) % len(bodies)
            gc.collect()
            time.sleep(pause)
            started = time.perf_counter()
            bodies[index]()
            times[index].append(time.perf_counter() - started)
    return times


def _side_by_side(repeat: int, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[float, float]:
    """Minimum wall times of ``first`` and ``second`` over ``repeat`` interleaved calls each
    (after one untimed call of each), every call after gc and a short pause (:func:`interleaved`)."""
    ours, theirs = interleaved(repeat, (first, second))
    return min(ours), min(theirs)


def _raw_lbfgs(fun: Callable[[Any], tuple[float, Any]], z0: Any, options: dict[str, Any]) -> Any:
    """SciPy L-BFGS-B driven as ``lbfgs`` drives it: its own BLAS calls on one thread (the oracles keep theirs)."""
    import scipy.optimize

    from ...backends.numpy import single_threaded_scipy_blas

    with single_threaded_scipy_blas():
        return scipy.optimize.minimize(fun, z0, jac=True, method="L-BFGS-B", options=options)


def lbfgs_overhead(n: int = 512, d: int = 32, iterations: int = 200, seed: int = 0,
                   repeat: int = 3) -> dict[str, float]:
    """Wall time of the project's ``lbfgs`` and of raw SciPy L-BFGS-B for the same iterations.

    Raw SciPy gets the same one-forward-pass loss and gradient and no callback, and its driver's
    BLAS on one thread as ``lbfgs`` runs it (:func:`_raw_lbfgs`); both start from the race's start.
    Returns ``{"project": s, "scipy": s, "ratio": project/scipy}``.
    """
    import numpy as np

    from ...rowterms import split

    problem = Problem.planted(n, d, seed=seed)
    X0 = problem.start_near_solution()
    Y0 = oracles.y_solve(problem, X0)
    z0 = np.concatenate([np.ravel(X0), np.ravel(Y0)])

    def fun(z: Any) -> tuple[float, Any]:
        point = problem.oracle(*split(problem, z))
        loss, _ = point.value_and_grad()
        return loss, np.asarray(point.joint_grad)

    options = {"maxcor": 10, "maxiter": iterations, "maxfun": 50 * iterations, "ftol": 0.0, "gtol": 0.0}
    project, raw = _side_by_side(
        repeat, lambda: get_solver("lbfgs").solve(problem, X0, Y0, eps=0.0, max_iter=iterations),
        lambda: _raw_lbfgs(fun, z0, options))
    return {"project": project, "scipy": raw, "ratio": project / raw}

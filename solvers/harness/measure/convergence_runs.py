"""Convergence runs: solvers on planted problems from the standard start, one record per solve.

The reproduction measures two sets of them with the same loop (:func:`run_convergence`):
every registered solver at the grid's convergence sizes (the iterations hidden in the
claim's log(1/ε)), and the convergence study (:data:`solvers.harness.claims.STUDY_SOLVERS`
at the grid's study sizes and seeds, histories thinned). Seed s starts from X* +
:data:`~solvers.problem.START_NOISE`·G with G from default_rng(:data:`~solvers.problem.START_SEED` + s).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ...loop import describe_exception
from ...problem import START_NOISE, START_SEED
from ..claims import REFERENCE_SOLVER
from ..records import ConvergenceRun, Store, thin_history

Tick = Callable[[str, float], None]


@dataclass(frozen=True)
class RunSet:
    """One set of convergence runs: which solves, to which target, and where they are recorded.

    Attributes
    ----------
    name : str
        Shown in the progress display ("convergence", "convergence study").
    solvers : sequence of str
        Registry names, run in this order at each size and seed.
    sizes : sequence of (n, d)
    seeds : sequence of int
    eps : float
        Target loss of every run.
    max_iter, max_time : int, float
        Caps of every run (solver time, seconds).
    study : bool
        Recorded under ``convergence_study`` with thinned histories (else under ``convergence``).
    estimate : float
        Rough seconds per run, for the time-left estimate.
    """

    name: str
    solvers: Sequence[str]
    sizes: Sequence[tuple[int, int]]
    seeds: Sequence[int]
    eps: float
    max_iter: int
    max_time: float
    study: bool
    estimate: float


def reference_first(names: Sequence[str]) -> list[str]:
    """``names`` with the paper's method (:data:`~solvers.harness.claims.REFERENCE_SOLVER`) first."""
    return sorted(names, key=lambda name: name != REFERENCE_SOLVER)


def _done(store: Store, runs: RunSet, backend: str) -> set[tuple[str, int, int, int]]:
    records = store.data.get("convergence_study", []) if runs.study else store.data["convergence"]
    return {(r["solver"], r["n"], r["d"], r.get("seed", 0)) for r in records
            if r.get("requested_backend", backend) == backend}


def run_convergence(store: Store, runs: RunSet, backend: str, tick: Tick) -> None:
    """Every solve of ``runs`` on ``backend`` not yet in ``store``; a failing solve is recorded with status "error".

    Ctrl-C (``KeyboardInterrupt``) propagates and the solve under way is not recorded, so a resume measures it.
    """
    from ...problem import Problem
    from ...registry import get_solver

    done = _done(store, runs, backend)
    for n, d in runs.sizes:
        for seed in runs.seeds:
            for name in runs.solvers:
                if (name, n, d, seed) in done:
                    tick("", runs.estimate)
                    continue
                tick(f"{runs.name} {name} n={n} d={d}" + (f" seed={seed}" if runs.study else ""), 0.0)
                base = ConvergenceRun(solver=name, requested_backend=backend, n=n, d=d, seed=seed,
                                      start=f"X* + {START_NOISE}·G (G from default_rng({START_SEED + seed})), "
                                            "Y = exact LS step",
                                      eps=runs.eps, max_iter=runs.max_iter, max_time=runs.max_time)
                try:
                    problem = Problem.planted(n, d, seed=seed, backend=backend)
                    result = get_solver(name).solve(problem, problem.start_near_solution(START_NOISE, START_SEED + seed),
                                                    eps=runs.eps, max_iter=runs.max_iter,
                                                    max_time=runs.max_time).to_dict()
                    if runs.study:
                        result.update(history=thin_history(result["history"]), history_thinned=True)
                    run = ConvergenceRun(**{**base, **result})  # type: ignore[typeddict-item]
                except Exception as exc:  # noqa: BLE001 - recorded as the run's status
                    run = ConvergenceRun(**base, backend=backend, status="error",
                                         message=describe_exception(exc, brief=True), history=[], iterations=0,
                                         loss=None, time=0.0, info={})
                finally:
                    gc.collect()
                store.add_convergence(run, study=runs.study)
                tick("", runs.estimate)

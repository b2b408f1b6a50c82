"""What the benchmark's files share: the project's package, the instance data, the solver base, the stopping rule.

The project's package is called ``solvers``, like this benchmark's folder of solver files.
:func:`import_project` imports the project's, never that folder (a namespace package
when the benchmark folder itself is on ``sys.path``, e.g. ``python -m benchopt run .``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from benchopt import BaseSolver
from benchopt.stopping_criterion import StoppingCriterion

BENCHMARK_DIR = Path(__file__).resolve().parents[1]


def import_project() -> ModuleType:
    """The project's ``solvers`` package, imported with this benchmark's folder off ``sys.path``."""
    loaded = sys.modules.get("solvers")
    if loaded is not None and getattr(loaded, "__file__", None) is None:  # the folder of solver files
        del sys.modules["solvers"]
    saved = sys.path[:]
    sys.path[:] = [entry for entry in saved if Path(entry or ".").resolve() != BENCHMARK_DIR]
    try:
        return importlib.import_module("solvers")
    finally:
        sys.path[:] = saved


attnreg = import_project()
from solvers import Problem, oracles  # noqa: E402 - the project's, now that it is in sys.modules
from solvers.problem import START_NOISE, START_SEED  # noqa: E402

__all__ = ["START_NOISE", "START_SEED", "Problem", "ProjectSolver", "UntilSolverStops", "attnreg", "instance",
           "oracles"]


def instance(problem: Problem, *, min_loss: float | None, B: np.ndarray | None = None) -> dict[str, Any]:
    """The data a dataset hands to ``Objective.set_data``: host arrays, the planted minimiser and min L.

    Parameters
    ----------
    problem : solvers.Problem
        The instance as the project draws it.
    min_loss : float or None
        min L where known (planted: 0), else ``None``.
    B : numpy.ndarray, optional
        Replaces the problem's B (a noisy planted instance).
    """
    host = problem.host
    return {"A1": host["A1"], "A2": host["A2"], "A3": host["A3"], "B": host["B"] if B is None else B,
            "X_star": problem.X_star, "Y_star": problem.Y_star, "min_loss": min_loss}


class UntilSolverStops(StoppingCriterion):
    """Sample a curve until the method stops by its own rule: its last run did fewer iterations than allowed.

    Each point is a fresh ``solve(..., max_iter=stop_val)``; once a run ends before
    ``stop_val`` (converged, diverged or failed, see ``solvers.loop``), larger budgets
    give the same iterate, so the curve is complete. ``--max-runs`` and ``--timeout``
    still apply.
    """

    def check_convergence(self, objective_list: list[dict[str, Any]]) -> tuple[bool, float]:
        last = objective_list[-1]
        stopped = last["objective_iterations"] < last["stop_val"]
        return stopped, float(stopped)


class ProjectSolver(BaseSolver):
    """A method of the project, called by its registry name (the file's ``name``) through the public API.

    ``run(n_iter)`` is ``get_solver(name).solve(problem, X0, Y0, eps=eps, max_iter=n_iter)``;
    everything else is off the clock: the problem is placed on the method's own backend
    and the start converted in ``set_objective``, and ``warm_up`` runs the method's own
    warm-up (JAX compilation, SciPy's import) and one iteration.
    """

    def skip(self, problem: Problem, X0: np.ndarray, Y0: np.ndarray, eps: float) -> tuple[bool, str | None]:
        try:
            attnreg.get_solver(self.name)
        except ValueError as exc:  # an optional extra (JAX) is not installed: the project says why
            return True, str(exc)
        return False, None

    def set_objective(self, problem: Problem, X0: np.ndarray, Y0: np.ndarray, eps: float) -> None:
        self.solver = attnreg.get_solver(self.name)
        if self.solver.backends is not None and problem.backend.name not in self.solver.backends:
            problem = problem.on(self.solver.natural_backend(problem))
        self.problem, self.eps = problem, eps
        self.X0, self.Y0 = problem.as_variable(X0, "X0"), problem.as_variable(Y0, "Y0")

    def warm_up(self) -> None:
        if hasattr(self.solver, "warm_up"):
            self.solver.warm_up(self.problem)
        self.run_once(1)

    def run(self, n_iter: int) -> None:
        self.result = self.solver.solve(self.problem, self.X0, self.Y0, eps=self.eps, max_iter=n_iter)

    def get_result(self) -> dict[str, Any]:
        return {"X": self.result.X, "Y": self.result.Y, "iterations": self.result.iterations}

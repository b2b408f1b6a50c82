"""Attention regression: L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F (the ``attnreg`` project's problem)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from benchopt import BaseObjective

from benchmark_utils import START_NOISE, START_SEED, Problem, UntilSolverStops, oracles


class Objective(BaseObjective):
    """L and ‖∇L‖/‖∇L(start)‖ at a method's iterate, from a start near the planted minimiser or cold.

    Parameters
    ----------
    start : {"near", "cold"}
        ``near``: X* + start_noise·G, G standard normal d×d from ``default_rng(start_seed)``
        (planted data only); ``cold``: X = 0. Y starts at the exact least-squares step.
    eps : float
        The target loss every method stops at (``solve(eps=...)``).
    """

    name = "attention-regression"
    min_benchopt_version = "1.10"
    parameters = {"start": ["near", "cold"], "start_noise": [START_NOISE], "start_seed": [START_SEED],
                  "eps": [1e-20]}
    sampling_strategy = "iteration"
    stopping_criterion = UntilSolverStops(strategy="iteration", key_to_monitor="value")

    def skip(self, X_star: np.ndarray | None, **data: Any) -> tuple[bool, str | None]:
        if self.start == "near" and X_star is None:
            return True, "a start near the solution needs a planted minimiser X*"
        return False, None

    def set_data(self, A1: np.ndarray, A2: np.ndarray, A3: np.ndarray, B: np.ndarray, X_star: np.ndarray | None,
                 Y_star: np.ndarray | None, min_loss: float | None) -> None:
        self.problem = Problem(A1, A2, A3, B, X_star=X_star, Y_star=Y_star)
        self.min_loss = math.nan if min_loss is None else min_loss
        d = self.problem.d
        self.X0 = (self.problem.start_near_solution(self.start_noise, self.start_seed) if self.start == "near"
                   else np.zeros((d, d)))
        self.Y0 = np.asarray(oracles.y_solve(self.problem, self.X0))
        self.grad0 = self._grad_norm(self.X0, self.Y0)

    def _grad_norm(self, X: np.ndarray, Y: np.ndarray) -> float:
        gX, gY = oracles.grad(self.problem, X, Y)
        return math.hypot(float(np.linalg.norm(gX)), float(np.linalg.norm(gY)))

    def get_objective(self) -> dict[str, Any]:
        return {"problem": self.problem, "X0": self.X0, "Y0": self.Y0, "eps": self.eps}

    def evaluate_result(self, X: np.ndarray, Y: np.ndarray, iterations: int) -> dict[str, float]:
        loss = float(oracles.loss(self.problem, X, Y))
        return {"value": loss, "suboptimality": loss - self.min_loss,
                "relative_gradient": self._grad_norm(X, Y) / self.grad0, "iterations": iterations}

    def get_one_result(self) -> dict[str, Any]:
        return {"X": self.X0, "Y": self.Y0, "iterations": 0}

"""The paper's alternating ("greedy") scheme (SPEC §6).

Each iteration: Y ← exact least-squares minimiser for the current X (§3), then one damped
Newton step in X on the structured d²×d² Hessian (§4). Damping is Levenberg–Marquardt:
raise it until the Cholesky factorisation succeeds and the loss decreases.
"""

from __future__ import annotations

from typing import Any

from . import oracles
from .base import IterativeSolver, State
from .damping import damped_newton_step
from .problem import Problem
from .registry import register


@register
class Alternating(IterativeSolver):
    """Exact Y step, then a Levenberg–Marquardt Newton step in X.

    Parameters
    ----------
    reg_y : float
        Ridge on Y in the least-squares step (‖Y‖²_F weight).
    mu0 : float
        Initial relative damping.
    """

    name = "alternating"

    def __init__(self, backend: str | None = None, *, reg_y: float = 0.0, mu0: float = 1e-3, **common: Any) -> None:
        super().__init__(backend, **common)
        self.reg_y = reg_y
        self.mu0 = mu0

    def init_state(self, problem: Problem, X: Any, Y: Any) -> State:
        return State(X, Y, mu=self.mu0)

    def step(self, problem: Problem, state: State) -> State:
        xp = problem.xp
        d = problem.d
        X = state.X
        Y = oracles.y_solve(problem, X, reg=self.reg_y)
        fw = oracles.forward(problem, X, Y)
        current = oracles.loss_from(problem, fw)
        gX, _ = oracles.grad_from(problem, fw)
        H = oracles.hessian_x(problem, X, Y)

        def trial(p: Any) -> float:
            return oracles.loss(problem, X - xp.reshape(p, (d, d)), Y)

        p, _, mu = damped_newton_step(problem.backend, H, xp.reshape(gX, (-1,)), trial, current, state.mu)
        return State(X - xp.reshape(p, (d, d)), Y, mu=mu)

    def info(self, state: State) -> dict[str, Any]:
        return {"final_damping": state.mu}

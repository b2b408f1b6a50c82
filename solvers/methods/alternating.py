"""The paper's alternating ("greedy") scheme (SPEC §6).

Each iteration: Y ← exact least-squares minimiser for the current X (§3), then one damped
Newton step in X on the structured d²×d² Hessian (§4). Damping is Levenberg–Marquardt:
raise it until the Cholesky factorisation succeeds and the loss decreases.

Regularisation (all off by default) changes the objective the steps minimise:

    L_reg(X, Y) = L(X, Y) + ½ λ ‖A1 X A2ᵀ‖²_F + γ ‖X‖²_F + ρ ‖Y‖²_F

``reg_attention`` = λ is the paper's ½‖W 𝖠 x‖² with W = √λ I (Hessian λ (A1ᵀA1) ⊗ (A2ᵀA2),
row-major vec); ``reg_x`` = γ is a plain ridge on X (Hessian 2γ I); ``reg_y`` = ρ is a
ridge in the Y least-squares step. The X step's gradient, Hessian and Levenberg–Marquardt
trial loss all include the X terms, so the step is consistent for L_reg; the history the
solve loop records (and the ``eps`` test) is L itself, the quantity every method is
compared on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .. import kernels
from ..backends import Backend
from .damping import DampedMethod, DampedState, damped_newton_step
from ..problem import Problem
from ..registry import register


class XRegulariser:
    """½ λ ‖A1 X A2ᵀ‖²_F + γ ‖X‖²_F: value, gradient and d²×d² Hessian.

    Parameters
    ----------
    problem : Problem
    reg_attention : float
        λ, the weight of the paper's ½‖W 𝖠 x‖² with W = √λ I.
    reg_x : float
        γ, the weight of the plain ridge ‖X‖²_F.
    """

    def __init__(self, problem: Problem, reg_attention: float = 0.0, reg_x: float = 0.0) -> None:
        if reg_attention < 0 or reg_x < 0:
            raise ValueError(f"regularisation weights must be non-negative, got {reg_attention}, {reg_x}")
        self.problem = problem
        self.lam = reg_attention
        self.gamma = reg_x
        self.active = bool(reg_attention or reg_x)
        if reg_attention:
            self.G1 = problem.A1.T @ problem.A1
            self.G2 = problem.A2.T @ problem.A2

    def value(self, X: Any) -> float:
        """The regulariser at X (0.0 when inactive)."""
        xp = self.problem.xp
        total = 0.0
        if self.lam:
            Z = (self.problem.A1 @ X) @ self.problem.A2.T
            total += 0.5 * self.lam * float(xp.sum(Z * Z))
        if self.gamma:
            total += self.gamma * float(xp.sum(X * X))
        return total

    def grad(self, X: Any) -> Any:
        """λ A1ᵀA1 X A2ᵀA2 + 2γ X (d×d), or 0.0 when inactive."""
        out: Any = 0.0
        if self.lam:
            out = self.lam * ((self.G1 @ X) @ self.G2)
        if self.gamma:
            out = out + 2.0 * self.gamma * X
        return out

    def hessian(self) -> Any:
        """λ (A1ᵀA1) ⊗ (A2ᵀA2) + 2γ I (d²×d², row-major), or 0.0 when inactive."""
        xp = self.problem.xp
        d = self.problem.d
        out: Any = 0.0
        if self.lam:
            out = self.lam * xp.reshape(self.G1[:, None, :, None] * self.G2[None, :, None, :], (d * d, d * d))
        if self.gamma:
            out = out + 2.0 * self.gamma * kernels.eye(self.problem, d * d)
        return out


@dataclass
class AlternatingState(DampedState):
    """The iterate, the damping μ and the X regulariser (built once, in ``init_state``)."""

    reg: XRegulariser


@register
class Alternating(DampedMethod):
    """Exact Y step, then a Levenberg–Marquardt Newton step in X (the paper's method).

    Parameters
    ----------
    reg_attention : float
        λ of the paper's regulariser ½‖W 𝖠 x‖², W = √λ I (module docstring).
    reg_x : float
        Ridge γ‖X‖²_F on X.
    reg_y : float
        Ridge ρ‖Y‖²_F in the least-squares Y step.
    mu0 : float
        Initial relative damping.
    """

    name = "alternating"

    def __init__(self, backend: str | Backend | None = None, *, reg_attention: float = 0.0, reg_x: float = 0.0,
                 reg_y: float = 0.0, **common: Any) -> None:
        super().__init__(backend, **common)
        for key, value in (("reg_attention", reg_attention), ("reg_x", reg_x), ("reg_y", reg_y)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{key} must be a finite number ≥ 0, got {value!r}")
        self.reg_attention = reg_attention
        self.reg_x = reg_x
        self.reg_y = reg_y

    def init_state(self, problem: Problem, X: Any, Y: Any) -> AlternatingState:
        return AlternatingState(X, Y, mu=self.mu0, reg=XRegulariser(problem, self.reg_attention, self.reg_x))

    def x_hessian(self, problem: Problem, X: Any, Y: Any, state: AlternatingState) -> Any:
        """The d²×d² matrix the X step solves with (the exact H_X here; sketched overrides)."""
        return kernels.hessian_x(problem, X, Y)

    def step(self, problem: Problem, state: AlternatingState) -> AlternatingState:
        xp = problem.xp
        d = problem.d
        X, reg = state.X, state.reg
        Y = kernels.y_solve(problem, X, reg=self.reg_y)
        fw = kernels.forward(problem, X, Y)
        current = kernels.loss_from(problem, fw) + reg.value(X)
        gX, _ = kernels.grad_from(problem, fw)
        H = self.x_hessian(problem, X, Y, state)
        if reg.active:
            gX = gX + reg.grad(X)
            H = H + reg.hessian()

        def trial(p: Any) -> float:
            X_new = X - xp.reshape(p, (d, d))
            return kernels.loss(problem, X_new, Y) + reg.value(X_new)

        p, _, mu = damped_newton_step(problem.backend, H, xp.reshape(gX, (-1,)), trial, current, state.mu)
        return replace(state, X=X - xp.reshape(p, (d, d)), Y=Y, mu=mu)

"""The paper's alternating ("greedy") scheme (docs/maths.md §6).

Each iteration: Y ← exact least-squares minimiser for the current X (§3), then one damped
Newton step in X on the structured d²×d² Hessian (§4). Damping is Levenberg–Marquardt with
Nielsen's gain-ratio rule (:mod:`solvers.methods.damping`): a trial is accepted only when
the loss decreases; the damping rises after a poor or failed trial and falls after a good one.

The Y step of the next iteration is taken at the end of each step (and once at the start),
so the iterate each history row records is (X_k, Y(X_k)) and the loss and gradient the
next X step needs are computed once, there: monitoring costs nothing extra. The sequence
of X iterates is the paper's.

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

from dataclasses import dataclass, field, replace
from typing import Any

from .. import check
from ..backends import Backend
from ..oracle import Oracle
from .damping import DampedMethod, DampedState, Damping, damped_newton_step
from ..problem import Problem
from ..rowterms import eye


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
            out = out + 2.0 * self.gamma * eye(self.problem, d * d)
        return out


@dataclass
class AlternatingState(DampedState):
    """The iterate (Y the least-squares step for X), the damping, the X regulariser (built once,
    in ``init_state``), and the iterate's oracle."""

    reg: XRegulariser
    oracle: Oracle | None = field(default=None, kw_only=True)


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
        self.reg_attention = check.number("reg_attention", reg_attention, at_least=0.0)
        self.reg_x = check.number("reg_x", reg_x, at_least=0.0)
        self.reg_y = check.number("reg_y", reg_y, at_least=0.0)

    def init_state(self, problem: Problem, X: Any, Y: Any) -> AlternatingState:
        state = AlternatingState(X, Y, damping=Damping(self.mu0),
                                 reg=XRegulariser(problem, self.reg_attention, self.reg_x))
        return self.with_y_step(state, problem.oracle(X))

    def with_y_step(self, state: AlternatingState, at_x: Oracle) -> AlternatingState:
        """``state`` moved to (X, Y(X)) for the X of ``at_x`` (an oracle at X with any Y, whose
        softmax the Y step reuses), with the loss and gradient norm there."""
        oracle, _ = at_x.least_squares(self.reg_y)
        loss, gnorm = oracle.summary()
        return replace(state, X=oracle.X, Y=oracle.Y, oracle=oracle, loss=loss, grad_norm=gnorm)

    def x_hessian(self, problem: Problem, state: AlternatingState) -> Any:
        """The d²×d² matrix the X step solves with (the exact H_X here; sketched overrides)."""
        return state.oracle.hessian_x()

    def step(self, problem: Problem, state: AlternatingState) -> AlternatingState:
        xp = problem.xp
        d = problem.d
        X, Y, reg = state.X, state.Y, state.reg
        gX = state.oracle.grad[0]
        H = self.x_hessian(problem, state)
        if reg.active:
            gX = gX + reg.grad(X)
            H = H + reg.hessian()
        trials: dict[str, Oracle] = {}

        def trial(p: Any) -> float:
            X_new = X - xp.reshape(p, (d, d))
            trials["point"] = problem.oracle(X_new, Y)
            return trials["point"].loss + reg.value(X_new)

        outcome = damped_newton_step(problem.backend, H, xp.reshape(gX, (-1,)), trial,
                                     state.loss + reg.value(X), state.damping)
        return self.with_y_step(replace(state, damping=outcome.damping), trials["point"])

"""Levenberg–Marquardt damping shared by every dense Newton-type solver: the step and its bookkeeping."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backends import Backend, device_of
from ..loop import IterativeSolver, State, StepFailed
from ..problem import Problem


def damped_newton_step(backend: Backend, H: Any, g: Any, trial_loss: Callable[[Any], float],
                       current_loss: float, mu: float, *, mu_max: float = 1e10,
                       increase: float = 10.0, decrease: float = 10.0, mu_floor: float = 1e-14
                       ) -> tuple[Any, float, float]:
    """Solve ``(H + μ·s·I) p = g`` and raise μ until Cholesky succeeds and the loss drops.

    ``s`` is the mean absolute diagonal of H, so μ is relative and scale-free.

    Parameters
    ----------
    H : (N, N) backend array
        Symmetric (possibly indefinite) Hessian or Gauss–Newton matrix.
    g : (N,) backend array
        Gradient; the step taken is ``x − p``.
    trial_loss : callable
        Loss after the step ``p``; may return ``nan`` or ``inf``.
    current_loss : float
        Loss at the current point.
    mu : float
        Damping to try first.

    Returns
    -------
    p, new_loss, next_mu
        The accepted step, its loss, and the damping to start from next time (μ/decrease).

    Raises
    ------
    StepFailed
        When μ exceeds ``mu_max`` without an acceptable step.
    """
    xp = backend.xp
    size = H.shape[0]
    diagonal = xp.linalg.diagonal(H)
    scale = float(xp.mean(xp.abs(diagonal))) or 1.0
    mu = max(mu, mu_floor)
    while mu <= mu_max:
        step, ok = backend.cho_solve(H + (mu * scale) * xp.eye(size, dtype=H.dtype, device=device_of(H)), g)
        if ok:
            new_loss = trial_loss(step)
            if math.isfinite(new_loss) and new_loss < current_loss:
                return step, new_loss, max(mu / decrease, mu_floor)
        mu *= increase
    raise StepFailed(f"no decrease of the loss with relative damping up to {mu_max:g} "
                     f"(loss {current_loss:.3e}); at a minimum or the Hessian is unusable")



@dataclass
class DampedState(State):
    """The iterate and the relative damping μ to try first at the next step."""

    mu: float


class DampedMethod(IterativeSolver):
    """A method whose steps come from :func:`damped_newton_step`: the ``mu0`` option, μ carried
    from step to step in a :class:`DampedState`, and the final μ reported in the result.

    Parameters
    ----------
    mu0 : float
        Initial relative Levenberg–Marquardt damping (divided by 10 after each accepted step).
    """

    def __init__(self, backend: str | Backend | None = None, *, mu0: float = 1e-3, **common: Any) -> None:
        super().__init__(backend, **common)
        if not (math.isfinite(mu0) and mu0 >= 0):
            raise ValueError(f"mu0 must be a finite number ≥ 0, got {mu0!r}")
        self.mu0 = mu0

    def init_state(self, problem: Problem, X: Any, Y: Any) -> DampedState:
        return DampedState(X, Y, mu=self.mu0)

    def info(self, state: State) -> dict[str, Any]:
        return {"final_damping": getattr(state, "mu", self.mu0)}

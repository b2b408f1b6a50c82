"""Levenberg–Marquardt damping shared by every dense Newton-type solver: the step and its bookkeeping.

The damping follows Nielsen's rule (Madsen, Nielsen & Tingleff, "Methods for non-linear
least squares problems", 2004, §3.2), driven by the gain ratio ρ of the actual to the
predicted decrease of the loss:

* the step p solves (H + μ·s·I) p = g (s = mean |diag H|, so μ is relative) and the new
  point is x − p; the quadratic model predicts the decrease gᵀp − ½ pᵀHp, which equals
  ½ (gᵀp + μ s ‖p‖²) because Hp = g − μ s p: no product with H is needed. The shifted
  systems are solved by a :class:`ShiftedSystem`: a fresh Cholesky factorisation of the formed
  matrix per shift (:class:`DenseSystem`), or one that uses H's structure (the joint Hessian's
  block elimination, :class:`solvers.methods.newton.JointSystem`);
* a step is accepted only when the loss decreases (ρ > 0); then μ ← μ·max(1/3, 1 − (2ρ − 1)³)
  and ν ← 2;
* otherwise (or when the Cholesky factorisation of the shifted matrix fails, as for an
  indefinite H with a small shift) μ ← μ·ν and ν ← 2ν, and the trial is repeated. The
  first four trials factorise H + μsI afresh; from the fifth trial of one step on, H is
  eigendecomposed once and every further trial is two matrix–vector products
  (an indefinite Hessian far from a minimum can need ten trials).

When the predicted decrease is below the rounding level of the loss, or μ passes
``mu_max``, no step can decrease the loss in this precision and :class:`StepFailed` is
raised (the loop reports ``stalled``, "no further decrease possible", with the relative
gradient reached) — unless the caller can tell the gradient at the trial point: then, as
in the trust region (:func:`solvers.methods.newton_cg.trust_region_step`), a step at that
floor is still taken when the loss does not rise beyond its rounding level and ‖∇L‖ falls
by :data:`FLOOR_GRADIENT_CUT`, and the step stalls only after
:data:`FLOOR_TRIALS` trials there that do not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import check
from ..backends import Backend
from ..loop import IterativeSolver, State, StepFailed, machine_eps

#: At the rounding floor of the loss (a step's model promises less than 8·eps·L, so the loss cannot tell a
#: better point from the current one) a step is still taken when it cuts ‖∇L‖ at least by this factor and the
#: loss does not rise beyond its rounding level: near a minimum with L > 0 Newton steps keep cutting the
#: gradient quadratically after the loss has stopped showing it (docs/maths.md §6) …
FLOOR_GRADIENT_CUT = 0.5
#: … and after this many trials at the floor in a row that do not, the method stalls (:class:`StepFailed`).
FLOOR_TRIALS = 3

#: Smallest relative damping ever used (keeps the shifted matrix factorisable near a minimum).
MU_FLOOR = 1e-14
#: Trials solved by a fresh Cholesky factorisation before the step switches to one
#: eigendecomposition of H, after which every further trial costs two matrix–vector products.
CHOLESKY_TRIALS = 4


class _Spectrum:
    """H = U diag(λ) Uᵀ, factorised once: (H + σI)⁻¹ g = U ((Uᵀg)/(λ + σ)) for every shift σ."""

    def __init__(self, xp: Any, H: Any, g: Any) -> None:
        self.xp = xp
        self.eigenvalues, self.U = xp.linalg.eigh(0.5 * (H + H.T))
        self.projected = self.U.T @ g
        self.smallest = float(xp.min(self.eigenvalues))
        self.largest = float(xp.max(xp.abs(self.eigenvalues)))

    def solve(self, shift: float) -> tuple[Any, bool]:
        """The solution for ``shift``; not ok unless H + shift·I is safely positive definite,
        as a Cholesky factorisation would need."""
        if not self.smallest + shift > 1e-12 * (self.largest + shift):
            return None, False
        return self.U @ (self.projected / (self.eigenvalues + shift)), True


class ShiftedSystem:
    """(H + σI) p = g for one symmetric H and the shifts σ a damped step tries.

    Attributes
    ----------
    scale : float
        Mean |diag H| (the damping's unit; 1 where it is 0).
    """

    scale: float

    def solve(self, g: Any, shift: float) -> tuple[Any, bool]:
        """``(p, True)``, or ``(None, False)`` where H + shift·I is not (numerically) positive definite."""
        raise NotImplementedError

    @property
    def matrix(self) -> Any:
        """H itself, formed (for the eigendecomposition of a step that needs many trials)."""
        raise NotImplementedError


class DenseSystem(ShiftedSystem):
    """A formed H: one Cholesky factorisation of H + σI per shift (the backend's ``cho_solve``)."""

    def __init__(self, backend: Backend, H: Any) -> None:
        self.backend = backend
        self.H = H
        self.scale = float(backend.xp.mean(backend.xp.abs(backend.xp.linalg.diagonal(H)))) or 1.0

    def solve(self, g: Any, shift: float) -> tuple[Any, bool]:
        return self.backend.cho_solve(self.H, g, shift)

    @property
    def matrix(self) -> Any:
        return self.H


def cholesky_flops(size: int) -> float:
    """Flops of one Cholesky factorisation of a dense size×size matrix (size³/3)."""
    return size**3 / 3.0


@dataclass(frozen=True)
class Damping:
    """Nielsen's damping state: the relative damping μ and its growth factor ν."""

    mu: float
    nu: float = 2.0

    def after_success(self, rho: float) -> "Damping":
        """μ·max(1/3, 1 − (2ρ − 1)³) and ν = 2 after an accepted step with gain ratio ρ."""
        return Damping(max(self.mu * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), MU_FLOOR), 2.0)

    def after_failure(self) -> "Damping":
        """μ·ν and ν·2 after a rejected trial."""
        return Damping(self.mu * self.nu, 2.0 * self.nu)


@dataclass(frozen=True)
class StepOutcome:
    """An accepted step ``p`` (the new point is x − p), its loss, gain ratio, and the damping to use next."""

    p: Any
    loss: float
    rho: float
    damping: Damping
    trials: int


def damped_newton_step(backend: Backend, H: Any | ShiftedSystem, g: Any, trial_loss: Callable[[Any], float],
                       current_loss: float, damping: Damping, *, mu_max: float = 1e16, grad_norm: float | None = None,
                       trial_grad_norm: Callable[[], float] | None = None) -> StepOutcome:
    """One Levenberg–Marquardt step with Nielsen's gain-ratio damping (module docstring).

    Parameters
    ----------
    backend : Backend
        Supplies the Cholesky solve (``(solution, ok)``, never raising).
    H : (N, N) backend array, or ShiftedSystem
        Symmetric (possibly indefinite) Hessian or Gauss–Newton matrix, formed (solved as a
        :class:`DenseSystem`) or as a system that solves its shifts by its structure.
    g : (N,) backend array
        Gradient; the step taken is ``x − p``.
    trial_loss : callable
        Loss after the step ``p``; may return ``nan`` or ``inf``.
    current_loss : float
        Loss at the current point.
    damping : Damping
        The damping to try first.
    mu_max : float
        Largest relative damping tried.
    grad_norm, trial_grad_norm : float and callable, optional
        ‖∇L‖ here and a function that returns it at the last trial point: with both, steps at the
        rounding floor of the loss are judged by the gradient (module docstring).

    Raises
    ------
    StepFailed
        When no step decreases the loss in this precision (see the module docstring).
    """
    xp = backend.xp
    system = H if isinstance(H, ShiftedSystem) else DenseSystem(backend, H)
    scale = system.scale
    rounding = 8.0 * machine_eps(backend.dtype) * abs(current_loss)
    damping = Damping(max(damping.mu, MU_FLOOR), damping.nu)
    spectrum = None
    trials = floor_trials = 0
    while damping.mu <= mu_max:
        trials += 1
        shift = damping.mu * scale
        if spectrum is None and trials > CHOLESKY_TRIALS:
            spectrum = _Spectrum(xp, system.matrix, g)
        p, ok = spectrum.solve(shift) if spectrum is not None else system.solve(g, shift)
        if not ok:
            damping = damping.after_failure()
            continue
        predicted = 0.5 * float(xp.sum(g * p) + shift * xp.sum(p * p))
        if not predicted > rounding:
            why = f"predicted decrease {predicted:.2e} is below the rounding level of the loss {current_loss:.3e}"
            if trial_grad_norm is None or grad_norm is None or not predicted > 0:
                raise StepFailed(why)
            new_loss = trial_loss(p)
            if (math.isfinite(new_loss) and new_loss <= current_loss + rounding
                    and trial_grad_norm() <= FLOOR_GRADIENT_CUT * grad_norm):
                return StepOutcome(p, new_loss, 1.0, damping.after_success(1.0), trials)
            floor_trials += 1
            if floor_trials > FLOOR_TRIALS:
                raise StepFailed(f"{why}, and no step with relative damping up to {damping.mu:.1e} cuts the gradient")
            damping = damping.after_failure()
            continue
        new_loss = trial_loss(p)
        actual = current_loss - new_loss
        if math.isfinite(new_loss) and actual > 0:
            rho = actual / predicted
            return StepOutcome(p, new_loss, rho, damping.after_success(rho), trials)
        damping = damping.after_failure()
    raise StepFailed(f"no decrease of the loss with relative damping up to {mu_max:g}")


@dataclass
class DampedState(State):
    """The iterate and the damping (μ, ν) to try first at the next step."""

    damping: Damping


class DampedMethod(IterativeSolver):
    """A method whose steps come from :func:`damped_newton_step`: the ``mu0`` option, the damping
    carried from step to step in a :class:`DampedState`, and the final μ reported in the result.

    Parameters
    ----------
    mu0 : float
        Initial relative Levenberg–Marquardt damping (then updated by Nielsen's rule).
    """

    def __init__(self, backend: str | Backend | None = None, *, mu0: float = 1e-3, **common: Any) -> None:
        super().__init__(backend, **common)
        self.mu0 = check.number("mu0", mu0, at_least=0.0)

    def info(self, state: State) -> dict[str, Any]:
        damping = getattr(state, "damping", None)
        return {"final_damping": self.mu0 if damping is None else damping.mu}

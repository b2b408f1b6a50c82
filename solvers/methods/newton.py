"""Damped Newton and Gauss–Newton on the joint variable (x, y) = (vec X, vec Y).

Both solve a dense 2d²×2d² system per iteration by Cholesky with Levenberg–Marquardt
damping driven by the gain ratio (Nielsen's rule, :func:`solvers.methods.damping.damped_newton_step`):

* ``joint-newton`` uses the exact joint Hessian (:meth:`solvers.oracle.Oracle.hessian_joint`,
  cross block ∂²L/∂x∂y included): locally quadratic convergence on planted instances;
* ``gauss-newton`` uses the positive-semidefinite Gauss–Newton matrix 2 JᵀJ with
  J = ∂vec(R)/∂(x, y) (``hessian_joint(gauss_newton=True)``): linear convergence in
  general, fast where the residual is small.

Each step factorises the damped matrix by eliminating Y first (:class:`JointSystem`): H_yy =
2 (PᵀP) ⊗ I inverts for every shift through one d×d eigendecomposition, so a trial costs a d²×d²
Cholesky factorisation and one d²×d²×d² product instead of the (2d²)³/3 factorisation of the
formed matrix (measured at d = 16, one core: 1.1 ms against 2.2 ms per trial).

Both work through the iterate's oracle, so they run in every layout: on a row-blocked or
sharded problem the 2d²×2d² matrix is summed block by block, never holding the n×n softmax.

Documented accuracy (float64, tested): on planted instances started near the planted
minimiser (X* + 0.5·G, Y by least squares) both reach L ≤ 1e-20; on Problem.planted(128,
16, seed=1) with G from default_rng(5), joint-newton does so in 22 iterations. Like every
local method they can also stop at a spurious local minimum (status "converged" by the
relative-gradient rule with L > eps), e.g. planted(32, 4, seed=1) from the same kind of
start ends at L ≈ 7e-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends import host_floats
from ..oracle import Oracle
from ..problem import Problem
from ..rowterms import JointTerms, assemble_joint, split
from .damping import DampedMethod, DampedState, Damping, ShiftedSystem, damped_newton_step


@dataclass
class JointState(DampedState):
    """The iterate, the damping, and the iterate's oracle.

    The step that accepts a point has its oracle already (the trial's loss), and the next
    step needs its gradient anyway, so the loop records the loss and gradient norm without
    evaluating the iterate again.
    """

    oracle: Oracle


class JointSystem(ShiftedSystem):
    """The joint Hessian H = [[H_xx, H_yxᵀ], [H_yx, 2 (PᵀP) ⊗ I]] (docs/maths.md §4), shifted, solved
    by eliminating Y.

    With PᵀP = U diag(λ) Uᵀ, H_yy + σI = (U ⊗ I) diag(2λ_k + σ) (Uᵀ ⊗ I) for every σ, so with
    B̃ = (Uᵀ ⊗ I) H_yx (formed once), w = 1/(2λ + σ) (each λ_k for d entries) and g̃_y = (Uᵀ ⊗ I) g_y,

        (H_xx + σI − B̃ᵀ diag(w) B̃) p_x = g_x − B̃ᵀ (w ⊙ g̃_y),   p_y = (U ⊗ I) (w ⊙ (g̃_y − B̃ p_x)):

    per shift one d²×d²×d² product and one d²×d² Cholesky factorisation. H + σI is positive definite
    exactly when H_yy + σI and this Schur complement are, and eliminating Y first is Cholesky in the
    order (y, x), as backward stable as the factorisation of the formed matrix: the steps agree with
    its solutions to rounding (tested), though over hundreds of damped steps a trial that sits on
    the edge of acceptance can go the other way and the iterates drift apart.

    Parameters
    ----------
    problem : Problem
        Supplies the array namespace and the backend's Cholesky solve.
    terms : JointTerms
        H_xx, H_yx and PᵀP summed over all rows (:meth:`solvers.oracle.Oracle.joint_terms`).
    """

    def __init__(self, problem: Problem, terms: JointTerms) -> None:
        xp = problem.xp
        d = problem.d
        self.problem, self.terms = problem, terms
        eigenvalues, self.U = xp.linalg.eigh(0.5 * (terms.PtP + terms.PtP.T))
        self.curvature = 2.0 * eigenvalues  # H_yy's eigenvalues, each d times
        self.mixed = xp.reshape(self.U.T @ xp.reshape(terms.H_yx, (d, d ** 3)), (d * d, d * d))
        diagonal, self.smallest = host_floats(problem.backend, xp.sum(xp.abs(xp.linalg.diagonal(terms.H_xx)))
                                              + d * xp.sum(xp.abs(self.curvature)), xp.min(self.curvature))
        self.scale = diagonal / (2 * d * d) or 1.0

    def solve(self, g: Any, shift: float) -> tuple[Any, bool]:
        if not self.smallest + shift > 0:
            return None, False
        xp = self.problem.xp
        d = self.problem.d
        m = d * d
        w = xp.reshape(xp.broadcast_to(1.0 / (self.curvature + shift)[:, None], (d, d)), (m,))
        g_y = xp.reshape(self.U.T @ xp.reshape(g[m:], (d, d)), (m,))
        weighted = xp.sqrt(w)[:, None] * self.mixed
        p_x, ok = self.problem.backend.cho_solve(self.terms.H_xx - weighted.T @ weighted,
                                                 g[:m] - self.mixed.T @ (w * g_y), shift)
        if not ok:
            return None, False
        p_y = self.U @ xp.reshape(w * (g_y - self.mixed @ p_x), (d, d))
        return xp.concat([p_x, xp.reshape(p_y, (m,))]), True

    @property
    def matrix(self) -> Any:
        return assemble_joint(self.problem, self.terms)


def joint_state(oracle: Oracle, damping: Damping) -> JointState:
    """The :class:`JointState` at the oracle's iterate, with its loss and gradient norm (one transfer)."""
    loss, gnorm = oracle.summary()
    return JointState(oracle.X, oracle.Y, damping=damping, oracle=oracle, loss=loss, grad_norm=gnorm)


class _JointDamped(DampedMethod):
    """Levenberg–Marquardt steps on (x, y) with the exact joint Hessian or its Gauss–Newton part."""

    gauss_newton = False

    def init_state(self, problem: Problem, X: Any, Y: Any) -> JointState:
        return joint_state(problem.oracle(X, Y), Damping(self.mu0))

    def step(self, problem: Problem, state: JointState) -> JointState:
        X, Y = state.X, state.Y
        system = JointSystem(problem, state.oracle.joint_terms(gauss_newton=self.gauss_newton))
        trials: dict[str, Oracle] = {}

        def trial_loss(p: Any) -> float:
            pX, pY = split(problem, p)
            trials["point"] = problem.oracle(X - pX, Y - pY)
            return trials["point"].loss

        outcome = damped_newton_step(problem.backend, system, state.oracle.joint_grad, trial_loss, state.loss,
                                     state.damping, grad_norm=state.grad_norm,
                                     trial_grad_norm=lambda: trials["point"].grad_norm)
        return joint_state(trials["point"], outcome.damping)


class JointNewton(_JointDamped):
    """Damped Newton on (x, y) with the full joint Hessian (cross block included).

    Parameters
    ----------
    mu0 : float
        Initial relative Levenberg–Marquardt damping (then Nielsen's gain-ratio rule).
    """

    name = "joint-newton"


class GaussNewton(_JointDamped):
    """Levenberg–Marquardt on (x, y) with the joint Gauss–Newton matrix 2 JᵀJ.

    Parameters
    ----------
    mu0 : float
        Initial relative damping.
    """

    name = "gauss-newton"
    gauss_newton = True

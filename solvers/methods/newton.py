"""Damped Newton and Gauss–Newton on the joint variable (x, y) = (vec X, vec Y).

Both solve a dense 2d²×2d² system per iteration by Cholesky with Levenberg–Marquardt
damping driven by the gain ratio (Nielsen's rule, :func:`solvers.methods.damping.damped_newton_step`):

* ``joint-newton`` uses the exact joint Hessian (:meth:`solvers.oracle.Oracle.hessian_joint`,
  cross block ∂²L/∂x∂y included): locally quadratic convergence on planted instances;
* ``gauss-newton`` uses the positive-semidefinite Gauss–Newton matrix 2 JᵀJ with
  J = ∂vec(R)/∂(x, y) (``hessian_joint(gauss_newton=True)``): linear convergence in
  general, fast where the residual is small.

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

from ..oracle import Oracle
from ..rowterms import split
from .damping import DampedMethod, DampedState, Damping, damped_newton_step
from ..problem import Problem


@dataclass
class JointState(DampedState):
    """The iterate, the damping, and the iterate's oracle.

    The step that accepts a point has its oracle already (the trial's loss), and the next
    step needs its gradient anyway, so the loop records the loss and gradient norm without
    evaluating the iterate again.
    """

    oracle: Oracle


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
        H = state.oracle.hessian_joint(gauss_newton=self.gauss_newton)
        trials: dict[str, Oracle] = {}

        def trial_loss(p: Any) -> float:
            pX, pY = split(problem, p)
            trials["point"] = problem.oracle(X - pX, Y - pY)
            return trials["point"].loss

        outcome = damped_newton_step(problem.backend, H, state.oracle.joint_grad, trial_loss, state.loss,
                                     state.damping)
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

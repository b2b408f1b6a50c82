"""Damped Newton and Gauss–Newton on the joint variable (x, y) = (vec X, vec Y).

Both solve a dense 2d²×2d² system per iteration by Cholesky with Levenberg–Marquardt
damping (:func:`solvers.methods.damping.damped_newton_step`):

* ``joint-newton`` uses the exact joint Hessian (:func:`solvers.kernels.hessian_joint`,
  cross block ∂²L/∂x∂y included): locally quadratic convergence on planted instances;
* ``gauss-newton`` uses the positive-semidefinite Gauss–Newton matrix 2 JᵀJ with
  J = ∂vec(R)/∂(x, y) (``hessian_joint(..., gauss_newton=True)``): linear convergence in
  general, fast where the residual is small.

Documented accuracy (float64, tested): on planted instances started near the planted
minimiser (X* + 0.5·G, Y by least squares) both reach L ≤ 1e-20; on Problem.planted(128,
16, seed=1) with G from default_rng(5), joint-newton does so in 22 iterations. Like every
local method they can also stop at a spurious local minimum (status "converged" by the
relative-gradient rule with L > eps), e.g. planted(32, 4, seed=1) from the same kind of
start ends at L ≈ 7e-4.
"""

from __future__ import annotations

from typing import Any

from .. import kernels
from .damping import DampedMethod, DampedState, damped_newton_step
from ..problem import Problem
from ..registry import register


class _JointDamped(DampedMethod):
    """Levenberg–Marquardt steps on (x, y) with the exact joint Hessian or its Gauss–Newton part."""

    gauss_newton = False

    def step(self, problem: Problem, state: DampedState) -> DampedState:
        X, Y = state.X, state.Y
        fw = kernels.forward(problem, X, Y)
        current = kernels.loss_from(problem, fw)
        g = kernels.join(problem, *kernels.grad_from(problem, fw))
        H = kernels.hessian_joint(problem, X, Y, gauss_newton=self.gauss_newton)

        def update(p: Any) -> tuple[Any, Any]:
            pX, pY = kernels.split(problem, p)
            return X - pX, Y - pY

        p, _, mu = damped_newton_step(problem.backend, H, g, lambda p: kernels.loss(problem, *update(p)),
                                      current, state.mu)
        return DampedState(*update(p), mu=mu)


@register
class JointNewton(_JointDamped):
    """Damped Newton on (x, y) with the full joint Hessian (cross block included).

    Parameters
    ----------
    mu0 : float
        Initial relative Levenberg–Marquardt damping (divided by 10 after each accepted step).
    """

    name = "joint-newton"


@register
class GaussNewton(_JointDamped):
    """Levenberg–Marquardt on (x, y) with the joint Gauss–Newton matrix 2 JᵀJ.

    Parameters
    ----------
    mu0 : float
        Initial relative damping.
    """

    name = "gauss-newton"
    gauss_newton = True

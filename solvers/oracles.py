"""Exact oracles of L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F: the public, checked entry points.

Each function validates its d×d arguments once (:meth:`Problem.as_variable`: host NumPy
arrays or arrays of the problem's backend; shape, dtype and finiteness of host input) and
then calls the unchecked maths of :mod:`solvers.kernels`, which the solvers use directly
inside their loops. Vectorisation is row-major: ``vec(X) = X.reshape(-1)``. Results are
backend arrays (``loss`` returns a Python float).
"""

from __future__ import annotations

from typing import Any

from . import kernels
from .kernels import Forward, grad_from, join, loss_from, softmax_rows, split
from .problem import Problem

Array = Any

__all__ = [
    "Forward", "forward", "grad", "grad_from", "hessian_joint", "hessian_x", "hvp", "hvp_x", "join", "loss",
    "loss_from", "softmax_rows", "split", "y_solve",
]


def forward(problem: Problem, X: Array, Y: Array) -> Forward:
    """Softmax S, output A3 Y and residual R at (X, Y) (see :class:`solvers.kernels.Forward`)."""
    return kernels.forward(problem, problem.as_variable(X, "X"), problem.as_variable(Y, "Y"))


def loss(problem: Problem, X: Array, Y: Array) -> float:
    """L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F (no factor ½)."""
    return kernels.loss_from(problem, forward(problem, X, Y))


def grad(problem: Problem, X: Array, Y: Array) -> tuple[Array, Array]:
    """Gradients ``(∇_X L, ∇_Y L)``, each d×d (SPEC §2)."""
    return kernels.grad_from(problem, forward(problem, X, Y))


def y_solve(problem: Problem, X: Array, reg: float = 0.0) -> Array:
    """Exact minimiser of L(X, ·) (+ reg‖Y‖²_F) for fixed X (SPEC §3); see :func:`solvers.kernels.y_solve`."""
    return kernels.y_solve(problem, problem.as_variable(X, "X"), reg)


def hessian_x(problem: Problem, X: Array, Y: Array, *, gauss_newton: bool = False,
              rows: Any = None, weights: Any = None) -> Array:
    """The d²×d² Hessian of L in vec(X) (SPEC §4); see :func:`solvers.kernels.hessian_x` for the options."""
    return kernels.hessian_x(problem, problem.as_variable(X, "X"), problem.as_variable(Y, "Y"),
                             gauss_newton=gauss_newton, rows=rows, weights=weights)


def hessian_joint(problem: Problem, X: Array, Y: Array, *, gauss_newton: bool = False) -> Array:
    """The 2d²×2d² Hessian of L in (vec X, vec Y), cross blocks included; see :func:`solvers.kernels.hessian_joint`."""
    return kernels.hessian_joint(problem, problem.as_variable(X, "X"), problem.as_variable(Y, "Y"),
                                 gauss_newton=gauss_newton)


def hvp(problem: Problem, X: Array, Y: Array, dX: Array | None, dY: Array | None) -> tuple[Array, Array | None]:
    """Joint Hessian–vector product ``H (vec dX, vec dY)`` without forming H; see :func:`solvers.kernels.hvp`."""
    if dX is None and dY is None:
        raise ValueError("hvp needs a direction: dX, dY or both")
    dX, dY = (None if value is None else problem.as_variable(value, name) for value, name in ((dX, "dX"), (dY, "dY")))
    return kernels.hvp(problem, problem.as_variable(X, "X"), problem.as_variable(Y, "Y"), dX, dY)


def hvp_x(problem: Problem, X: Array, Y: Array, D: Array) -> Array:
    """``H_X vec(D)`` reshaped to d×d, without forming H_X (SPEC §5)."""
    return hvp(problem, X, Y, D, None)[0]

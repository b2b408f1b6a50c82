"""Exact oracles of L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F: the public, checked entry points.

Each function validates its d×d arguments once (:meth:`Problem.as_variable`: host NumPy
arrays or arrays of the problem's backend; their shape, dtype and finiteness) and
then asks the problem's per-iterate oracle (:meth:`Problem.oracle`, :mod:`solvers.oracle`),
in the problem's layout (dense, row-blocked or sharded). Vectorisation is row-major:
``vec(X) = X.reshape(-1)``. Results are backend arrays (``loss`` returns a Python float).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import check
from .oracle import Oracle
from .problem import Problem
from .rowterms import Forward, join, softmax_rows, split

Array = Any

__all__ = [
    "Forward", "at", "forward", "grad", "hessian_joint", "hessian_x", "hvp", "hvp_x", "join", "loss",
    "softmax_rows", "split", "y_solve",
]


def at(problem: Problem, X: Array, Y: Array | None = None) -> Oracle:
    """The oracle of the iterate (X, Y), arguments checked: loss, gradient, products, Hessians, Y step, all cached."""
    return problem.oracle(problem.as_variable(X, "X"), None if Y is None else problem.as_variable(Y, "Y"))


def forward(problem: Problem, X: Array, Y: Array) -> Forward:
    """Softmax S, output A3 Y and residual R at (X, Y) (see :class:`solvers.rowterms.Forward`)."""
    return at(problem, X, Y).forward


def loss(problem: Problem, X: Array, Y: Array) -> float:
    """L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F (no factor ½)."""
    return at(problem, X, Y).loss


def grad(problem: Problem, X: Array, Y: Array) -> tuple[Array, Array]:
    """Gradients ``(∇_X L, ∇_Y L)``, each d×d (docs/maths.md §2)."""
    return at(problem, X, Y).grad


def y_solve(problem: Problem, X: Array, reg: float = 0.0) -> Array:
    """Exact minimiser of L(X, ·) (+ reg‖Y‖²_F) for fixed X (docs/maths.md §3), by thin SVD of P = S A3."""
    return at(problem, X).least_squares(check.number("reg", reg, at_least=0.0))[1].Y


def hessian_x(problem: Problem, X: Array, Y: Array, *, gauss_newton: bool = False,
              rows: Any = None, weights: Any = None) -> Array:
    """The d²×d² Hessian of L in vec(X) (docs/maths.md §4); ``gauss_newton`` keeps its PSD part,
    ``rows``/``weights`` keep (and weight) a sample of its n row terms: integer row indices in [0, n), and as
    many finite weights."""
    if rows is not None or weights is not None:
        _check_sample(problem, rows, weights)
    return at(problem, X, Y).hessian_x(gauss_newton=gauss_newton, rows=rows, weights=weights)


def _check_sample(problem: Problem, rows: Any, weights: Any) -> None:
    """Raise ``ValueError`` unless ``rows`` are row indices of the problem and ``weights`` (if given) one finite
    number per row (checked on the host, where the layouts' ``hessian_x`` take them from)."""
    if rows is None:
        raise ValueError("weights without rows: give the sampled rows' indices too")
    index, scale = (None if value is None else
                    problem.backend.to_numpy(value) if problem.backend.owns(value) else np.asarray(value)
                    for value in (rows, weights))
    if index.ndim != 1 or index.size == 0 or index.dtype.kind not in "iu":
        raise ValueError(f"rows must be a non-empty 1-D array of integer row indices, got {index.dtype} "
                         f"of shape {index.shape}")
    if index.min() < 0 or index.max() >= problem.n:
        raise ValueError(f"rows must lie in [0, n) = [0, {problem.n}), got {index.min()} … {index.max()}")
    if scale is not None:
        if scale.shape != index.shape or not np.all(np.isfinite(scale)):
            raise ValueError(f"weights must be {index.size} finite numbers, one per row, got shape {scale.shape}")


def hessian_joint(problem: Problem, X: Array, Y: Array, *, gauss_newton: bool = False) -> Array:
    """The 2d²×2d² Hessian of L in (vec X, vec Y), cross blocks included (or the Gauss–Newton matrix 2JᵀJ)."""
    return at(problem, X, Y).hessian_joint(gauss_newton=gauss_newton)


def hvp(problem: Problem, X: Array, Y: Array, dX: Array | None, dY: Array | None) -> tuple[Array, Array | None]:
    """Joint Hessian–vector product ``H (vec dX, vec dY)`` without forming H (docs/maths.md §5)."""
    if dX is None and dY is None:
        raise ValueError("hvp needs a direction: dX, dY or both")
    dX, dY = (None if value is None else problem.as_variable(value, name) for value, name in ((dX, "dX"), (dY, "dY")))
    return at(problem, X, Y).hvp(dX, dY)


def hvp_x(problem: Problem, X: Array, Y: Array, D: Array) -> Array:
    """``H_X vec(D)`` reshaped to d×d, without forming H_X (docs/maths.md §5)."""
    return hvp(problem, X, Y, D, None)[0]

"""The dense layout: the oracles of L(X, Y) with the n×n softmax held, written once, unchecked.

Every function here uses only the array-API namespace of the problem (``problem.xp``):
matrix products, reshapes, broadcasting, ``exp``/``max``/``sum``. Nothing loops over rows
in Python and nothing calls autograd, so each oracle costs a handful of matrix products
(docs/maths.md §2–§5). Vectorisation is row-major: ``vec(X) = X.reshape(-1)``. The row
terms of the Hessians are those of :mod:`solvers.rowterms`, taken over all n rows; the
row-blocked layout (:mod:`solvers.rowblocks`) sums the same terms block by block.

These functions work from a forward pass and check nothing; the solvers reach them through
the per-iterate :class:`solvers.oracle.Oracle`, which picks this layout or the blocked one
once, from the problem. The public, validating entry points are in :mod:`solvers.oracles`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .backends import device_of
from .rowterms import Forward, JointTerms, ProblemData, fused, hessian_x_terms, joint_hessian_terms, varpro_terms

Array = Any


def softmax_at(problem: ProblemData, X: Array) -> Array:
    """S = softmax_rows(A1 X A2ᵀ), n×n."""
    return fused(problem, "softmax_rows")((problem.A1 @ X) @ problem.A2.T)


def forward(problem: ProblemData, X: Array, Y: Array, S: Array | None = None) -> Forward:
    """Softmax, output and residual at (X, Y) (``S``: the softmax at X, when known)."""
    if S is None:
        S = softmax_at(problem, X)
    V = problem.A3 @ Y
    return Forward(S, V, S @ V - problem.B)


def grad_from(problem: ProblemData, fw: Forward) -> tuple[Array, Array]:
    """Gradients (∇_X L, ∇_Y L) from a forward pass (docs/maths.md §2)."""
    S, V, R = fw
    dZ = fused(problem, "softmax_backward")(S, 2.0 * (R @ V.T))
    gX = (problem.A1.T @ dZ) @ problem.A2
    gY = 2.0 * ((problem.A3.T @ S.T) @ R)
    return gX, gY


class HvpCache(NamedTuple):
    """What every Hessian–vector product at one iterate shares (computed once by :func:`hvp_cache`).

    G : (n, n) 2 R Vᵀ, the gradient of L in S
    Gc : (n, n) G − rowsum(G ⊙ S), so that the softmax backward of G is S ⊙ Gc
    """

    G: Array
    Gc: Array


def hvp_cache(problem: ProblemData, fw: Forward) -> HvpCache:
    """The per-iterate part of :func:`hvp` (one n×n×d product and a row sum)."""
    G = 2.0 * (fw.R @ fw.V.T)
    return HvpCache(G, G - problem.xp.sum(G * fw.S, axis=1, keepdims=True))


def hvp(problem: ProblemData, fw: Forward, dX: Array | None, dY: Array | None,
        cache: HvpCache) -> tuple[Array, Array | None]:
    """Joint Hessian–vector product ``H (vec dX, vec dY)`` without forming H (docs/maths.md §5).

    The directional derivative of the gradient along (dX, dY), differentiated by hand: a few
    n×n×d and n×d×d products, never a d²×d² array. ``dX`` or ``dY`` may be ``None`` (zero);
    ``hY`` is ``None`` when ``dY`` is.
    """
    xp = problem.xp
    softmax_backward = fused(problem, "softmax_backward")
    S, V, R = fw
    A1, A2, A3 = problem.A1, problem.A2, problem.A3
    dS = None
    dR: Any = 0.0
    dG: Any = 0.0
    if dX is not None:
        dS = softmax_backward(S, (A1 @ dX) @ A2.T)
        dR = dS @ V
    if dY is not None:
        dV = A3 @ dY
        dR = dR + S @ dV
        dG = 2.0 * (R @ dV.T)
    dG = dG + 2.0 * (dR @ V.T)
    if dS is None:
        d_gZ = softmax_backward(S, dG)
    else:  # S⊙(dG − rowsum(dG⊙S)) + dS⊙Gc − S⊙rowsum(G⊙dS), with one pass for the two row sums
        d_gZ = S * (dG - xp.sum(dG * S + cache.G * dS, axis=1, keepdims=True)) + dS * cache.Gc
    hX = (A1.T @ d_gZ) @ A2
    if dY is None:
        return hX, None
    inner = S.T @ dR if dS is None else dS.T @ R + S.T @ dR
    return hX, 2.0 * (A3.T @ inner)


def hessian_x(problem: ProblemData, fw: Forward, *, gauss_newton: bool = False,
              rows: Any = None, weights: Any = None) -> Array:
    """The d²×d² Hessian of L in vec(X) (row-major), in matrix-multiplication time (docs/maths.md §4).

    H_X = Σ_j (a_j a_jᵀ) ⊗ C_j with C_j = A2ᵀ M_j A2: all C_j from two n×n×d² products, the
    Kronecker sum from one d²×n×d² product. ``rows`` (host integers) keeps only those row
    terms (a sketch, §6), each multiplied by ``weights`` when given.
    """
    xp = problem.xp
    S, R, A1, B = fw.S, fw.R, problem.A1, problem.B
    scale = None
    if rows is not None:
        index = xp.asarray(np.asarray(rows, dtype=np.int64), device=device_of(S))
        S, R, A1, B = (xp.take(a, index, axis=0) for a in (S, R, A1, B))
        if weights is not None:
            scale = xp.asarray(np.asarray(weights, dtype=problem.dtype), device=device_of(S))
    return hessian_x_terms(problem, S, fw.V, R, R + B, A1, gauss_newton=gauss_newton, weights=scale)


def joint_terms(problem: ProblemData, fw: Forward, *, gauss_newton: bool = False) -> JointTerms:
    """The joint Hessian's terms over all n rows (:func:`solvers.rowterms.joint_hessian_terms`)."""
    return joint_hessian_terms(problem, fw.S, fw.V, fw.R, fw.R + problem.B, problem.A1, gauss_newton=gauss_newton)


def varpro_gauss_newton(problem: ProblemData, fw: Forward, Q: Array) -> Array:
    """The d²×d² Gauss–Newton matrix of the variable-projection objective f(X) = min_Y L(X, Y).

    Kaufman's form 2 J_Kᵀ J_K with J_K Δ = (I − QQᵀ)(JΔ V), Q the orthonormal basis of
    range(S A3) at Y = Y(X): H_GN − 2 MᵀM (:func:`solvers.rowterms.varpro_terms`), the Schur
    complement of the joint Gauss–Newton matrix that eliminates the Y-block (docs/maths.md §6).
    """
    H, M = varpro_terms(problem, fw.S, fw.V, fw.R + problem.B, problem.A1, Q)
    return H - 2.0 * (M.T @ M)


def varpro_gn_product(problem: ProblemData, fw: Forward, Q: Array, D: Array) -> Array:
    """``varpro_gauss_newton(...) vec(D)`` without forming it: 2 J_Kᵀ (I − QQᵀ)(JD V), matrix-free.

    Four n×n×d products and two row-wise softmax backward passes.
    """
    softmax_backward = fused(problem, "softmax_backward")
    S, V = fw.S, fw.V
    W = softmax_backward(S, (problem.A1 @ D) @ problem.A2.T) @ V
    W = W - Q @ (Q.T @ W)
    return 2.0 * ((problem.A1.T @ softmax_backward(S, W @ V.T)) @ problem.A2)

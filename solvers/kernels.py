"""The maths of L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F, written once, unchecked.

Every function here uses only the array-API namespace of the problem (``problem.xp``):
matrix products, reshapes, broadcasting, ``exp``/``max``/``sum``. Nothing loops over
rows in Python and nothing calls autograd, so each oracle costs a handful of matrix
products (SPEC §2–§5). Vectorisation is row-major: ``vec(X) = X.reshape(-1)``.

Arguments are d×d arrays of the problem's backend, in its dtype, and are **not checked**:
these kernels are what the solvers call inside their iteration loops, where a NaN must
propagate into the loss (and become status ``diverged``) rather than raise. The public,
validating entry points are in :mod:`solvers.oracles`. Results are backend arrays
(``loss`` returns a Python float).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import rowblocks
from .backends import device_of, host_floats
from .problem import Problem

Array = Any


class Forward(NamedTuple):
    """Intermediate quantities of one forward pass.

    S : (n, n) row-softmax of the logits A1 X A2ᵀ
    V : (n, d) A3 Y
    R : (n, d) residual S V − B
    """

    S: Array
    V: Array
    R: Array


def softmax_rows(xp: Any, Z: Array) -> Array:
    """Row-wise softmax with the row maximum subtracted first (no overflow for large logits)."""
    E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
    return E / xp.sum(E, axis=1, keepdims=True)


def softmax_backward(xp: Any, S: Array, G: Array) -> Array:
    """Row-wise J_j g_j with J_j = diag(s_j) − s_j s_jᵀ: S ⊙ (G − rowsum(G ⊙ S))."""
    return S * (G - xp.sum(G * S, axis=1, keepdims=True))


def forward(problem: Problem, X: Array, Y: Array) -> Forward:
    """Logits, softmax, output and residual at (X, Y) (S is a :class:`rowblocks.RowSoftmax` when blocked)."""
    if problem.blocked:
        return rowblocks.forward(problem, X, Y)
    return _full_forward(problem, X, Y)


def _blocked(fw: Forward) -> bool:
    """Whether ``fw`` comes from the row-blocked forward pass (then every oracle of it runs blocked)."""
    return isinstance(fw.S, rowblocks.RowSoftmax)


def _full_forward(problem: Problem, X: Array, Y: Array) -> Forward:
    """:func:`forward` with the n×n S held, whatever ``problem.blocked`` says (the joint Hessian's needs)."""
    S = softmax_rows(problem.xp, (problem.A1 @ X) @ problem.A2.T)
    V = problem.A3 @ Y
    return Forward(S, V, S @ V - problem.B)


def loss_from(problem: Problem, fw: Forward) -> float:
    """The loss ``sum(R ⊙ R)`` of a forward pass, as a Python float (synchronises)."""
    if _blocked(fw):
        return rowblocks.loss_from(problem, fw.R)
    return float(problem.xp.sum(fw.R * fw.R))


def loss(problem: Problem, X: Array, Y: Array) -> float:
    """L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F (no factor ½)."""
    return loss_from(problem, forward(problem, X, Y))


def grad_from(problem: Problem, fw: Forward) -> tuple[Array, Array]:
    """Gradients (∇_X L, ∇_Y L) from a forward pass (SPEC §2)."""
    if _blocked(fw):
        return rowblocks.grad_from(problem, fw)
    xp = problem.xp
    S, V, R = fw
    dZ = softmax_backward(xp, S, 2.0 * (R @ V.T))
    gX = (problem.A1.T @ dZ) @ problem.A2
    gY = 2.0 * ((problem.A3.T @ S.T) @ R)
    return gX, gY


def loss_and_grad_norm(problem: Problem, fw: Forward, *gradients: Array,
                       extra: tuple[Array, ...] = ()) -> tuple[float, ...]:
    """The loss of a forward pass, the norm of the gradient blocks given, and the 0-d ``extra``
    arrays as floats, all in one transfer."""
    xp = problem.xp
    loss = xp.sum(fw.R * fw.R)
    if _blocked(fw):  # this process's rows only: sum over the processes (the gradients are whole already)
        loss = problem.backend.all_reduce(loss)
    loss, squared, *rest = host_floats(problem.backend, loss,
                                       sum(xp.sum(g * g) for g in gradients), *extra)
    return (loss, squared ** 0.5, *rest)


def grad(problem: Problem, X: Array, Y: Array) -> tuple[Array, Array]:
    """Gradients ``(∇_X L, ∇_Y L)``, each d×d."""
    return grad_from(problem, forward(problem, X, Y))


class LeastSquaresY(NamedTuple):
    """The exact Y step at one X and the orthonormal basis of the range of P = S A3 it used.

    Y : (d, d) the least-squares solution (minimum-norm when P is rank deficient)
    Q : (n, d) the left singular vectors of P, those of dropped singular values set to zero,
        so that Q Qᵀ is the orthogonal projector onto range(P)
    rank : 0-d array
        The number of singular values kept (a device scalar: converting it synchronises)
    """

    Y: Array
    Q: Array
    rank: Array


def y_least_squares(problem: Problem, S: Array, reg: float = 0.0, rcond: float | None = None) -> LeastSquaresY:
    """The Y step for the softmax ``S`` (see :func:`y_solve`), with the basis of range(P).

    ``rcond`` drops singular values below ``rcond·σ_max`` (default ``eps·max(n, d)``, as
    ``lstsq``); ignored with ``reg``.
    """
    return _least_squares(problem, S @ problem.A3, problem.B, reg, rcond)


def _least_squares(problem: Problem, P: Array, B: Array, reg: float = 0.0,
                   rcond: float | None = None) -> LeastSquaresY:
    """:func:`y_least_squares` for the n×d values P = S A3 and targets B (all n rows)."""
    xp = problem.xp
    U, sigma, Vt = xp.linalg.svd(P, full_matrices=False)
    if reg:
        inverse, Q, rank = sigma / (sigma * sigma + reg), U, xp.sum(xp.ones_like(sigma))
    else:
        if rcond is None:
            rcond = float(xp.finfo(sigma.dtype).eps) * max(problem.n, problem.d)
        keep = sigma > rcond * sigma[0]
        inverse = xp.where(keep, 1.0 / xp.where(keep, sigma, xp.ones_like(sigma)), xp.zeros_like(sigma))
        kept = xp.astype(keep, U.dtype)
        Q, rank = U * kept[None, :], xp.sum(kept)
    return LeastSquaresY(Vt.T @ (inverse[:, None] * (U.T @ B)), Q, rank)


def y_solve(problem: Problem, X: Array, reg: float = 0.0, S: Array | None = None) -> Array:
    """Exact minimiser of L(X, ·) (+ reg‖Y‖²_F) for fixed X (SPEC §3), accurate at every logit scale.

    With ``P = softmax_rows(A1 X A2ᵀ) A3 = U Σ Vᵀ`` (thin SVD, n×d, O(n d²) like forming
    PᵀP), ``Y = V diag(σ/(σ² + reg)) Uᵀ B``. Unlike the normal equations PᵀP Y = PᵀB,
    this does not square the condition number of P, which matters when the attention is
    near-uniform (small logits: P is then close to rank one). Without ``reg``, singular
    values below ``eps·max(n, d)·σ_max`` are dropped, as ``lstsq`` does, so a rank-deficient
    P (X = 0: rank one; d > n) gives the minimum-norm least-squares solution.

    A row-blocked problem (``problem.blocked``) builds P block by block, never the n×n
    softmax, and gathers its rows from every process (:func:`rowblocks.values_and_targets`)
    before the same SVD.

    Parameters
    ----------
    S : array, optional
        The softmax at X, when the caller has it already (saves the n×n×d logits).
    """
    if problem.blocked and (S is None or isinstance(S, rowblocks.RowSoftmax)):
        return _least_squares(problem, *rowblocks.values_and_targets(problem, X), reg).Y
    if S is None:
        S = softmax_rows(problem.xp, (problem.A1 @ X) @ problem.A2.T)
    return y_least_squares(problem, S, reg).Y


def hessian_x(problem: Problem, X: Array, Y: Array, *, gauss_newton: bool = False,
              rows: Any = None, weights: Any = None) -> Array:
    """The d²×d² Hessian of L in vec(X) (row-major), assembled in matrix-multiplication time.

    H_X = Σ_j (a_j a_jᵀ) ⊗ C_j with C_j = A2ᵀ M_j A2 (SPEC §4). All C_j come from two
    n×n×d² products; the Kronecker sum is one d²×n×d² product and a permutation.

    Parameters
    ----------
    gauss_newton : bool
        Return only the positive-semidefinite Gauss–Newton part Σ_j (a_j a_jᵀ) ⊗ 2 E_j E_jᵀ.
    rows : integer sequence, optional
        Keep only these m row-terms j of the sum (a sketch, SPEC §6): the products become
        m×n×d² and d²×m×d². Default: all n rows.
    weights : sequence of float, optional
        Multiply row-term ``rows[k]`` by ``weights[k]`` (needs ``rows``), e.g. the
        1/(m·p_j) rescaling that makes a sampled sum unbiased.
    """
    if weights is not None and rows is None:
        raise ValueError("hessian_x: weights need rows")
    if problem.blocked:
        return rowblocks.hessian_x(problem, X, Y, gauss_newton=gauss_newton, rows=rows, weights=weights)
    xp = problem.xp
    fw = forward(problem, X, Y)
    A1 = problem.A1
    if rows is not None:
        index = xp.asarray(np.asarray(rows, dtype=np.int64), device=device_of(fw.S))
        S, R, A1, B = (xp.take(a, index, axis=0) for a in (fw.S, fw.R, A1, problem.B))
        fw = Forward(S, fw.V, R)
    else:
        B = problem.B
    C = curvature_blocks(problem, fw.S, fw.V, fw.R, B, gauss_newton=gauss_newton)
    if weights is not None:
        C = C * xp.asarray(np.asarray(weights, dtype=problem.dtype), device=device_of(C))[:, None, None]
    return kron_sum_symmetric(problem, C, A1)


def curvature_blocks(problem: Problem, S: Array, V: Array, R: Array, B: Array, *,
                      gauss_newton: bool = False) -> Array:
    """C_j = A2ᵀ M_j A2 (SPEC §4) for the rows j of ``S``, ``R``, ``B`` (all n, or a block), shape (rows, d, d)."""
    xp = problem.xp
    n, d = S.shape[0], problem.d
    A2 = problem.A2
    SA2 = S @ A2
    E = _E_blocks(problem, Forward(S, V, R), SA2, B)
    C = 2.0 * (E @ xp.permute_dims(E, (0, 2, 1)))
    if not gauss_newton:
        SU = S * (R @ V.T)
        su = xp.sum(SU, axis=1)
        W = SU - S * su[:, None]
        K2 = xp.reshape(A2[:, :, None] * A2[:, None, :], (problem.n, d * d))
        b = SU @ A2
        T = (xp.reshape(W @ K2, (n, d, d)) - SA2[:, :, None] * b[:, None, :] - b[:, :, None] * SA2[:, None, :]
             + 2.0 * su[:, None, None] * SA2[:, :, None] * SA2[:, None, :])
        C = C + 2.0 * T
    return 0.5 * (C + xp.permute_dims(C, (0, 2, 1)))  # exact symmetry, on n·d² entries instead of d⁴


def hessian_joint(problem: Problem, X: Array, Y: Array, *, gauss_newton: bool = False) -> Array:
    """The 2d²×2d² Hessian of L in (vec(X), vec(Y)), cross blocks included.

    Blocks: H_xx = :func:`hessian_x`; H_yy = 2 (PᵀP) ⊗ I_d with P = S A3 (row-major vec);
    H_yx[(k,l),(p,q)] = ∂²L/∂Y_kl ∂X_pq
    = 2 Σ_j F_j[k,q] A1[j,p] R[j,l] + 2 Σ_j P[j,k] A1[j,p] E_j[q,l],
    where E_j = A2ᵀ J_j V and F_j = A3ᵀ J_j A2 (J_j = diag(s_j) − s_j s_jᵀ).

    Parameters
    ----------
    gauss_newton : bool
        Return the joint Gauss–Newton matrix 2 JᵀJ, J = ∂vec(R)/∂(x, y), instead: the
        terms that carry the residual R drop out (H_xx becomes its Gauss–Newton part, the
        F·R term leaves H_yx; H_yy is unchanged because L is quadratic in Y).
    """
    xp = problem.xp
    fw = _full_forward(problem, X, Y)
    S, V, R = fw
    n, d = problem.n, problem.d
    A1, A2, A3 = problem.A1, problem.A2, problem.A3
    SA2 = S @ A2
    P = S @ A3
    E = _E_blocks(problem, fw, SA2)
    # term 1: Σ_j F[j,k,q] A1[j,p] R[j,l] -> (k,q),(p,l) -> (k,l,p,q)
    # term 2: Σ_j P[j,k] A1[j,p] E[j,q,l]  -> (k,p),(q,l) -> (k,l,p,q)
    H_yx = 2.0 * _kron_sum(problem, P[:, :, None] * A1[:, None, :], E, (0, 3, 1, 2))
    if not gauss_newton:
        K3 = xp.reshape(A3[:, :, None] * A2[:, None, :], (n, d * d))
        F = xp.reshape(S @ K3, (n, d, d)) - P[:, :, None] * SA2[:, None, :]
        H_yx = H_yx + 2.0 * _kron_sum(problem, F, A1[:, :, None] * R[:, None, :], (0, 3, 2, 1))
    identity = eye(problem, d)
    H_yy = 2.0 * xp.reshape((P.T @ P)[:, None, :, None] * identity[None, :, None, :], (d * d, d * d))
    H_xx = hessian_x(problem, X, Y, gauss_newton=gauss_newton)
    top = xp.concat([H_xx, H_yx.T], axis=1)
    bottom = xp.concat([H_yx, H_yy], axis=1)
    return xp.concat([top, bottom], axis=0)


class HvpCache(NamedTuple):
    """What every Hessian–vector product at one iterate shares (computed once by :func:`hvp_cache`).

    G : (n, n) 2 R Vᵀ, the gradient of L in S
    Gc : (n, n) G − rowsum(G ⊙ S), so that the softmax backward of G is S ⊙ Gc
    """

    G: Array
    Gc: Array


def hvp_cache(problem: Problem, fw: Forward) -> HvpCache | None:
    """The per-iterate part of :func:`hvp` (one n×n×d product and a row sum); ``None`` when blocked."""
    if _blocked(fw):
        return None
    G = 2.0 * (fw.R @ fw.V.T)
    return HvpCache(G, G - problem.xp.sum(G * fw.S, axis=1, keepdims=True))


def hvp(problem: Problem, X: Array, Y: Array, dX: Array | None, dY: Array | None,
        fw: Forward | None = None, cache: HvpCache | None = None) -> tuple[Array, Array | None]:
    """Joint Hessian–vector product ``H (vec dX, vec dY)`` without forming H.

    The directional derivative of the gradient (SPEC §2) along (dX, dY), differentiated by
    hand: a few n×n×d and n×d×d products, never a d²×d² array. ``dX`` or ``dY`` may be
    ``None`` (zero). Returns ``(hX, hY)``; ``hY`` is ``None`` when ``dY`` is ``None`` and
    only the X-row is wanted (see :func:`hvp_x`). A method taking several products at one
    iterate passes its forward pass ``fw`` and :func:`hvp_cache` ``cache`` to skip their work.
    """
    xp = problem.xp
    if dX is None and dY is None:
        raise ValueError("hvp needs a direction: dX, dY or both")
    if fw is None:
        fw = forward(problem, X, Y)
    if _blocked(fw):
        return rowblocks.hvp(problem, fw, dX, dY)
    if cache is None:
        cache = hvp_cache(problem, fw)
    S, V, R = fw
    A1, A2, A3 = problem.A1, problem.A2, problem.A3
    dS = None
    dR: Any = 0.0
    dG: Any = 0.0
    if dX is not None:
        dS = softmax_backward(xp, S, (A1 @ dX) @ A2.T)
        dR = dS @ V
    if dY is not None:
        dV = A3 @ dY
        dR = dR + S @ dV
        dG = 2.0 * (R @ dV.T)
    dG = dG + 2.0 * (dR @ V.T)
    if dS is None:
        d_gZ = softmax_backward(xp, S, dG)
    else:  # S⊙(dG − rowsum(dG⊙S)) + dS⊙Gc − S⊙rowsum(G⊙dS), with one pass for the two row sums
        d_gZ = S * (dG - xp.sum(dG * S + cache.G * dS, axis=1, keepdims=True)) + dS * cache.Gc
    hX = (A1.T @ d_gZ) @ A2
    if dY is None:
        return hX, None
    inner = S.T @ dR if dS is None else dS.T @ R + S.T @ dR
    return hX, 2.0 * (A3.T @ inner)


def join(problem: Problem, A: Array, B: Array) -> Array:
    """The joint vector (vec A, vec B) of two d×d arrays, row-major: x first, then y."""
    xp = problem.xp
    return xp.concat([xp.reshape(A, (-1,)), xp.reshape(B, (-1,))])


def split(problem: Problem, v: Array) -> tuple[Array, Array]:
    """Inverse of :func:`join`: the two d×d arrays of a joint vector of length 2d²."""
    xp = problem.xp
    d = problem.d
    return xp.reshape(v[: d * d], (d, d)), xp.reshape(v[d * d:], (d, d))


def hvp_x(problem: Problem, X: Array, Y: Array, D: Array) -> Array:
    """``H_X vec(D)`` reshaped to d×d, without forming H_X (SPEC §5)."""
    return hvp(problem, X, Y, D, None)[0]


def eye(problem: Problem, size: int) -> Array:
    """The size×size identity in the problem's dtype, on its device."""
    xp = problem.xp
    return xp.eye(size, dtype=problem.A1.dtype, device=device_of(problem.A1))


def _E_blocks(problem: Problem, fw: Forward, SA2: Array, B: Array | None = None) -> Array:
    """E_j = A2ᵀ J_j V for the rows j of ``fw.S`` (all n, or a subset whose rows of B are
    ``B``), shape (rows, d, d): one rows×n×d² product."""
    xp = problem.xp
    S, V, R = fw
    n, d = problem.n, problem.d
    K = xp.reshape(problem.A2[:, :, None] * V[:, None, :], (n, d * d))
    SV = R + (problem.B if B is None else B)
    return xp.reshape(S @ K, (-1, d, d)) - SA2[:, :, None] * SV[:, None, :]


def kron_sum_symmetric(problem: Problem, C: Array, A1: Array | None = None) -> Array:
    """Σ_j (a_j a_jᵀ) ⊗ C_j (row-major), a_j = row j of ``A1`` (default problem.A1), for symmetric C_j.

    Block (p, p') equals block (p', p) because a_j a_jᵀ is symmetric, so only the
    d(d+1)/2 pairs p ≤ p' enter the d(d+1)/2 × n × d² product (half the flops of the
    plain product). One ``take`` of whole block rows then expands the pairs straight into
    (p, q, p', q') order: row (p, q, p') of the result is row q of block pair(p, p'),
    with host-built indices (d³ of them) instead of a d⁴ permutation.
    """
    xp = problem.xp
    d = problem.d
    A1 = problem.A1 if A1 is None else A1
    n = A1.shape[0]
    where = device_of(C)
    rows, cols = np.triu_indices(d)
    pair = np.empty((d, d), dtype=np.int64)
    pair[rows, cols] = pair[cols, rows] = np.arange(rows.size)
    block_row = np.reshape(pair[:, None, :] * d + np.arange(d)[None, :, None], -1)
    rows, cols, block_row = (xp.asarray(a, device=where) for a in (rows, cols, block_row))
    lhs = xp.take(A1, rows, axis=1) * xp.take(A1, cols, axis=1)
    blocks = xp.reshape(lhs.T @ xp.reshape(C, (n, d * d)), (-1, d))
    return xp.reshape(xp.take(blocks, block_row, axis=0), (d * d, d * d))


def _kron_sum(problem: Problem, lhs: Array, rhs: Array, axes: tuple[int, ...]) -> Array:
    """Σ_j vec(lhs_j) vec(rhs_j)ᵀ for (n, d, d) stacks, as d²×d² with its four axes permuted.

    One d²×n×d² matrix product: ``axes`` maps the (a, b, c, e) axes of
    ``Σ_j lhs_j[a, b] rhs_j[c, e]`` to the row-major (row, row, col, col) order wanted.
    """
    xp = problem.xp
    n, d = problem.n, problem.d
    product = xp.reshape(xp.reshape(lhs, (n, d * d)).T @ xp.reshape(rhs, (n, d * d)), (d, d, d, d))
    return xp.reshape(xp.permute_dims(product, axes), (d * d, d * d))


def varpro_gauss_newton(problem: Problem, fw: Forward, Q: Array) -> Array:
    """The d²×d² Gauss–Newton matrix of the variable-projection objective f(X) = min_Y L(X, Y).

    Kaufman's form 2 J_Kᵀ J_K with J_K Δ = (I − QQᵀ)(JΔ V), Q the orthonormal basis of
    range(S A3) (:func:`y_least_squares`) at Y = Y(X): the X-block Gauss–Newton matrix
    H_GN = Σ_j (a_j a_jᵀ) ⊗ 2 E_j E_jᵀ (SPEC §4) minus 2 MᵀM, where
    M[(k,c),(p,q)] = Σ_j Q[j,k] A1[j,p] E_j[q,c] is the X-block seen through range(P) — the
    Schur complement of the joint Gauss–Newton matrix that eliminates the Y-block.
    Cost: the n×n×d² product for E, two d²×n×d² products and one d²×d²×d² product.
    """
    xp = problem.xp
    E = _E_blocks(problem, fw, fw.S @ problem.A2)
    C = 2.0 * (E @ xp.permute_dims(E, (0, 2, 1)))
    H = kron_sum_symmetric(problem, 0.5 * (C + xp.permute_dims(C, (0, 2, 1))))
    M = _kron_sum(problem, Q[:, :, None] * problem.A1[:, None, :], E, (0, 3, 1, 2))
    return H - 2.0 * (M.T @ M)


def varpro_gn_product(problem: Problem, fw: Forward, Q: Array, D: Array) -> Array:
    """``varpro_gauss_newton(...) vec(D)`` without forming it: 2 J_Kᵀ (I − QQᵀ)(JD V), matrix-free.

    Four n×n×d products and two row-wise softmax backward passes.
    """
    xp = problem.xp
    S, V = fw.S, fw.V
    W = softmax_backward(xp, S, (problem.A1 @ D) @ problem.A2.T) @ V
    W = W - Q @ (Q.T @ W)
    return 2.0 * ((problem.A1.T @ softmax_backward(xp, S, W @ V.T)) @ problem.A2)

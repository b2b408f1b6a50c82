"""The row terms of L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F, shared by every layout.

Row j of S = softmax_rows(A1 X A2ᵀ) depends only on row j of A1, and every second-order
quantity is a sum of row terms (docs/maths.md §4–§5). The functions here take the rows of
S, R and A1 that a caller holds — all n of them (:mod:`solvers.kernels`, the dense layout)
or one block of them (:mod:`solvers.rowblocks`, the row-blocked and sharded layouts) — and
return that set's partial sums, so the maths is written once and both layouts add the same
terms. They use only the array-API namespace of the problem and check nothing.

``SV`` is S V = R + B for the rows given (the block's own product, or the residual plus the
targets), so that no function here needs to know which rows of B it was handed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np

from .backends import Backend, device_of

Array = Any


class ProblemData(Protocol):
    """What the maths reads of a problem (:class:`solvers.problem.Problem` is one): the data on
    its backend, its sizes and its row layout. The maths depends on this, not on the class,
    so the problem can own its oracles without an import circle."""

    xp: Any
    backend: Backend
    dtype: str
    n: int
    d: int
    A1: Array
    A2: Array
    A3: Array
    B: Array
    A2_1: Array
    A2_t: Array
    A3_1_t: Array
    A1_max_row_norm2: float
    A2_max_row_norm2: float
    rows: slice
    shard: tuple[int, int] | None
    block_rows: int
    hessian_block_rows: int


class Forward(NamedTuple):
    """Intermediate quantities of one forward pass.

    S : (n, n) row-softmax of the logits A1 X A2ᵀ (in the row-blocked layout, a
        :class:`solvers.rowblocks.RowSoftmax` from which any block of rows is one ``exp`` away)
    V : (n, d) A3 Y (``None`` from :func:`solvers.rowblocks.forward`: the row-blocked layout
        forms it where it reads it)
    R : (n, d) residual S V − B (this process's rows)
    """

    S: Array
    V: Array
    R: Array


class LeastSquaresY(NamedTuple):
    """The exact Y step at one X and the orthonormal basis of the range of P = S A3 it used.

    Y : (d, d) the least-squares solution (minimum-norm when P is rank deficient)
    Q : (n, d) the left singular vectors of P (all n rows, whatever the layout), those of
        dropped singular values set to zero, so that Q Qᵀ is the orthogonal projector onto range(P)
    rank : 0-d array
        The number of singular values kept (a device scalar: converting it synchronises)
    """

    Y: Array
    Q: Array
    rank: Array
    #: (d, d) Vᵀ of the thin SVD P = U Σ Vᵀ, and (d,) the inverse singular values used (0 where dropped;
    #: σ/(σ² + reg) with a ridge): (PᵀP)⁺ = Vᵀᵀ diag(inverse²) Vᵀ without a ridge.
    Vt: Array = None
    inverse: Array = None

    def gram_inverse(self) -> Array:
        """(PᵀP)⁺ = V diag(inverse²) Vᵀ (d×d), from the SVD the step used (dropped singular values left out)."""
        return self.Vt.T @ ((self.inverse * self.inverse)[:, None] * self.Vt)

    def gram_factor(self) -> Array:
        """F = diag(inverse) Vᵀ (d×d), with FᵀF = (PᵀP)⁺ (:meth:`gram_inverse`) exactly as the SVD gives it."""
        return self.inverse[:, None] * self.Vt


def softmax_rows(xp: Any, Z: Array) -> Array:
    """Row-wise softmax with the row maximum subtracted first (no overflow for large logits)."""
    E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
    return E / xp.sum(E, axis=1, keepdims=True)


def softmax_backward(xp: Any, S: Array, G: Array) -> Array:
    """Row-wise J_j g_j with J_j = diag(s_j) − s_j s_jᵀ: S ⊙ (G − rowsum(G ⊙ S))."""
    return S * (G - xp.sum(G * S, axis=1, keepdims=True))


def _exp_shifted(xp: Any, Z: Array, shift: Array | None = None) -> Array:
    """exp(Z − shift), ``shift`` broadcast (``None``: 0), in a fresh array."""
    return xp.exp(Z if shift is None else Z - shift)


def _product(xp: Any, slot: int, a: Array, b: Array) -> Array:
    """``a @ b`` in a fresh array (``slot`` names the scratch array a backend may reuse instead)."""
    return a @ b


#: The array-API versions of the kernels a backend may supply (:class:`solvers.backends.base.Backend`, Notes).
GENERIC_KERNELS: dict[str, Callable[..., Any]] = {
    "softmax_rows": softmax_rows, "softmax_backward": softmax_backward,
    "exp_inplace": _exp_shifted, "product_into": _product,
}


def has_kernel(problem: ProblemData, name: str) -> bool:
    """Whether the problem's backend supplies its own kernel ``name`` (one of :data:`GENERIC_KERNELS`)."""
    return getattr(problem.backend, name, None) is not None


def traced(problem: ProblemData, array: Array) -> bool:
    """Whether the backend's autograd records operations on ``array`` (its ``traced``; ``False`` where it has none)."""
    check = getattr(problem.backend, "traced", None)
    return check is not None and check(array)


def fused(problem: ProblemData, name: str) -> Any:
    """The kernel ``name`` (a key of :data:`GENERIC_KERNELS`) for the problem's arrays: its
    backend's own where it has one (:class:`solvers.backends.base.Backend`, Notes), else this
    module's array-API function with the namespace bound."""
    kernel = getattr(problem.backend, name, None)
    if kernel is not None:
        return kernel
    generic = GENERIC_KERNELS[name]
    return lambda *arrays: generic(problem.xp, *arrays)


def least_squares(problem: ProblemData, P: Array, B: Array, reg: float = 0.0,
                  rcond: float | None = None) -> LeastSquaresY:
    """The Y step for the values P = S A3 and targets B (all n rows each), by thin SVD (docs/maths.md §3).

    With P = U Σ Vᵀ, Y = V diag(σ/(σ² + reg)) Uᵀ B. Unlike the normal equations this does
    not square the condition number of P. Without ``reg``, singular values below
    ``rcond·σ_max`` (default ``eps·max(n, d)``, as ``lstsq``) are dropped: a rank-deficient
    P gives the minimum-norm least-squares solution.
    """
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
    return LeastSquaresY(Vt.T @ (inverse[:, None] * (U.T @ B)), Q, rank, Vt, inverse)


def e_blocks(problem: ProblemData, S: Array, V: Array, SV: Array, SA2: Array) -> Array:
    """E_j = A2ᵀ J_j V for the rows j of ``S`` (J_j = diag(s_j) − s_j s_jᵀ), shape (rows, d, d).

    One rows×n×d² product against the Kronecker columns A2 ⊗ V.
    """
    xp = problem.xp
    d = problem.d
    K = xp.reshape(problem.A2[:, :, None] * V[:, None, :], (problem.n, d * d))
    return xp.reshape(S @ K, (-1, d, d)) - SA2[:, :, None] * SV[:, None, :]


def curvature_blocks(problem: ProblemData, S: Array, V: Array, R: Array | None, SV: Array, *,
                     gauss_newton: bool = False, E: Array | None = None, SA2: Array | None = None) -> Array:
    """C_j = A2ᵀ M_j A2 (docs/maths.md §4) for the rows j of ``S``, ``R``, ``SV``, shape (rows, d, d).

    With ``gauss_newton`` only the positive-semidefinite part 2 E_j E_jᵀ (``R`` is then not
    used and may be ``None``). ``E`` (from :func:`e_blocks`) and ``SA2`` = S A2 are reused
    when the caller has them.
    """
    xp = problem.xp
    rows, d = S.shape[0], problem.d
    A2 = problem.A2
    if SA2 is None and (E is None or not gauss_newton):
        SA2 = S @ A2
    if E is None:
        E = e_blocks(problem, S, V, SV, SA2)
    C = E @ xp.permute_dims(E, (0, 2, 1))
    if not gauss_newton:
        # T_j = A2ᵀ T A2 = (W K2)_j − SA2_j c_jᵀ − c_j SA2_jᵀ with c = SU A2 − su ⊙ SA2; the two outer products
        # are one term's transposes, which the symmetrisation below supplies
        SU = S * (R @ V.T)
        su = xp.sum(SU, axis=1)
        W = SU - S * su[:, None]
        K2 = xp.reshape(A2[:, :, None] * A2[:, None, :], (problem.n, d * d))
        c = SU @ A2 - su[:, None] * SA2
        C = C + xp.reshape(W @ K2, (rows, d, d)) - 2.0 * (SA2[:, :, None] * c[:, None, :])
    return C + xp.permute_dims(C, (0, 2, 1))  # 2 E Eᵀ + 2 T, exactly symmetric, on rows·d² entries instead of d⁴


def kron_sum_symmetric(problem: ProblemData, C: Array, A1: Array) -> Array:
    """Σ_j (a_j a_jᵀ) ⊗ C_j (row-major), a_j = row j of ``A1``, for symmetric C_j.

    Block (p, p') equals block (p', p) because a_j a_jᵀ is symmetric, so only the
    d(d+1)/2 pairs p ≤ p' enter the d(d+1)/2 × rows × d² product (half the flops of the
    plain product). One ``take`` of whole block rows then expands the pairs straight into
    (p, q, p', q') order, with host-built indices (d³ of them) instead of a d⁴ permutation.
    """
    xp = problem.xp
    d = problem.d
    rows = A1.shape[0]
    where = device_of(C)
    upper, lower = np.triu_indices(d)
    pair = np.empty((d, d), dtype=np.int64)
    pair[upper, lower] = pair[lower, upper] = np.arange(upper.size)
    block_row = np.reshape(pair[:, None, :] * d + np.arange(d)[None, :, None], -1)
    upper, lower, block_row = (xp.asarray(a, device=where) for a in (upper, lower, block_row))
    lhs = xp.take(A1, upper, axis=1) * xp.take(A1, lower, axis=1)
    blocks = xp.reshape(lhs.T @ xp.reshape(C, (rows, d * d)), (-1, d))
    return xp.reshape(xp.take(blocks, block_row, axis=0), (d * d, d * d))


def kron_sum(problem: ProblemData, lhs: Array, rhs: Array, axes: tuple[int, ...]) -> Array:
    """Σ_j vec(lhs_j) vec(rhs_j)ᵀ for (rows, d, d) stacks, as d²×d² with its four axes permuted.

    One d²×rows×d² matrix product: ``axes`` maps the (a, b, c, e) axes of
    ``Σ_j lhs_j[a, b] rhs_j[c, e]`` to the row-major (row, row, col, col) order wanted.
    """
    xp = problem.xp
    rows, d = lhs.shape[0], problem.d
    product = xp.reshape(xp.reshape(lhs, (rows, d * d)).T @ xp.reshape(rhs, (rows, d * d)), (d, d, d, d))
    return xp.reshape(xp.permute_dims(product, axes), (d * d, d * d))


def hessian_x_terms(problem: ProblemData, S: Array, V: Array, R: Array, SV: Array, A1: Array, *,
                    gauss_newton: bool = False, weights: Array | None = None) -> Array:
    """Σ_j w_j (a_j a_jᵀ) ⊗ C_j over the rows given (``weights``: (rows,) or ``None`` for 1)."""
    C = curvature_blocks(problem, S, V, R, SV, gauss_newton=gauss_newton)
    if weights is not None:
        C = C * weights[:, None, None]
    return kron_sum_symmetric(problem, C, A1)


class JointTerms(NamedTuple):
    """The rows' partial sums of the joint Hessian: H_xx (d²×d²), H_yx (d²×d²) and PᵀP (d×d)."""

    H_xx: Array
    H_yx: Array
    PtP: Array


def joint_hessian_terms(problem: ProblemData, S: Array, V: Array, R: Array, SV: Array, A1: Array, *,
                        gauss_newton: bool = False) -> JointTerms:
    """The joint Hessian's row terms (docs/maths.md §4) for the rows given.

    H_yx[(k,l),(p,q)] = 2 Σ_j F_j[k,q] A1[j,p] R[j,l] + 2 Σ_j P[j,k] A1[j,p] E_j[q,l], with
    E_j = A2ᵀ J_j V and F_j = A3ᵀ J_j A2; H_yy = 2 (PᵀP) ⊗ I_d (:func:`assemble_joint`). The
    Gauss–Newton matrix drops the terms that carry R (the F·R term and H_xx's second-order part).
    """
    xp = problem.xp
    rows, d = S.shape[0], problem.d
    A2, A3 = problem.A2, problem.A3
    SA2 = S @ A2
    P = S @ A3
    E = e_blocks(problem, S, V, SV, SA2)
    H_xx = kron_sum_symmetric(problem, curvature_blocks(problem, S, V, R, SV, gauss_newton=gauss_newton, E=E, SA2=SA2),
                              A1)
    H_yx = 2.0 * kron_sum(problem, P[:, :, None] * A1[:, None, :], E, (0, 3, 1, 2))
    if not gauss_newton:
        K3 = xp.reshape(A3[:, :, None] * A2[:, None, :], (problem.n, d * d))
        F = xp.reshape(S @ K3, (rows, d, d)) - P[:, :, None] * SA2[:, None, :]
        H_yx = H_yx + 2.0 * kron_sum(problem, F, A1[:, :, None] * R[:, None, :], (0, 3, 2, 1))
    return JointTerms(H_xx, H_yx, P.T @ P)


def assemble_joint(problem: ProblemData, terms: JointTerms) -> Array:
    """The 2d²×2d² joint Hessian [[H_xx, H_yxᵀ], [H_yx, H_yy]] from its (summed) terms."""
    xp = problem.xp
    d = problem.d
    identity = eye(problem, d)
    H_yy = 2.0 * xp.reshape(terms.PtP[:, None, :, None] * identity[None, :, None, :], (d * d, d * d))
    top = xp.concat([terms.H_xx, terms.H_yx.T], axis=1)
    bottom = xp.concat([terms.H_yx, H_yy], axis=1)
    return xp.concat([top, bottom], axis=0)


def reduced_from_joint(problem: ProblemData, terms: JointTerms, gram_factor: Array) -> Array:
    """The d²×d² Schur complement H_xx − H_yxᵀ H_yy⁺ H_yx of the joint Hessian's (summed) terms.

    H_yy = 2 (PᵀP) ⊗ I_d (:func:`assemble_joint`), so H_yy⁺ = ½ (PᵀP)⁺ ⊗ I_d, and with ``gram_factor``
    F (FᵀF = (PᵀP)⁺, :meth:`LeastSquaresY.gram_factor`) the subtracted term is MᵀM,
    M = ((F/√2) ⊗ I_d) H_yx: one d×d×d³ product and one symmetric d²×d²×d² product (half the flops of
    a general one, 36 against 53 ms at d = 32 on one core), never the 2d²×2d² matrix. F comes from P's
    SVD as it is: re-factorising (PᵀP)⁺ (an eigendecomposition) lost the directions of P's largest
    singular values to rounding where κ(P) ≈ 8000, and varpro stalled on the matrix's 1%-noise
    (128, 16) seed 2 from X* + 3·G. At Y = Y(X) this is the exact Hessian of the variable-projection
    objective f(X) = min_Y L(X, Y) (docs/maths.md §6).
    """
    xp = problem.xp
    d = problem.d
    M = xp.reshape((0.5 ** 0.5 * gram_factor) @ xp.reshape(terms.H_yx, (d, d ** 3)), (d * d, d * d))
    H = terms.H_xx - M.T @ M
    return 0.5 * (H + H.T)


def varpro_terms(problem: ProblemData, S: Array, V: Array, SV: Array, A1: Array, Q: Array) -> tuple[Array, Array]:
    """The rows' partial sums (H_GN, M) of the variable-projection Gauss–Newton matrix H_GN − 2 MᵀM.

    H_GN = Σ_j (a_j a_jᵀ) ⊗ 2 E_j E_jᵀ (the X-block Gauss–Newton matrix) and
    M[(k,c),(p,q)] = Σ_j Q[j,k] A1[j,p] E_j[q,c] (the X-block seen through range(P)), for the
    rows of ``S``, ``A1`` and ``Q`` given (docs/maths.md §6).
    """
    E = e_blocks(problem, S, V, SV, S @ problem.A2)
    C = curvature_blocks(problem, S, V, None, SV, gauss_newton=True, E=E)
    return kron_sum_symmetric(problem, C, A1), kron_sum(problem, Q[:, :, None] * A1[:, None, :], E, (0, 3, 1, 2))


def eye(problem: ProblemData, size: int) -> Array:
    """The size×size identity in the problem's dtype, on its device."""
    xp = problem.xp
    return xp.eye(size, dtype=problem.A1.dtype, device=device_of(problem.A1))


def join(problem: ProblemData, A: Array, B: Array) -> Array:
    """The joint vector (vec A, vec B) of two d×d arrays, row-major: x first, then y."""
    xp = problem.xp
    return xp.concat([xp.reshape(A, (-1,)), xp.reshape(B, (-1,))])


def split(problem: ProblemData, v: Array) -> tuple[Array, Array]:
    """Inverse of :func:`join`: the two d×d arrays of a joint vector of length 2d²."""
    xp = problem.xp
    d = problem.d
    return xp.reshape(v[: d * d], (d, d)), xp.reshape(v[d * d:], (d, d))

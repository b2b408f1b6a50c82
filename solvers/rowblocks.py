"""Row-blocked oracles: the maths of :mod:`solvers.kernels` without ever holding the n×n softmax.

Row j of S = softmax_rows(A1 X A2ᵀ) depends only on row j of A1 (and on all of A2), and every
quantity the solvers need is a sum over rows, or a stack of rows (docs/maths.md §2–§5): the loss, the
gradients, the Hessian–vector products, the X-Hessian's C_j terms and the Y step's P = S A3. Each
function here walks the problem's rows in blocks of ``problem.block_rows`` (b×n memory per
temporary, FlashAttention's idea), does all of a block's n-wide elementwise work while the
block is in cache, and keeps only n×d or d×d partial sums. Rowsums of the n×n products are
taken through their rank-d factors (rowsum(S ⊙ R Vᵀ) = rowsum(R ⊙ S V)), which removes
several n×n passes of the full-S path.

The same decomposition is data parallelism: a sharded problem holds only its rows of A1 and
B, and the one collective ``problem.backend.all_reduce`` finishes each d×d (or d²×d²)
partial and each loss (and gathers P for the Y step), so every rank returns the same,
complete result and the solvers need no change. :class:`RowSoftmax` replaces the n×n
``Forward.S`` in this layout: the row log-sum-exp, from which a block of S is one ``exp``
away. The Hessians' row terms are those of :mod:`solvers.rowterms`, summed block by block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .backends import device_of
from .rowterms import (Forward, JointTerms, ProblemData, assemble_joint, hessian_x_terms, joint_hessian_terms,
                       varpro_terms)

Array = Any


class RowSoftmax(NamedTuple):
    """What ``Forward.S`` holds in blocked mode: the point (X, Y) and the row log-sum-exp of the logits.

    S[j] = exp(Z[j] − lse[j]) with Z = A1 X A2ᵀ, recomputed one block of rows at a time.
    """

    X: Array
    Y: Array
    lse: Array


class _Block(NamedTuple):
    """One block of rows: their slice, softmax S (b×n), P = S A3 (b×d), residual R, S V = P Y = R + B and
    the row log-sum-exp of the logits (b×1)."""

    rows: slice
    S: Array
    P: Array
    R: Array
    SV: Array
    lse: Array


def _exp_rows(xp: Any, Z: Array) -> tuple[Array, Array, Array]:
    """``(E, top, total)`` of a block of logits: E = exp(Z − rowmax), the row maxima and the row sums of E.

    The softmax of the block is E / total and its row log-sum-exp top + log(total). Not in
    place: torch autograd (the peers) differentiates this pass.
    """
    top = xp.max(Z, axis=1, keepdims=True)
    E = xp.exp(Z - top)
    return E, top, xp.sum(E, axis=1, keepdims=True)


def _slices(m: int, b: int) -> list[slice]:
    return [slice(start, min(start + b, m)) for start in range(0, m, b)]


def _block(problem: ProblemData, L: Array, Y: Array, B: Array, rows: slice, lse: Array | None = None) -> _Block:
    """Softmax, P = S A3 and residual of the rows ``rows`` of ``L = A1 X``.

    With ``lse`` (from :func:`forward`) the block's S costs one ``exp``; without, its row
    max and sum are taken here. S V is computed as (S A3) Y: a b×d×d product instead of b×n×d.
    """
    xp = problem.xp
    Z = L[rows, :] @ problem.A2.T
    if lse is None:
        E, top, total = _exp_rows(xp, Z)
        S, block_lse = E / total, top + xp.log(total)
    else:
        block_lse = lse[rows, :]
        Z -= block_lse
        S = xp.exp(Z)
    P = S @ problem.A3
    SV = P @ Y
    return _Block(rows, S, P, SV - B[rows, :], SV, block_lse)


def _grad_terms(problem: ProblemData, blk: _Block, VT: Array) -> tuple[Array, Array]:
    """A block's gradient partials: (S ⊙ (R Vᵀ − rowsum(R ⊙ S V))) A2 (its rows of ½ dZ A2) and Pᵀ R."""
    W = blk.R @ VT
    W -= _rowdot(problem.xp, blk.R, blk.SV)
    W *= blk.S
    return W @ problem.A2, blk.P.T @ blk.R


#: Groups of consecutive blocks handed to the backend at once (each sums its blocks' partials).
GROUPS = 8


def _map(problem: ProblemData, work: Callable[[slice], tuple[Any, ...]], kinds: str, rows: int, b: int) -> list[Any]:
    """Run ``work`` on every block of ``b`` of the first ``rows`` rows and combine its outputs.

    ``kinds`` has one letter per output of ``work``: ``"r"`` for a block of rows (concatenated
    in order) and ``"s"`` for a partial sum (added; ``None`` counts as zero). Blocks go to the
    backend in :data:`GROUPS` groups (which it may run concurrently), each of which adds its
    partials as it goes, so no more than a group's d×d partials are ever held.
    """
    xp = problem.xp
    slices = _slices(rows, b)
    groups = min(GROUPS, len(slices))
    chunks = [slices[k * len(slices) // groups:(k + 1) * len(slices) // groups] for k in range(groups)]

    def run(chunk: list[slice]) -> list[Any]:
        out: list[Any] = [[] if kind == "r" else None for kind in kinds]
        for block in chunk:
            for k, (kind, part) in enumerate(zip(kinds, work(block))):
                if kind == "r":
                    out[k].append(part)
                elif part is not None:
                    out[k] = part if out[k] is None else out[k] + part
        return out

    results = problem.backend.map_blocks(run, chunks)
    combined: list[Any] = []
    for k, kind in enumerate(kinds):
        parts = [result[k] for result in results]
        if kind == "r":
            combined.append(xp.concat([part for chunk in parts for part in chunk], axis=0))
        else:
            present = [part for part in parts if part is not None]
            combined.append(None if not present else sum(present[1:], present[0]))
    return combined


def _rowdot(xp: Any, a: Array, b: Array) -> Array:
    """Row-wise dot products of two b×d arrays, as a b×1 column."""
    return xp.sum(a * b, axis=1, keepdims=True)


def forward(problem: ProblemData, X: Array, Y: Array) -> Forward:
    """``Forward(RowSoftmax(X, Y, lse), V, R)`` for this process's rows, in one pass over them."""
    xp = problem.xp
    A2T = problem.A2.T
    L = problem.A1 @ X

    def work(rows: slice) -> tuple[Array, Array]:
        E, top, total = _exp_rows(xp, L[rows, :] @ A2T)
        return top + xp.log(total), ((E @ problem.A3) @ Y) / total - problem.B[rows, :]

    lse, R = _map(problem, work, "rr", L.shape[0], problem.block_rows)
    return Forward(RowSoftmax(X, Y, lse), problem.A3 @ Y, R)


def forward_and_grad(problem: ProblemData, X: Array, Y: Array,
                     lse: Array | None = None) -> tuple[Forward, tuple[Array, Array]]:
    """The forward pass and the gradients in one pass over the blocks: one ``exp`` per entry.

    Each block's softmax serves the row log-sum-exp, the residual and the gradient terms of
    :func:`grad_from` while it is in cache (a line search or SciPy's ``jac=True`` asks for both).
    ``lse``, the row log-sum-exp at X when known, spares each block its row maxima and sums.
    """
    V = problem.A3 @ Y
    L, VT = problem.A1 @ X, V.T

    def work(rows: slice) -> tuple[Array, Array, Array, Array]:
        blk = _block(problem, L, Y, problem.B, rows, lse)
        return blk.lse, blk.R, *_grad_terms(problem, blk, VT)

    lse, R, U, T = _map(problem, work, "rrrs", L.shape[0], problem.block_rows)
    return Forward(RowSoftmax(X, Y, lse), V, R), _reduced(problem, 2.0 * (problem.A1.T @ U), 2.0 * T)


def grad_from(problem: ProblemData, fw: Forward) -> tuple[Array, Array]:
    """(∇_X L, ∇_Y L): dZ = S ⊙ 2(R Vᵀ − rowsum(R ⊙ S V)) per block; A1ᵀ (dZ A2) and 2 Σ (S A3)ᵀ R."""
    soft, V, _ = fw
    L, VT = problem.A1 @ soft.X, V.T

    def work(rows: slice) -> tuple[Array, Array]:
        return _grad_terms(problem, _block(problem, L, soft.Y, problem.B, rows, soft.lse), VT)

    U, T = _map(problem, work, "rs", L.shape[0], problem.block_rows)
    return _reduced(problem, 2.0 * (problem.A1.T @ U), 2.0 * T)


def hvp(problem: ProblemData, fw: Forward, dX: Array | None, dY: Array | None) -> tuple[Array, Array | None]:
    """Joint Hessian–vector product, blocked: see :func:`solvers.kernels.hvp` for the maths.

    Per block, with dS = S ⊙ (ΔZ − rowsum(S ⊙ ΔZ)), P = S A3, dP = dS A3 and
    dR = dS V + S dV = dP Y + P dY:
    ½ d(dZ) = S ⊙ (dR Vᵀ + R dVᵀ − rowsum(dR ⊙ SV) − rowsum(R ⊙ S dV) − rowsum(R ⊙ dS V))
    + dS ⊙ (R Vᵀ − rowsum(R ⊙ SV)); hX = 2 A1ᵀ (d(dZ)/2 · A2), hY = 2 Σ (dPᵀ R + Pᵀ dR).
    """
    xp = problem.xp
    soft, V, _ = fw
    A2, A2T, VT = problem.A2, problem.A2.T, V.T
    right = VT if dY is None else xp.concat([V, problem.A3 @ dY], axis=1).T
    L = problem.A1 @ soft.X
    dL = None if dX is None else problem.A1 @ dX

    def work(rows: slice) -> tuple[Array, Array | None]:
        blk = _block(problem, L, soft.Y, problem.B, rows, soft.lse)
        S, R = blk.S, blk.R
        shift, dR, T = 0.0, 0.0, None
        if dY is not None:
            SdV = blk.P @ dY
            dR, shift = SdV, _rowdot(xp, R, SdV)
        if dL is not None:
            dS = dL[rows, :] @ A2T
            dS -= xp.sum(S * dS, axis=1, keepdims=True)
            dS *= S
            dP = dS @ problem.A3
            dSV = dP @ soft.Y
            dR, shift = dR + dSV, shift + _rowdot(xp, R, dSV)
        W = (dR if dY is None else xp.concat([dR, R], axis=1)) @ right
        W -= shift + _rowdot(xp, dR, blk.SV)
        W *= S
        if dL is not None:
            W2 = R @ VT
            W2 -= _rowdot(xp, R, blk.SV)
            W2 *= dS
            W += W2
        if dY is not None:
            T = blk.P.T @ dR if dL is None else blk.P.T @ dR + dP.T @ R
        return W @ A2, T

    U, T = _map(problem, work, "rs", L.shape[0], problem.block_rows)
    hX = 2.0 * (problem.A1.T @ U)
    if dY is None:
        return problem.backend.all_reduce(hX), None
    return _reduced(problem, hX, 2.0 * T)


def values_and_targets(problem: ProblemData, X: Array,
                       lse: Array | None = None) -> tuple[Array, Array, Array]:
    """P = softmax_rows(A1 X A2ᵀ) A3 and B, all n rows (n×d each), for the Y step's SVD, and the
    row log-sum-exp of the logits at X for this process's rows (``lse``, or computed here).

    P is built block by block (one ``exp`` per block when the row log-sum-exp ``lse`` of a
    forward pass at X is given; the returned one spares the forward pass at (X, Y(X)) its row
    maxima and sums, since the logits depend on X alone). In a sharded run each process fills its rows of zero n×d
    arrays and one all-reduce of the pair (2·n·d numbers, once per Y step) gathers them, so
    every process solves the same least-squares problem.
    """
    xp = problem.xp
    L = problem.A1 @ X

    def work(rows: slice) -> tuple[Array, Array]:
        Z = L[rows, :] @ problem.A2.T
        if lse is not None:
            Z -= lse[rows, :]
            return xp.exp(Z) @ problem.A3, lse[rows, :]
        E, top, total = _exp_rows(xp, Z)
        return (E @ problem.A3) / total, top + xp.log(total)

    P, lse = _map(problem, work, "rr", L.shape[0], problem.block_rows)
    if problem.shard is None:
        return P, problem.B, lse
    d, before, after = problem.d, problem.rows.start, problem.n - problem.rows.stop
    pad = [xp.zeros((count, 2 * d), dtype=P.dtype, device=device_of(P)) for count in (before, after)]
    both = problem.backend.all_reduce(xp.concat([pad[0], xp.concat([P, problem.B], axis=1), pad[1]], axis=0))
    return both[:, :d], both[:, d:], lse


def _hessian_blocks(problem: ProblemData, X: Array, Y: Array, A1: Array, B: Array) -> Iterator[tuple[slice, _Block]]:
    """The blocks of :attr:`Problem.hessian_block_rows` rows of ``A1``/``B`` (few, large: their
    row terms need b×n×d² products), one at a time."""
    L = A1 @ X
    for rows in _slices(A1.shape[0], problem.hessian_block_rows):
        yield rows, _block(problem, L, Y, B, rows)


def _zeros(problem: ProblemData, *shape: int) -> Array:
    return problem.xp.zeros(shape, dtype=problem.A1.dtype, device=device_of(problem.A1))


def hessian_x(problem: ProblemData, X: Array, Y: Array, *, gauss_newton: bool = False,
              rows: Any = None, weights: Any = None) -> Array:
    """H_X = Σ_j (a_j a_jᵀ) ⊗ C_j summed block by block (see :func:`solvers.kernels.hessian_x`).

    ``rows`` (host integers, indices into all n rows) and ``weights`` restrict the sum to a
    sample; each process keeps the sampled rows it holds, and the all-reduce adds the rest.
    """
    xp = problem.xp
    d = problem.d
    V = problem.A3 @ Y
    A1, B = problem.A1, problem.B
    scale = None
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        mine = (rows >= problem.rows.start) & (rows < problem.rows.stop)
        index = xp.asarray(rows[mine] - problem.rows.start, device=device_of(A1))
        A1, B = xp.take(A1, index, axis=0), xp.take(B, index, axis=0)
        if weights is not None:
            scale = xp.asarray(np.asarray(weights, dtype=problem.dtype)[mine], device=device_of(A1))
    H = _zeros(problem, d * d, d * d)
    for block, blk in _hessian_blocks(problem, X, Y, A1, B):
        H = H + hessian_x_terms(problem, blk.S, V, blk.R, blk.SV, A1[block, :], gauss_newton=gauss_newton,
                                weights=None if scale is None else scale[block])
    return problem.backend.all_reduce(H)


def hessian_joint(problem: ProblemData, X: Array, Y: Array, *, gauss_newton: bool = False) -> Array:
    """The joint 2d²×2d² Hessian from its row terms summed block by block (one all-reduce of them)."""
    xp = problem.xp
    d = problem.d
    V = problem.A3 @ Y
    total = JointTerms(_zeros(problem, d * d, d * d), _zeros(problem, d * d, d * d), _zeros(problem, d, d))
    for block, blk in _hessian_blocks(problem, X, Y, problem.A1, problem.B):
        terms = joint_hessian_terms(problem, blk.S, V, blk.R, blk.SV, problem.A1[block, :], gauss_newton=gauss_newton)
        total = JointTerms(*(a + b for a, b in zip(total, terms)))
    flat = problem.backend.all_reduce(xp.concat([xp.reshape(part, (-1,)) for part in total]))  # one collective
    size = d ** 4
    return assemble_joint(problem, JointTerms(xp.reshape(flat[:size], (d * d, d * d)),
                                              xp.reshape(flat[size:2 * size], (d * d, d * d)),
                                              xp.reshape(flat[2 * size:], (d, d))))


def varpro_gauss_newton(problem: ProblemData, X: Array, Y: Array, Q: Array) -> Array:
    """H_GN − 2 MᵀM (:func:`solvers.kernels.varpro_gauss_newton`) from row terms summed block by
    block; ``Q`` holds this process's rows of the range basis."""
    xp = problem.xp
    d = problem.d
    V = problem.A3 @ Y
    H, M = _zeros(problem, d * d, d * d), _zeros(problem, d * d, d * d)
    for block, blk in _hessian_blocks(problem, X, Y, problem.A1, problem.B):
        H_part, M_part = varpro_terms(problem, blk.S, V, blk.SV, problem.A1[block, :], Q[block, :])
        H, M = H + H_part, M + M_part
    both = problem.backend.all_reduce(xp.stack([H, M]))
    return both[0, ...] - 2.0 * (both[1, ...].T @ both[1, ...])


def varpro_gn_product(problem: ProblemData, fw: Forward, Q: Array, D: Array) -> Array:
    """2 J_Kᵀ (I − QQᵀ)(JD V) in two passes over the blocks (``Q``: this process's rows of the basis).

    Pass one forms W = (dS A3) Y per block, dS the softmax derivative along A1 D A2ᵀ; the
    projection takes one all-reduce of QᵀW (d×d); pass two applies J_Kᵀ. Each pass
    recomputes a block of S from the row log-sum-exp.
    """
    xp = problem.xp
    soft, V, _ = fw
    A2T = problem.A2.T
    L, dL = problem.A1 @ soft.X, problem.A1 @ D

    def directional(rows: slice) -> tuple[Array]:
        blk = _block(problem, L, soft.Y, problem.B, rows, soft.lse)
        dS = dL[rows, :] @ A2T
        dS -= xp.sum(blk.S * dS, axis=1, keepdims=True)
        dS *= blk.S
        return ((dS @ problem.A3) @ soft.Y,)

    (W,) = _map(problem, directional, "r", L.shape[0], problem.block_rows)
    W = W - Q @ problem.backend.all_reduce(Q.T @ W)

    def transposed(rows: slice) -> tuple[Array]:
        blk = _block(problem, L, soft.Y, problem.B, rows, soft.lse)
        U = W[rows, :] @ V.T
        U -= _rowdot(xp, W[rows, :], blk.SV)
        U *= blk.S
        return (U @ problem.A2,)

    (U,) = _map(problem, transposed, "r", L.shape[0], problem.block_rows)
    return problem.backend.all_reduce(2.0 * (problem.A1.T @ U))


def _reduced(problem: ProblemData, first: Array, second: Array) -> tuple[Array, Array]:
    """All-reduce two d×d partials in one collective."""
    xp = problem.xp
    both = problem.backend.all_reduce(xp.stack([first, second]))
    return both[0, ...], both[1, ...]

"""Row-blocked oracles: the maths of :mod:`solvers.kernels` without ever holding the n×n softmax.

Row j of S = softmax_rows(A1 X A2ᵀ) depends only on row j of A1 (and on all of A2), and every
quantity the solvers need is a sum over rows, or a stack of rows (docs/maths.md §2–§5): the loss, the
gradients, the Hessian–vector products, the X-Hessian's C_j terms and the Y step's P = S A3. Each
function here walks the problem's rows in blocks of ``problem.block_rows`` (b×n memory per
temporary, FlashAttention's idea), does all of a block's n-wide elementwise work while the
block is in cache, and keeps only n×d or d×d partial sums.

The fused elementwise work of each block (one ``exp`` per entry per call, the softmax never
normalised entry by entry, row constants folded into the products) is :mod:`solvers.fusedblocks`.

The same decomposition is data parallelism: a sharded problem holds only its rows of A1 and
B, and the one collective ``problem.backend.all_reduce`` finishes each d×d (or d²×d²)
partial and each loss (and gathers P for the Y step), so every rank returns the same,
complete result and the solvers need no change. :class:`RowSoftmax` replaces the n×n
``Forward.S`` in this layout: the row log-sum-exp, from which a block of S is one ``exp``
away. The Hessians' row terms are those of :mod:`solvers.rowterms`, summed block by block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .backends import device_of
from .fusedblocks import (Block, Call, blocked_call, grad_terms, map_rows, operands, per_row, row_block, row_slices,
                          rowdot, softmax_times, wide_product, with_column)
from .rowterms import Forward, JointTerms, ProblemData, hessian_x_terms, joint_hessian_terms, varpro_terms

Array = Any


class RowSoftmax(NamedTuple):
    """What ``Forward.S`` holds in blocked mode: the point (X, Y) and the row log-sum-exp of the logits.

    S[j] = exp(Z[j] − lse[j]) with Z = A1 X A2ᵀ, recomputed one block of rows at a time.
    """

    X: Array
    Y: Array
    lse: Array


@blocked_call
def forward(problem: ProblemData, X: Array, Y: Array) -> Forward:
    """``Forward(RowSoftmax(X, Y, lse), None, R)`` for this process's rows, in one pass over them (no
    V = A3 Y, which nothing in this layout reads).

    Per block: the logits (their row maxima only where they could overflow), one ``exp`` and one
    product E [A3 | 1].
    """
    call = operands(problem, X, Y, want_V=False)

    def work(rows: slice) -> tuple[Array, Array]:
        blk = row_block(problem, call, rows, want_P=False, keep_E=False)
        return blk.lse, blk.R

    lse, R = map_rows(problem, work, "rr", call.left.shape[0], problem.block_rows)
    return Forward(RowSoftmax(X, Y, lse), call.V, R)


@blocked_call
def forward_and_grad(problem: ProblemData, X: Array, Y: Array,
                     lse: Array | None = None) -> tuple[Forward, tuple[Array, Array]]:
    """The forward pass and the gradients in one pass over the blocks: one ``exp`` per entry.

    Each block's softmax serves the row log-sum-exp, the residual and the gradient terms of
    :func:`grad_from` while it is in cache (every ``value_and_grad``, and ``grad`` at a fresh
    point, come here). ``lse``, the row log-sum-exp at X when known, spares each block its row
    maxima and sums.
    """
    call = operands(problem, X, Y, lse=lse, want_P=True)

    def work(rows: slice) -> tuple[Array, Array, Array, Array]:
        blk = row_block(problem, call, rows, want_P=True)
        return blk.lse, blk.R, *grad_terms(problem, call, blk)

    lse, R, U, T = map_rows(problem, work, "rrrs", call.left.shape[0], problem.block_rows, panel_k=call.V1.shape[1])
    return Forward(RowSoftmax(X, Y, lse), call.V, R), _reduced(problem, 2.0 * (problem.A1.T @ U), 2.0 * T)


@blocked_call
def grad_from(problem: ProblemData, fw: Forward) -> tuple[Array, Array]:
    """(∇_X L, ∇_Y L) from a forward pass: A1ᵀ (dZ A2) and 2 Σ (S A3)ᵀ R, per block (:func:`grad_terms`)."""
    soft, _, R = fw
    call = operands(problem, soft.X, soft.Y, lse=soft.lse, R=R, want_P=True)

    def work(rows: slice) -> tuple[Array, Array]:
        return grad_terms(problem, call, row_block(problem, call, rows, want_P=True))

    U, T = map_rows(problem, work, "rs", R.shape[0], problem.block_rows, panel_k=call.V1.shape[1])
    return _reduced(problem, 2.0 * (problem.A1.T @ U), 2.0 * T)


class KeptBlock(NamedTuple):
    """The direction-free part of the directional products at one iterate (:func:`hvp`, :func:`varpro_gn_product`)
    of a problem that is one block of rows, kept by the oracle for its next products
    (:class:`solvers.oracle.BlockedOracle`): the block, its softmax E an array of its own, c = rowsum(R ⊙ S V) and,
    for :func:`hvp`, G = R Vᵀ − c 1ᵀ (transposed, n×n; else ``None``; both ``None`` in the block that
    :func:`varpro_gn_product`'s two passes share without keeping it). A product from it makes no logits and no
    ``exp``: four n×n×d products instead of seven in a joint :func:`hvp`, four instead of six in
    :func:`varpro_gn_product`.
    """

    call: Call
    blk: Block
    c: Array | None
    G: Array | None


def kept_block(problem: ProblemData, call: Call, blk: Block, *, with_G: bool) -> KeptBlock:
    """The :class:`KeptBlock` of a call's one block ``blk`` (its E copied out of the scratch array)."""
    xp = problem.xp
    c = rowdot(xp, blk.R, blk.SV)
    G = call.V1 @ with_column(problem, blk.R, -c).T if with_G else None
    return KeptBlock(call, blk._replace(E=xp.asarray(blk.E, copy=True)), c, G)


@blocked_call
def hvp(problem: ProblemData, X: Array, Y: Array, dX: Array | None, dY: Array | None, fw: Forward | None = None,
        lse: Array | None = None, kept: KeptBlock | None = None,
        keep: bool = False) -> tuple[tuple[Array, Array | None], Forward, KeptBlock | None]:
    """Joint Hessian–vector product, blocked (see :func:`solvers.kernels.hvp` for the maths), the
    forward pass at (X, Y) and what it keeps: ``fw``, or computed in the same pass over the
    blocks when not given (``lse``, the row log-sum-exp at X when known, then spares the blocks their row maxima
    and sums); ``kept`` (:class:`KeptBlock`), when given, replaces the block's softmax and the products that do
    not depend on the direction; with ``keep``, where the problem is one block, the returned one holds them
    (else ``kept`` is returned as given, or ``None``).

    Per block, with H = S ⊙ ΔZ (ΔZ = A1 dX A2ᵀ) and m = rowsum(H), the softmax derivative is
    dS = H − m S; with P = S A3, dP = dS A3 = H A3 − m P and dR = dS V + S dV = dP Y + P dY:

        ½ d(dZ) = S ⊙ ((dR − m R) Vᵀ + R dVᵀ − (a − m c)) + H ⊙ (R Vᵀ − c),
        a = rowsum(dR ⊙ (SV + R)),  c = rowsum(R ⊙ SV),

    two n-wide products with the row constants folded in, two Hadamard products and one sum;
    hX = 2 A1ᵀ (½ d(dZ) A2), hY = 2 Σ (dPᵀ R + Pᵀ dR). Without ``dY``, H [V | 1] gives dS V and m
    and P is not needed.
    """
    xp = problem.xp
    A2 = problem.A2
    if kept is not None and dY is not None and kept.blk.P is None:  # kept without P: not enough for this product
        kept, keep = None, True
    lse, R = (lse, None) if fw is None else (fw.S.lse, fw.R)
    call = operands(problem, X, Y, lse=lse, R=R, want_P=dY is not None) if kept is None else kept.call
    dL = None if dX is None else problem.A1 @ dX
    right = call.V1 if dY is None else with_column(problem, xp.concat([call.V, problem.A3 @ dY], axis=1))
    keep = keep and kept is None and call.left.shape[0] <= problem.block_rows
    made: list[KeptBlock] = []

    def work(rows: slice) -> tuple[Array, ...]:
        if kept is not None:
            _, blk, c, G = kept
        elif keep:  # one block: what the next products read, kept
            made.append(kept_block(problem, call, row_block(problem, call, rows, want_P=dY is not None), with_G=True))
            _, blk, c, G = made[0]
        else:
            blk = row_block(problem, call, rows, want_P=dY is not None)
            c, G = (None if dL is None else rowdot(xp, blk.R, blk.SV)), None  # c: only the dX terms read it
        R, SV = blk.R, blk.SV
        dR = None if dY is None else blk.P @ dY
        H = m = dP = None
        if dL is not None:
            H = wide_product(problem, 1, A2, dL[rows, :].T)
            H *= blk.E
            both = per_row(((call.V1.T if dY is None else call.A31_t) @ H).T, blk.total)
            m = both[:, -1:]
            if dY is None:
                dR = both[:, :-1] - m * SV
            else:
                dP = both[:, :-1] - m * blk.P
                dR = dR + dP @ Y
        a = rowdot(xp, dR, SV + R)
        left = [dR, -a] if m is None else [dR - m * R, m * c - a]
        if dY is not None:
            left.insert(1, R)
        W = wide_product(problem, 2, right, xp.concat(left, axis=1).T)
        W *= blk.E
        if H is not None:
            H *= wide_product(problem, 3, call.V1, with_column(problem, R, -c).T) if G is None else G
            W += H
        T = None
        if dY is not None:
            T = blk.P.T @ dR if dP is None else blk.P.T @ dR + dP.T @ R
        U = per_row((problem.A2_t @ W).T, blk.total)
        return (U, T) if fw is not None else (U, T, blk.lse, R)

    parts = map_rows(problem, work, "rs" if fw is not None else "rsrr", call.left.shape[0], problem.block_rows,
                     panel_k=None if keep or kept is not None else call.V1.shape[1])  # panels keep no block
    if fw is None:
        fw = Forward(RowSoftmax(X, Y, parts[2]), call.V, parts[3])
    kept = made[0] if made else kept
    hX = 2.0 * (problem.A1.T @ parts[0])
    if dY is None:
        return (problem.backend.all_reduce(hX), None), fw, kept
    return _reduced(problem, hX, 2.0 * parts[1]), fw, kept


@blocked_call
def values_and_targets(problem: ProblemData, X: Array,
                       lse: Array | None = None) -> tuple[Array, Array, Array]:
    """P = softmax_rows(A1 X A2ᵀ) A3 and B, all n rows (n×d each), for the Y step's SVD, and the
    row log-sum-exp of the logits at X for this process's rows (``lse``, or computed here).

    P is built block by block (one ``exp`` per block, and with ``lse`` from a forward pass at X no
    row maxima or sums; the returned one spares the forward pass at (X, Y(X)) its row
    maxima and sums, since the logits depend on X alone). In a sharded run each process fills its rows of zero n×d
    arrays and one all-reduce of the pair (2·n·d numbers, once per Y step) gathers them, so
    every process solves the same least-squares problem.
    """
    xp = problem.xp
    call = operands(problem, X, None, lse=lse, want_P=True)

    def work(rows: slice) -> tuple[Array, Array]:
        _, _, block_lse, P = softmax_times(problem, call, rows, keep_E=False)
        return P, block_lse

    P, lse = map_rows(problem, work, "rr", call.left.shape[0], problem.block_rows)
    if problem.shard is None:
        return P, problem.B, lse
    d, before, after = problem.d, problem.rows.start, problem.n - problem.rows.stop
    pad = [xp.zeros((count, 2 * d), dtype=P.dtype, device=device_of(P)) for count in (before, after)]
    both = problem.backend.all_reduce(xp.concat([pad[0], xp.concat([P, problem.B], axis=1), pad[1]], axis=0))
    return both[:, :d], both[:, d:], lse


def _hessian_blocks(problem: ProblemData, X: Array, Y: Array, A1: Array,
                    B: Array) -> Iterator[tuple[slice, Array, Array, Array]]:
    """``(rows, S, R, S V)`` for the blocks of :attr:`Problem.hessian_block_rows` rows of ``A1``/``B``
    (few, large: their row terms need b×n×d² products), one at a time, S normalised."""
    call = operands(problem, X, Y, A1=A1, want_P=True, want_V=False)
    for rows in row_slices(A1.shape[0], problem.hessian_block_rows):
        E, total, _, P = softmax_times(problem, call, rows)
        E /= total.T
        SV = P @ Y
        yield rows, E.T, SV - B[rows, :], SV


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
    H = None
    for block, S, R, SV in _hessian_blocks(problem, X, Y, A1, B):
        terms = hessian_x_terms(problem, S, V, R, SV, A1[block, :], gauss_newton=gauss_newton,
                                weights=None if scale is None else scale[block])
        H = terms if H is None else H + terms  # one block (n ≤ the budget's rows): no d⁴ zeros and sum
    return problem.backend.all_reduce(_zeros(problem, d * d, d * d) if H is None else H)


def joint_terms(problem: ProblemData, X: Array, Y: Array, *, gauss_newton: bool = False) -> JointTerms:
    """The joint Hessian's row terms summed block by block (one all-reduce of them)."""
    xp = problem.xp
    d = problem.d
    V = problem.A3 @ Y
    total = None
    for block, S, R, SV in _hessian_blocks(problem, X, Y, problem.A1, problem.B):
        terms = joint_hessian_terms(problem, S, V, R, SV, problem.A1[block, :], gauss_newton=gauss_newton)
        total = terms if total is None else JointTerms(*(a + b for a, b in zip(total, terms)))  # one block: no sum
    if total is None:  # a shard with no rows
        total = JointTerms(_zeros(problem, d * d, d * d), _zeros(problem, d * d, d * d), _zeros(problem, d, d))
    flat = problem.backend.all_reduce(xp.concat([xp.reshape(part, (-1,)) for part in total]))  # one collective
    size = d ** 4
    return JointTerms(xp.reshape(flat[:size], (d * d, d * d)), xp.reshape(flat[size:2 * size], (d * d, d * d)),
                      xp.reshape(flat[2 * size:], (d, d)))


def varpro_gauss_newton(problem: ProblemData, X: Array, Y: Array, Q: Array) -> Array:
    """H_GN − 2 MᵀM (:func:`solvers.kernels.varpro_gauss_newton`) from row terms summed block by
    block; ``Q`` holds this process's rows of the range basis."""
    xp = problem.xp
    d = problem.d
    V = problem.A3 @ Y
    H, M = _zeros(problem, d * d, d * d), _zeros(problem, d * d, d * d)
    for block, S, _, SV in _hessian_blocks(problem, X, Y, problem.A1, problem.B):
        H_part, M_part = varpro_terms(problem, S, V, SV, problem.A1[block, :], Q[block, :])
        H, M = H + H_part, M + M_part
    both = problem.backend.all_reduce(xp.stack([H, M]))
    return both[0, ...] - 2.0 * (both[1, ...].T @ both[1, ...])


@blocked_call
def varpro_gn_product(problem: ProblemData, fw: Forward, Q: Array, D: Array, kept: KeptBlock | None = None,
                      keep: bool = False) -> tuple[Array, KeptBlock | None]:
    """2 J_Kᵀ (I − QQᵀ)(JD V) in two passes over the blocks (``Q``: this process's rows of the basis), and what it
    keeps (``kept``, ``keep``: as in :func:`hvp`).

    Pass one forms W = dS V per block, dS the softmax derivative along A1 D A2ᵀ, from
    H = S ⊙ ΔZ and H [V | 1] (dS V = H V − rowsum(H) S V); the projection takes one all-reduce
    of QᵀW (d×d); pass two applies J_Kᵀ. Each pass recomputes a block of S from the row
    log-sum-exp (one ``exp``), except where the problem is one block: then both read the same.
    """
    xp = problem.xp
    soft, _, R = fw
    A2 = problem.A2
    call = operands(problem, soft.X, soft.Y, lse=soft.lse, R=R) if kept is None else kept.call
    dL = problem.A1 @ D
    shared = kept
    if kept is None and R.shape[0] <= problem.block_rows:  # one block: made once (its E in a scratch array
        blk = row_block(problem, call, slice(0, R.shape[0]), want_P=False)  # that neither pass writes), or kept
        shared = kept_block(problem, call, blk, with_G=False) if keep else KeptBlock(call, blk, None, None)
        kept = shared if keep else None

    def block(rows: slice) -> Block:
        return row_block(problem, call, rows, want_P=False) if shared is None else shared.blk

    def directional(rows: slice) -> tuple[Array]:
        blk = block(rows)
        H = wide_product(problem, 1, A2, dL[rows, :].T)
        H *= blk.E
        both = (call.V1.T @ H).T
        return (both[:, :-1] - both[:, -1:] * blk.SV,)

    (W,) = map_rows(problem, directional, "r", R.shape[0], problem.block_rows)
    W = W - Q @ problem.backend.all_reduce(Q.T @ W)

    def transposed(rows: slice) -> tuple[Array]:
        blk = block(rows)
        U = wide_product(problem, 2, call.V1, with_column(problem, W[rows, :], -rowdot(xp, W[rows, :], blk.SV)).T)
        U *= blk.E
        return ((problem.A2_t @ U).T,)

    (U,) = map_rows(problem, transposed, "r", R.shape[0], problem.block_rows)
    return problem.backend.all_reduce(2.0 * (problem.A1.T @ U)), kept


def _reduced(problem: ProblemData, first: Array, second: Array) -> tuple[Array, Array]:
    """All-reduce two d×d partials in one collective."""
    xp = problem.xp
    both = problem.backend.all_reduce(xp.stack([first, second]))
    return both[0, ...], both[1, ...]

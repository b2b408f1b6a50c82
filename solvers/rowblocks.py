"""Row-blocked oracles: the maths of :mod:`solvers.kernels` without ever holding the n×n softmax.

Row j of S = softmax_rows(A1 X A2ᵀ) depends only on row j of A1 (and on all of A2), and every
quantity the solvers need is a sum over rows, or a stack of rows (docs/maths.md §2–§5): the loss, the
gradients, the Hessian–vector products, the X-Hessian's C_j terms and the Y step's P = S A3. Each
function here walks the problem's rows in blocks of ``problem.block_rows`` (b×n memory per
temporary, FlashAttention's idea), does all of a block's n-wide elementwise work while the
block is in cache, and keeps only n×d or d×d partial sums.

**Fused elementwise work.** Each block touches its n-wide arrays as few times as the maths allows,
with one ``exp`` per entry per oracle call:

* the softmax is never normalised entry by entry: a block keeps E = exp(Z − shift) and its row
  sums, which come out of the product E [M | 1] (one more column, no pass), and the d-wide
  results are divided by them instead (docs/maths.md §2: every use of S is a product or a
  Hadamard factor);
* a row constant subtracted from an n-wide product is folded into it, [R | −c] [V | 1]ᵀ =
  R Vᵀ − c 1ᵀ, and the logits shifted by a known row log-sum-exp are [A1 X | −lse] [A2 | 1]ᵀ,
  whose ``exp`` is the softmax itself;
* the row sums of n-wide products are taken through their rank-d factors (rowsum(S ⊙ R Vᵀ) =
  rowsum(R ⊙ S V)), and the softmax derivative dS = S ⊙ (ΔZ − rowsum(S ⊙ ΔZ)) enters only
  as H = S ⊙ ΔZ and its row sums (dS = H − m S), so a Hessian–vector product makes two
  n-wide Hadamard products and one sum per block;
* the forward pass runs inside the gradient and the Hessian–vector product when the oracle does
  not have it yet (:func:`forward_and_grad`, :func:`hvp` without ``fw``): one pass per call.

On NumPy the ``exp`` overwrites its block (the backend's ``exp_inplace``); elsewhere it is
``xp.exp``, so torch autograd (the peers) still differentiates :func:`forward`.

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


class _Call(NamedTuple):
    """The operands of one oracle call, built once (O(n·d) each) and read by every block.

    left, right : the factors of the logits Z = left rightᵀ, A1 X and A2; with a known row
        log-sum-exp, [A1 X | −lse] and [A2 | 1], whose product is Z − lse
    shifted : whether ``left`` carries −lse (a block's ``exp`` is then the softmax itself)
    bounded : whether every logit is small enough for exp(Z) to need no shift (:func:`_bounded`)
    Y, V : Y and A3 Y (``None`` for the Y step, which has no Y yet)
    V1 : [V | 1] (n×(d+1)): a product with it also gives row sums, one with its transpose
        subtracts a row constant
    A31 : [A3 | 1], or ``None`` when the call needs no P = S A3
    R : (m, d) the forward pass's residual when known, else ``None``
    """

    left: Array
    right: Array
    shifted: bool
    bounded: bool
    Y: Array | None
    V: Array | None
    V1: Array | None
    A31: Array | None
    R: Array | None


def _with_column(problem: ProblemData, M: Array, column: Array | None = None) -> Array:
    """[M | column] (``column``: rows×1; default ones)."""
    xp = problem.xp
    if column is None:
        column = xp.ones((M.shape[0], 1), dtype=M.dtype, device=device_of(M))
    return xp.concat([M, column], axis=1)


def _call(problem: ProblemData, X: Array, Y: Array | None, *, lse: Array | None = None, R: Array | None = None,
          A1: Array | None = None, want_P: bool = False) -> _Call:
    """The operands of a call at (X, Y) over the rows of ``A1`` (default: this process's rows);
    ``want_P``: its blocks form P = S A3."""
    L = (problem.A1 if A1 is None else A1) @ X
    V = None if Y is None else problem.A3 @ Y
    V1 = None if V is None else _with_column(problem, V)
    A31 = _with_column(problem, problem.A3) if want_P else None
    if lse is None:
        return _Call(L, problem.A2, False, _bounded(problem, L), Y, V, V1, A31, R)
    return _Call(_with_column(problem, L, -lse), _with_column(problem, problem.A2), True, False, Y, V, V1, A31, R)


#: Largest |logit| for which exp(Z) is used unshifted: half the exponent range, so that neither
#: exp(±Z) nor a row sum of n < e^300 (float64) or e^40 (float32) such terms leaves it.
UNSHIFTED_LIMIT = {"float64": 354.0, "float32": 44.0}


def _bounded(problem: ProblemData, L: Array) -> bool:
    """Whether |Z_ji| ≤ ‖L_j‖ · max_i ‖A2_i‖ ≤ :data:`UNSHIFTED_LIMIT` for every logit of Z = L A2ᵀ.

    Then the softmax needs no row maxima (softmax_rows is shift-invariant, and nothing
    overflows or underflows): a block saves two passes. Asked only where the backend
    overwrites blocks in place (NumPy's ``exp_inplace``), whose arrays are on the host; elsewhere
    the answer would cost a device synchronisation, and torch's functional transforms (the
    autograd peers) cannot branch on data, so the row maxima are taken.
    """
    if getattr(problem.backend, "exp_inplace", None) is None:
        return False
    xp = problem.xp
    squared = float(xp.max(xp.vecdot(L, L))) * float(xp.max(xp.vecdot(problem.A2, problem.A2)))
    return squared <= UNSHIFTED_LIMIT[problem.dtype] ** 2


def _wide(problem: ProblemData, slot: int, a: Array, b: Array) -> Array:
    """``a @ b`` for an n-wide temporary that dies with its block: in the backend's scratch array
    ``slot`` where it keeps them (NumPy's ``product_into``), else freshly allocated."""
    into = getattr(problem.backend, "product_into", None)
    return a @ b if into is None else into(slot, a, b)


def _exp(problem: ProblemData, Z: Array, shift: Array | None = None) -> Array:
    """exp(Z − shift) (``shift`` broadcast; ``None``: 0), overwriting ``Z`` where the backend can (NumPy)."""
    inplace = getattr(problem.backend, "exp_inplace", None)
    if inplace is not None:
        return inplace(Z, shift)
    return problem.xp.exp(Z if shift is None else Z - shift)


class _Block(NamedTuple):
    """One block of rows at (X, Y).

    E : (n, b) the block's softmax, transposed, times ``total`` (the softmax itself when ``total`` is ``None``)
    total : (b, 1) row sums of E, or ``None``
    lse : (b, 1) row log-sum-exp of the logits
    P : (b, d) S A3 (when asked for)
    SV : (b, d) S V = P Y
    R : (b, d) SV − B
    """

    E: Array
    total: Array | None
    lse: Array
    P: Array | None
    SV: Array
    R: Array


def _softmax_times(problem: ProblemData, call: _Call, rows: slice, M1: Array) -> tuple[Array, Array | None, Array, Array]:
    """``(E, total, lse, S M)`` for a block of rows, ``M1`` = [M | 1] (n×(k+1)); E transposed (n×b).

    With the row log-sum-exp known the logits arrive shifted and E is the softmax (one ``exp``,
    no row maxima or sums); without, E = exp(Z − rowmax) and E [M | 1] gives E M and the row sums.
    """
    xp = problem.xp
    Z = _wide(problem, 0, call.right, call.left[rows, :].T)
    if call.shifted:
        E = _exp(problem, Z)
        return E, None, -call.left[rows, -1:], (M1[:, :-1].T @ E).T
    top = None if call.bounded else xp.max(Z, axis=0, keepdims=True)
    E = _exp(problem, Z, top)
    both = (M1.T @ E).T
    total = both[:, -1:]
    lse = xp.log(total)
    return E, total, lse if top is None else top.T + lse, both[:, :-1] / total


def _block(problem: ProblemData, call: _Call, rows: slice, *, want_P: bool) -> _Block:
    """A block's softmax, P = S A3 (``want_P``), S V and residual: one n-wide product besides the logits.

    When the residual is known (``call.R``) and P is not wanted, S V = R + B costs nothing.
    """
    B = problem.B[rows, :]
    if call.R is not None and not want_P:
        Z = _wide(problem, 0, call.right, call.left[rows, :].T)  # the forward pass gave the log-sum-exp with R: shifted
        R = call.R[rows, :]
        return _Block(_exp(problem, Z), None, -call.left[rows, -1:], None, R + B, R)
    E, total, lse, product = _softmax_times(problem, call, rows, call.A31 if want_P else call.V1)
    P = product if want_P else None
    if call.R is not None:
        R = call.R[rows, :]
        return _Block(E, total, lse, P, R + B, R)
    SV = product @ call.Y if want_P else product
    return _Block(E, total, lse, P, SV, SV - B)


def _per_row(partial: Array, total: Array | None) -> Array:
    """A block's d-wide result of a product with E, divided by E's row sums (the softmax's normaliser)."""
    return partial if total is None else partial / total


def _grad_terms(problem: ProblemData, call: _Call, blk: _Block) -> tuple[Array, Array]:
    """A block's gradient partials: ½ dZ A2 = (S ⊙ (R Vᵀ − rowsum(R ⊙ S V))) A2 for its rows, and Pᵀ R.

    Two n-wide products and one Hadamard product: the row sums are folded into [R | −c] [V | 1]ᵀ.
    """
    W = _wide(problem, 2, call.V1, _with_column(problem, blk.R, -_rowdot(problem.xp, blk.R, blk.SV)).T)
    W *= blk.E
    return _per_row((problem.A2.T @ W).T, blk.total), blk.P.T @ blk.R


#: Groups of consecutive blocks handed to the backend at once (each sums its blocks' partials).
GROUPS = 8


def _slices(m: int, b: int) -> list[slice]:
    return [slice(start, min(start + b, m)) for start in range(0, m, b)]


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
    """Row-wise dot products of two b×d arrays, as a b×1 column (``vecdot``: no b×d temporary)."""
    return xp.vecdot(a, b)[:, None]


def forward(problem: ProblemData, X: Array, Y: Array) -> Forward:
    """``Forward(RowSoftmax(X, Y, lse), V, R)`` for this process's rows, in one pass over them.

    Per block: the logits, their row maxima, one ``exp`` and one product E [V | 1].
    """
    call = _call(problem, X, Y)

    def work(rows: slice) -> tuple[Array, Array]:
        blk = _block(problem, call, rows, want_P=False)
        return blk.lse, blk.R

    lse, R = _map(problem, work, "rr", call.left.shape[0], problem.block_rows)
    return Forward(RowSoftmax(X, Y, lse), call.V, R)


def forward_and_grad(problem: ProblemData, X: Array, Y: Array,
                     lse: Array | None = None) -> tuple[Forward, tuple[Array, Array]]:
    """The forward pass and the gradients in one pass over the blocks: one ``exp`` per entry.

    Each block's softmax serves the row log-sum-exp, the residual and the gradient terms of
    :func:`grad_from` while it is in cache (every ``value_and_grad``, and ``grad`` at a fresh
    point, come here). ``lse``, the row log-sum-exp at X when known, spares each block its row
    maxima and sums.
    """
    call = _call(problem, X, Y, lse=lse, want_P=True)

    def work(rows: slice) -> tuple[Array, Array, Array, Array]:
        blk = _block(problem, call, rows, want_P=True)
        return blk.lse, blk.R, *_grad_terms(problem, call, blk)

    lse, R, U, T = _map(problem, work, "rrrs", call.left.shape[0], problem.block_rows)
    return Forward(RowSoftmax(X, Y, lse), call.V, R), _reduced(problem, 2.0 * (problem.A1.T @ U), 2.0 * T)


def grad_from(problem: ProblemData, fw: Forward) -> tuple[Array, Array]:
    """(∇_X L, ∇_Y L) from a forward pass: A1ᵀ (dZ A2) and 2 Σ (S A3)ᵀ R, per block (:func:`_grad_terms`)."""
    soft, _, R = fw
    call = _call(problem, soft.X, soft.Y, lse=soft.lse, R=R, want_P=True)

    def work(rows: slice) -> tuple[Array, Array]:
        return _grad_terms(problem, call, _block(problem, call, rows, want_P=True))

    U, T = _map(problem, work, "rs", R.shape[0], problem.block_rows)
    return _reduced(problem, 2.0 * (problem.A1.T @ U), 2.0 * T)


def hvp(problem: ProblemData, X: Array, Y: Array, dX: Array | None, dY: Array | None, fw: Forward | None = None,
        lse: Array | None = None) -> tuple[tuple[Array, Array | None], Forward]:
    """Joint Hessian–vector product, blocked (see :func:`solvers.kernels.hvp` for the maths), and the
    forward pass at (X, Y): ``fw``, or computed in the same pass over the blocks when not given
    (``lse``, the row log-sum-exp at X when known, then spares the blocks their row maxima and sums).

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
    lse, R = (lse, None) if fw is None else (fw.S.lse, fw.R)
    call = _call(problem, X, Y, lse=lse, R=R, want_P=dY is not None)
    dL = None if dX is None else problem.A1 @ dX
    right = call.V1 if dY is None else _with_column(problem, xp.concat([call.V, problem.A3 @ dY], axis=1))

    def work(rows: slice) -> tuple[Array, ...]:
        blk = _block(problem, call, rows, want_P=dY is not None)
        R, SV = blk.R, blk.SV
        dR = None if dY is None else blk.P @ dY
        H = m = dP = None
        if dL is not None:
            H = _wide(problem, 1, A2, dL[rows, :].T)
            H *= blk.E
            both = _per_row(((call.V1 if dY is None else call.A31).T @ H).T, blk.total)
            m = both[:, -1:]
            if dY is None:
                dR = both[:, :-1] - m * SV
            else:
                dP = both[:, :-1] - m * blk.P
                dR = dR + dP @ Y
        a = _rowdot(xp, dR, SV + R)
        c = None if m is None else _rowdot(xp, R, SV)
        left = [dR, -a] if m is None else [dR - m * R, m * c - a]
        if dY is not None:
            left.insert(1, R)
        W = _wide(problem, 2, right, xp.concat(left, axis=1).T)
        W *= blk.E
        if H is not None:
            W2 = _wide(problem, 3, call.V1, _with_column(problem, R, -c).T)
            W2 *= H
            W += W2
        T = None
        if dY is not None:
            T = blk.P.T @ dR if dP is None else blk.P.T @ dR + dP.T @ R
        U = _per_row((A2.T @ W).T, blk.total)
        return (U, T) if fw is not None else (U, T, blk.lse, R)

    parts = _map(problem, work, "rs" if fw is not None else "rsrr", call.left.shape[0], problem.block_rows)
    if fw is None:
        fw = Forward(RowSoftmax(X, Y, parts[2]), call.V, parts[3])
    hX = 2.0 * (problem.A1.T @ parts[0])
    if dY is None:
        return (problem.backend.all_reduce(hX), None), fw
    return _reduced(problem, hX, 2.0 * parts[1]), fw


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
    call = _call(problem, X, None, lse=lse, want_P=True)

    def work(rows: slice) -> tuple[Array, Array]:
        _, _, block_lse, P = _softmax_times(problem, call, rows, call.A31)
        return P, block_lse

    P, lse = _map(problem, work, "rr", call.left.shape[0], problem.block_rows)
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
    call = _call(problem, X, Y, A1=A1, want_P=True)
    for rows in _slices(A1.shape[0], problem.hessian_block_rows):
        E, total, _, P = _softmax_times(problem, call, rows, call.A31)
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
    H = _zeros(problem, d * d, d * d)
    for block, S, R, SV in _hessian_blocks(problem, X, Y, A1, B):
        H = H + hessian_x_terms(problem, S, V, R, SV, A1[block, :], gauss_newton=gauss_newton,
                                weights=None if scale is None else scale[block])
    return problem.backend.all_reduce(H)


def hessian_joint(problem: ProblemData, X: Array, Y: Array, *, gauss_newton: bool = False) -> Array:
    """The joint 2d²×2d² Hessian from its row terms summed block by block (one all-reduce of them)."""
    xp = problem.xp
    d = problem.d
    V = problem.A3 @ Y
    total = JointTerms(_zeros(problem, d * d, d * d), _zeros(problem, d * d, d * d), _zeros(problem, d, d))
    for block, S, R, SV in _hessian_blocks(problem, X, Y, problem.A1, problem.B):
        terms = joint_hessian_terms(problem, S, V, R, SV, problem.A1[block, :], gauss_newton=gauss_newton)
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
    for block, S, _, SV in _hessian_blocks(problem, X, Y, problem.A1, problem.B):
        H_part, M_part = varpro_terms(problem, S, V, SV, problem.A1[block, :], Q[block, :])
        H, M = H + H_part, M + M_part
    both = problem.backend.all_reduce(xp.stack([H, M]))
    return both[0, ...] - 2.0 * (both[1, ...].T @ both[1, ...])


def varpro_gn_product(problem: ProblemData, fw: Forward, Q: Array, D: Array) -> Array:
    """2 J_Kᵀ (I − QQᵀ)(JD V) in two passes over the blocks (``Q``: this process's rows of the basis).

    Pass one forms W = dS V per block, dS the softmax derivative along A1 D A2ᵀ, from
    H = S ⊙ ΔZ and H [V | 1] (dS V = H V − rowsum(H) S V); the projection takes one all-reduce
    of QᵀW (d×d); pass two applies J_Kᵀ. Each pass recomputes a block of S from the row
    log-sum-exp (one ``exp``).
    """
    xp = problem.xp
    soft, _, R = fw
    A2 = problem.A2
    call = _call(problem, soft.X, soft.Y, lse=soft.lse, R=R)
    dL = problem.A1 @ D

    def directional(rows: slice) -> tuple[Array]:
        blk = _block(problem, call, rows, want_P=False)
        H = _wide(problem, 1, A2, dL[rows, :].T)
        H *= blk.E
        both = (call.V1.T @ H).T
        return (both[:, :-1] - both[:, -1:] * blk.SV,)

    (W,) = _map(problem, directional, "r", R.shape[0], problem.block_rows)
    W = W - Q @ problem.backend.all_reduce(Q.T @ W)

    def transposed(rows: slice) -> tuple[Array]:
        blk = _block(problem, call, rows, want_P=False)
        U = _wide(problem, 2, call.V1, _with_column(problem, W[rows, :], -_rowdot(xp, W[rows, :], blk.SV)).T)
        U *= blk.E
        return ((A2.T @ U).T,)

    (U,) = _map(problem, transposed, "r", R.shape[0], problem.block_rows)
    return problem.backend.all_reduce(2.0 * (problem.A1.T @ U))


def _reduced(problem: ProblemData, first: Array, second: Array) -> tuple[Array, Array]:
    """All-reduce two d×d partials in one collective."""
    xp = problem.xp
    both = problem.backend.all_reduce(xp.stack([first, second]))
    return both[0, ...], both[1, ...]

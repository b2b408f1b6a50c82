"""The fused work of one row block, shared by the row-blocked oracles (:mod:`solvers.rowblocks`).

A call's operands are built once (:func:`operands`); each block of rows then touches its
n-wide arrays as few times as the maths allows (docs/maths.md §2–§5), with one ``exp`` per
entry per oracle call (none for the directional products at an iterate whose oracle kept its one block,
:class:`solvers.rowblocks.KeptBlock`):

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
  not have it yet (:func:`solvers.rowblocks.forward_and_grad`, :func:`solvers.rowblocks.hvp`
  without ``fw``): one pass per call;
* where a caller reads no E afterwards (the forward pass alone, the Y step's P), a backend's own
  ``exp_products`` may make and use it (NumPy: in base 2, and in narrower panels on one BLAS thread,
  :meth:`solvers.backends.numpy.NumpyBackend.exp_products`); where it does (the gradient, the
  Hessian–vector products at a fresh point), its ``panel_rows`` may have the call's rows run as
  blocks of that width, in turn (:func:`map_rows`).

On the host (NumPy, torch on the CPU) the ``exp`` overwrites its block (the backend's
``exp_inplace``) and the n-wide temporaries reuse per-thread scratch arrays (``product_into``);
elsewhere, and wherever torch autograd traces the arrays (the autograd peers differentiate
:func:`solvers.rowblocks.forward`), they are ``xp.exp`` and fresh products.

The blocks are held transposed (n×b: the logits as A2 Lᵀ, products with an n×k matrix M as
(Mᵀ Eᵀ)ᵀ), the orientation in which OpenBLAS runs these shapes fastest here (torch's ``product_into``
stores them column-major: MKL's GEMM is at par only in that order). :func:`map_rows`
hands groups of blocks to the backend (``map_blocks``: every core on NumPy).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from .backends import device_of
from .rowterms import ProblemData, fused, has_kernel, traced

Array = Any


class Call(NamedTuple):
    """The operands of one oracle call, built once (O(n·d) each) and read by every block.

    left, right : the factors of the logits Z = left rightᵀ, A1 X and A2; with a known row
        log-sum-exp, [A1 X | −lse] and [A2 | 1], whose product is Z − lse
    shifted : whether ``left`` carries −lse (a block's ``exp`` is then the softmax itself)
    bounded : whether every logit is small enough for exp(Z) to need no shift (:func:`logits_bounded`)
    Y, V : Y and A3 Y (``None`` for the Y step, which has no Y yet; V also where the call reads none)
    V1 : [V | 1] (n×(d+1)): a product with its transpose also gives row sums, one with it
        subtracts a row constant
    A31_t : [A3 | 1]ᵀ (``problem.A3_1_t``), or ``None`` when the call needs no P = S A3 (its residual known, P
        not asked for)
    R : (m, d) the forward pass's residual when known, else ``None``

    The blocks' products that sum over the n columns of a block take the transposed operands the problem holds
    in their own order (``A31_t``, ``problem.A2_t``): OpenBLAS runs them 2–8 % faster so. [V | 1], made per call,
    is taken transposed: its C-ordered copy would cost an n·d² product for a 2 % faster one.
    """

    left: Array
    right: Array
    shifted: bool
    bounded: bool
    Y: Array | None
    V: Array | None
    V1: Array | None
    A31_t: Array | None
    R: Array | None


def with_column(problem: ProblemData, M: Array, column: Array | None = None) -> Array:
    """[M | column] (``column``: rows×1; default ones)."""
    xp = problem.xp
    if column is None:
        column = xp.ones((M.shape[0], 1), dtype=M.dtype, device=device_of(M))
    return xp.concat([M, column], axis=1)


def operands(problem: ProblemData, X: Array, Y: Array | None, *, lse: Array | None = None, R: Array | None = None,
          A1: Array | None = None, want_P: bool = False, want_V: bool = True) -> Call:
    """The operands of a call at (X, Y) over the rows of ``A1`` (default: this process's rows);
    ``want_P``: its blocks form P = S A3; ``want_V``: they read V = A3 Y (an n·d² product the
    forward pass alone does not need: it forms S V as (S A3) Y)."""
    L = (problem.A1 if A1 is None else A1) @ X
    V = None if Y is None or not want_V else problem.A3 @ Y
    V1 = None if V is None else with_column(problem, V)
    A31_t = problem.A3_1_t if want_P or R is None else None
    if lse is None:
        return Call(L, problem.A2, False, logits_bounded(problem, X, L), Y, V, V1, A31_t, R)
    return Call(with_column(problem, L, -lse), problem.A2_1, True, False, Y, V, V1, A31_t, R)


#: Largest |logit| for which exp(Z) is used unshifted: half the exponent range, so that neither
#: exp(±Z) nor a row sum of n < e^300 (float64) or e^40 (float32) such terms leaves it.
UNSHIFTED_LIMIT = {"float64": 354.0, "float32": 44.0}


def logits_bounded(problem: ProblemData, X: Array, L: Array) -> bool:
    """Whether |Z_ji| ≤ ‖L_j‖ · max_i ‖A2_i‖ ≤ :data:`UNSHIFTED_LIMIT` for every logit of Z = L A2ᵀ (L = A1 X,
    the rows of A1 among the problem's).

    Then the softmax needs no row maxima (softmax_rows is shift-invariant, and nothing
    overflows or underflows): a block saves two passes. Asked only where the backend
    overwrites blocks in place (``exp_inplace``: NumPy, torch on the CPU), whose arrays are on the
    host, and not where autograd traces ``L`` (torch's functional transforms, as the autograd
    peers use them, cannot branch on data); elsewhere the answer would cost a device
    synchronisation, so the row maxima are taken. ‖L_j‖ ≤ max_j ‖A1_j‖ · ‖X‖_F answers first from
    the d×d X alone; only where that bound is above the limit are the n row norms of L read (the
    same answer either way where the first test passes, since it bounds the second).
    """
    if not has_kernel(problem, "exp_inplace") or traced(problem, L):
        return False
    xp = problem.xp
    limit, outer = UNSHIFTED_LIMIT[problem.dtype] ** 2, problem.A2_max_row_norm2
    flat = xp.reshape(X, (-1,))
    if float(xp.vecdot(flat, flat)) * problem.A1_max_row_norm2 * outer <= limit:
        return True
    return float(xp.max(xp.vecdot(L, L))) * outer <= limit


def wide_product(problem: ProblemData, slot: int, a: Array, b: Array) -> Array:
    """``a @ b`` for an n-wide temporary that dies with its block: in the backend's scratch array
    ``slot`` where it keeps them (NumPy's ``product_into``), else freshly allocated."""
    return fused(problem, "product_into")(slot, a, b)


def exp_into(problem: ProblemData, Z: Array, shift: Array | None = None) -> Array:
    """exp(Z − shift) (``shift`` broadcast; ``None``: 0), overwriting ``Z`` where the backend can (NumPy)."""
    return fused(problem, "exp_inplace")(Z, shift)


class Block(NamedTuple):
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


def softmax_times(problem: ProblemData, call: Call, rows: slice, *,
                  keep_E: bool = True) -> tuple[Array | None, Array | None, Array, Array]:
    """``(E, total, lse, P)`` for a block of rows, P = S A3; E transposed (n×b).

    With the row log-sum-exp known the logits arrive shifted and E is the softmax (one ``exp``,
    no row maxima or sums); without, E = exp(Z − rowmax) and E [A3 | 1] gives E A3 and the row sums.
    Without ``keep_E`` (a caller that reads only P and the row statistics) a backend with its own
    ``exp_products`` (NumPy) may make and use E itself (in cache-sized panels where they pay; E is then ``None``).
    """
    xp = problem.xp
    k = -1 if call.shifted else None  # the shifted logits' E needs no row sums
    kernel = None if keep_E else getattr(problem.backend, "exp_products", None)
    made = None if kernel is None else kernel(call.right, call.left[rows, :], call.A31_t[:k, :],
                                              not (call.shifted or call.bounded))
    if made is not None:
        (products, top), E = made, None
    else:
        Z = wide_product(problem, 0, call.right, call.left[rows, :].T)
        top = None if call.shifted or call.bounded else xp.max(Z, axis=0, keepdims=True)
        E = exp_into(problem, Z, top)
        products = call.A31_t[:k, :] @ E
    if call.shifted:
        return E, None, -call.left[rows, -1:], products.T
    both = products.T
    total = both[:, -1:]
    lse = xp.log(total)
    return E, total, lse if top is None else top.T + lse, both[:, :-1] / total


def row_block(problem: ProblemData, call: Call, rows: slice, *, want_P: bool, keep_E: bool = True) -> Block:
    """A block's softmax, P = S A3, S V = P Y and residual: one n-wide product besides the logits.

    When the residual is known (``call.R``) and P is not wanted, S V = R + B and no product is made.
    Without ``keep_E`` the block's E may be ``None`` (:func:`softmax_times`).
    """
    B = problem.B[rows, :]
    if call.R is not None and not want_P:
        Z = wide_product(problem, 0, call.right, call.left[rows, :].T)  # the forward pass gave the log-sum-exp with R: shifted
        R = call.R[rows, :]
        return Block(exp_into(problem, Z), None, -call.left[rows, -1:], None, R + B, R)
    E, total, lse, P = softmax_times(problem, call, rows, keep_E=keep_E)
    if call.R is not None:
        R = call.R[rows, :]
        return Block(E, total, lse, P, R + B, R)
    SV = P @ call.Y  # (S A3) Y in every oracle: the losses of the paths differ only as their softmaxes round
    return Block(E, total, lse, P, SV, SV - B)


def per_row(partial: Array, total: Array | None) -> Array:
    """A block's d-wide result of a product with E, divided by E's row sums (the softmax's normaliser)."""
    return partial if total is None else partial / total


def grad_terms(problem: ProblemData, call: Call, blk: Block) -> tuple[Array, Array]:
    """A block's gradient partials: ½ dZ A2 = (S ⊙ (R Vᵀ − rowsum(R ⊙ S V))) A2 for its rows, and Pᵀ R.

    Two n-wide products and one Hadamard product: the row sums are folded into [R | −c] [V | 1]ᵀ.
    """
    W = wide_product(problem, 2, call.V1, with_column(problem, blk.R, -rowdot(problem.xp, blk.R, blk.SV)).T)
    W *= blk.E
    return per_row((problem.A2_t @ W).T, blk.total), blk.P.T @ blk.R


#: Groups of consecutive blocks handed to the backend at once (each sums its blocks' partials).
GROUPS = 8


def blocked_call(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function(problem, ...)``, a row-blocked oracle, run in its backend's ``blocked_call`` context
    (where it has one: NumPy keeps BLAS on one thread for a call whose blocks go to worker threads)."""

    @functools.wraps(function)
    def call(problem: ProblemData, *args: Any, **kwargs: Any) -> Any:
        scope = getattr(problem.backend, "blocked_call", None)
        rows = problem.rows.stop - problem.rows.start
        if scope is None or rows <= problem.block_rows:  # one block: nothing to share out
            return function(problem, *args, **kwargs)
        with scope(-(-rows // problem.block_rows)):
            return function(problem, *args, **kwargs)

    return call


def row_slices(m: int, b: int) -> list[slice]:
    """Consecutive blocks of ``b`` of ``m`` rows (the last one shorter)."""
    return [slice(start, min(start + b, m)) for start in range(0, m, b)]


def map_rows(problem: ProblemData, work: Callable[[slice], tuple[Any, ...]], kinds: str, rows: int, b: int, *,
             panel_k: int | None = None) -> list[Any]:
    """Run ``work`` on every block of ``b`` of the first ``rows`` rows and combine its outputs.

    ``kinds`` has one letter per output of ``work``: ``"r"`` for a block of rows (concatenated
    in order) and ``"s"`` for a partial sum (added; ``None`` counts as zero). Blocks go to the
    backend in :data:`GROUPS` groups (which it may run concurrently), each of which adds its
    partials as it goes, so no more than a group's d×d partials are ever held. A ``"r"`` output must
    be an array of its own (not a view of a scratch buffer, :func:`wide_product`): where all rows are
    one block it is returned as it is.

    ``panel_k``, the widest thin operand of the blocks' n-wide products, lets a backend with ``panel_rows``
    (NumPy on one BLAS thread) have the rows run in turn, here, in panels of the rows it gives instead:
    blocks whose n-wide work stays in cache and whose products its BLAS makes without packing.
    """
    panels = getattr(problem.backend, "panel_rows", None) if panel_k is not None else None
    width = None if panels is None else panels(problem.n, panel_k, rows)
    if width is not None:
        return _combined(problem, kinds, [_accumulated(work, kinds, row_slices(rows, width))])
    if rows <= b:  # one block, run here: its outputs as they are, without the groups' bookkeeping or a copy
        return list(work(slice(0, rows)))
    slices = row_slices(rows, b)
    groups = min(GROUPS, len(slices))
    chunks = [slices[k * len(slices) // groups:(k + 1) * len(slices) // groups] for k in range(groups)]
    return _combined(problem, kinds, problem.backend.map_blocks(functools.partial(_accumulated, work, kinds), chunks))


def _accumulated(work: Callable[[slice], tuple[Any, ...]], kinds: str, blocks: list[slice]) -> list[Any]:
    """``work``'s outputs over ``blocks`` in turn: a list of blocks for each ``"r"``, a running sum for each ``"s"``."""
    out: list[Any] = [[] if kind == "r" else None for kind in kinds]
    for block in blocks:
        for k, (kind, part) in enumerate(zip(kinds, work(block))):
            if kind == "r":
                out[k].append(part)
            elif part is not None:
                out[k] = part if out[k] is None else out[k] + part
    return out


def _combined(problem: ProblemData, kinds: str, results: list[list[Any]]) -> list[Any]:
    """The outputs of every group of blocks (:func:`_accumulated`) put together: rows concatenated, sums added."""
    xp = problem.xp
    combined: list[Any] = []
    for k, kind in enumerate(kinds):
        parts = [result[k] for result in results]
        if kind == "r":
            combined.append(xp.concat([part for chunk in parts for part in chunk], axis=0))
        else:
            present = [part for part in parts if part is not None]
            combined.append(None if not present else sum(present[1:], present[0]))
    return combined


def rowdot(xp: Any, a: Array, b: Array) -> Array:
    """Row-wise dot products of two b×d arrays, as a b×1 column (``vecdot``: no b×d temporary)."""
    return xp.vecdot(a, b)[:, None]

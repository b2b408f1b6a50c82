"""The Backend protocol every adapter implements, and the error for a backend that cannot run here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np


class BackendUnavailable(RuntimeError):
    """The library or the device a backend needs is not present on this machine."""


@runtime_checkable
class Backend(Protocol):
    """What the numerical core needs from an array library.

    Attributes
    ----------
    name : str
        One of :data:`BACKEND_NAMES`.
    device : str
        Where arrays live, e.g. ``"cpu"`` or ``"cuda:0"``.
    dtype : str
        ``"float64"`` or ``"float32"``; every array this backend makes has it.
    xp : module
        The array-API namespace (from ``array_api_compat``).

    Notes
    -----
    A backend may also supply fused kernels for the dense layout's n×n passes, which the
    core calls instead of its own array-API expressions (:func:`solvers.rowterms.fused`) and
    which must agree with them to rounding:

    ``softmax_rows(Z)``
        S = softmax_rows(Z), row maxima subtracted first.
    ``softmax_backward(S, G)``
        S ⊙ (G − rowsum(G ⊙ S)), the softmax's Jacobian (rows of S) applied to the rows of G.

    and, for the row blocks (:mod:`solvers.fusedblocks`), host-memory kernels that reuse storage:

    ``exp_inplace(Z, shift)``
        exp(Z − shift) written over Z (``shift`` broadcast, ``None``: 0).
    ``product_into(slot, a, b)``
        ``a @ b`` in a scratch array kept under ``slot`` per thread (valid until that thread's next call with it).
    ``exp_products(right, left, M_t, by_max)``
        ``(M_t exp(right leftᵀ − top), top)``, top the column maxima where ``by_max`` (else ``None``), for a
        block whose E nobody reads afterwards, or ``None``; without it (it has no array-API version), or where
        it returns ``None``, the core makes E and the products itself.
    ``panel_rows(n, k, m)``
        Rows per panel, or ``None``: a call over m rows whose blocks' n-wide products have thin operands of up
        to k columns runs its rows in turn in panels of that many (:func:`solvers.fusedblocks.map_rows`).

    Without them the array-API versions (:data:`solvers.rowterms.GENERIC_KERNELS`) run. Two more
    optional hooks serve the row blocks: ``traced(array)``, whether autograd records operations on
    ``array`` (then no kernel may overwrite it or read it on the host; torch), and
    ``blocked_call(count)``, the context of one row-blocked oracle call handing ``count`` blocks to
    ``map_blocks`` (NumPy keeps BLAS on one thread for it, :mod:`solvers.backends.numpy`). And
    ``world()``, ``(rank, size)`` of the distributed run the backend sums over (torch), without which
    a :class:`solvers.problem.Problem` refuses a shard of more than one process.
    """

    name: str
    device: str
    dtype: str
    xp: Any

    def asarray(self, host: Any) -> Any:
        """Copy a host (NumPy) array to the device, in the backend's dtype."""

    def to_numpy(self, array: Any) -> np.ndarray:
        """Copy a backend array to a host NumPy array."""

    def owns(self, array: Any) -> bool:
        """Whether ``array`` is an array of this backend's library on its device."""

    def synchronize(self) -> None:
        """Block until all work queued on the device has finished."""

    def cho_solve(self, H: Any, b: Any, shift: float = 0.0) -> tuple[Any, bool]:
        """Solve ``(H + shift·I) x = b`` for symmetric ``H`` with ``H + shift·I`` positive definite.

        ``H`` is left unchanged (a Levenberg–Marquardt step tries several shifts of one ``H``);
        the shifted matrix is made in one pass over the d²×d² entries, no identity is formed.

        Returns ``(x, True)`` on success and ``(None, False)`` when the factorisation
        fails or produces non-finite values; never raises for a non-SPD matrix.
        """

    def map_blocks(self, work: Callable[[Any], Any], blocks: list[Any]) -> list[Any]:
        """``[work(block) for block in blocks]``, possibly concurrently (row-blocked oracles)."""

    def all_reduce(self, partial: Any) -> Any:
        """The sum of ``partial`` over the processes of a row-sharded run (the identity in one
        process). Every process gets the same sum back; ``partial``'s memory may be reused."""

    def describe(self) -> dict[str, Any]:
        """The backend's policy (library version, device, dtype, TF32) for result records."""

"""NumPy (CPU) backend: SciPy's Cholesky, no device to wait for.

NumPy and SciPy wheels each bundle their own OpenBLAS with its own thread pool. When
calls alternate between the two, each pool's idle workers spin on the cores the other
needs, and a small call waits for a scheduler tick (measured on 2 cores: the Y step at
n=1024, d=32 took 16 ms instead of 5 ms; a 32×32 Cholesky solve 340 µs). Systems up
to :data:`SINGLE_THREAD_MAX` unknowns therefore run with SciPy's pool held to one
thread, where threads gain nothing; larger ones, whose factorisation dwarfs the hop,
keep every thread (``numpy.linalg.cholesky`` is no way out: 1.7× slower at N=4096).

The threaded LAPACK Cholesky of both wheels' OpenBLAS (0.3.30 in SciPy 1.17, 0.3.31 in
NumPy 2.4) crashes the process with a segmentation fault on two threads from N ≈ 16 000
(N = 14 000 factorised, N = 16 384 crashed, lower and upper alike; one thread works; the
same family as OpenMathLib/OpenBLAS#2562). Systems above :data:`BLOCKED_CHOLESKY_MIN`
are therefore factorised by 2×2 blocks (:func:`cholesky_lower`): the same N³/3 flops, as
one factorisation of each diagonal block, a triangular solve and a matrix product — at
N = 12 000 on the loaded machine 32 s against 43 s for the one-call factorisation, but
15–25 % slower than it on the idle machine at N = 9 216 … 16 384 (recursion to 4096-wide
leaves), so it starts just below the crash, where the one call is known to work (N = 14 000).

The row-blocked oracles hand their blocks to :meth:`NumpyBackend.map_blocks`, which runs
them on as many threads as BLAS has, each with single-threaded BLAS: NumPy's elementwise
passes over a block are single-threaded, so this is what uses every core for them (hvp_x
at n = 4096, d = 64 on 2 cores: 0.31 s against 0.49 s with the blocks in turn). The worker
threads are started once per process (a fresh pool per call cost 0.25 ms, as much as a
small oracle's elementwise work). For the whole of such a call (:meth:`NumpyBackend.blocked_call`)
BLAS stays on one thread, its n×d products included: after a multi-threaded call OpenBLAS's
idle workers spin for 2²⁸ clock ticks (0.10–0.12 s here) before they sleep, on the cores the
block workers need. Measured at n = 2048, d = 256 on 2 cores: the forward pass's two blocks took 49 ms
on the workers alone, 75–82 ms when A1·X ran on two BLAS threads just before, and 50 ms
with a 0.1 s pause between the two.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import Any

import array_api_compat.numpy as xp
import numpy as np
import scipy.linalg

from .scratch import SCRATCH_BYTES, scratch


#: OpenBLAS multiplies without packing its operands where M·N·K ≤ 100³ and neither is transposed (its
#: small-matrix kernels, ``dgemm_small_kernel_permit_skylakex.c``; numpy's wheel runs them on AVX-512 cores),
#: fastest in panels whose width is a multiple of 16 (24 and 40 were 15–30 % slower than 16, 32 and 48).
SMALL_PRODUCT = 100**3
PANEL_STEP = 16
#: Widest panel: the passes that read E ran the faster the wider their panels (``hvp_x`` at (512, 16) in 2.82,
#: 2.77 and 2.62 ms with 32, 48 and 64 rows, the value and gradient in 1.84, 1.75 and 1.70; 112 fit).
MAX_PANEL = 64
#: Widest panel of :meth:`NumpyBackend.exp_products` (the forward pass, the Y step), whose panels make two products
#: and an ``exp2`` each: the cold loss took 1.27 ms in panels of 32 at (512, 32) against 1.31 in panels of 48,
#: 2.61 against 2.67 ms at (1024, 16); at (512, 16) 32 to 64 alike.
MAX_PRODUCTS_PANEL = 32
#: Blocks up to this size are in a core's L2 cache already (1 MiB here): panels made n = 256 8 % slower.
IN_CACHE_BYTES = 2**20
#: Widest thin operand (d or d + 1 columns) panels are made for: at (512, 64) they took 1.0–1.15× the block's
#: time in every oracle and at every width from 16 to 64; at (512, 48), 0.97 (``hvp_x``).
MAX_THIN = 48
#: Widest thin operand :meth:`NumpyBackend.exp_products` makes a block at once for: past it the scaled copy of
#: leftᵀ cost more than ``exp2`` saved (the loss in 1.00–1.02 of the core's time at d = 128, 1.02–1.17 at d = 256,
#: one or two threads; 0.93–0.99 at d = 64 but for 1.04 at (2048, 64) on two).
AT_ONCE_MAX_THIN = 96
#: log₂ e and ln 2: exp(z) = 2^(z·log₂ e) (:meth:`NumpyBackend.exp_products`).
_LOG2_E, _LN_2 = 1.4426950408889634, 0.6931471805599453


def panel_columns(n: int, k: int, m: int, itemsize: int) -> int | None:
    """Columns per panel of an n×m block of ``itemsize``-byte floats multiplied by an n×k and a k×n operand
    (k: the wider of the two thin sides): the widest multiple of :data:`PANEL_STEP` up to :data:`MAX_PANEL`
    whose products run in OpenBLAS's small-matrix kernels, or ``None`` where the block fits in cache or no
    such panel exists (n·k > 100³/16) or k > :data:`MAX_THIN`, and in float32, whose kernels take other shapes
    (at (1024, 32) panels of 16 took 1.19× the block's time). Measured in float64 (one thread, panels against
    the block at once): the forward pass in 0.78–0.90 of the time from n = 512 to 2048 with d = 16 or 32, 1.00
    at (512, 64), 1.03–1.19 at n = 256; ``hvp_x`` in 0.65–0.91 at (512, 16), (512, 32), (768, 32), (1024,
    16), (1024, 32), (2048, 16), the value and gradient in 0.87–0.98 there.
    """
    if itemsize != 8 or k > MAX_THIN or n * m * itemsize <= IN_CACHE_BYTES:
        return None
    width = min(MAX_PANEL, SMALL_PRODUCT // (n * k) // PANEL_STEP * PANEL_STEP)
    return width if width >= PANEL_STEP else None


def _panel_width(n: int, k: int, m: int, itemsize: int) -> int | None:
    """:func:`panel_columns` where panels can run (one BLAS thread, OpenBLAS, not a block worker nor a call
    whose blocks go to the workers), else ``None``."""
    width = panel_columns(n, k, m, itemsize)
    if (width is None or _openblas_thread_counters() is None or getattr(_call, "worker", False)
            or getattr(_call, "workers", None) or _blas_threads() > 1):
        return None
    return width


def _panels_of_transpose(left: np.ndarray, width: int, scale: float, dtype: np.dtype) -> np.ndarray:
    """``scale · leftᵀ`` (left m×k) as ⌈m/width⌉ C-ordered k×``width`` panels, one array (the last panel's first
    columns filled where ``width`` does not divide m): each panel of the product's right operand is then
    contiguous, which OpenBLAS's small-matrix kernels run at 52 GFLOP/s against 41 for the same columns of one
    k×m array (512×32 by 32×48 on one core here; the forward pass at (512, 32) in 0.95 of the time)."""
    m, k = left.shape
    full, count = m // width, -(-m // width)
    panels = np.empty((count, k, width), dtype=dtype)
    np.multiply(left[:full * width].reshape(full, width, k).transpose(0, 2, 1), scale, out=panels[:full])
    if count > full:
        np.multiply(left[full * width:].T, scale, out=panels[full, :, :m - full * width])
    return panels


def _scratch_array(slot: int, rows: int, cols: int, dtype: np.dtype) -> np.ndarray:
    """This thread's scratch array number ``slot`` as a rows×cols array (:mod:`solvers.backends.scratch`), valid
    until the thread asks for that slot again; a fresh one above ``SCRATCH_BYTES``."""
    if rows * cols * dtype.itemsize > SCRATCH_BYTES:
        return np.empty((rows, cols), dtype=dtype)
    return scratch(("numpy", slot, dtype), rows * cols, lambda size: np.empty(size, dtype=dtype))[:rows * cols].reshape(
        rows, cols)


@lru_cache(maxsize=1)
def _scipy_blas_controller() -> Any:
    """threadpoolctl controller of the BLAS that SciPy's wheel bundles (``scipy.libs/``), or None.

    Where SciPy shares NumPy's BLAS (conda, system packages) there is no second pool.
    """
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")
    paths = [lib.filepath for lib in blas.lib_controllers if lib.filepath.replace("\\", "/").split("/")[-2] == "scipy.libs"]
    return blas.select(filepath=paths) if paths else None


@lru_cache(maxsize=None)
def _workers(count: int) -> ThreadPoolExecutor:
    """The process's pool of ``count`` threads for :meth:`NumpyBackend.map_blocks`, started on first use."""
    return ThreadPoolExecutor(count, thread_name_prefix="attnreg-blocks", initializer=_mark_worker)


def _mark_worker() -> None:
    """Mark this thread as a block worker (NumPy makes no panels there: :func:`_panel_width`)."""
    _call.worker = True


os.register_at_fork(after_in_child=_workers.cache_clear)  # a forked child has none of its parent's threads


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """threadpoolctl controller of every BLAS loaded (NumPy's, and SciPy's if it bundles one)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def _blas_threads() -> int:
    """The most threads any loaded BLAS runs with now (asked of OpenBLAS directly where it is all there is)."""
    counters = _openblas_thread_counters()
    if counters is not None:
        return max([count() for count in counters] or [1])
    return max([lib.num_threads for lib in _blas_controller().lib_controllers] or [1])


@lru_cache(maxsize=1)
def _openblas_thread_counters() -> tuple[Callable[[], int], ...] | None:
    """Each loaded BLAS's own ``openblas_get_num_threads`` where every one is OpenBLAS on its own threads, else
    ``None``. Called directly it answers in a fifth of the time threadpoolctl's ``num_threads`` takes (19 against
    68 µs for both libraries, each call after ``gc.collect()``): a row-blocked call asks it once or twice."""
    libs = _blas_controller().lib_controllers
    if any(lib.internal_api != "openblas" or lib.threading_layer == "openmp" for lib in libs):
        return None
    symbols = [next((name for name in lib.check_symbols if hasattr(lib.dynlib, name)), None) for lib in libs]
    if None in symbols:
        return None
    return tuple(getattr(lib.dynlib, name) for lib, name in zip(libs, symbols))


#: Per thread: the workers of the row-blocked oracle call in progress (:meth:`NumpyBackend.blocked_call`), and
#: whether the thread is a block worker itself (:func:`_mark_worker`).
_call = threading.local()


def single_threaded_scipy_blas() -> AbstractContextManager[Any]:
    """SciPy's bundled BLAS held to one thread (a no-op where SciPy shares NumPy's BLAS); see the module docstring."""
    controller = _scipy_blas_controller()
    return nullcontext() if controller is None else controller.limit(limits=1)


#: Largest system solved with SciPy's BLAS on one thread (see the module docstring).
SINGLE_THREAD_MAX = 512
#: Largest system factorised by one LAPACK call; larger ones go by 2×2 blocks (module docstring).
BLOCKED_CHOLESKY_MIN = 14_000


def cholesky_lower(H: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Lower Cholesky factor L (C order) of the symmetric positive definite ``H``, by 2×2 blocks above
    :data:`BLOCKED_CHOLESKY_MIN`.

    With H = [[H11, H21ᵀ], [H21, H22]]: L11 = chol(H11), L21 = H21 L11⁻ᵀ, L22 = chol(H22 − L21 L21ᵀ).
    ``overwrite``: a C-order ``H`` may be factorised in its own memory (LAPACK reads its transpose,
    the same symmetric matrix in Fortran order, as the upper factor's input), saving a d⁴ copy.

    Raises
    ------
    numpy.linalg.LinAlgError
        ``H`` is not positive definite.
    """
    size = H.shape[0]
    if size <= BLOCKED_CHOLESKY_MIN:
        if overwrite and H.flags.c_contiguous:
            return scipy.linalg.cholesky(H.T, lower=False, overwrite_a=True, check_finite=False).T
        return scipy.linalg.cholesky(H, lower=True, check_finite=False)
    half = size // 2
    L = np.zeros_like(H)
    L[:half, :half] = cholesky_lower(H[:half, :half])
    L[half:, :half] = scipy.linalg.solve_triangular(L[:half, :half], H[half:, :half].T, lower=True,
                                                    check_finite=False).T
    L[half:, half:] = cholesky_lower(H[half:, half:] - L[half:, :half] @ L[half:, :half].T)
    return L


class NumpyBackend:
    """NumPy arrays on the host; BLAS threads are whatever threadpoolctl reports."""

    name = "numpy"
    device = "cpu"
    xp = xp

    def __init__(self, dtype: str = "float64") -> None:
        self.dtype = dtype
        self._np_dtype = np.dtype(dtype)

    def asarray(self, host: Any) -> np.ndarray:
        return np.array(host, dtype=self._np_dtype, copy=True, order="C")

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def owns(self, array: Any) -> bool:
        return isinstance(array, np.ndarray)

    def synchronize(self) -> None:
        return None

    def cho_solve(self, H: Any, b: Any, shift: float = 0.0) -> tuple[Any, bool]:
        threads = single_threaded_scipy_blas() if H.shape[0] <= SINGLE_THREAD_MAX else nullcontext()
        try:
            with threads:
                if not np.all(np.isfinite(H)):
                    return None, False
                shifted = np.array(H, order="C")  # the one copy: factorised in place
                if shift:
                    shifted.flat[::shifted.shape[0] + 1] += shift
                # Lᵀ of a C-order L is an upper factor in Fortran order: LAPACK reads it without a copy
                x = scipy.linalg.cho_solve((cholesky_lower(shifted, overwrite=True).T, False), b, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return None, False
        if not np.all(np.isfinite(x)):
            return None, False
        return x, True

    @contextmanager
    def blocked_call(self, count: int) -> Iterator[None]:
        """The context of one row-blocked oracle call that hands ``count`` blocks to :meth:`map_blocks`:
        where they go to worker threads, BLAS stays on one thread for the whole call (module docstring)."""
        workers = min(count, _blas_threads()) if count > 1 else 1
        if workers < 2 or getattr(_call, "workers", None):  # the blocks run in turn, or an enclosing call holds it
            yield
            return
        with _blas_controller().limit(limits=1):
            _call.workers = workers
            try:
                yield
            finally:
                _call.workers = None

    def map_blocks(self, work: Callable[[Any], Any], blocks: list[Any]) -> list[Any]:
        workers = min(len(blocks), getattr(_call, "workers", None) or _blas_threads()) if len(blocks) > 1 else 1
        if workers < 2:
            return [work(block) for block in blocks]
        with _blas_controller().limit(limits=1):
            return list(_workers(workers).map(work, blocks))

    def exp_inplace(self, array: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
        """exp(array − shift) written over ``array`` (``shift`` broadcast; ``None``: 0), and returned.

        The row-blocked oracles' one pass over each n-wide block (:mod:`solvers.rowblocks`):
        no temporary, the block stays in cache. Not part of the Backend protocol: other
        backends fall back to ``xp.exp``.
        """
        if shift is not None:
            np.subtract(array, shift, out=array)
        return np.exp(array, out=array)

    def exp_products(self, right: np.ndarray, left: np.ndarray, M_t: np.ndarray,
                     by_max: bool) -> tuple[np.ndarray, np.ndarray | None] | None:
        """``(M_t E, top)`` with E = exp(right leftᵀ − top), ``top`` (1×m) the column maxima of right leftᵀ where
        ``by_max``, else ``None`` (no shift): a block's softmax products for a caller that does not read E; or
        ``None``, for the caller to make them, where neither panels nor base 2 pay (:data:`AT_ONCE_MAX_THIN`, a
        block in cache).

        The logits are made in base 2, from leftᵀ·log₂e (a copy the products need anyway, C-ordered), and
        exponentiated by ``exp2``: 0.17 ms against ``exp``'s 0.20 ms per 512² entries on one core here, and
        the forward pass at (2048, 64) in 0.98 of its time; the scaled operand rounds the logits no worse than
        their own products do. Where panels pay (:func:`_panel_width`: one BLAS thread, OpenBLAS, not a block
        worker, a block past the cache), E (n×m) is made and used in panels of its columns, each logits, ``exp``
        and product while it is in cache, both products in OpenBLAS's small-matrix kernels
        (:data:`SMALL_PRODUCT`; ``M_t``, k×n, is taken in C order as the problem holds it); elsewhere the block
        at once. Panels stay off on more than one thread, as the small-matrix kernels run on one (at n = 512 on
        2 cores, the panels on one took as long as the block at once on two; at (512, 64) 1.2×), and on a block
        worker, whose blocks share the cores: there a panel's short calls wait for the interpreter lock (at
        n = 2048, d = 16 on 2 cores the forward pass took 1.26–1.44× its time at once). Not part of the
        Backend protocol.
        """
        n, m = right.shape[0], left.shape[0]
        if n * m * right.itemsize <= IN_CACHE_BYTES:
            return None  # a block in cache gains less from exp2 than the copy and calls cost (n = 256: 1.03–1.11×)
        dtype = np.result_type(right, left, M_t)
        k = max(right.shape[1], M_t.shape[0])
        width = _panel_width(n, k, m, dtype.itemsize)
        if width is None and k > AT_ONCE_MAX_THIN:
            return None
        width = m if width is None else min(width, MAX_PRODUCTS_PANEL)
        left_t = _panels_of_transpose(left, width, _LOG2_E, dtype)
        M_t = np.ascontiguousarray(M_t)  # C order: no operand transposed
        products = np.empty((M_t.shape[0], m), dtype=dtype)
        top = np.empty((1, m), dtype=dtype) if by_max else None
        panel = _scratch_array(0, n, width, dtype)
        for index, start in enumerate(range(0, m, width)):
            stop = min(start + width, m)
            Z = np.matmul(right, left_t[index, :, :stop - start], out=panel[:, :stop - start])
            if top is not None:
                shift = np.max(Z, axis=0, keepdims=True, out=top[:, start:stop])
                np.subtract(Z, shift, out=Z)
            np.matmul(M_t, np.exp2(Z, out=Z), out=products[:, start:stop])
        return products, None if top is None else top * _LN_2

    def panel_rows(self, n: int, k: int, m: int) -> int | None:
        """Rows per panel for a call whose m rows would otherwise be blocks of n-wide work with thin operands of
        up to k columns (:func:`panel_columns`), or ``None``: on one BLAS thread outside the block workers, with
        OpenBLAS, as for :meth:`exp_products`. Not part of the Backend protocol."""
        return _panel_width(n, k, m, self._np_dtype.itemsize)

    def product_into(self, slot: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` written into this thread's scratch array number ``slot`` (:mod:`solvers.backends.scratch`),
        valid until the thread asks for that slot again; products above ``SCRATCH_BYTES`` are allocated.
        ``b`` (k×m, where ``a`` is n×k) is copied to C order first where it is not and the product is one
        OpenBLAS makes without packing (n·k·m ≤ :data:`SMALL_PRODUCT`): its small-matrix kernels take no
        transposed operand (a 512×32 by 32×48 product on one core here: 52 GFLOP/s with both in C order, 40
        with the transpose of a C-ordered 48×32); larger ones pack their operands anyway. Not part of the
        Backend protocol.
        """
        if a.shape[0] * b.shape[0] * b.shape[1] <= SMALL_PRODUCT:
            b = np.ascontiguousarray(b)
        return np.matmul(a, b, out=_scratch_array(slot, a.shape[0], b.shape[1], np.result_type(a, b)))

    def all_reduce(self, partial: Any) -> Any:
        return partial

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "library": "numpy", "version": np.__version__,
                "device": self.device, "dtype": self.dtype}

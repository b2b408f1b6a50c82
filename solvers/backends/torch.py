"""PyTorch backend, on the CPU or a CUDA device.

float32 matrix products run at full float32 precision (``"highest"``) unless the user
opts into TF32; the choice is recorded by :meth:`TorchBackend.describe`. That setting is
process-wide in torch (CPU and CUDA alike), so it is applied at construction and a torch
backend whose TF32 choice differs from one still alive in the process is refused rather
than allowed to change the other's policy behind its back.

With ``distributed=True`` the backend is one process of a row-sharded run: ``all_reduce``
sums over torch.distributed's default process group (gloo on CPUs, NCCL on GPUs; the caller
initialises it, e.g. under ``torchrun``), and a CUDA backend uses the current device
(``torch.cuda.set_device(local_rank)`` first).

On the CPU the default layout is the row-blocked one, as on NumPy
(:data:`solvers.problem.BLOCKED_BY_DEFAULT`), with the same host kernels: ``exp_inplace``
overwrites a block with its exponential and ``product_into`` writes a block's n-wide products
into per-thread scratch memory (:mod:`solvers.backends.scratch`), except where autograd traces
the arrays (:meth:`TorchBackend.traced`: the autograd peers differentiate the forward pass), which
get fresh arrays. The wide products are stored column-major (:meth:`TorchBackend.product_into`), and
a multi-block call runs the caller's own ops on one thread (:meth:`TorchBackend.blocked_call`).
Measured on 2 cores, float64, against NumPy's same blocks (``python scripts/backend_ratios.py
--repeat 7``): without the host kernels torch took 1.3–2.1× NumPy's time for the loss and the gradient
(a fresh n-wide array per product and per ``exp``); with them 0.75–1.19×; with the column-major
products and the one-thread caller 0.91–1.07× for all five oracles at (1024, 32) and (4096, 64). The
blocks (b×n, a few MiB) run as NumPy's do: concurrently, on as many worker threads as torch has
intra-op threads, each worker single-threaded. Blocks in turn with two threads per op fork and join an
OpenMP team many times per block (torch's float64 ``exp`` is MKL's ``vmdExp``, which starts one
on every call, even for a 32×32 array), and on a core shared with another process every join can
wait a scheduler tick (measured: 3–16 ms for a 32×32 ``exp`` or softmax beside other jobs, 3–7 µs
on one thread).

For the dense layout (asked for with ``blocked=False``, and on CUDA by default) the adapter
supplies torch's own fused kernels for its two n×n passes (the core's hooks,
:class:`solvers.backends.base.Backend`), on the CPU and on CUDA: ``torch.softmax`` (one pass over
the logits instead of five, and one n×n array instead of three) and the softmax backward
``aten::_softmax_backward_data`` (one pass instead of four). At n = 4096 in float64 on 2 cores
they took 14 and 13 ms against 39 and 33 ms for the array-API expressions. On CUDA the row
blocks keep the array-API ``exp`` and fresh products (no host scratch memory).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np

from .base import BackendUnavailable
from .scratch import SCRATCH_BYTES, scratch

#: log₂ e: exp(z) = 2^(z·log₂ e) (:meth:`TorchBackend.exp_inplace`).
_LOG2_E = 1.4426950408889634
#: The torch backends alive in this process; they all share torch's global TF32 setting.
_LIVE: weakref.WeakSet[TorchBackend] = weakref.WeakSet()
#: Per thread: the workers of the row-blocked oracle call in progress (:meth:`TorchBackend.blocked_call`).
_call = threading.local()


def _single_threaded() -> None:
    """Worker initialiser: torch ops on this thread use one intra-op thread (a per-thread setting)."""
    import torch

    torch.set_num_threads(1)


@lru_cache(maxsize=None)
def _workers(count: int) -> ThreadPoolExecutor:
    """The process's pool of ``count`` single-threaded workers for :meth:`TorchBackend.map_blocks`."""
    return ThreadPoolExecutor(count, thread_name_prefix="attnreg-torch-blocks", initializer=_single_threaded)


os.register_at_fork(after_in_child=_workers.cache_clear)  # a forked child has none of its parent's threads


@contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads of the calling thread set to ``count`` for the ``with`` block, then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def process_group(cuda: bool = False) -> Iterator[tuple[int, int]]:
    """Join the process group a launcher such as ``torchrun`` describes (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``… in the environment) for the ``with`` block; yield ``(rank, world_size)``.

    gloo on CPUs; NCCL with ``cuda``, each process on GPU ``LOCAL_RANK``. The group is
    destroyed on leaving (a process that exits with its group alive may abort).
    """
    import torch
    import torch.distributed as dist

    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size()
    finally:
        dist.destroy_process_group()


class TorchBackend:
    """torch tensors on ``cpu`` or ``cuda:0``; Cholesky via ``torch.linalg.cholesky_ex``."""

    def __init__(self, dtype: str = "float64", *, cuda: bool = False, tf32: bool = False,
                 distributed: bool = False) -> None:
        try:
            import torch
            import array_api_compat.torch as xp
        except ImportError as exc:
            raise BackendUnavailable(f"torch is not installed ({exc}); pip install 'attnreg[torch]'") from exc
        if cuda and not torch.cuda.is_available():
            raise BackendUnavailable("torch-cuda: torch reports no CUDA device on this machine")
        self.name = "torch-cuda" if cuda else "torch"
        clash = next((other for other in _LIVE if other.tf32 != tf32), None)
        if clash is not None:
            raise ValueError(f"{self.name} with tf32={tf32}: a {clash.name} backend with tf32={clash.tf32} "
                             "is still in use, and torch's TF32/float32 matmul precision is process-wide; "
                             "drop that backend (and its problems) first, or use another process")
        self._torch = torch
        self.xp = xp
        if distributed and not torch.distributed.is_initialized():
            raise ValueError(f"{self.name} with distributed=True needs torch.distributed.init_process_group() first")
        self.distributed = distributed
        #: Bytes this process has handed to ``all_reduce`` (the payload; a ring sends about twice that).
        self.reduced_bytes = 0
        self.device = "cpu" if not cuda else f"cuda:{torch.cuda.current_device()}" if distributed else "cuda:0"
        self.dtype = dtype
        self._dtype = getattr(torch, dtype)
        self.tf32 = tf32
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        if cuda:  # the host kernels of the row blocks (module docstring); a CUDA run keeps the array-API ones
            self.exp_inplace = self.product_into = None
        _LIVE.add(self)

    def asarray(self, host: Any) -> Any:
        return self._torch.tensor(np.ascontiguousarray(host), dtype=self._dtype, device=self.device)  # a copy

    def to_numpy(self, array: Any) -> np.ndarray:
        return array.detach().cpu().numpy()

    def owns(self, array: Any) -> bool:
        return isinstance(array, self._torch.Tensor) and array.device == self._torch.device(self.device)

    def synchronize(self) -> None:
        if self.device != "cpu":
            self._torch.cuda.synchronize()

    def cho_solve(self, H: Any, b: Any, shift: float = 0.0) -> tuple[Any, bool]:
        if shift:
            H = H.clone()
            H.diagonal().add_(shift)
        L, info = self._torch.linalg.cholesky_ex(H)
        vector = b.ndim == 1
        x = self._torch.cholesky_solve(b[:, None] if vector else b, L)
        x = x[:, 0] if vector else x
        ok = bool((info == 0) & self._torch.isfinite(x).all())  # one synchronisation
        return (x, True) if ok else (None, False)

    def _block_workers(self, count: int) -> int:
        """How many worker threads ``count`` blocks go to: torch's intra-op threads on the CPU (or those of
        the enclosing :meth:`blocked_call`), at most one per block; 1 on CUDA (one stream orders the work
        anyway) and inside a ``torch.func`` transform, whose state is the calling thread's own: on a worker
        thread its wrapped tensors are plain ones, and ``torch.func.grad`` of a blocked loss came out zero
        (the autograd peers run there)."""
        if self.device != "cpu" or count < 2 or self._torch._C._functorch.peek_interpreter_stack() is not None:
            return 1
        return min(count, getattr(_call, "workers", None) or self._torch.get_num_threads())

    @contextmanager
    def blocked_call(self, count: int) -> Iterator[None]:
        """The context of one row-blocked oracle call that hands ``count`` blocks to :meth:`map_blocks`:
        where they go to worker threads, the calling thread's own ops (its n×d products) run on one thread.

        After a parallel region GNU OpenMP's idle team threads spin before they sleep, on the cores the
        block workers need. Measured at (4096, 64) on 2 cores, the forward pass: the two workers' blocks
        took 62.5 and 67 ms after A1·X on two threads, 62.5 and 62.5 with ``OMP_WAIT_POLICY=passive``
        (NumPy: 62 and 62); the whole call 71.5 ms against NumPy's 64, and 64.5 with the passive policy.
        """
        workers = self._block_workers(count)
        if workers < 2 or getattr(_call, "workers", None):  # the blocks run in turn, or an enclosing call holds it
            yield
            return
        with intra_op_threads(1):
            _call.workers = workers
            try:
                yield
            finally:
                _call.workers = None

    def map_blocks(self, work: Callable[[Any], Any], blocks: list[Any]) -> list[Any]:
        """As the protocol's; concurrently on :meth:`_block_workers` threads."""
        workers = self._block_workers(len(blocks))
        if workers < 2:
            return [work(block) for block in blocks]
        return list(_workers(workers).map(work, blocks))

    def traced(self, array: Any) -> bool:
        """Whether autograd (or a ``torch.func`` transform) records operations on ``array``: then no
        kernel may overwrite it, write into scratch memory or read its values on the host."""
        return array.requires_grad and self._torch.is_grad_enabled()

    def exp_inplace(self, Z: Any, shift: Any = None) -> Any:
        """exp(Z − shift) written over ``Z`` (``shift`` broadcast; ``None``: 0), as NumPy's; a fresh
        array where autograd traces ``Z``.

        In place it is 2^((Z − shift)·log₂e): torch's float64 ``exp`` took 1.61 ns per entry on one
        core here, ``exp2`` 0.83 (NumPy's ``exp``: 0.79) and the scaling pass with it 1.04; the
        rounding of the scaled argument costs at most 5e-14 relative for |Z| ≤ 700 (3e-16 for logits
        of order one), far inside the 1e-12 to which the layouts agree.
        """
        if self.traced(Z):
            return (Z if shift is None else Z - shift).exp()
        if shift is not None:
            Z.sub_(shift)
        return Z.mul_(_LOG2_E).exp2_()

    def product_into(self, slot: int, a: Any, b: Any) -> Any:
        """``a @ b`` in this thread's scratch array number ``slot`` (:mod:`solvers.backends.scratch`), as
        NumPy's, but stored column-major (the transpose of a row-major ``bᵀ aᵀ``); a fresh array above
        ``SCRATCH_BYTES``, column-major too, or a plain ``a @ b`` where autograd traces ``a`` or ``b``.

        The core's wide products are n×b blocks ``right @ left[rows].T`` (right n×k row-major, the block's
        rows k×b column-major). Computed in that orientation, MKL's float64 GEMM of torch 2.13 ran 15–20 %
        slower here (AMD Zen 4, one thread, 256-row blocks) than OpenBLAS in NumPy; as ``left[rows] @
        rightᵀ`` into a row-major b×n array it is at par, and every elementwise pass that follows sees one
        memory order (all wide products of a block come from here). Measured with ``python
        scripts/backend_ratios.py`` at (4096, 64): torch / NumPy 1.08–1.19 before, 0.97–1.10 after, 0.99–1.07
        with :meth:`blocked_call` too.
        """
        if self.traced(a) or self.traced(b):
            return a @ b
        rows, cols = a.shape[0], b.shape[1]
        if rows * cols * a.element_size() > SCRATCH_BYTES:
            return (b.T @ a.T).T
        torch = self._torch
        buffer = scratch(("torch", slot, a.dtype), rows * cols, lambda size: torch.empty(size, dtype=a.dtype))
        out = buffer[:rows * cols].view(cols, rows)
        return torch.matmul(b.T, a.T, out=out).T

    def softmax_rows(self, Z: Any) -> Any:
        return self._torch.softmax(Z, dim=1)

    def softmax_backward(self, S: Any, G: Any) -> Any:
        return self._torch._softmax_backward_data(G, S, 1, S.dtype)

    def world(self) -> tuple[int, int] | None:
        """``(rank, world size)`` of the process group when distributed, else ``None``."""
        if not self.distributed:
            return None
        return self._torch.distributed.get_rank(), self._torch.distributed.get_world_size()

    def all_reduce(self, partial: Any) -> Any:
        if not self.distributed:
            return partial
        partial = partial.contiguous()
        self.reduced_bytes += partial.numel() * partial.element_size()
        self._torch.distributed.all_reduce(partial)
        return partial

    def describe(self) -> dict[str, Any]:
        torch = self._torch
        record = {"backend": self.name, "library": "torch", "version": torch.__version__,
                  "device": self.device, "dtype": self.dtype, "tf32": self.tf32,
                  "float32_matmul_precision": torch.get_float32_matmul_precision(),
                  "torch_threads": torch.get_num_threads()}
        if self.distributed:
            dist = torch.distributed
            record.update(world_size=dist.get_world_size(), rank=dist.get_rank(),
                          process_group_backend=dist.get_backend())
        if self.device != "cpu":
            record.update(allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                          gpu=torch.cuda.get_device_name(self.device), cuda_runtime=torch.version.cuda)
        return record

"""What every suite shares: the active grid and backends, parameters, and one base class.

Stages themselves are defined once, in :mod:`solvers.harness.measure.stages`; this module only decides
which (backend, n, d) points run here and measures them.

Parameters are the *union* of every grid's sweep (:data:`solvers.harness.measure.grids.GRIDS`), so a
benchmark has the same parameter set on every machine and ``asv publish`` can show
results of the quick CPU grid and of the GPU grid in one graph (it projects every
result onto the parameters of the last discovery). The active grid
(``$ATTNREG_GRID``, default ``quick``) decides which points run; the others, backends
that are unavailable or not selected, and sizes over the grid's memory limit raise
``NotImplementedError`` in ``setup`` and show as n/a.

Nothing here touches a GPU at import or discovery time.
"""

from __future__ import annotations

import abc
import math
import os
import tracemalloc
from typing import Any, ClassVar

import numpy as np
from asv_runner.benchmarks.mark import SkipNotImplemented

from solvers.harness.measure import stages  # not ``from … import time_body``: asv would collect it as a benchmark
from solvers.backends import BACKEND_NAMES, Backend, backend_unavailable_reason
from solvers.harness.measure.grids import GRID_ENV, GRIDS, Grid, get_grid
from solvers.harness.measure.allocator import retain_freed_memory
from solvers.harness.measure.stages import STAGES, prepare_stage, run_synchronized

retain_freed_memory()  # the timing policy of every attnreg measurement: see solvers/allocator.py

#: Comma-separated backends to run (or ``all``); default: the active grid's own backends.
BACKENDS_ENV = "ATTNREG_BACKENDS"
#: Synchronised calls behind each GFLOP/s figure (the median is reported).
GFLOPS_REPEAT = 3


def active_grid() -> Grid:
    """The grid named by ``$ATTNREG_GRID`` (default ``quick``)."""
    return get_grid()


def active_backends() -> tuple[str, ...]:
    """Backends selected by ``$ATTNREG_BACKENDS``, else the active grid's backends."""
    value = os.environ.get(BACKENDS_ENV, "").strip()
    if not value:
        return active_grid().backends
    if value == "all":
        return BACKEND_NAMES
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = sorted(set(names) - set(BACKEND_NAMES))
    if unknown:
        raise ValueError(f"{BACKENDS_ENV}: unknown backends {unknown}; choose from {BACKEND_NAMES}")
    return names


def whole_run_backends() -> tuple[str, ...]:
    """The active backends that the active grid does not limit to some stages (``Grid.backend_stages``):
    the ones that also run the solvers and the sparsification suites."""
    limited = dict(active_grid().backend_stages)
    return tuple(name for name in active_backends() if name not in limited)


def sweep_values(sweep: str) -> tuple[list[int], list[int]]:
    """Sorted n values and d values of ``sweep`` over every grid (stable parameters)."""
    points = {point for grid in GRIDS.values() for point in grid.points(sweep)}
    return sorted({n for n, _ in points}), sorted({d for _, d in points})


def check_point(backend: str, n: int, d: int, sweeps: tuple[str, ...], stage: str | None = None) -> Grid:
    """Raise ``NotImplementedError`` unless (backend, n, d) runs here; return the active grid.

    Parameters
    ----------
    backend : str
        Backend name.
    n, d : int
        Problem size.
    sweeps : tuple of str
        Sweeps of the active grid in which (n, d) may lie.
    stage : str, optional
        The stage timed: n/a where the grid does not time it on ``backend`` (:meth:`Grid.times`).
    """
    grid = active_grid()
    if backend not in active_backends():
        raise NotImplementedError(f"{backend} is not selected for grid {grid.name!r} "
                                  f"(set {BACKENDS_ENV}, or {GRID_ENV})")
    if stage is not None and not grid.times(backend, stage):
        raise NotImplementedError(f"grid {grid.name!r} does not time {stage} on {backend}")
    if not any((n, d) in grid.points(sweep) for sweep in sweeps):
        raise NotImplementedError(f"n={n}, d={d} is not on grid {grid.name!r} (set {GRID_ENV})")
    reason = backend_unavailable_reason(backend)
    if reason is not None:
        raise NotImplementedError(reason)
    return grid


def peak_memory(body: Any, backend: Backend) -> float:
    """Peak bytes one synchronised call of ``body`` allocates beyond what was resident before.

    torch-cuda reads ``torch.cuda.max_memory_allocated``; CuPy reads its default memory
    pool (emptied first; the pool keeps every block the call used, so its size after the
    call bounds the peak); NumPy uses :mod:`tracemalloc`, which sees NumPy's buffers but not
    LAPACK's workspaces. torch on the CPU has no allocator statistics: n/a.
    """
    if backend.name == "torch-cuda":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run_synchronized(body, backend)
        return float(torch.cuda.max_memory_allocated() - before)
    if backend.name == "cupy":
        import cupy

        pool = cupy.get_default_memory_pool()
        backend.synchronize()
        pool.free_all_blocks()
        before = pool.used_bytes()
        run_synchronized(body, backend)
        return float(pool.total_bytes() - before)
    if backend.name == "numpy":
        tracemalloc.start()
        try:
            run_synchronized(body, backend)
            return float(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    raise SkipNotImplemented(f"no allocator statistics for {backend.name}")


class StageSuite(abc.ABC):
    """One stage of :data:`solvers.harness.measure.stages.STAGES` along one sweep of the grids.

    Subclasses set :attr:`stage` and :attr:`sweep`; parameters (backend × n × d) follow
    from the sweep. Abstract, so that asv's discovery skips this base class.
    """

    sweep: ClassVar[str]
    param_names = ["backend", "n", "d"]
    params: ClassVar[list[list[Any]]]
    number = 1
    repeat = (1, 10, 5.0)
    warmup_time = 0.0
    timeout = 600.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "sweep"):
            ns, ds = sweep_values(cls.sweep)
            cls.params = [list(BACKEND_NAMES), ns, ds]

    @property
    @abc.abstractmethod
    def stage(self) -> str:
        """Name of the stage in :data:`solvers.harness.measure.stages.STAGES` (a class attribute in subclasses)."""

    def setup(self, backend: str, n: int, d: int) -> None:
        """Prepare the stage's inputs off the clock and warm this size up once."""
        grid = check_point(backend, n, d, (self.sweep,), self.stage)
        self.body, self.backend = prepare_stage(self.stage, backend, n, d, memory_limit=grid.memory_limit)

    def time_stage(self, backend: str, n: int, d: int) -> None:
        """Wall-clock time of one call, the device synchronised before the clock stops."""
        run_synchronized(self.body, self.backend)

    def track_gflops(self, backend: str, n: int, d: int) -> float:
        """Achieved rate: the stage's classical flop count (docs/maths.md §7) over its median time."""
        flops = STAGES[self.stage].flops
        if flops is None:
            raise SkipNotImplemented(f"{self.stage} has no flop count")
        seconds = float(np.median(stages.time_body(self.body, self.backend, repeat=GFLOPS_REPEAT)))
        return flops(n, d) / seconds / 1e9 if seconds > 0 else math.nan

    track_gflops.unit = "GFLOP/s"

    def track_peak_memory(self, backend: str, n: int, d: int) -> float:
        """Peak device memory one call allocates beyond its inputs (see :func:`peak_memory`)."""
        return peak_memory(self.body, self.backend)

    track_peak_memory.unit = "bytes"


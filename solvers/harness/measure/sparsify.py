"""The attention-sparsification study of the reproduction run (docs/maths.md §8): measuring only.

:func:`measure` runs three studies and returns JSON-serialisable raw data: error against m
(n = 64, d = 4096, ‖XXᵀ‖∞ = 0.9 r with r = 0.05, every method and both baselines, several
seeds), time against d, n and nnz(X), and sparsify-then-solve on a planted d > n problem
against the full solve. Their summaries and fits are :mod:`solvers.harness.analyse.sparsify`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse

from ...backends import Backend, backend_unavailable_reason, get_backend
from .stages import time_body
from ...sparsify import (
    METHODS, RANDOMIZED, attention_error, attention_instance, default_m, planted_wide, sample_sizes,
    sparsify, sparsify_then_solve,
)

@dataclass(frozen=True)
class SparsifyGrid:
    """Sizes of the three studies.

    Attributes
    ----------
    seeds : number of seeds of the error study
    n, d, r : error-study size and the bound r (X has ‖XXᵀ‖∞ = 0.9 r)
    bss_m : barrier steps of the deterministic method (m ≤ 4n)
    time_d, time_n, densities : the time sweeps (d at n = 64; n at d = 4096; density at
        n = 64, d = 4096, randomized methods on scipy.sparse input)
    repeat : timing repeats (stopped early after half a second)
    solve_n, solve_d : sparsify-then-solve sizes (planted_wide, d > 2n; configurations with m > d are skipped)
    solve_configs : (method, m as a multiple of n) for the reduced solves
    solvers : preference order; the first registered one solves both problems
    max_time, max_iter, eps : limits of each solve
    backends : preference order of the backend
    """

    name: str
    seeds: int
    n: int
    d: int
    r: float
    bss_m: tuple[int, ...]
    time_d: tuple[int, ...]
    time_n: tuple[int, ...]
    densities: tuple[float, ...]
    repeat: int
    solve_n: int
    solve_d: tuple[int, ...]
    solve_configs: tuple[tuple[str, float], ...]
    solvers: tuple[str, ...]
    max_time: float
    max_iter: int
    eps: float
    backends: tuple[str, ...]


_SOLVE_CONFIGS = (("leverage", 0.5), ("leverage", 1.0), ("leverage", 3.0), ("bss", 3.0), ("exact-factor", 2.0))
GRIDS = {grid.name: grid for grid in (
    SparsifyGrid("quick", seeds=5, n=64, d=4096, r=0.05, bss_m=(128, 256),
                 time_d=(1024, 2048, 4096, 8192), time_n=(16, 32, 64), densities=(0.01, 0.03, 0.1, 0.3, 1.0),
                 repeat=3, solve_n=8, solve_d=(24, 32, 48), solve_configs=_SOLVE_CONFIGS,
                 solvers=("alternating",), max_time=20.0, max_iter=60, eps=1e-12, backends=("numpy",)),
    SparsifyGrid("full", seeds=20, n=64, d=4096, r=0.05, bss_m=(80, 96, 128, 160, 192, 256),
                 time_d=(1024, 2048, 4096, 8192, 16384), time_n=(16, 32, 64, 128, 256),
                 densities=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0), repeat=5, solve_n=16, solve_d=(48, 64, 80),
                 solve_configs=_SOLVE_CONFIGS, solvers=("alternating",), max_time=60.0, max_iter=100, eps=1e-12,
                 backends=("numpy",)),
    SparsifyGrid("gpu", seeds=20, n=64, d=4096, r=0.05, bss_m=(80, 96, 128, 160, 192, 256),
                 time_d=(1024, 2048, 4096, 8192, 16384, 32768), time_n=(16, 32, 64, 128, 256, 512),
                 densities=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0), repeat=5, solve_n=32, solve_d=(96, 128, 160),
                 solve_configs=_SOLVE_CONFIGS, solvers=("joint-newton", "alternating"), max_time=120.0,
                 max_iter=100, eps=1e-12, backends=("torch-cuda", "cupy", "numpy")),
)}


def measure(grid: str = "quick", progress: Callable[[str], None] | None = None) -> dict:
    """Run the error, timing and sparsify-then-solve studies of grid ``grid``.

    Parameters
    ----------
    grid : {"quick", "full", "gpu"}
        ``quick`` (5 seeds, small sweeps) finishes in about a minute on two CPU cores;
        ``full`` has the 20-seed done-when check; ``gpu`` runs on the first available of
        torch-cuda / CuPy (NumPy otherwise) with larger sweeps.
    progress : callable, optional
        Called with a short message between items.

    Returns
    -------
    dict
        Raw, JSON-serialisable data for :func:`render`.
    """
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {', '.join(GRIDS)}")
    spec = GRIDS[grid]
    say = progress or (lambda message: None)
    backend_name = next(name for name in spec.backends if backend_unavailable_reason(name) is None)
    be = get_backend(backend_name)
    data: dict[str, Any] = {"grid": asdict(spec), "backend": be.describe()}
    say(f"sparsification: error against m, n={spec.n}, d={spec.d}, {spec.seeds} seeds on {be.name}")
    data["error"] = error_study(spec.n, spec.d, spec.r, range(spec.seeds), be, bss_m=spec.bss_m)
    data["timing"] = timing_study(spec, be, say)
    data["solve"] = solve_study(spec, be, say)
    return data


def error_study(n: int, d: int, r: float, seeds: Any, backend: str | Backend = "numpy", *,
                bss_m: tuple[int, ...] = (), randomized_m: tuple[int, ...] | None = None,
                methods: tuple[str, ...] = METHODS, progress: Callable[[str, float], None] | None = None) -> dict:
    """Absolute and relative attention error of every method against m, per seed.

    X = :func:`~solvers.sparsify.attention_instance` (n, d, r, seed); the randomized
    methods draw with the same seed. ``randomized_m`` defaults to
    :func:`~solvers.sparsify.sample_sizes` (which ends at ⌈8 n ln n⌉), ``bss_m`` to 4n.
    ``progress(label, 1)`` is called after each seed.

    Returns
    -------
    dict
        ``n, d, r`` and ``rows``: one dict per (seed, method, m) with ``draws`` (m asked
        for), ``m`` (columns kept), ``absolute``, ``relative``, ``time`` (selection only,
        seconds) and ``gram_norm``.
    """
    be = get_backend(backend)
    randomized_m = tuple(randomized_m or sample_sizes(n, d))
    bss_m = tuple(bss_m or (min(default_m("bss", n), d),))
    sizes = {"norm": randomized_m, "leverage": randomized_m, "bss": bss_m, "zero": (0,), "exact-factor": (n,)}
    rows = []
    for seed in seeds:
        X = be.asarray(attention_instance(n, d, r, seed))
        K = X @ X.T
        for method in methods:
            for m in sizes[method]:
                be.synchronize()
                started = time.perf_counter()
                result = sparsify(X, m, method, seed=seed, r=r, backend=be)
                be.synchronize()
                elapsed = time.perf_counter() - started
                absolute, relative = attention_error(K, result.Y)
                rows.append({"seed": int(seed), "method": method, "draws": int(m), "m": result.m,
                             "absolute": absolute, "relative": relative, "time": elapsed,
                             "gram_norm": result.gram_norm})
        if progress is not None:
            progress(f"seed {seed} done", 1.0)
    return {"n": n, "d": d, "r": r, "rows": rows}


def timing_study(spec: SparsifyGrid, be: Backend, say: Callable[[str], None]) -> dict:
    """Selection time of every method against d (n = 64), n (d = 4096) and nnz(X)."""
    rows = []
    points = [("d", 64, d, 1.0) for d in spec.time_d] + [("n", n, 4096, 1.0) for n in spec.time_n]
    points += [("nnz", 64, 4096, density) for density in spec.densities]
    for study, n, d, density in points:
        say(f"sparsification: time, n={n}, d={d}, density={density:g}")
        host = attention_instance(n, d, spec.r, seed=0, density=density)
        X = scipy.sparse.csr_matrix(host) if study == "nnz" else be.asarray(host)
        nnz = int(X.nnz) if study == "nnz" else int(np.count_nonzero(host))
        sparsify(X, None, "norm", backend=be)  # warm-up (kernels, allocations)
        for method in RANDOMIZED if study == "nnz" else METHODS:
            seconds = float(np.median(time_body(lambda: sparsify(X, None, method, backend=be), be,
                                                repeat=spec.repeat, max_time=0.5)))
            rows.append({"study": study, "method": method, "n": n, "d": d, "density": density, "nnz": nnz,
                         "m": min(default_m(method, n), d), "time": seconds})
    return {"rows": rows}


def solve_study(spec: SparsifyGrid, be: Backend, say: Callable[[str], None]) -> dict:
    """Full solve against sparsify-then-solve on :func:`~solvers.sparsify.planted_wide`."""
    from ...registry import get_solver, list_solvers

    solver_name = next(name for name in (*spec.solvers, "alternating") if name in list_solvers())

    def solve(problem: Any) -> Any:
        return get_solver(solver_name).solve(problem, eps=spec.eps, max_iter=spec.max_iter, max_time=spec.max_time)

    n = spec.solve_n
    rows = []
    for d in spec.solve_d:
        problem = planted_wide(n, d, seed=0, backend=be)
        say(f"sparsify-then-solve: full solve n={n}, d={d} with {solver_name}")
        full = solve(problem)
        rows.append({"d": d, "kind": "full", "method": "full", "draws": 0, "m": d, "loss": full.loss,
                     "time": full.time, "status": full.status, "iterations": full.iterations})
        for method, factor in spec.solve_configs:
            draws = int(round(factor * n))
            if draws > d:
                continue
            say(f"sparsify-then-solve: {method} m={draws}, d={d}")
            reduced = sparsify_then_solve(problem, solve, draws, method, seed=0)
            rows.append({"d": d, "kind": "reduced", "method": method, "draws": draws, "m": reduced.m,
                         "loss": reduced.loss, "reduced_loss": reduced.reduced_loss, "time": reduced.time,
                         "times": reduced.times, "status": reduced.status})
    return {"solver": solver_name, "n": n, "value_rank": math.ceil(n / 4), "eps": spec.eps, "rows": rows}

"""Each backend's oracles against NumPy's, side by side, each backend at its best.

For each oracle — the loss, the value and gradient, the X-block Hessian–vector product
``hvp_x``, the joint ``hvp`` and the exact Y step ``y_solve`` — the same call (a fresh oracle
of the iterate, in each backend's own default layout, so every call pays its own forward pass) is
timed on NumPy and on the other backend in turn, interleaved in rotating order after
``warmup`` untimed calls each (:func:`solvers.harness.measure.race.interleaved`), with every
library's own thread count (reported: NumPy's BLAS through threadpoolctl, torch's intra-op
threads), float64, on ``Problem.planted(n, d)`` at X* + 0.5·G with Y the exact step, the
device synchronised before each clock stops. The ratio other / NumPy (best of ``repeat``
each) is < 1 where the other backend is faster.

Warm-up matters for torch on the CPU: it allocates with 64-byte-aligned ``posix_memalign``,
and under the retained-memory policy of every timing run
(:mod:`solvers.harness.measure.allocator`) glibc 2.36 did not reuse a freed n×n block for
the next one of the same size (measured: at n = 4096 each new 128 MiB tensor landed
128 MiB + 128 B above the last, on fresh pages, 0.2–0.35 s of page faults each on this
virtual machine) until the heap had grown to the working set of the call; from there on
the calls fault no page. A few untimed calls reach that state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...backends import Backend
from ...problem import Problem
from .race import interleaved

#: What is compared, and at which sizes (n, d).
ORACLES = ("loss", "gradient", "hvp_x", "hvp", "y_solve")
SIZES = ((1024, 32), (4096, 64))
#: Untimed calls of each body before the timed rounds (see the module docstring).
WARMUP = 3


def oracle_bodies(problem: Problem, seed: int = 0) -> dict[str, Callable[[], Any]]:
    """The timed call of every oracle of :data:`ORACLES` at the comparison's point, device synchronised."""
    backend = problem.backend
    X = problem.as_variable(problem.start_near_solution(), "X")
    Y = problem.oracle(X).least_squares()[1].Y
    D = problem.as_variable(np.random.default_rng(seed + 1).standard_normal((problem.d, problem.d)), "D")
    calls: dict[str, Callable[[], Any]] = {
        "loss": lambda: problem.oracle(X, Y).loss,
        "gradient": lambda: problem.oracle(X, Y).value_and_grad(),
        "hvp_x": lambda: problem.oracle(X, Y).hvp_x(D),
        "hvp": lambda: problem.oracle(X, Y).hvp(D, D),
        "y_solve": lambda: problem.oracle(X).least_squares(),
    }
    return {name: _synchronized(call, backend) for name, call in calls.items()}


def _synchronized(call: Callable[[], Any], backend: Backend) -> Callable[[], Any]:
    def body() -> Any:
        out = call()
        backend.synchronize()
        return out

    return body


def threads(backend: Backend) -> int | None:
    """The threads ``backend``'s library computes with here (NumPy: the BLAS its wheel bundles, else every
    BLAS loaded; torch: its intra-op threads), if known."""
    if backend.name == "numpy":
        from threadpoolctl import threadpool_info

        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        own = [pool for pool in blas if "numpy" in pool["filepath"]] or blas
        return max((pool["num_threads"] for pool in own), default=None)
    return backend.describe().get("torch_threads")


def versus_numpy(n: int, d: int, backend: str = "torch", oracles: Sequence[str] = ORACLES, *, seed: int = 0,
                 repeat: int = 3, warmup: int = WARMUP, **options: Any) -> list[dict[str, Any]]:
    """Best-of-``repeat`` seconds of each oracle on NumPy and on ``backend`` at (n, d), interleaved.

    Each backend draws the same planted problem in its own default layout; ``options`` go to
    :class:`solvers.problem.Problem` on both (e.g. ``blocked`` forces one). Returns one row per
    oracle: ``oracle``, ``n``, ``d``, ``backend``, each library's ``layout`` and ``threads``,
    ``numpy`` and ``other`` (seconds, best), their ``*_times`` (every timed call) and ``ratio`` =
    other / NumPy.

    Raises
    ------
    ValueError
        An oracle not in :data:`ORACLES`.
    solvers.backends.BackendUnavailable
        ``backend`` cannot run here.
    """
    unknown = sorted(set(oracles) - set(ORACLES))
    if unknown:
        raise ValueError(f"oracles must be among {ORACLES}, got {unknown}")
    reference = Problem.planted(n, d, seed=seed, **options)
    other = Problem.planted(n, d, seed=seed, backend=backend, **options)
    ours, theirs = oracle_bodies(reference, seed), oracle_bodies(other, seed)
    rows = []
    for oracle in oracles:
        base, times = interleaved(repeat, (ours[oracle], theirs[oracle]), warmup=warmup)
        rows.append({"oracle": oracle, "n": n, "d": d, "backend": backend,
                     "layout": {"numpy": reference.layout, backend: other.layout},
                     "numpy": min(base), "other": min(times), "ratio": min(times) / min(base),
                     "numpy_times": base, "other_times": times,
                     "threads": {"numpy": threads(reference.backend), backend: threads(other.backend)}})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`versus_numpy` as a table: per size, each oracle's times and ratio."""
    lines = ["| (n, d) | layouts | oracle | numpy (ms) | other (ms) | ratio other / numpy | threads |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        counts = ", ".join(f"{name} {count}" for name, count in r["threads"].items())
        layouts = ", ".join(f"{name} {layout}" for name, layout in r["layout"].items())
        lines.append(f"| ({r['n']}, {r['d']}) | {layouts} | {r['oracle']} | {r['numpy'] * 1e3:.1f} | "
                     f"{r['backend']} {r['other'] * 1e3:.1f} | {r['ratio']:.2f}× | {counts} |")
    return "\n".join(lines)

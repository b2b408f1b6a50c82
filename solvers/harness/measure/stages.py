"""What a benchmark stage is: the single source of truth for the asv suites and the report.

A :class:`Stage` knows how to prepare its inputs on a backend (off the clock), what one
timed call does, its classical flop count (docs/maths.md §7, for the operations this code
performs) and a memory estimate used to skip sizes that cannot fit; what the paper's claim
implies for its time (exponents, sweeps, cost-model terms) is in :mod:`solvers.harness.claims`.

Timed bodies never synchronise themselves; callers use :func:`run_synchronized` (or
:func:`time_body`), which waits for the device before the clock stops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...backends import Backend
from ...loop import StepFailed
from ...problem import Problem
from ..claims import CLAIMS, ITERATION_SOLVERS, Claim

Body = Callable[[], Any]


@dataclass(frozen=True)
class Stage:
    """One timed operation of the method.

    Attributes
    ----------
    name : str
        Identifier used by asv benchmark names, report rows and result files.
    title : str
        Human description.
    prepare : callable
        ``prepare(problem, X, Y) -> body``; all input preparation happens here, off the clock.
    flops : callable or None
        ``flops(n, d)``: floating-point operations of one call, classical products.
    memory : callable
        ``memory(n, d)``: peak number of array *elements* one call needs (times itemsize for bytes).

    What the claim says about it (exponents, sweeps, cost-model terms) is its :attr:`claim`.
    """

    name: str
    title: str
    prepare: Callable[[Problem, Any, Any], Body]
    flops: Callable[[int, int], float] | None
    memory: Callable[[int, int], float]

    @property
    def claim(self) -> Claim:
        """The claim's exponents, sweeps and cost-model terms of this stage (:data:`solvers.harness.claims.CLAIMS`)."""
        return CLAIMS[self.name]

    def bytes_needed(self, n: int, d: int, itemsize: int = 8) -> float:
        """Estimated peak device memory of one call, in bytes."""
        return self.memory(n, d) * itemsize


def stage_point(problem: Problem, seed: int = 0) -> tuple[Any, Any]:
    """A fixed, non-trivial point (X, Y) near the planted solution (never zeros)."""
    rng = np.random.default_rng(seed + 1_000)
    d = problem.d
    X = (problem.X_star if problem.X_star is not None else np.zeros((d, d))) + 0.1 * rng.standard_normal((d, d))
    Y = problem.Y_star if problem.Y_star is not None else rng.standard_normal((d, d))
    return problem.as_variable(X, "X"), problem.as_variable(Y, "Y")


def _prepare_forward(problem: Problem, X: Any, Y: Any) -> Body:
    return lambda: problem.oracle(X, Y).forward


def _prepare_gradient(problem: Problem, X: Any, Y: Any) -> Body:
    return lambda: problem.oracle(X, Y).grad


def _prepare_y_solve(problem: Problem, X: Any, Y: Any) -> Body:
    return lambda: problem.oracle(X).least_squares()


def _prepare_hessian(problem: Problem, X: Any, Y: Any) -> Body:
    return lambda: problem.oracle(X, Y).hessian_x()


def _prepare_hessian_solve(problem: Problem, X: Any, Y: Any) -> Body:
    """Cholesky solve with the (damped, hence SPD) Gauss–Newton matrix of the point."""
    xp = problem.xp
    point = problem.oracle(X, Y)
    H = point.hessian_x(gauss_newton=True)
    shift = 1e-6 * float(xp.mean(xp.linalg.diagonal(H))) + 1e-12
    g = xp.reshape(point.grad[0], (-1,))

    def body() -> Any:
        solution, ok = problem.backend.cho_solve(H, g, shift)
        if not ok:
            raise FloatingPointError("hessian_solve: the damped Gauss–Newton matrix did not factorise")
        return solution

    return body


def _prepare_hvp(problem: Problem, X: Any, Y: Any) -> Body:
    rng = np.random.default_rng(7)
    D = problem.as_variable(rng.standard_normal((problem.d, problem.d)), "D")
    return lambda: problem.oracle(X, Y).hvp_x(D)


def settled_state(solver: Any, problem: Problem, X: Any, Y: Any) -> Any:
    """The method's state after one untimed step from (X, Y): the iteration the stage times.

    A method's first step pays for its initial guesses: from the stage point the paper's method
    needs three or four Levenberg–Marquardt trials (each a d²×d² factorisation) before its
    damping μ0 = 1e-3 has adapted, and one per step afterwards (n = 160, d = 32 … 80). Timed from
    the initial state, one iteration would cost one to four factorisations depending on the size,
    a factor that has nothing to do with the claim. Where that step already ends the run (no
    decrease possible), the initial state is timed.
    """
    state = solver.init_state(problem, X, Y)
    try:
        return solver.step(problem, state)
    except StepFailed:
        return state


def _iteration_stage(solver_name: str) -> Stage:
    def prepare(problem: Problem, X: Any, Y: Any) -> Body:
        from ...registry import get_solver, list_solvers

        if solver_name not in list_solvers():
            raise NotImplementedError(f"solver {solver_name!r} is not available")
        solver = get_solver(solver_name)
        reason = solver.skip(problem)
        if reason:  # the method's declared layouts: n/a, like any size the stage cannot run
            raise NotImplementedError(reason)
        state = settled_state(solver, problem, X, Y)
        return lambda: solver.step(problem, state)

    joint = solver_name in ("joint-newton", "gauss-newton")
    matrix_free = solver_name == "newton-cg"
    return Stage(
        name=f"iteration:{solver_name}",
        title=f"one iteration of {solver_name}",
        prepare=prepare,
        flops=None,
        memory=(lambda n, d: 12 * n * n + 30 * n * d) if matrix_free else
               ((lambda n, d: 6 * n * d * d + 4 * n * n + (12 if joint else 4) * d**4)),
    )


def _forward_flops(n: int, d: int) -> float:
    """A1·X and A3·Y (n×d×d each), (A1·X)·A2ᵀ and S·V (n×d×n, n×n×d): docs/maths.md §7."""
    return 4.0 * n * d * d + 4.0 * n * n * d


STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    Stage("forward", "logits A1·X·A2ᵀ, row softmax, output S·(A3·Y)", _prepare_forward,
          flops=_forward_flops, memory=lambda n, d: 3 * n * n + 6 * n * d + 2 * d * d),
    Stage("gradient", "loss gradients ∇_X L and ∇_Y L (docs/maths.md §2)", _prepare_gradient,
          flops=lambda n, d: 3.0 * _forward_flops(n, d), memory=lambda n, d: 6 * n * n + 8 * n * d + 4 * d * d),
    Stage("y_solve", "exact least-squares Y step: thin SVD of P = S A3, then V Σ⁺ Uᵀ B (docs/maths.md §3)", _prepare_y_solve,
          flops=lambda n, d: 8.0 * n * d * d + 4.0 * n * n * d + 24.0 * d**3,  # R-SVD: 4nd² + 22d³
          memory=lambda n, d: 3 * n * n + 6 * n * d + 4 * d * d),
    Stage("hvp", "Hessian–vector product H_X·vec(D) without forming H_X (docs/maths.md §5)", _prepare_hvp,
          flops=lambda n, d: 6.0 * n * d * d + 14.0 * n * n * d, memory=lambda n, d: 10 * n * n + 10 * n * d),
    Stage("hessian_assembly", "structured d²×d² X-Hessian (docs/maths.md §4)", _prepare_hessian,
          flops=lambda n, d: 4.0 * n * n * d * d + n * d**3 * (d + 1) + 2.0 * n * d**3 + _forward_flops(n, d) + 6.0 * n * n * d,
          memory=lambda n, d: 8 * n * d * d + 4 * n * n + 1.5 * d**4),
    Stage("hessian_solve", "Cholesky solve with a d²×d² Hessian (docs/maths.md §7)", _prepare_hessian_solve,
          flops=lambda n, d: d**6 / 3.0 + 4.0 * d**4, memory=lambda n, d: 8 * n * d * d + 4 * n * n + 3 * d**4),
    *(_iteration_stage(name) for name in ITERATION_SOLVERS),
)}


def prepare_stage(stage: Stage | str, backend: str | Backend, n: int, d: int, *, dtype: str = "float64",
                  seed: int = 0, warmup: int = 1, memory_limit: float | None = None) -> tuple[Body, Backend]:
    """Build a planted problem on ``backend``, prepare ``stage`` and warm it up.

    Returns the timed body and the backend (whose ``synchronize`` the timer must call).

    Raises
    ------
    NotImplementedError
        The backend is unavailable here, or the estimated memory exceeds ``memory_limit``
        bytes (asv shows both as n/a).
    """
    from ...backends import BackendUnavailable

    stage = STAGES[stage] if isinstance(stage, str) else stage
    itemsize = 8 if dtype == "float64" else 4
    if memory_limit is not None and stage.bytes_needed(n, d, itemsize) > memory_limit:
        raise NotImplementedError(f"{stage.name} at n={n}, d={d} needs ~{stage.bytes_needed(n, d, itemsize) / 2**30:.1f} "
                                  f"GiB > limit {memory_limit / 2**30:.1f} GiB")
    try:
        problem = Problem.planted(n, d, seed=seed, backend=backend, dtype=dtype)
    except BackendUnavailable as exc:
        raise NotImplementedError(str(exc)) from exc
    X, Y = stage_point(problem, seed)
    body = stage.prepare(problem, X, Y)
    for _ in range(warmup):
        run_synchronized(body, problem.backend)
    return body, problem.backend


def run_synchronized(body: Body, backend: Backend) -> Any:
    """Call ``body`` and wait for the device to finish its work."""
    out = body()
    backend.synchronize()
    return out


def time_body(body: Body, backend: Backend, *, repeat: int = 5, min_time: float = 0.0,
              max_time: float = math.inf, cpu: list[float] | None = None,
              setup: Callable[[], Any] | None = None) -> list[float]:
    """Wall-clock seconds of ``repeat`` synchronised calls (more while under ``min_time``); ``setup``, when
    given, runs before each call, off the clock.

    Stops early, after at least one call, once ``max_time`` seconds have been spent. When
    ``cpu`` is given, the process's CPU seconds of each call (every thread's: the row blocks run
    on worker threads) are appended to it (what :mod:`solvers.harness.measure.interference`
    compares with the wall time).
    """
    samples: list[float] = []
    spent = 0.0
    while len(samples) < repeat or spent < min_time:
        if setup is not None:
            setup()
        backend.synchronize()
        used = time.process_time()
        start = time.perf_counter()
        body()
        backend.synchronize()
        samples.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.process_time() - used)
        spent += samples[-1]
        if spent >= max_time:
            break
    return samples


def exp_rate(backend: Backend, size: int, *, repeat: int = 5) -> float:
    """The backend's ``exp`` rate in entries/s over a size×size array (median of ``repeat``), taken in
    row blocks of :data:`solvers.problem.BLOCK_BYTES` through ``map_blocks``, as the row-blocked
    oracles take it (every core on NumPy): with the backend's in-place kernel where it has one
    (``exp_inplace``: NumPy, torch on the CPU), on one copy of the blocks refilled off the clock before
    each call (one size×size array besides the logits: 512 MiB at size 8192), else ``xp.exp`` into fresh
    arrays. Inputs are random logits of order one.

    (torch's ``exp`` into a fresh 8 MiB array per block read 12–16 ns per entry here, page faults
    included, against 0.8–1 ns in place, the way the oracles take it.)
    """
    from ...problem import BLOCK_BYTES

    xp = backend.xp
    Z = backend.asarray(np.random.default_rng(12).standard_normal((size, size)))
    rows = max(1, BLOCK_BYTES // (size * Z.dtype.itemsize))
    blocks = [slice(start, min(start + rows, size)) for start in range(0, size, rows)]
    exp_inplace = getattr(backend, "exp_inplace", None)
    if exp_inplace is None:
        def body() -> Any:
            return backend.map_blocks(lambda block: xp.exp(Z[block, :]), blocks)
        refill = None
    else:
        work = [Z[block, :] * 1.0 for block in blocks]

        def body() -> Any:
            return backend.map_blocks(exp_inplace, work)

        def refill() -> None:
            for block, part in zip(blocks, work):
                part[...] = Z[block, :]
    samples = time_body(body, backend, repeat=repeat + 1, setup=refill)[1:]
    return size * size / float(np.median(samples))


def gemm_rate(backend: Backend, size: int, *, repeat: int = 5) -> float:
    """The backend's own square matrix-product rate in flop/s (median of ``repeat``).

    Inputs are random (never zeros), generated on the host and moved to the device.
    """
    rng = np.random.default_rng(11)
    A = backend.asarray(rng.standard_normal((size, size)))
    B = backend.asarray(rng.standard_normal((size, size)))
    samples = time_body(lambda: A @ B, backend, repeat=repeat + 1)[1:]
    return 2.0 * size**3 / float(np.median(samples))

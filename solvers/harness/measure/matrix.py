"""The benchmark matrix: every method on every case (problem kind × start × size × seed), time to its target.

The race (:mod:`solvers.harness.measure.race`) generalised: a case
(:class:`~solvers.harness.records.cases.Case`) fixes the problem, the start and the target
(L ≤ 1e-10 where min L = 0, else ‖∇L‖/‖∇L(start)‖ ≤ 1e-8), and :func:`race.run_case` runs the
methods on it one after another, each timed from outside its ``solve`` (compilation and imports
off the clock, ``gc.collect()`` and a pause before each call). The records are race entries
with the case's fields, in one file (:class:`~solvers.harness.records.RaceFile`).

**Caps.** The default method runs first; every method runs under a solver-time limit of
``min(cap(n, d), budget_factor × the best time so far on the case)``, with ``budget_factor`` =
100 by default, so the performance profile is exact up to τ = 100 wherever the absolute
cap does not bind (:func:`size_cap`), and a failing method costs at most that. Methods that
factorise a dense matrix whose Cholesky costs more than :data:`DENSE_FLOPS` per iteration
(the joint 2d²×2d² Hessian from d = 64, the d²×d² X-Hessian from d = 64) and those whose
``memory_bytes`` exceed the memory limit are recorded as ``skipped`` (not solved) with the reason.

**Resumable, with a time budget.** The file is rewritten atomically after every case; with
``resume`` the cases it already holds are kept and only the others run (a file measured at
another commit or with other settings is refused, :class:`~solvers.harness.records.ResumeConflict`);
without, it is started afresh. Ctrl-C (``KeyboardInterrupt``) stops the run at once: the file
keeps the finished cases, the cases under way are lost (their worker processes are terminated)
and a resume measures them.
With ``time_budget`` no case starts after that many seconds (the first always does, so every
resume makes progress); the rest wait for a resume.

**Workers.** ``workers`` > 1 runs cases in that many spawned processes, each with its native
thread pools (BLAS, OpenMP, torch, XLA) limited to ``threads`` and with this process's allocator
policy (:mod:`solvers.harness.measure.allocator`: a spawned process starts with glibc's defaults,
under which the (128, 16) cases' iterations ran up to 1.3× slower than the environment record says);
a case's methods always run one after another in one process, so its ratios compare like with like.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..records import RESUME_KEYS, Provenance, RaceEntry, RaceFile, ResumeConflict, load_race, write_race
from ..records.cases import Case, matrix_cases
from .allocator import allocator_policy, retain_freed_memory
from .cases import case_inputs
from .environment import collect, measured_under, thread_limit
from ...methods import DEFAULT_METHOD
from ...methods.damping import cholesky_flops
from .race import available, run_case

#: The project's methods in the matrix, and the peers. ``adam`` and ``gd`` are left out: with
#: their fixed steps they reach neither target (measured: README, "The benchmark matrix").
PROJECT_METHODS = ("varpro", "newton-cg", "gauss-newton", "joint-newton", "alternating", "sketched")
PEER_METHODS = ("jax-lbfgs", "lbfgs", "torch-lbfgs", "scipy-trust-ncg", "scipy-trust-krylov", "jax-newton-cg",
                "jax-trust-krylov", "scipy-newton-cg", "scipy-trust-exact", "jax-newton", "autograd-newton")
#: Side of the dense matrix each dense method factorises per iteration, as a multiple of d².
DENSE_SIDE = {"joint-newton": 2, "gauss-newton": 2, "scipy-trust-exact": 2, "autograd-newton": 2, "jax-newton": 2,
              "alternating": 1, "sketched": 1}
#: Cholesky flops per iteration above which a dense method is not run (side³/3: 2.3e10 at d²×d², d = 64; the
#: joint methods' block elimination costs about half their side's, which moves no size of the matrix across it).
DENSE_FLOPS = 1e10
#: The full matrix (:func:`full_cases`): every kind and start at the small size over five seeds, a
#: start per kind where it is hardest at the middle size, and the planted and low-noise cases at the
#: largest, three seeds each, and the case a user reported: 104 cases, every method not hopeless on each.
#: Estimated from a 30-case subset (about 50 s per case at (128, 16) on one loaded worker; the caps bind
#: for most methods at the larger sizes): about an hour with two single-threaded workers.
SIZES = ((128, 16), (512, 32), (1024, 64))
SMALL_SEEDS, SEEDS = (0, 1, 2, 3, 4), (0, 1, 2)
MIDDLE_CASES = (("planted", "near-1.5"), ("noisy-1%", "zero"), ("noisy-10%", "near-1.5"), ("random", "zero"))
LARGE_CASES = (("planted", "near-1.5"), ("noisy-1%", "near-0.5"))
#: A case a user reported: varpro ran 300 s from there without reaching L ≤ 1e-10 (loss 0.185 after 422
#: iterations) where other methods were said to succeed.
REPORTED_CASES = (Case("planted", "near-1.5", 256, 24, 4),)
#: Absolute solver-time cap per method and case at (128, 16), seconds (:func:`size_cap` scales it).
MAX_TIME = 2.0
#: Iteration limit per method and case: high enough that the time caps decide.
MAX_ITER = 100_000
#: The quick matrix: a few small cases that run in seconds (tests, asv on the quick grid).
QUICK_SIZES, QUICK_SEEDS = ((48, 6),), (0,)
QUICK_KINDS, QUICK_STARTS = ("planted", "noisy-10%", "random"), ("near-1.5", "zero")
QUICK_METHODS = (DEFAULT_METHOD, "newton-cg", "lbfgs")
#: … and its absolute cap (a method that fails there costs a second).
QUICK_MAX_TIME = 1.0


def full_cases() -> list[Case]:
    """The full matrix (:data:`SIZES`): 85 cases at (128, 16), 12 at (512, 32), 6 at (1024, 64), and the
    :data:`REPORTED_CASES` (104)."""
    (n0, d0), (n1, d1), (n2, d2) = SIZES
    return (matrix_cases([(n0, d0)], SMALL_SEEDS)
            + [Case(kind, start, n1, d1, seed) for seed in SEEDS for kind, start in MIDDLE_CASES]
            + [Case(kind, start, n2, d2, seed) for seed in SEEDS for kind, start in LARGE_CASES]
            + list(REPORTED_CASES))


def quick_cases() -> list[Case]:
    """The quick matrix (5 cases at (48, 6), seconds in all)."""
    return matrix_cases(QUICK_SIZES, QUICK_SEEDS, QUICK_KINDS, QUICK_STARTS)


def size_cap(n: int, d: int, max_time: float = MAX_TIME) -> float:
    """The absolute solver-time cap at (n, d): ``max_time`` × √(n²d / (128²·16)), at least ``max_time``.

    One Hessian–vector product costs about n²d, and the iterations to a target change slowly with
    the size; the square root of the cost ratio (5.7× at (512, 32), 16× at (1024, 64)) keeps the full
    matrix within its wall-time budget.
    """
    return max_time * max(1.0, math.sqrt(n * n * d / (128 * 128 * 16)))


def matrix_methods(methods: Sequence[str] | None = None, default: str = DEFAULT_METHOD) -> list[tuple[str, bool]]:
    """(name, is-a-project-method) in the order they run: the default first, the project's, then the peers;
    only those that can be constructed here (an optional extra may be absent)."""
    names = list(methods) if methods is not None else [*PROJECT_METHODS, *PEER_METHODS]
    if default in names:
        names.remove(default)
        names.insert(0, default)
    return [(name, name not in (*PEER_METHODS, "adam", "gd")) for name in available(names)]


def dense_cost(method: str, d: int) -> str | None:
    """What one iteration of a dense method factorises at this d where its Cholesky costs more than
    :data:`DENSE_FLOPS` (tens of seconds or more on one core), else None."""
    side = DENSE_SIDE.get(method, 0) * d * d
    if cholesky_flops(side) <= DENSE_FLOPS:
        return None
    return (f"one iteration factorises a {side}×{side} matrix ({cholesky_flops(side):.1e} flops, tens of seconds "
            "or more on one core)")


def dense_refusal(method: str, d: int) -> str | None:
    """Why a dense method is not run at this d (:func:`dense_cost`), or None."""
    cost = dense_cost(method, d)
    return None if cost is None else f"not run at d = {d}: {cost}, beyond any cap of the matrix"


def measure_case(case: Case, options: dict[str, Any]) -> list[RaceEntry]:
    """Every method of ``options["methods"]`` on ``case`` (see the module docstring); runs in a worker too."""
    problem, X0, Y0 = case_inputs(case)
    kind, target = case.target
    with thread_limit(options["threads"], ["torch"] if options["threads"] else []):
        return run_case(problem, X0, Y0, [tuple(m) for m in options["methods"]], fields=case.fields(),
                        provenance=options["provenance"], target=target, kind=kind,
                        max_time=size_cap(case.n, case.d, options["max_time"]),
                        budget_factor=options["budget_factor"], project_sets_budget=False,
                        max_iter=options["max_iter"], pause=options["pause"], memory_limit=options["memory_limit"],
                        refuse=lambda method: dense_refusal(method, case.d))


def run_matrix(cases: Sequence[Case], path: Path, *, methods: Sequence[str] | None = None,
               default: str = DEFAULT_METHOD, resume: bool = False, time_budget: float | None = None,
               workers: int = 1, threads: int | None = 1, max_time: float = MAX_TIME, budget_factor: float = 100.0,
               max_iter: int = MAX_ITER, pause: float = 0.2, memory_limit: float = 4e9,
               progress: Callable[[RaceEntry], None] | None = None) -> tuple[RaceFile, int]:
    """Measure ``cases`` into ``path`` (module docstring); returns the file's record and the cases left to run.

    Parameters
    ----------
    cases : sequence of Case
    path : Path
        The matrix file, rewritten atomically after each case.
    methods : sequence of str, optional
        Registry names (default: :data:`PROJECT_METHODS` and :data:`PEER_METHODS`).
    default : str
        The default method: run first on every case, drawn highlighted in the report.
    resume : bool
        Keep the cases ``path`` holds and run only the others.
    time_budget : float, optional
        Seconds after which no further case starts.
    workers : int
        Processes measuring cases side by side (1: this process).
    threads : int, optional
        Native threads per process (None: the libraries' own choice).
    max_time, budget_factor
        The caps (module docstring, :func:`size_cap`).
    progress : callable, optional
        Called with each entry once its case is measured.

    Raises
    ------
    ResumeConflict
        ``resume`` of a file measured at another commit or with other settings.
    """
    ordered = matrix_methods(methods, default)
    settings = {"default": default, "methods": [name for name, _ in ordered], "max_time": max_time,
                "budget_factor": budget_factor, "max_iter": max_iter, "pause": pause, "memory_limit": memory_limit,
                "dense_flops": DENSE_FLOPS}
    provenance: Provenance = measured_under(threads=threads, grid="matrix", options=settings)
    entries = _resumed(path, provenance) if resume else []
    done = {entry.get("case") for entry in entries}
    todo = [case for case in cases if case.key not in done]
    environment = collect()
    write_race(path, entries, environment, settings)
    options = {"methods": ordered, "provenance": provenance, "threads": threads, "max_time": max_time,
               "budget_factor": budget_factor, "max_iter": max_iter, "pause": pause, "memory_limit": memory_limit}
    started = time.perf_counter()

    def finished(measured: list[RaceEntry]) -> None:
        entries.extend(measured)
        write_race(path, entries, environment, settings)
        for entry in measured:
            if progress is not None:
                progress(entry)

    left = list(todo)

    def may_start() -> bool:  # the first case always starts, so that every resume makes progress
        return time_budget is None or len(left) == len(todo) or time.perf_counter() - started < time_budget

    if workers <= 1:
        while left and may_start():
            finished(measure_case(left.pop(0), options))
    else:
        with _single_threaded_children(threads), _pool(workers) as pool, _ctrl_c_between_waits() as pressed:
            running: set[Future] = set()
            while left or running:
                while left and len(running) < workers and may_start():
                    running.add(pool.submit(measure_case, left.pop(0), options))
                if not running:
                    break
                complete, running = wait(running, timeout=INTERRUPT_POLL, return_when=FIRST_COMPLETED)
                if pressed.is_set():
                    raise KeyboardInterrupt
                for future in complete:
                    finished(future.result())
    return load_race(path), len(left)


def _resumed(path: Path, provenance: Provenance) -> list[RaceEntry]:
    """The entries of the matrix file at ``path`` (none when absent), refusing one measured otherwise."""
    if not Path(path).exists():
        return []
    entries = load_race(path)["race"]
    for entry in entries:
        stated = entry.get("provenance") or {}
        for key in RESUME_KEYS:
            if key in stated and key in provenance and stated[key] != provenance[key]:
                then, now = stated[key], provenance[key]
                if isinstance(then, dict) and isinstance(now, dict):  # name the first option that differs
                    key = next(k for k in sorted({*then, *now}) if then.get(k) != now.get(k))
                    then, now = then.get(key), now.get(key)
                raise ResumeConflict(f"cannot resume {path}: its cases were measured with {key} = "
                                     f"{str(then)[:60]}, this run has {str(now)[:60]}; measure into a new file instead")
    return list(entries)


#: Seconds between two looks for a Ctrl-C while the workers measure (:func:`_ctrl_c_between_waits`).
INTERRUPT_POLL = 0.2


@contextmanager
def _ctrl_c_between_waits() -> Iterator[threading.Event]:
    """While inside, Ctrl-C (SIGINT) sets the event yielded instead of raising ``KeyboardInterrupt`` wherever
    the main thread is; the loop raises it between two waits.

    Raised inside ``concurrent.futures.wait``, which takes every future's lock in turn, the interrupt
    can leave one of them held, and the pool's shutdown then waits on it for ever (a test run hung so).
    Where SIGINT is not Python's default handler (ignored in a background job, or the caller's own), or
    off the main thread, nothing changes and the event is never set.
    """
    pressed = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield pressed
        return
    signal.signal(signal.SIGINT, lambda signum, frame: pressed.set())
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _worker_start(retain: bool) -> None:
    """A worker's set-up: Ctrl-C ignored (the parent handles it), and freed memory retained where the parent
    retains it (``retain``), so that the environment recorded by the parent holds for the worker's timings."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if retain:
        retain_freed_memory()


@contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """``workers`` spawned processes that ignore Ctrl-C and keep this process's allocator policy; whatever ends
    the block early (Ctrl-C here included) terminates them at once instead of waiting for their cases, and is
    raised again."""
    import multiprocessing

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start,
                               initargs=(allocator_policy()["policy"] == "retain",))
    try:
        yield pool
    except BaseException:
        for process in list((pool._processes or {}).values()):  # Python 3.14's pool.terminate_workers()
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


#: Environment variables that fix the native thread pools of a process at its start.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _single_threaded_children(threads: int | None) -> Iterator[None]:
    """While inside, processes started here limit BLAS/OpenMP and XLA to ``threads`` (None: unchanged)."""
    if threads is None:
        yield
        return
    saved = {key: os.environ.get(key) for key in (*THREAD_VARIABLES, "XLA_FLAGS")}
    os.environ.update({key: str(threads) for key in THREAD_VARIABLES})
    if threads == 1:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

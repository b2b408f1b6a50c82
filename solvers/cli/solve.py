"""``attnreg solve``: one method on one problem, with live progress and a one-line summary."""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

import numpy as np

from ..backends import BACKEND_NAMES, DTYPES, backend_unavailable_reason, get_backend
from ..problem import START_NOISE, START_SEED, Problem
from ..registry import list_solvers, solver_class
from ..result import FINISHED
from .arguments import (UsageError, given_options, matrix_case, non_negative_float, non_negative_int, positive_float,
                        positive_int)
from .progress import solve_with_progress

from ..methods import DEFAULT_METHOD

#: Iteration limit of ``solve`` and ``compare`` unless ``--max-iter`` or ``--case`` says otherwise.
MAX_ITER = 100


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that builds one problem."""
    parser.add_argument("--n", type=positive_int, default=128, help="sequence length (default 128)")
    parser.add_argument("--d", type=positive_int, default=16, help="feature dimension (default 16)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="problem seed (default 0)")
    parser.add_argument("--kind", choices=("planted", "random"), default="planted",
                        help="planted (min L = 0, the default) or random B")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="numpy")
    parser.add_argument("--dtype", choices=DTYPES, default="float64")
    parser.add_argument("--start-noise", type=non_negative_float, default=None, metavar="SIGMA",
                        help=f"planted only: start from X* + SIGMA·G (G standard normal d×d from numpy "
                             f"default_rng(--start-seed)); default {START_NOISE} on planted problems, "
                             "X = 0 on random ones. Y starts at the exact least-squares step")
    parser.add_argument("--start-seed", type=non_negative_int, default=START_SEED,
                        help=f"seed of G in --start-noise (default {START_SEED})")
    parser.add_argument("--eps", type=non_negative_float, default=1e-10, help="target loss (default 1e-10)")
    parser.add_argument("--max-iter", type=non_negative_int, default=None,
                        help=f"iteration limit (default {MAX_ITER}; with --case the matrix's)")
    parser.add_argument("--max-time", type=positive_float, default=None, help="solver-time limit in seconds")
    parser.add_argument("--case", type=matrix_case, default=None, metavar="KIND/START/NxD/SEED",
                        help="one case of the benchmark matrix as its report names it (e.g. planted/zero/128x16/3): "
                             "its problem, start, target (L ≤ 1e-10 where min L = 0, else |∇L|/|∇L(start)| ≤ 1e-8) "
                             "and time cap, with no iteration limit unless --max-iter is given; instead of --n, --d, "
                             "--seed, --kind, --start-noise, --start-seed and --eps")


#: The options a matrix case (``--case``) replaces.
CASE_REPLACES = ("n", "d", "seed", "kind", "start_noise", "start_seed", "eps")


def build_problem(args: argparse.Namespace, **options: Any) -> tuple[Problem, np.ndarray | None]:
    """The problem and starting X that the shared options describe (backends are checked by the caller).

    ``options`` go to :class:`Problem` (``memory_budget``, ``shard``, or a ``backend`` instance).
    """
    if args.case is not None:
        return _case_problem(args, options)
    if args.start_noise is not None and args.kind != "planted":
        raise UsageError("--start-noise needs a planted problem (--kind planted): random ones start from X = 0")
    make = Problem.planted if args.kind == "planted" else Problem.random
    options = {"backend": args.backend, **options}
    try:
        problem = make(args.n, args.d, seed=args.seed, dtype=args.dtype, **options)
    except ValueError as exc:  # sizes that cannot fit in memory: said before anything is allocated
        raise UsageError(str(exc)) from None
    if args.kind != "planted":
        return problem, None
    noise = START_NOISE if args.start_noise is None else args.start_noise
    return problem, problem.start_near_solution(noise, args.start_seed)


def _case_problem(args: argparse.Namespace, options: dict[str, Any]) -> tuple[Problem, np.ndarray]:
    """The problem and starting X of the matrix case ``args.case`` on ``--backend`` and ``--dtype``."""
    from ..harness.measure.cases import case_problem, case_start

    replaced = sorted(given_options(args, add_problem_arguments) & set(CASE_REPLACES))
    if replaced:
        raise UsageError(f"--case {args.case.key} fixes the problem, start and target: it takes no "
                         f"{', '.join('--' + name.replace('_', '-') for name in replaced)}")
    try:
        problem = case_problem(args.case, **{"backend": args.backend, "dtype": args.dtype, **options})
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return problem, case_start(args.case, problem)


def problem_label(args: argparse.Namespace, problem: Problem) -> str:
    """How the output names the problem: with the matrix case it comes from, where ``--case`` gave one."""
    return f"case {args.case.key}: {problem}" if args.case is not None else str(problem)


def solve_limits(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The solver options and the ``solve`` limits the shared options ask for.

    With ``--case``, the matrix's: ``eps`` = 1e-10 where min L = 0, else ``eps`` = 0 and ``gtol`` =
    1e-8 (stationarity); the matrix's time cap at that size unless ``--max-time`` is given, and its
    iteration limit unless ``--max-iter`` is.
    """
    limits = {"eps": args.eps, "max_iter": MAX_ITER if args.max_iter is None else args.max_iter,
              "max_time": args.max_time}
    if args.case is None:
        return {}, limits
    from ..harness.measure.matrix import MAX_ITER as MATRIX_MAX_ITER, size_cap

    kind, target = args.case.target
    if args.max_iter is None:
        limits["max_iter"] = MATRIX_MAX_ITER
    if args.max_time is None:
        limits["max_time"] = size_cap(args.case.n, args.case.d)
    if kind == "loss":
        return {}, {**limits, "eps": target}
    return {"gtol": target}, {**limits, "eps": 0.0}


def configure(parser: argparse.ArgumentParser) -> None:
    add_problem_arguments(parser)
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=list_solvers(), metavar="METHOD",
                        help=f"one of: {', '.join(list_solvers())} (default {DEFAULT_METHOD}; "
                             "alternating is the paper's method)")
    parser.add_argument("--memory-budget", type=positive_float, default=None, metavar="GIB",
                        help="GiB the oracles may use for n-wide temporaries (sizes their row blocks); "
                             "default a quarter of the available memory")
    parser.add_argument("--distributed", action="store_true",
                        help="one process of a torchrun job (--backend torch: gloo; torch-cuda: NCCL, one GPU "
                             "per process): every process draws the problem from --seed, keeps its rows of A1 "
                             f"and B and all-reduces partial sums; only rank 0 prints. Methods: "
                             f"{', '.join(sharded_methods())}")


def sharded_methods() -> list[str]:
    """The registered methods that run on a sharded problem (their declared layouts)."""
    return [name for name in list_solvers() if "sharded" in solver_class(name).layouts]


def run(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {}
    if args.memory_budget is not None:
        if not math.isfinite(args.memory_budget * 2**30):
            raise UsageError(f"--memory-budget {args.memory_budget:g} GiB is more bytes than a number can hold")
        options["memory_budget"] = int(args.memory_budget * 2**30)
    if not args.distributed:
        return _solve(args, options)
    _check_distributed(args)
    from ..backends.torch import process_group

    with process_group(cuda=args.backend == "torch-cuda") as (rank, size):
        backend = get_backend(args.backend, args.dtype, distributed=True)
        return _solve(args, {**options, "backend": backend, "shard": (rank, size)}, rank)


def _solve(args: argparse.Namespace, options: dict[str, Any], rank: int = 0) -> int:
    """Build the problem, solve, and (on rank 0) print the summary."""
    from ..registry import get_solver

    problem, X0 = build_problem(args, **options)
    solver_options, limits = solve_limits(args)
    solver = get_solver(args.method, **solver_options)
    if rank:
        result = solver.solve(problem, X0, **limits)
        return 0 if result.status in FINISHED else 1
    result = solve_with_progress(solver, problem, X0, **limits)
    if args.distributed:
        print(f"{problem.shard[1]} processes ({problem.backend.describe()['process_group_backend']}), "
              f"rows of A1 and B per process ≤ {-(-problem.n // problem.shard[1])}; "
              f"all-reduced {problem.backend.reduced_bytes} bytes per process")
    where = problem_label(args, problem)
    print(f"{result.solver} on {where} -> {result.status}: loss {result.loss:.3e} after "
          f"{result.iterations} iterations, {result.time:.3f} s solver time ({result.message})")
    return 0 if result.status in FINISHED else 1


def _check_distributed(args: argparse.Namespace) -> None:
    """Refuse ``--distributed`` options that cannot work, before joining a process group."""
    if args.backend not in ("torch", "torch-cuda"):
        raise UsageError(f"--distributed runs on torch.distributed: --backend torch or torch-cuda, not {args.backend}")
    if "sharded" not in solver_class(args.method).layouts:
        raise UsageError(f"--distributed runs {', '.join(sharded_methods())}; {args.method} cannot run sharded "
                         f"({solver_class(args.method).layout_reason})")
    if args.max_time is not None:
        raise UsageError("--distributed stops on --max-iter or --eps only: a per-process clock would stop "
                         "processes at different iterations")
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise UsageError(f"--distributed is one process of a torchrun job, and {', '.join(missing)} "
                         "(which torchrun sets) are not set: run it as torchrun --standalone --nproc-per-node N "
                         "-m solvers.cli -- solve --distributed …")
    unavailable = backend_unavailable_reason(args.backend)
    if unavailable:
        raise UsageError(f"--distributed --backend {args.backend}: {unavailable}")

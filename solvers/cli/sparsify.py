"""``attnreg sparsify``: attention-sparsification error table (docs/maths.md §8) over seeds."""

from __future__ import annotations

import argparse
import sys

from ..backends import BACKEND_NAMES, DTYPES
from ..sparsify import METHODS, RANDOMIZED, default_m
from .arguments import UsageError, positive_float, positive_int


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=positive_int, default=64, help="rows of X (default 64)")
    parser.add_argument("--d", type=positive_int, default=4096, help="columns of X (default 4096)")
    parser.add_argument("--r", type=positive_float, default=0.05, help="bound r; X has ‖XXᵀ‖∞ = 0.9 r (default 0.05)")
    parser.add_argument("--method", choices=(*METHODS, "all"), default="all", help="method (default all)")
    parser.add_argument("--m", type=positive_int, nargs="+", default=None, metavar="M",
                        help="draws / barrier steps for norm, leverage, bss (default ⌈8 n ln n⌉ and 4n); "
                             "the baselines always use m = 0 and m = n")
    parser.add_argument("--seeds", type=positive_int, default=20, help="seeds 0..S-1 (default 20)")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="numpy")
    parser.add_argument("--dtype", choices=DTYPES, default="float64")


#: n×d float64 arrays a seed of the study holds at once (the instance on the host and the backend, its
#: selection's temporaries), for the memory check before it starts.
STUDY_ARRAYS = 6
#: Smallest --r: exp(XXᵀ) differs from 1 by about r, which float64 resolves (to 1e-4 relative) down to here.
SMALLEST_R = 1e-12


def _check_sizes(args: argparse.Namespace) -> None:
    """Refuse sizes the study cannot run with, before it draws anything."""
    from ..problem import check_host_memory

    if args.r < SMALLEST_R:
        raise UsageError(f"--r {args.r:g} is below {SMALLEST_R:g}: the attention matrix is uniform to within float64's "
                         "rounding there, and every relative error (against its distance from uniform) is undefined")
    if args.n < 2:
        raise UsageError("--n must be at least 2: the randomized methods draw ⌈8 n ln n⌉ columns, none at n = 1")
    too_many = [m for m in args.m or () if m > args.d]
    if too_many:
        raise UsageError(f"--m {too_many[0]} > --d {args.d}: a sparsification keeps at most d columns")
    try:
        check_host_memory(args.n, args.d, f"--n {args.n} --d {args.d}", STUDY_ARRAYS,
                          "the instance and its selection's temporaries")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from ..backends import get_backend
    from ..harness.analyse.sparsify import done_when, summarize_errors
    from ..harness.measure.sparsify import error_study
    from .progress import work_progress

    _check_sizes(args)
    methods = METHODS if args.method == "all" else (args.method,)
    randomized = tuple(args.m) if args.m else (min(default_m("norm", args.n), args.d),)
    bss = tuple(m for m in (args.m or (min(default_m("bss", args.n), args.d),)) if m > args.n)
    if "bss" in methods and not bss:
        why = (f"--m {' '.join(map(str, args.m))} keeps no more than n" if args.m else
               f"it keeps at most d = {args.d} columns, and d ≤ n here (sparsification is for d ≫ n: raise --d)")
        print(f"attnreg sparsify: error: bss needs more than n = {args.n} columns; {why}", file=sys.stderr)
        return 2
    backend = get_backend(args.backend, args.dtype)
    with work_progress(args.seeds, title="sparsify") as tick:
        error = error_study(args.n, args.d, args.r, range(args.seeds), backend, bss_m=bss,
                            randomized_m=randomized, methods=methods, progress=tick)
    gram = max(row["gram_norm"] for row in error["rows"])
    print(f"n={args.n} d={args.d} ‖XXᵀ‖∞ ≤ {gram:.4g} < r={args.r:g}, {args.seeds} seeds, {backend.name} {backend.dtype}")
    print(f"{'method':<13}{'draws':>7}{'kept':>7}{'rel mean':>10}{'rel max':>10}{'abs mean':>11}{'abs max':>11}"
          f"{'time':>11}")
    for row in summarize_errors(error):
        print(f"{row['method']:<13}{row['draws']:>7}{row['m_mean']:>7.0f}{row['relative_mean']:>10.4f}"
              f"{row['relative_max']:>10.4f}{row['absolute_mean']:>11.3e}{row['absolute_max']:>11.3e}"
              f"{row['time_median'] * 1e3:>9.1f}ms")
    for check in done_when(error):
        kind = "randomized" if check["method"] in RANDOMIZED else "deterministic"
        print(f"done-when ({kind} {check['method']}, {check['draws']} draws): max relative error "
              f"{check['relative_max']:.4f} ≤ {check['target']}: {'met' if check['met'] else 'NOT met'}")
    return 0

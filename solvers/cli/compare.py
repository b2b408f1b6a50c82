"""``attnreg compare``: several methods on one problem, a table of times to each accuracy.

Every method starts from the same (X0, Y0) and runs under the same stopping rules. One
method failing (even at construction) does not stop the others: it is reported with
status "error" and the reason. The exit status is 0 whenever the comparison ran; each
method's status is data, shown in the table (final loss, gradient norm, solver and wall
time) and saved with ``--json`` (rewritten atomically as each method finishes, before any
plot). Ctrl-C stops the comparison at once with exit status 130, saying which methods'
results ``--json`` kept.

``--race`` runs :mod:`solvers.harness.measure.race` instead: the project's methods against every
peer on planted problems of several sizes and seeds, wall time to ``--eps``; ``--matrix`` the
benchmark matrix (:mod:`solvers.harness.measure.matrix`, :mod:`solvers.cli.matrix`), and
``--report FILE --out DIR`` its report from the saved file alone. The race's ``--json`` is
rewritten after each problem, so that Ctrl-C keeps the problems finished. An option the chosen
mode does not read (``--race --backend torch``, ``--matrix --eps``) is refused, never ignored.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from ..loop import describe_exception
from ..methods import DEFAULT_METHOD
from .arguments import UsageError, given_options, positive_float, writable_file
from .matrix import add_matrix_arguments
from .solve import add_problem_arguments, build_problem, problem_label, solve_limits
from ..problem import Problem
from .progress import solve_with_progress
from ..registry import get_solver, list_solvers
from ..harness.records import RaceEntry
from ..result import SolveResult

#: Accuracies whose time-to-reach the table reports.
TARGETS = (1e-2, 1e-4, 1e-8, 1e-12)


def _method_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = list_solvers()
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
                                         f"choose from {', '.join(known)}")
    return names


def _sizes(text: str) -> list[tuple[int, int]]:
    try:
        sizes = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",") if item.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(len(size) != 2 or min(size) < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must look like 128x16,512x32 (n x d, positive), got {text!r}")
    return sizes  # type: ignore[return-value]


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds must be non-negative integers such as 0,1,2, got {text!r}")
    return seeds


def configure(parser: argparse.ArgumentParser) -> None:
    add_problem_arguments(parser)
    parser.add_argument("--methods", type=_method_list, default=None, metavar="A,B,C",
                        help=f"comma-separated methods (default: all, the default method {DEFAULT_METHOD} first; "
                             f"{', '.join(list_solvers())})")
    parser.add_argument("--plot", type=writable_file, default=None, metavar="FILE.png",
                        help="draw loss against time and against iteration for every method")
    parser.add_argument("--json", type=writable_file, default=None, metavar="FILE",
                        help="save every result and the environment (written atomically)")
    parser.add_argument("--race", action="store_true",
                        help="race the project's methods against every peer on planted problems of --sizes "
                             "and --seeds (wall time to --eps; --methods then lists the project's side)")
    parser.add_argument("--sizes", type=_sizes, default=None, metavar="NxD,...",
                        help="--race: problem sizes (default 128x16,512x32,1024x64)")
    parser.add_argument("--seeds", type=_seeds, default=None, metavar="S,...", help="--race: seeds (default 0,1,2)")
    parser.add_argument("--budget-factor", type=positive_float, default=None, metavar="K",
                        help="--race: solver-time limit of every method after the first project method that "
                             "reached --eps, relative to the best project time (default 3); --matrix: relative "
                             "to the best time so far on the case (default 100)")
    add_matrix_arguments(parser)


#: The options each mode of ``compare`` reads; one given (not at its default) in a mode that does not read it
#: is refused rather than ignored (:func:`check_mode_options`).
MODE_OPTIONS = {
    "compare": {"n", "d", "seed", "kind", "case", "backend", "dtype", "start_noise", "start_seed", "eps", "max_iter",
                "max_time", "methods", "plot", "json"},
    "race": {"race", "sizes", "seeds", "budget_factor", "methods", "eps", "max_time", "json"},
    "matrix": {"matrix", "sizes", "seeds", "kinds", "starts", "quick", "resume", "overwrite", "time_budget",
               "workers", "threads", "budget_factor", "methods", "max_time", "json"},
    "report": {"report", "out", "against"},
}


def check_mode_options(args: argparse.Namespace) -> str:
    """The mode of ``compare`` the options ask for; raise :class:`UsageError` for two modes at once, or for an
    option the mode would ignore (a user who typed ``--race --backend torch`` expects torch)."""
    modes = [mode for mode, given in (("race", args.race), ("matrix", args.matrix),
                                      ("report", args.report is not None)) if given]
    if len(modes) > 1:
        raise UsageError(f"--{' and --'.join(modes)} are different runs: give one of them")
    mode = modes[0] if modes else "compare"
    ignored = sorted(given_options(args, configure) - MODE_OPTIONS[mode])
    if ignored:
        what = "a plain comparison" if mode == "compare" else f"--{mode}"
        raise UsageError(f"{what} does not use {', '.join('--' + name.replace('_', '-') for name in ignored)}")
    if args.quick and (args.sizes or args.seeds or args.kinds or args.starts):
        raise UsageError("--quick is a fixed set of cases: it takes no --sizes, --seeds, --kinds or --starts")
    return mode


def compare(problem: Problem, methods: list[str], X0: Any = None, *, console: Console | None = None,
            finished: Callable[[list[SolveResult]], None] | None = None, solver_options: dict[str, Any] | None = None,
            **solve_options: Any) -> list[SolveResult]:
    """Run each method on ``problem`` from the same start; never raises for a failing method.

    A ``KeyboardInterrupt`` propagates at once: the method under way is lost, those before
    it have been handed to ``finished``.

    Parameters
    ----------
    problem : Problem
    methods : list of str
        Registry names.
    X0 : array, optional
        Common starting X (Y0 is the exact least-squares step for it, as in ``solve``).
    console : rich.console.Console, optional
        Where progress goes (default: standard error).
    finished : callable, optional
        Called with the results so far after each method (to save them as they come).
    solver_options : dict, optional
        Options every method is built with (``gtol`` for a stationarity target).
    **solve_options
        ``eps``, ``max_iter``, ``max_time``.
    """
    results = []
    for method in methods:
        try:
            result = solve_with_progress(get_solver(method, **(solver_options or {})), problem, X0, console=console,
                                         **solve_options)
        except Exception as exc:  # noqa: BLE001 - one failing method must not stop the others
            result = SolveResult(status="error", X=np.full((problem.d, problem.d), np.nan),
                                 Y=np.full((problem.d, problem.d), np.nan), loss=math.nan, iterations=0,
                                 history=[], message=describe_exception(exc), solver=method,
                                 backend=problem.backend.name, dtype=problem.dtype)
        results.append(result)
        if finished is not None:
            finished(results)
    return results


def _seconds(value: float | None) -> str:
    """Seconds in six characters or fewer ("·" when never reached)."""
    if value is None or not math.isfinite(value):
        return "·" if value is None else "–"
    if value < 1:
        return f"{value * 1e3:.3g}ms"
    return f"{value:.3g}s" if value < 1000 else f"{value:.0f}s"


def results_table(results: list[SolveResult], title: str = "") -> Table:
    """A rich table narrow enough for a 100-column terminal: one row per method, its full name,
    status, iterations, final loss and |g|, solver time to each of :data:`TARGETS` ("·": never
    reached), solver and wall time. A method that ran on another backend than the problem's
    (a peer that moved the problem off the clock: ``info["moved_from"]``) is marked with ``*``
    and its backend named in the caption."""
    table = Table(title=title or None, box=None, padding=(0, 0, 0, 1), pad_edge=False, header_style="bold underline")
    table.add_column("method", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("iters", "loss", "|g|", *(f"L≤{target:.0e}".replace("e-0", "e-") for target in TARGETS),
                   "solver", "wall"):
        table.add_column(column, justify="right", no_wrap=True)
    moved = sorted({result.backend for result in results if "moved_from" in result.info})
    if moved:
        table.caption = f"* ran on {', '.join(moved)} (the problem moved there off the clock)"
    for result in results:
        name = f"{result.solver}*" if "moved_from" in result.info else result.solver
        table.add_row(name, result.status, str(result.iterations), f"{result.loss:.2e}", f"{result.grad_norm:.1e}",
                      *(_seconds(result.time_to_reach(target)) for target in TARGETS), _seconds(result.time),
                      _seconds(result.wall_time))
    return table


def run(args: argparse.Namespace) -> int:
    from ..harness.measure.environment import collect
    from ..harness.records import write_json

    mode = check_mode_options(args)
    if mode in ("report", "matrix"):
        from .matrix import run

        return run(args)
    if mode == "race":
        return run_race(args)
    problem, X0 = build_problem(args)
    solver_options, limits = solve_limits(args)
    methods = args.methods or [DEFAULT_METHOD, *(name for name in list_solvers() if name != DEFAULT_METHOD)]
    settings = {key: (value.key if key == "case" and value is not None else value)
                for key, value in vars(args).items() if not key.startswith("_")}
    settings.update(limits=limits, solver_options=solver_options)
    environment = collect(problem.backend) if args.json is not None else {}
    done: list[SolveResult] = []

    def finished(results: list[SolveResult]) -> None:
        done[:] = results
        if args.json is not None:
            write_json(args.json, {"problem": repr(problem), "settings": settings, "environment": environment,
                                   "results": [result.to_dict() for result in results]})

    try:
        results = compare(problem, methods, X0, console=Console(stderr=True), finished=finished,
                          solver_options=solver_options, **limits)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_kept(args.json, [result.solver for result in done], methods[len(done):])) from None
    out = Console() if Console().is_terminal else Console(width=100)  # piped output: the table's own width
    target = (f"gtol={solver_options['gtol']:g}" if "gtol" in solver_options else f"eps={limits['eps']:g}")
    where = problem_label(args, problem)
    out.print(results_table(results, title=f"{where} {target} max_iter={limits['max_iter']}"))
    for result in results:
        if result.status != "converged":
            out.print(f"{result.solver}: {result.status}: {result.message}", highlight=False, markup=False,
                      soft_wrap=True)
    if args.json is not None:
        out.print(f"json: {args.json}")
    if args.plot is not None:
        from ..harness.render.figures import plot_convergence

        plot_convergence(results, args.plot, title=where)
        out.print(f"plot: {args.plot}")
    return 0


def _kept(path: Path | None, done: list[str], rest: list[str]) -> str:
    """What an interrupted comparison kept (the ``done`` methods, in ``path``) and how to run the ``rest``."""
    again = f"--methods {','.join(rest)} runs the rest"
    if path is None:
        return f"nothing was saved (no --json); {again}"
    if not done:
        return f"no method finished, {path} was not written"
    return f"the results of {', '.join(done)} are kept in {path}; {again} (into another --json)"


def _race_line(entry: RaceEntry) -> str:
    """One race entry as a progress line."""
    wall = "not reached" if entry["wall"] is None else f"{entry['wall']:.3f} s"
    return f"{entry['n']}x{entry['d']} seed {entry['seed']} {entry['method']}: {entry['status']}, wall {wall}"


def run_race(args: argparse.Namespace) -> int:
    """``--race``: the race table (Markdown) on standard output, every entry with ``--json`` (saved after each
    problem, so that Ctrl-C keeps the finished ones)."""
    from ..harness.measure import race
    from ..harness.measure.environment import collect
    from ..harness.records import write_race
    from ..harness.render.race import markdown

    console = Console(stderr=True)
    environment = collect() if args.json is not None else {}
    problems = 0  # finished so far

    def finished(entries: list[RaceEntry]) -> None:
        nonlocal problems
        problems += 1
        if args.json is not None:
            write_race(args.json, entries, environment)

    try:
        entries = race.run_race(args.sizes or race.SIZES, args.seeds or race.SEEDS,
                                project=args.methods or race.PROJECT_METHODS, target=args.eps,
                                max_time=args.max_time or 300.0, budget_factor=args.budget_factor or 3.0,
                                progress=lambda entry: console.print(_race_line(entry), highlight=False),
                                on_case=finished)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_race_kept(args.json, problems)) from None
    print(markdown(entries, args.eps), end="")
    if args.json is not None:
        print(f"json: {args.json}")
    return 0


def _race_kept(path: Path | None, problems: int) -> str:
    """What an interrupted race kept: the entries of its ``problems`` finished problems, in ``path``."""
    if path is None:
        return "nothing was saved (no --json)"
    if not problems:
        return f"no problem finished, {path} was not written"
    return (f"the entries of the finished problems ({problems}) are kept in {path} (the race has no --resume: "
            "run it again, into another --json to keep these)")

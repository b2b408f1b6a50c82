"""``attnreg compare --matrix`` and ``attnreg compare --report``: the benchmark matrix and its report.

``--matrix --json F`` measures the matrix into F (:mod:`solvers.harness.measure.matrix`;
without ``--sizes``, ``--seeds``, ``--kinds`` or ``--starts`` the full matrix
(:func:`~solvers.harness.measure.matrix.full_cases`, 104 cases), with any of them every combination;
``--quick`` a few small cases in seconds; ``--resume`` continues F; ``--time-budget S`` starts no
case after S seconds; ``--workers N`` measures N cases side by side), prints each entry as it is
measured and, at the end, the profile's tables. An F that already holds cases is refused unless
``--resume`` continues it or ``--overwrite`` starts it afresh, and an F that ``--resume`` cannot
read is refused; both in one line, before any case runs. Ctrl-C stops at once: the finished
cases stay in F (exit status 130). ``--report F --out DIR`` writes ``DIR/report.md`` and
``DIR/profile.png`` from F alone (:mod:`solvers.harness.render.profile`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .arguments import UsageError, non_negative_int, positive_float, positive_int


def _choices(allowed: tuple[str, ...], what: str) -> "argparse._ActionsContainer":
    def parse(text: str) -> list[str]:
        names = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or '(none given)'}; "
                                             f"choose from {', '.join(allowed)}")
        return names

    parse.__name__ = what
    return parse  # type: ignore[return-value]


def add_matrix_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``--matrix`` and ``--report`` (``attnreg compare``)."""
    from ..harness.records.cases import KINDS, STARTS

    group = parser.add_argument_group("benchmark matrix (--matrix, --report)")
    group.add_argument("--matrix", action="store_true",
                       help="measure the benchmark matrix (kinds × starts × --sizes × --seeds; every method, wall "
                            "time to its target) into --json FILE")
    group.add_argument("--quick", action="store_true", help="--matrix: the quick matrix (5 cases at 48x6, seconds)")
    group.add_argument("--kinds", type=_choices(KINDS, "kinds"), default=None, metavar="K,...",
                       help=f"--matrix: problem kinds (default all: {', '.join(KINDS)})".replace("%", "%%"))
    group.add_argument("--starts", type=_choices(STARTS, "starts"), default=None, metavar="S,...",
                       help=f"--matrix: starts (default all: {', '.join(STARTS)})")
    group.add_argument("--resume", action="store_true", help="--matrix: keep the cases --json already holds")
    group.add_argument("--overwrite", action="store_true",
                       help="--matrix: measure afresh into a --json FILE that holds cases (they are lost; without "
                            "--resume or --overwrite such a FILE is refused)")
    group.add_argument("--time-budget", type=positive_float, default=None, metavar="S",
                       help="--matrix: start no case after S seconds (resume later with --resume)")
    group.add_argument("--workers", type=positive_int, default=1, metavar="N",
                       help="--matrix: processes measuring cases side by side (default 1)")
    group.add_argument("--threads", type=non_negative_int, default=1, metavar="N",
                       help="--matrix: native threads per process (default 1; 0: the libraries' own choice)")
    group.add_argument("--report", type=Path, default=None, metavar="FILE",
                       help="write the matrix report (report.md, profile.png) from FILE into --out")
    group.add_argument("--out", type=Path, default=None, metavar="DIR", help="--report: the report's folder")
    group.add_argument("--against", type=Path, default=None, metavar="FILE",
                       help="--report: another run of the same matrix, set beside FILE's (which cases each method "
                            "solved in one run only, the spread of its times)")


def run(args: argparse.Namespace) -> int:
    """``--report`` or ``--matrix``."""
    if args.report is not None:
        return _report(args)
    return _measure(args)


def _report(args: argparse.Namespace) -> int:
    from ..harness.render.profile import read_matrix, write_matrix_report

    if args.out is None:
        raise UsageError("--report FILE needs --out DIR (where report.md and profile.png go)")
    for option, path in (("--report", args.report), ("--against", args.against)):
        if path is not None and not path.is_file():
            raise UsageError(f"{option}: {path} is not a file")
    other, name = None, None
    if args.against is not None:
        with _read_as("--against", args.against):
            other, name = read_matrix(args.against), str(args.against)
    with _read_as("--report", args.report):
        path = write_matrix_report(args.report, args.out, against=other, against_name=name)
    print(f"report: {path}")
    return 0


@contextmanager
def _read_as(option: str, path: Path, hint: str = "") -> Iterator[None]:
    """Turn what reading a matrix file raises when it is not one (not JSON, not UTF-8, not a race file, a newer
    schema, unreadable) into a one-line UsageError naming ``option`` and ``path``, with ``hint`` appended."""
    try:
        yield
    except (ValueError, KeyError, TypeError, OSError) as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise UsageError(f"{option}: {path}: {exc}{hint}") from None


def _check_existing(args: argparse.Namespace) -> None:
    """Refuse, before any case runs, to resume a --json file that cannot be read or to start over one that holds
    cases (or that is something else) without --overwrite."""
    from ..harness.records import load_race

    path = args.json
    if args.resume and args.overwrite:
        raise UsageError("--resume continues --json FILE and --overwrite starts it afresh: give one of them")
    if args.overwrite or not path.exists() or (not args.resume and path.stat().st_size == 0):
        return
    option, hint = (("--resume", "; move it away or measure into a new --json") if args.resume else
                    ("--json", " (it exists and cannot be read as a matrix file: --overwrite replaces it)"))
    with _read_as(option, path, hint):
        held = load_race(path)["race"]
    if held and not args.resume:
        raise UsageError(f"--json {path} already holds measurements ({len(held)} entries): --resume continues it, "
                         "--overwrite measures it afresh (they are lost)")


def _measure(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..harness.measure import matrix
    from ..harness.records import ResumeConflict
    from ..harness.records.cases import KINDS, STARTS, matrix_cases
    from ..harness.render.profile import kinds_table, profile_table, verdict_lines
    from ..harness.analyse.profile import analyse_matrix

    if args.json is None:
        raise UsageError("--matrix needs --json FILE (the matrix is saved there after every case; --resume continues it)")
    _check_existing(args)
    if args.quick:
        cases = matrix.quick_cases()
        methods = args.methods or list(matrix.QUICK_METHODS)
    elif not (args.sizes or args.seeds or args.kinds or args.starts):
        cases, methods = matrix.full_cases(), args.methods  # the full matrix (104 cases), as the README states
    else:
        cases = matrix_cases(args.sizes or matrix.SIZES, args.seeds or matrix.SEEDS, args.kinds or KINDS,
                             args.starts or STARTS)
        methods = args.methods
    console = Console(stderr=True)

    def line(entry: dict) -> None:
        wall = "not reached" if entry["wall"] is None else f"{entry['wall']:.3f} s"
        console.print(f"{entry['case']} {entry['method']}: {entry['status']}, {wall}", highlight=False)

    console.print(f"{len(cases)} cases; file {args.json}", highlight=False)
    try:
        race, left = matrix.run_matrix(cases, args.json, methods=methods, resume=args.resume,
                                       time_budget=args.time_budget, workers=args.workers,
                                       threads=args.threads or None,
                                       max_time=args.max_time or (matrix.QUICK_MAX_TIME if args.quick else matrix.MAX_TIME),
                                       budget_factor=args.budget_factor or 100.0, progress=line)
    except ResumeConflict as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"the finished cases are kept in {args.json}; run the same command with --resume"
                                f"{' instead of --overwrite' if args.overwrite else ''} to continue") from None
    if race["race"]:
        analysis = analyse_matrix(race["race"], race.get("settings", {}).get("default", ""))
        print("\n".join(verdict_lines(analysis)) + "\n\n" + profile_table(analysis) + "\n\n" + kinds_table(analysis))
    print(f"json: {args.json}" + (f" ({left} cases left: --resume continues)" if left else ""))
    return 0

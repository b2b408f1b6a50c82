"""``attnreg reproduce`` and ``attnreg report``: the reproduction run and its report.

Both subcommands live here; :mod:`solvers.cli` registers this module under each name and
:func:`run` dispatches on ``args.command``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ..harness.analyse.analysis import MIN_FIT_TIME
from ..backends import BACKEND_NAMES, backend_unavailable_reason
from ..harness.claims import DEFAULT_CONFIDENCE, DEFAULT_DELTA, Rule
from ..harness.measure.grids import GRIDS
from ..harness.records import Measurements
from .arguments import non_negative_float, positive_float, positive_int

DEFAULT_ASV_RESULTS = Path("reports") / "asv-results"


def confidence_level(text: str) -> float:
    """An argparse type for a confidence level strictly between 0 and 1."""
    value = positive_float(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not allowed: a confidence level must be < 1")
    return value


def rule_of(args: argparse.Namespace, recorded: Rule | None = None) -> Rule | None:
    """The verdict rule the options ask for (the recorded one for options not given), or None."""
    if args.delta is None and args.confidence is None:
        return recorded
    base = recorded or Rule()
    return Rule(base.delta if args.delta is None else args.delta,
                base.confidence if args.confidence is None else args.confidence)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--machine", default=None,
                        help="machine name in out/reports/<machine>/ (default: asv's machine name, else the host name)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default out/reports/<machine>/, ignored by git; "
                             "--out reports/<machine> to publish a report in the repository)")
    parser.add_argument("--min-fit-ms", type=non_negative_float, default=MIN_FIT_TIME * 1e3, metavar="MS",
                        help=f"sizes faster than this are overhead-bound and left out of the fits "
                             f"(default {MIN_FIT_TIME * 1e3:g} ms)")
    parser.add_argument("--delta", type=positive_float, default=None, metavar="D",
                        help=f"half-width of the equivalence band around each claimed exponent: a fit holds only when "
                             f"its whole CI lies within ±D of it (default: as recorded, else {DEFAULT_DELTA:g})")
    parser.add_argument("--confidence", type=confidence_level, default=None, metavar="P",
                        help=f"confidence level of the CI the verdicts use (default: as recorded, else "
                             f"{DEFAULT_CONFIDENCE:g}, i.e. two one-sided tests at 5 %%)")
    if parser.prog.split()[-1] == "report":
        parser.add_argument("--from-asv", nargs="?", const=DEFAULT_ASV_RESULTS, type=Path, default=None,
                            metavar="RESULTS_DIR",
                            help=f"build the report from stored asv results (default {DEFAULT_ASV_RESULTS}); "
                                 "without it, rebuild from <out>/measurements.json")
        return
    parser.add_argument("--backend", dest="backends", action="append", choices=BACKEND_NAMES, metavar="B",
                        help=f"backend to time (repeatable; default: the grid's, less optional ones not installed). "
                             f"One of: {', '.join(BACKEND_NAMES)}")
    parser.add_argument("--grid", choices=list(GRIDS), default="quick", help="size grid (default quick)")
    parser.add_argument("--resume", action="store_true",
                        help="continue <out>/measurements.json, skipping the points it already holds (only a file measured "
                             "at this commit with the same settings: anything else is refused)")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="limit BLAS/OpenMP/torch threads to N for the whole run (e.g. 1 on a shared machine)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def command_line() -> str:
    """The command that is running, as a user would type it."""
    args = sys.argv[1:]
    return "attnreg " + shlex.join(args)


def run(args: argparse.Namespace) -> int:
    if args.command == "report":
        return _run_report(args)
    from ..harness.measure.reproduce import reproduce
    from ..harness.records import ResumeConflict, load_measurements
    from ..harness.render.report import build_report
    from .progress import work_progress

    backends = args.backends or list(GRIDS[args.grid].default_backends())
    missing = {name: backend_unavailable_reason(name) for name in backends}
    missing = {name: why for name, why in missing.items() if why}
    if missing:
        print("attnreg reproduce: nothing can be measured on " + "; ".join(f"{name} ({why})" for name, why in missing.items())
              + " — choose available backends with --backend", file=sys.stderr)
        return 2
    from ..harness.measure.environment import machine_name
    from ..harness.measure.reproduce import DEFAULT_OUT

    out = args.out or DEFAULT_OUT / machine_name(args.machine)
    problem = _output_problem(out, args.resume)
    if problem:
        print(f"attnreg reproduce: error: {problem}", file=sys.stderr)
        return 2
    try:
        path = reproduce(args.grid, args.backends, out, resume=args.resume, command=command_line(),
                         machine=args.machine, progress=None if args.no_progress else work_progress,
                         threads=args.threads, rule=rule_of(args))
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"the finished points are kept in {out / 'measurements.json'}; "
                                "run the same command with --resume to continue") from None
    except ResumeConflict as exc:  # never two commits or two settings under one label
        print(f"attnreg reproduce: error: {exc}; measure into a new --out", file=sys.stderr)
        return 2
    data = load_measurements(path)
    print(f"report written to {build_report(data, path.parent, args.min_fit_ms / 1e3, rule_of(args))}")
    return _completeness(data)


def _output_problem(out: Path, resume: bool) -> str | None:
    """Why the run could not write (or resume) its results in ``out``, said before anything is measured."""
    from ..harness.records import load_measurements

    if out.exists() and not out.is_dir():
        return f"--out {out} exists and is not a folder: give a folder for measurements.json, the report and figures"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the output folder {out}: {exc.strerror or exc}"
    if not os.access(out, os.W_OK):
        return f"cannot write into {out}: permission denied"
    path = out / "measurements.json"
    if path.exists() and not path.is_file():
        return f"{path} exists and is not a file: move it away or measure into a new --out"
    if not resume:
        return None
    if not path.is_file():
        return f"--resume: nothing to resume in {out} (no measurements.json there); run without --resume"
    try:
        load_measurements(path)
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        return f"--resume: cannot read {path} ({type(exc).__name__}: {exc}); move it away or measure into a new --out"
    return None


def _completeness(data: Measurements) -> int:
    """Say how much of the run is missing: exit 1 when nothing at all was measured."""
    points = data["points"]
    ok = sum(p["status"] == "ok" for p in points)
    runs = sum(run.get("status") not in (None, "error") for run in data["convergence"])
    if not ok and not runs:
        print(f"attnreg reproduce: nothing was measured ({len(points)} points skipped or failed, no convergence run "
              "finished); see 'Sizes left out' in the report", file=sys.stderr)
        return 1
    if ok < len(points):
        print(f"measured {ok} of {len(points)} stage points ({len(points) - ok} skipped or failed: see 'Sizes left "
              "out' in the report)", file=sys.stderr)
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from ..harness.measure.asv_import import measurements_from_asv
    from ..harness.measure.environment import machine_name
    from ..harness.records import load_measurements
    from ..harness.render.report import build_report
    from ..harness.measure.reproduce import DEFAULT_OUT

    if args.from_asv is not None:
        if not args.from_asv.is_dir():
            print(f"no asv results folder at {args.from_asv}", file=sys.stderr)
            return 2
        data = measurements_from_asv(args.from_asv, args.machine)
        data["command"] = command_line()
        if not data["points"]:
            hint = ("" if (args.from_asv / "benchmarks.json").exists() else
                    f" ({args.from_asv / 'benchmarks.json'} is missing: it names each benchmark's parameters; "
                    "`asv run` or `asv check` writes it)")
            print(f"no stage timings found in {args.from_asv}{hint}", file=sys.stderr)
            return 1
        out = args.out or DEFAULT_OUT / data["machine"] / "from-asv"
    else:
        out = args.out or DEFAULT_OUT / machine_name(args.machine)
        path = out / "measurements.json"
        if not path.exists():
            print(f"no {path}: run `attnreg reproduce` first, or pass --from-asv", file=sys.stderr)
            return 2
        try:
            data = load_measurements(path)
        except (ValueError, OSError) as exc:  # not JSON, not a record, a folder, unreadable
            print(f"cannot read {path}: {exc}", file=sys.stderr)
            return 2
    print(f"report written to {build_report(data, out, args.min_fit_ms / 1e3, rule_of(args, Rule.from_record(data)))}")
    return 0

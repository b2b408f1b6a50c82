"""``attnreg``: the command line.

Each subcommand lives in its own module with ``configure(parser)`` and ``run(args) -> int``,
imported only when it is used. Ctrl-C stops any of them with exit status :data:`INTERRUPTED`
and one line on standard error: a command that saves results raises the ``KeyboardInterrupt``
again with what it kept and how to go on as its message, any other says it stopped.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "env": ("solvers.cli.env", "print the environment every result records"),
    "solve": ("solvers.cli.solve", "solve one problem with one method, with live progress"),
    "reproduce": ("solvers.cli.reproduce", "reproduction run: stage timings, convergence, report under out/reports/<machine>/"),
    "report": ("solvers.cli.reproduce", "rebuild the report from measurements.json or stored asv results"),
    "compare": ("solvers.cli.compare", "run several methods on one problem and tabulate times to each accuracy"),
    "sparsify": ("solvers.cli.sparsify", "attention sparsification: error table of each method over seeds"),
}


#: The exit status after Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130


#: What ``attnreg --help`` says the program is.
DESCRIPTION = ("Second-order training of one softmax-attention layer, benchmarked: reproduce the runtime claim, "
               "solve, compare methods, sparsify.")


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    parser = argparse.ArgumentParser(prog="attnreg", description=DESCRIPTION)
    try:
        installed = version("attnreg")
    except PackageNotFoundError:  # run from a checkout that is not installed
        installed = "not installed"
    parser.add_argument("--version", action="version", version=f"attnreg {installed}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, summary) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=summary, description=summary)
        sub_parser.set_defaults(_module=module)
        importlib.import_module(module).configure(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``attnreg`` console script."""
    from ..harness.measure.allocator import retain_freed_memory

    parser = build_parser()
    args = parser.parse_args(argv)
    retain_freed_memory()  # timing commands: see solvers/harness/measure/allocator.py
    if args.command is None:
        parser.print_help()
        return 2
    from ..backends import BackendUnavailable
    from .arguments import UsageError

    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (BackendUnavailable, UsageError) as exc:  # e.g. --backend cupy on a machine without CuPy or a GPU
        print(f"attnreg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # a command that saves results says what it kept in the message
        print(f"interrupted: {str(exc) or f'attnreg {args.command} stopped'}", file=sys.stderr)
        return INTERRUPTED


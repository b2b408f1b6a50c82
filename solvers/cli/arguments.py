"""Argument types of the command line: each rejects a bad value before any work starts.

argparse turns the ``ArgumentTypeError`` of these types into a one-line message naming the
option and the value, after the usage line, with exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..harness.records.cases import Case


class UsageError(ValueError):
    """Options that are each valid but not together; ``attnreg`` prints it in one line and exits 2."""


def _number(kind: type, text: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def bounded(kind: type, *, minimum: float, strict: bool = False) -> Callable[[str], float]:
    """An argparse type for an ``int`` or ``float`` that is ≥ ``minimum`` (> with ``strict``)."""
    relation = ">" if strict else "≥"

    def parse(text: str) -> float:
        value = _number(kind, text)
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"{text} is not allowed: must be {relation} {minimum:g}")
        return value

    parse.__name__ = f"{kind.__name__} {relation} {minimum:g}"  # argparse names the type in some messages
    return parse


positive_int = bounded(int, minimum=1)
non_negative_int = bounded(int, minimum=0)
positive_float = bounded(float, minimum=0.0, strict=True)
non_negative_float = bounded(float, minimum=0.0)


def given_options(args: argparse.Namespace, configure: Callable[[argparse.ArgumentParser], None]) -> set[str]:
    """The options of ``args`` that ``configure`` declares and that differ from its defaults (those a user gave)."""
    parser = argparse.ArgumentParser()
    configure(parser)
    defaults = vars(parser.parse_args([]))
    return {name for name, value in vars(args).items() if name in defaults and value != defaults[name]}


def matrix_case(text: str) -> "Case":
    """A case of the benchmark matrix by its label ``kind/start/NxD/seed``."""
    from ..harness.records.cases import case_from_key

    try:
        return case_from_key(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def writable_file(text: str) -> Path:
    """An output file whose folder exists and can be written, checked before the work that fills it."""
    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {text}: permission denied")
    return path

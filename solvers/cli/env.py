"""``attnreg env``: the environment record, as text or JSON."""

from __future__ import annotations

import argparse
import json

from ..backends import BACKEND_NAMES, DTYPES, get_backend
from ..harness.measure.environment import collect, format_lines


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="numpy",
                        help="also describe this backend's policy (default: numpy)")
    parser.add_argument("--dtype", choices=DTYPES, default="float64")
    parser.add_argument("--tf32", action="store_true", help="torch-cuda: allow TF32 in float32 products")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    record = collect(get_backend(args.backend, args.dtype, tf32=args.tf32))
    print(json.dumps(record, indent=2) if args.json else "\n".join(format_lines(record)))
    return 0

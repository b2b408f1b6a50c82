"""``attnreg env``: the environment record, as text or JSON."""

from __future__ import annotations

import argparse
import json

from ..backends import BACKEND_NAMES, DTYPES, get_backend
from ..harness.measure.environment import collect, format_lines
from .arguments import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="numpy",
                        help="also describe this backend's policy (default: numpy)")
    parser.add_argument("--dtype", choices=DTYPES, default="float64")
    parser.add_argument("--tf32", action="store_true", help="torch-cuda: allow TF32 in float32 products")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    if args.tf32 and args.backend != "torch-cuda":
        raise UsageError(f"--tf32 applies to --backend torch-cuda only (TF32 is a CUDA mode), not {args.backend}")
    record = collect(get_backend(args.backend, args.dtype, tf32=args.tf32))
    print(json.dumps(record, indent=2) if args.json else "\n".join(format_lines(record)))
    return 0

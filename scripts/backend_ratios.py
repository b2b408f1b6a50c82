"""Print each oracle's time on NumPy and on torch (CPU) side by side, and their ratio (issue #24).

The measurement is :func:`solvers.harness.measure.versus_backends.versus_numpy`: the loss, the
value and gradient, ``hvp_x``, the joint ``hvp`` and the Y step, at X* + 0.5·G of a planted
problem, float64, each library with its own threads, best of ``--repeat`` interleaved calls
after ``--warmup`` untimed ones, in the problem's default layout (``--layout`` forces one).

    python scripts/backend_ratios.py                              # (1024, 32) and (4096, 64)
    python scripts/backend_ratios.py --size 1024x32 --repeat 7 --layout blocked --json out/ratios.json
    python scripts/backend_ratios.py --threads 1     # on a shared machine: one thread each (the libraries' kernels)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, installed or not

from solvers.harness.measure.allocator import retain_freed_memory  # noqa: E402
from solvers.harness.measure.environment import thread_limit  # noqa: E402
from solvers.harness.measure.versus_backends import ORACLES, SIZES, WARMUP, markdown, versus_numpy  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", help="NxD (repeatable); default: " +
                        ", ".join(f"{n}x{d}" for n, d in SIZES))
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--oracle", action="append", choices=ORACLES, help="default: all")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--layout", choices=("default", "dense", "blocked"), default="default")
    parser.add_argument("--threads", type=int, help="limit every library to this many threads (default: their own)")
    parser.add_argument("--json", type=Path, help="also write every timed call here")
    args = parser.parse_args(argv)
    retain_freed_memory()  # the allocator policy of every attnreg timing run
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.size] if args.size else list(SIZES)
    options = {} if args.layout == "default" else {"blocked": args.layout == "blocked"}
    started = time.perf_counter()
    rows = []
    with thread_limit(args.threads, ["numpy", args.backend]):
        for n, d in sizes:
            rows += versus_numpy(n, d, args.backend, args.oracle or ORACLES, repeat=args.repeat, warmup=args.warmup,
                                 **options)
    print(markdown(rows))
    worst = max(rows, key=lambda r: r["ratio"])
    print(f"\nworst ratio {worst['ratio']:.2f}× ({worst['oracle']} at ({worst['n']}, {worst['d']})); "
          f"measured in {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

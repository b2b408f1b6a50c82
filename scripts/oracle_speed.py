"""Print issue #20's three tables: the oracles against jax.jit, the default layout against the
faster of the row-blocked and full-S paths on the quick grid, and lbfgs against jax-lbfgs per iteration.

    python scripts/oracle_speed.py [--repeat N] [--only jax,layout,lbfgs]

Each JAX measurement runs in a fresh process (JAX's thread pools keep the CPU affinity they
start with; see solvers/harness/measure/versus_jax.py), with the allocator policy of every
attnreg command. On the 2-core machine shared with two to five other jobs: about 15 minutes
(JAX table 4, layout table at one thread 9, lbfgs 1.5). On a machine shared with other jobs,
compare the ratios, never the times across runs, and pass --layout-threads 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's solvers, whatever is installed

CHILD = """
import json, sys
from solvers.harness.measure.allocator import retain_freed_memory
retain_freed_memory()
from solvers.harness.measure import oracle_speed
kind, args = sys.argv[1], json.loads(sys.argv[2])
rows = {"jax": oracle_speed.versus_jax_table, "lbfgs": oracle_speed.lbfgs_versus_jax}[kind](**args)
print(json.dumps(rows))
"""


def _child(kind: str, **args: Any) -> Any:
    done = subprocess.run([sys.executable, "-c", CHILD, kind, json.dumps(args)], capture_output=True, text=True,
                          cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{kind} measurement failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=None,
                        help="interleaved calls per contender, the best kept (default: 5 against JAX, 3 for the layout)")
    parser.add_argument("--only", default="jax,layout,lbfgs", help="which tables, comma-separated")
    parser.add_argument("--layout-threads", type=int, default=None,
                        help="BLAS threads for the layout table (default: the machine's; 1 on a busy machine)")
    args = parser.parse_args()
    repeat = {} if args.repeat is None else {"repeat": args.repeat}  # else each table's own default
    only = set(args.only.split(","))
    if not only <= {"jax", "layout", "lbfgs"}:
        parser.error(f"--only takes jax, layout and lbfgs, comma-separated; got {args.only!r}")
    if "jax" in only:
        print("## jax.jit time / project time (one core each; ≥ 1: the project is faster)\n")
        print("| n | d | oracle | project ms | jax ms | ratio |\n| --- | --- | --- | --- | --- | --- |")
        for n, d in ((512, 32), (2048, 64), (4096, 64)):
            for row in _child("jax", sizes=[[n, d]], **repeat):
                print(f"| {n} | {d} | {row['oracle']} | {row['project'] * 1e3:.2f} | {row['jax'] * 1e3:.2f} | "
                      f"{row['ratio']:.2f} |", flush=True)
    if "layout" in only:
        from solvers.harness.measure.allocator import retain_freed_memory
        from solvers.harness.measure.oracle_speed import layout_table

        retain_freed_memory()
        threads = "the machine's threads" if args.layout_threads is None else f"{args.layout_threads} thread(s)"
        print(f"\n## default layout / faster of blocked and full ({threads}; target ≤ 1.1)\n")
        print("| stage | n | d | default | blocked ms | full ms | ratio |\n| --- | --- | --- | --- | --- | --- | --- |")
        layout_table(**repeat, threads=args.layout_threads, progress=lambda r: print(
            f"| {r['stage']} | {r['n']} | {r['d']} | {r['default']} | {r['blocked'] * 1e3:.2f} | {r['full'] * 1e3:.2f} | "
            f"{r['ratio']:.2f} |", flush=True))
    if "lbfgs" in only:
        print("\n## lbfgs / jax-lbfgs, wall time per iteration at (512, 32) (target ≤ 1.1)\n")
        print("| threads | iterations | lbfgs ms/it | jax-lbfgs ms/it | ratio |\n| --- | --- | --- | --- | --- |")
        for one_core in (False, True):
            row = _child("lbfgs", one_core=one_core, **repeat)
            print(f"| {'one core' if one_core else 'the machine'} | {row['iterations']:.0f} | {row['lbfgs'] * 1e3:.3f} | "
                  f"{row['jax-lbfgs'] * 1e3:.3f} | {row['ratio']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

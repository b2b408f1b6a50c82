"""The busy-machine check: the same reproduction idle and beside busy processes must never reverse a verdict.

Runs ``python -m solvers.cli reproduce`` (quick grid by default) once on the machine as it
is, then once more with ``--busy`` processes spinning (``python -c "while True: pass"``)
beside it, kills them, and compares the two runs' ``analysis.json``: for every fit both
report (stage, backend, sweep, fixed size), neither its bound nor its tight-exponent verdict
may read "holds" in one run and "does not hold" in the other. Prints both runs' verdict
sentences and every fit whose verdicts differ; exits 1 on a reversal, 0 otherwise.

    python scripts/busy_check.py                      # quick grid, out/busy-check/{idle,busy}
    python scripts/busy_check.py --compare A B        # only compare two report folders
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OPPOSITE = {"holds": "does not hold", "does not hold": "holds"}


def verdicts(analysis: dict[str, Any]) -> dict[tuple[str, str, str, Any, str], str]:
    """(stage, backend, sweep, fixed, which) -> verdict, ``which`` being "bound" or "tight"."""
    out = {}
    for row in analysis.get("scaling", []):
        key = (row["stage"], row["backend"], row["sweep"], row["fixed"])
        out[(*key, "tight")] = row["verdict"]
        if isinstance(row.get("bound"), dict):
            out[(*key, "bound")] = row["bound"]["verdict"]
    return out


def reversals(first: dict[str, Any], second: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The fits whose verdicts reverse between two analyses, and those that only differ."""
    a, b = verdicts(first), verdicts(second)
    flipped, changed = [], []
    for key in sorted(a.keys() & b.keys(), key=str):
        if a[key] == b[key]:
            continue
        stage, backend, sweep, fixed, which = key
        line = f"{stage} ({backend}) {sweep} at {fixed}, {which}: {a[key]} -> {b[key]}"
        (flipped if OPPOSITE.get(a[key]) == b[key] else changed).append(line)
    return flipped, changed


def verdict_lines(report: Path) -> list[str]:
    """The numbered sentences of a report's verdict section."""
    text = report.read_text()
    section = text[text.index("## Verdict"):text.index("## Exponents against the claim")]
    return [line for line in section.splitlines() if re.match(r"\d\. ", line)]


def reproduce(out: Path, grid: str, busy: int) -> float:
    """One reproduction into ``out`` with ``busy`` spinning processes beside it; its wall seconds."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "solvers.cli", "reproduce", "--grid", grid, "--out", str(out),
                        "--no-progress", "--machine", out.name], check=True)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    return time.perf_counter() - started


def compare(idle: Path, busy: Path) -> int:
    """Print both runs' verdicts and the differences; 1 when any verdict reverses."""
    for name, folder in (("idle", idle), ("busy", busy)):
        print(f"== {name}: {folder}")
        print("\n".join(verdict_lines(folder / "report.md")))
    flipped, changed = reversals(*(json.loads((f / "analysis.json").read_text()) for f in (idle, busy)))
    for line in changed:
        print(f"less (or more) sure: {line}")
    for line in flipped:
        print(f"REVERSED: {line}")
    print(f"{len(flipped)} reversed, {len(changed)} changed without reversing")
    return 1 if flipped else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="quick", help="grid of both runs (default quick)")
    parser.add_argument("--busy", type=int, default=2, help="spinning processes beside the second run (default 2)")
    parser.add_argument("--out", type=Path, default=Path("out") / "busy-check", help="folder of the two reports")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("IDLE", "BUSY"), help="only compare two report folders")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    idle, busy = args.out / "idle", args.out / "busy"
    print(f"idle run: {reproduce(idle, args.grid, 0):.0f} s; busy run ({args.busy} spinning): "
          f"{reproduce(busy, args.grid, args.busy):.0f} s")
    return compare(idle, busy)


if __name__ == "__main__":
    sys.exit(main())

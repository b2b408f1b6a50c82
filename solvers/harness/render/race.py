"""The race as Markdown: the summary table (best project method against best peer), every method's
time, and the report's section built from the race files beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..analyse.race import summarise
from ..records import RaceEntry, load_race
from .profile import matrix_markdown, require_matrix
from .provenance import commit_label


def _seconds(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "not reached"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def summary_table(entries: Sequence[RaceEntry]) -> list[str]:
    """The Markdown summary table: per problem, the project's best, the best peer and their ratio."""
    lines = ["| n, d | seed | project's best | best peer | peer / project |", "| --- | --- | --- | --- | --- |"]
    for row in summarise(entries):
        ratio = "–" if row.ratio is None else f"{'> ' if row.ratio_is_lower_bound else ''}{row.ratio:.1f}×"
        peer = "none reached the target" if row.peer_wall is None else f"{row.peer} {_seconds(row.peer_wall)}"
        lines.append(f"| {row.n}, {row.d} | {row.seed} | {row.project} {_seconds(row.project_wall)} | {peer} | {ratio} |")
    return lines


def markdown(entries: Sequence[RaceEntry], target: float = 1e-10) -> str:
    """The race as Markdown: the summary table (ratio per problem), then every method's wall time."""
    lines = summary_table(entries)
    lines += ["", f"Wall time to L ≤ {target:g} (solver time, iterations, status) of every method:", "",
              "| n, d | seed | method | wall | solver time | iterations | status |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for e in entries:
        if e["status"] == "skipped":
            lines.append(f"| {e['n']}, {e['d']} | {e['seed']} | {e['method']} (peer) | skipped: {e['message']} | | | |")
            continue
        name = e["method"] if e["project"] else f"{e['method']} (peer)"
        lines.append(f"| {e['n']}, {e['d']} | {e['seed']} | {name} | {_seconds(e['wall'])} | "
                     f"{_seconds(e['solver_time'])} | {e['iterations']} | {e['status']} |")
    return "\n".join(lines) + "\n"


def race_section(out_dir: Path) -> list[str]:
    """The solvers-against-peers section from the race files in ``out_dir/race/`` (``attnreg compare --race
    --json``), one summary table per file with the commit(s) it was measured at, and for a benchmark-matrix
    file (``attnreg compare --matrix --json``) its performance profile and tables (the figure
    ``race/<stem>/profile.png``, which ``attnreg compare --report race/<stem>.json --out race/<stem>``
    writes, when present); nothing when there are none."""
    files = sorted((out_dir / "race").glob("*.json"))
    if not files:
        return []
    lines = ["## The project's solvers against the peers", "",
             "Wall time to L ≤ 1e-10 on planted problems from X* + 0.5·G, the project's fastest method against the "
             "fastest peer a user would pick (SciPy's minimisers on our exact oracles, L-BFGS-B, JAX autodiff), "
             "measured one after another in one run (`attnreg compare --race`; asv `benchmarks/bench_race.py`). "
             "\"> k×\": no peer reached the target within k times the project's time.", ""]
    for path in files:
        try:
            race = load_race(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            lines += [f"`race/{path.name}`: not readable ({type(exc).__name__}: {exc}).", ""]
            continue
        entries = race["race"]
        if any("case" in e for e in entries):  # a benchmark matrix: its profile and tables
            try:
                require_matrix(race)
            except ValueError as exc:
                lines += [f"`race/{path.name}`: not readable ({exc}).", ""]
                continue
            figure = path.parent / path.stem / "profile.png"   # attnreg compare --report F --out race/<stem>
            lines += [f"From the matrix file `race/{path.name}`:", ""]
            lines += matrix_markdown(race, f"race/{path.stem}/profile.png" if figure.exists() else None)[2:]
            continue
        commits = ", ".join(dict.fromkeys(commit_label(e["provenance"]) for e in entries))
        lines += [f"From `race/{path.name}`, measured at {commits or 'no commit'} (every method's time: "
                  f"`race/{path.stem}.md` when present):", ""]
        lines += summary_table(entries) + [""]
    return lines

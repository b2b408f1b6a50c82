"""Where the numbers come from: the report's environment section, the commit behind each number."""

from __future__ import annotations

from typing import Any

from ..records import Measurements, Provenance

#: What each kind of record is called in the commits line, keyed by where it lives in the file.
_KINDS = (("points", "stage point"), ("convergence", "convergence run"), ("convergence_study", "study run"))


def commit_label(provenance: Provenance | dict[str, Any]) -> str:
    """A commit as the report names it: 12 hex digits, marked when its checkout had uncommitted changes."""
    commit = provenance.get("commit")
    text = f"`{commit[:12]}`" if commit else "an unknown commit"
    return text + (" (uncommitted changes)" if provenance.get("dirty") else "")


def commits_line(data: Measurements) -> str:
    """Each commit the file's numbers were measured at, with how many records it measured."""
    counts: dict[str, dict[str, int]] = {}
    for key, kind in _KINDS:
        for record in data.get(key, []):  # type: ignore[attr-defined]
            label = commit_label(record.get("provenance") or {})
            counts.setdefault(label, {}).setdefault(kind, 0)
            counts[label][kind] += 1
    sparsification = data.get("sparsification")
    if isinstance(sparsification, dict) and sparsification.get("status") == "ok":
        counts.setdefault(commit_label(sparsification.get("provenance") or {}), {})["the sparsification study"] = 1
    parts = [f"{label} ({', '.join(_count(n, kind) for kind, n in kinds.items())})" for label, kinds in counts.items()]
    return f"- measured at: {'; '.join(parts) or 'nothing measured'}"


def _count(n: int, kind: str) -> str:
    return kind if kind.startswith("the ") else f"{n} {kind}{'' if n == 1 else 's'}"


def _thread_text(data: Measurements) -> str:
    """The native-thread settings the points were measured under, from each point's provenance."""
    counts: dict[Any, int] = {}
    for record in (*data.get("points", []), *data.get("convergence", [])):
        threads = (record.get("provenance") or {}).get("threads")
        counts[threads] = counts.get(threads, 0) + 1
    if not counts or set(counts) == {None}:
        return ""
    parts = [f"{'the libraries’ default' if k is None else f'limited to {k}'} ({v} records)" for k, v in counts.items()]
    return "; native threads: " + ", ".join(parts)


def environment_lines(data: Measurements) -> list[str]:
    """A short description of where the numbers come from."""
    env = data.get("environment") or {}
    git = env.get("git") or {}
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)"
                     for b in env.get("blas", []))
    runs = data.get("runs", [])
    wall = sum(r.get("wall_s", 0.0) for r in runs)
    lines = [f"- command: `{data.get('command') or 'unknown'}`",
             f"- machine: `{data.get('machine')}` — {env.get('cpu', '?')}, {env.get('cpu_count', '?')} logical cores"
             + (f"; GPUs: {', '.join(env['gpus'])}" if env.get("gpus") else ""),
             f"- software: Python {env.get('python', '?')}, "
             + ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items())
             + (f"; BLAS: {blas}" if blas else ""),
             f"- commit: `{git.get('commit')}`{' (uncommitted changes)' if git.get('dirty') else ''}",
             commits_line(data),
             f"- grid: `{(data.get('grid') or {}).get('name', '?')}`, backends: {', '.join(data.get('backends', []))}"
             + _thread_text(data)]
    if data.get("asv_not_run"):
        lines.append(f"- asv parameter combinations not run (n/a: off the grid, backend missing, or failed): "
                     f"{data['asv_not_run']}; read from `{env.get('asv_file')}`")
    if runs:
        lines.append(f"- measured: {runs[0].get('started', '?')} → {runs[-1].get('finished', 'unfinished')}, "
                     f"{wall:.0f} s of run time over {len(runs)} invocation(s)")
    lines.append("- raw data: [measurements.json](measurements.json) (with the environment), "
                 "[stage_timings.csv](stage_timings.csv), fits: [analysis.json](analysis.json)")
    return lines

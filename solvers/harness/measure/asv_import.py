"""Stored Airspeed Velocity results read into the measurements record of :mod:`solvers.harness.records`."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

from ...backends import BACKEND_NAMES
from .environment import machine_name
from ..records import SCHEMA, ConvergenceRun, Measurements, Provenance, StagePoint
from .stages import STAGES

def _parse_param(text: str) -> Any:
    text = str(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _stage_of(benchmark: str, params: dict[str, Any]) -> str | None:
    """The stage a benchmark times: a ``stage`` parameter, else the longest stage name in its name."""
    if params.get("stage") in STAGES:
        return params["stage"]
    if f"iteration:{params.get('solver')}" in STAGES and "iteration" in benchmark.lower():
        return f"iteration:{params['solver']}"
    flat = re.sub(r"[^a-z0-9]", "", benchmark.rsplit(".", 1)[-1].lower() + benchmark.lower())
    matches = [name for name in STAGES if re.sub(r"[^a-z0-9]", "", name.lower()) in flat]
    return max(matches, key=len) if matches else None


def measurements_from_asv(results_dir: Path, machine: str | None = None) -> Measurements:
    """Stage timings from stored asv 0.6 results, as a :class:`~solvers.harness.records.Measurements` record.

    Reads ``<results_dir>/<machine>/*.json`` (every machine folder when ``machine`` is not
    given, the newest file per machine winning for a point), with parameter names from
    ``benchmarks.json`` next to them when present. Only ``time_*`` benchmarks whose
    parameters include a backend, n and d are used, and ``track_iterations`` for the
    convergence section. Combinations asv did not run (n/a: off the active grid, backend
    missing, or failed) carry no reason in asv's files; they are only counted (``asv_not_run``),
    once per combination however many result files hold it, and not when a newer file ran it.
    """
    results_dir = Path(results_dir)
    names: dict[str, list[str]] = {}
    index = results_dir / "benchmarks.json"
    if index.exists():
        names = {key: value.get("param_names", []) for key, value in json.loads(index.read_text()).items()
                 if isinstance(value, dict)}
    folders = [results_dir / machine] if machine else sorted(p for p in results_dir.iterdir() if p.is_dir())
    files = sorted((f for folder in folders for f in folder.glob("*.json") if f.name != "machine.json"),
                   key=lambda f: json.loads(f.read_text()).get("date", 0))
    points: dict[tuple[str, str, int, int], StagePoint] = {}
    convergence: dict[tuple[str, str, int, int], ConvergenceRun] = {}
    env: dict[str, Any] = {}
    not_run: set[tuple[str, tuple[Any, ...]]] = set()
    for path in files:
        result_file = json.loads(path.read_text())
        if "results" not in result_file:
            continue
        asv_params = result_file.get("params", {})
        env = {"machine": asv_params.get("machine"), "asv_params": asv_params, "cpu": asv_params.get("cpu"),
               "cpu_count": asv_params.get("num_cpu"), "python": asv_params.get("python"),
               "git": {"commit": result_file.get("commit_hash"), "dirty": None}, "asv_file": str(path)}
        measured_at = Provenance(commit=result_file.get("commit_hash"), dirty=None)  # asv measures committed code
        columns = result_file.get("result_columns", ["result", "params"])
        for bench, row in result_file["results"].items():
            method = bench.split(".")[-1]
            if not (method.startswith("time_") or method == "track_iterations"):
                continue
            entry = dict(zip(columns, row)) if isinstance(row, list) else {"result": row, "params": []}
            param_lists = entry.get("params") or []
            param_names = names.get(bench) or [f"param{i}" for i in range(len(param_lists))]
            values = entry.get("result")
            if not isinstance(values, list):
                values = [values]
            combos = list(itertools.product(*param_lists)) if param_lists else [()]
            for i, combo in enumerate(combos):
                params = {name: _parse_param(v) for name, v in zip(param_names, combo)}
                value = values[i] if i < len(values) else None
                if method == "track_iterations":
                    _asv_iterations(convergence, params, value, measured_at)
                    continue
                record = _asv_record(bench, params, value, entry, i)
                if record is None:
                    not_run.add((bench, combo))
                else:
                    not_run.discard((bench, combo))
                    record["provenance"] = measured_at
                    points[(record["stage"], record["backend"], record["n"], record["d"])] = record
    return Measurements(
        schema=SCHEMA, source="asv", machine=machine_name(machine or env.get("machine")), command="",
        grid={"name": "asv"}, backends=sorted({p[1] for p in points}), environment=env,
        points=list(points.values()), asv_not_run=len(not_run), gemm={}, runs=[],
        convergence=[run for run in convergence.values() if any(v is not None for v in run["iterations_to_eps"].values())])


def _asv_iterations(runs: dict[tuple[str, str, int, int], ConvergenceRun], params: dict[str, Any],
                    value: Any, measured_at: Provenance) -> None:
    """Add one (solver, backend, n, d, ε) -> iterations value of an asv convergence benchmark (measured at
    ``measured_at``: the run takes the provenance of its latest value)."""
    key = (params.get("solver"), params.get("backend"), params.get("n"), params.get("d"))
    if None in key or not isinstance(params.get("eps"), float):
        return
    run = runs.setdefault(key, ConvergenceRun(solver=key[0], backend=key[1], requested_backend=key[1], n=key[2],
                                              d=key[3], status="asv", history=[], iterations=0, loss=None,
                                              start="as in benchmarks/bench_convergence.py", iterations_to_eps={}))
    finite = isinstance(value, (int, float)) and math.isfinite(value)
    run["iterations_to_eps"][params["eps"]] = int(value) if finite else None
    run["provenance"] = measured_at
    if finite:
        run["iterations"] = max(run["iterations"], int(value))


def _asv_record(bench: str, params: dict[str, Any], value: Any, entry: dict[str, Any],
                index: int) -> StagePoint | None:
    stage = _stage_of(bench, params)
    backend = next((v for v in params.values() if v in BACKEND_NAMES), None)
    lowered = {key.lower(): v for key, v in params.items()}
    n, d = lowered.get("n"), lowered.get("d")
    if stage is None or backend is None or not isinstance(n, int) or not isinstance(d, int):
        return None
    spec = STAGES[stage]
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None

    def stat(name: str) -> Any:
        column = entry.get(name) or []
        return column[index] if index < len(column) else None

    q25, q75, repeats = stat("stats_q_25"), stat("stats_q_75"), stat("stats_repeat")
    value = float(value)  # asv rounds its quartiles to 5 digits: keep q25 ≤ median ≤ q75
    return StagePoint(stage=stage, backend=backend, n=n, d=d, benchmark=bench,
                      flops=spec.flops(n, d) if spec.flops else None, status="ok", reason="", median=value,
                      q25=min(q25 if q25 is not None else value, value), q75=max(q75 if q75 is not None else value, value),
                      repeats=int(repeats) if isinstance(repeats, (int, float)) and math.isfinite(repeats) else 1)

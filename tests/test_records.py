"""The result schema: old measurements files still load and rebuild, provenance is never rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solvers.harness.measure import reproduce as rp
from solvers.harness.records import SCHEMA, Store, load_measurements, write_json
from solvers.harness.render.report import build_report

from .test_reproduce import FAST, MICRO

COMMITTED = Path(__file__).resolve().parents[1] / "reports" / "vm"
#: A subset of the first committed reports/vm/measurements.json (schema 1, no verdict rule, no new sweeps).
SCHEMA_1 = Path(__file__).resolve().parent / "data" / "measurements-schema1.json"


def test_schema_1_file_loads_with_per_point_provenance():
    raw = json.loads(SCHEMA_1.read_text())
    assert raw.get("schema", 1) == 1 and "verdict_rule" not in raw
    data = load_measurements(SCHEMA_1)
    assert data["schema"] == SCHEMA
    assert len(data["points"]) == len(raw["points"]) > 0
    assert all(p["provenance"]["threads"] == raw.get("threads") for p in data["points"])
    assert all(run["provenance"]["threads"] == raw.get("threads") for run in data["convergence"])


def test_schema_1_file_renders_every_section(tmp_path):
    text = build_report(load_measurements(SCHEMA_1), tmp_path).read_text()
    for section in ("## Verdict", "## Convergence against log(1/ε)", "## Sizes left out"):
        assert section in text
    assert "δ = 0.3, confidence = 0.9" in text                      # the defaults, as the file records none
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["verdict_rule"] == {"delta": 0.3, "confidence": 0.9}
    assert {r["verdict"] for r in analysis["scaling"]} <= {"holds", "does not hold", "inconclusive", "no claim"}


def test_committed_report_rebuilds_with_the_same_numbers(tmp_path):
    build_report(load_measurements(COMMITTED / "measurements.json"), tmp_path)
    rebuilt, committed = (json.loads((folder / "analysis.json").read_text()) for folder in (tmp_path, COMMITTED))
    assert rebuilt["min_fit_time"] == committed["min_fit_time"]
    assert ({(r["stage"], r["sweep"]) for r in rebuilt["scaling"]} ==
            {(r["stage"], r["sweep"]) for r in committed["scaling"]})
    assert (tmp_path / "stage_timings.csv").read_text() == (COMMITTED / "stage_timings.csv").read_text()


def test_newer_schema_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="upgrade attnreg"):
        load_measurements({"schema": SCHEMA + 1, "points": []})
    write_json(tmp_path / "other.json", {"results": {}})
    with pytest.raises(ValueError, match="not a measurements.json"):
        load_measurements(tmp_path / "other.json")


def test_write_json_is_strict_and_atomic(tmp_path):
    path = tmp_path / "deep" / "record.json"
    write_json(path, {"x": float("nan"), "y": [1.0, float("inf")]})
    assert json.loads(path.read_text()) == {"x": None, "y": [1.0, None]}
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]  # no temporary file left behind


def test_resume_with_other_threads_keeps_the_earlier_points_provenance(tmp_path):
    common = dict(command="attnreg reproduce --test", machine="m", options=FAST, solvers=["alternating"],
                  sparsification=False)
    rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward"], **common)
    path = rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward", "hessian_solve"], threads=1, resume=True,
                        **common)
    data = load_measurements(path)
    by_stage = {stage: {p["provenance"]["threads"] for p in data["points"] if p["stage"] == stage}
                for stage in ("forward", "hessian_solve")}
    assert by_stage == {"forward": {None}, "hessian_solve": {1}}
    assert [run["threads"] for run in data["runs"]] == [None, 1]
    assert all(run["wall_s"] > 0 for run in data["runs"])
    text = build_report(data, tmp_path).read_text()
    assert "the libraries’ default" in text and "limited to 1" in text


def test_store_stamps_provenance_on_new_records_only(tmp_path):
    store = Store.open(tmp_path / "m.json", {"machine": "m"}, resume=False)
    store.provenance = {"threads": 4}
    store.add_point({"stage": "forward", "backend": "numpy", "n": 1, "d": 1, "status": "skipped", "reason": "x",
                     "provenance": {"threads": 2}})
    store.add_point({"stage": "forward", "backend": "numpy", "n": 2, "d": 1, "status": "skipped", "reason": "x"})
    saved = load_measurements(tmp_path / "m.json")
    assert [p["provenance"]["threads"] for p in saved["points"]] == [2, 4]

"""The result schema: old measurements files still load and rebuild, provenance is never rewritten, and a
resume never mixes commits or settings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from solvers.harness.measure import environment
from solvers.harness.measure import reproduce as rp
from solvers.harness.records import SCHEMA, ResumeConflict, Store, load_measurements, measured_records, write_json
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


COMMON = dict(command="attnreg reproduce --test", machine="m", options=FAST, solvers=["alternating"],
              sparsification=False)


def test_old_files_give_every_point_the_file_s_commit():
    raw = json.loads(SCHEMA_1.read_text())
    data = load_measurements(SCHEMA_1)
    commit = raw["environment"]["git"]["commit"]
    assert commit and {r["provenance"]["commit"] for r in measured_records(data)} == {commit}
    assert {p["provenance"]["grid"] for p in data["points"]} == {raw["grid"]["name"]}


def test_resume_at_another_commit_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from solvers.cli import main

    path = rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward"], **COMMON)
    before = path.read_text()
    monkeypatch.setattr(environment, "git_commit", lambda path=None: {"commit": "f" * 40, "dirty": False})
    with pytest.raises(ResumeConflict, match="at commit [0-9a-f]{12}, this checkout is at ffffffffffff"):
        rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward"], resume=True, **COMMON)
    assert path.read_text() == before                                 # nothing was added, nothing relabelled
    assert main(["reproduce", "--resume", "--out", str(tmp_path), "--no-progress", "--backend", "numpy"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "commit" in err and "new --out" in err
    assert path.read_text() == before


def test_resume_with_other_settings_is_refused(tmp_path):
    rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward"], **COMMON)
    with pytest.raises(ResumeConflict, match="threads = None, this run has 1"):
        rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward"], threads=1, resume=True, **COMMON)
    slower = dict(COMMON, options=dataclasses.replace(FAST, repeat=3))
    with pytest.raises(ResumeConflict, match="options"):
        rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward"], resume=True, **slower)


def test_resume_keeps_the_file_s_header_and_each_record_names_its_commit(tmp_path, monkeypatch):
    path = rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward"], **COMMON)
    data = json.loads(path.read_text())
    data["environment"]["git"]["commit"] = "started-here"             # the header as the file was started
    path.write_text(json.dumps(data))
    path = rp.reproduce(MICRO, ["numpy"], tmp_path, stages=["forward", "hessian_solve"], resume=True, **COMMON)
    data = load_measurements(path)
    assert data["environment"]["git"]["commit"] == "started-here"     # Store.open no longer overwrites it
    commits = {p["provenance"]["commit"] for p in data["points"]}
    assert len(commits) == 1 and [run["resumed"] for run in data["runs"]] == [False, True]
    text = build_report(data, tmp_path).read_text()
    label = next(iter(commits))[:12]
    assert f"- measured at: `{label}`" in text and "stage points" in text


def test_report_names_each_commit_with_its_count(tmp_path):
    data = load_measurements(SCHEMA_1)
    data["points"][0]["provenance"]["commit"] = "a" * 40
    text = build_report(data, tmp_path).read_text()
    line = next(line for line in text.splitlines() if line.startswith("- measured at:"))
    assert "`aaaaaaaaaaaa` (1 stage point)" in line and line.count("`") == 4


def test_store_stamps_provenance_on_new_records_only(tmp_path):
    store = Store.open(tmp_path / "m.json", {"machine": "m"}, resume=False, provenance={"threads": 4})
    store.add_point({"stage": "forward", "backend": "numpy", "n": 1, "d": 1, "status": "skipped", "reason": "x",
                     "provenance": {"threads": 2}})
    store.add_point({"stage": "forward", "backend": "numpy", "n": 2, "d": 1, "status": "skipped", "reason": "x"})
    saved = load_measurements(tmp_path / "m.json")
    assert [p["provenance"]["threads"] for p in saved["points"]] == [2, 4]

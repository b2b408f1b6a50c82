"""The backend comparison of issue #24 (scripts/backend_ratios.py, benchmarks/bench_backends.py) on a tiny size:
properties of its rows and table, never their timings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from solvers.harness.measure.versus_backends import ORACLES, markdown, versus_numpy

ROOT = Path(__file__).resolve().parents[1]


def test_every_oracle_is_timed_on_both_backends_interleaved():
    pytest.importorskip("torch")
    rows = versus_numpy(16, 3, "torch", repeat=2, warmup=0)
    assert [r["oracle"] for r in rows] == list(ORACLES)
    for r in rows:
        assert len(r["numpy_times"]) == len(r["other_times"]) == 2 and r["numpy"] == min(r["numpy_times"])
        assert r["ratio"] == pytest.approx(r["other"] / r["numpy"]) and set(r["layout"]) == {"numpy", "torch"}
        assert set(r["threads"]) == {"numpy", "torch"}
    table = markdown(rows).splitlines()
    assert len(table) == 2 + len(ORACLES) and table[2].startswith("| (16, 3) | numpy ")
    with pytest.raises(ValueError, match="oracles must be among"):
        versus_numpy(16, 3, "torch", ("jvp",))


def test_the_script_prints_the_table_and_writes_every_call(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("backend_ratios", ROOT / "scripts" / "backend_ratios.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "retain_freed_memory", dict)  # the test process keeps its allocator policy
    out = tmp_path / "ratios.json"
    assert script.main(["--size", "16x3", "--oracle", "hvp", "--repeat", "1", "--warmup", "0", "--layout", "blocked",
                        "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| (16, 3) | numpy blocked, torch blocked | hvp |" in printed and "worst ratio" in printed
    assert json.loads(out.read_text())[0]["oracle"] == "hvp"

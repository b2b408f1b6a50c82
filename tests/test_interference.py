"""Measuring knows when other work disturbed a point: CPU share of the calls and of a calibration kernel."""

from __future__ import annotations

from solvers.harness.measure import interference
from solvers.harness.measure import reproduce as rp
from solvers.harness.measure.interference import Calibration
from solvers.harness.records import load_measurements
from solvers.harness.render.report import build_report
from tests.test_reproduce import FAST, MICRO

IDLE = Calibration(wall=1e-3, cpu=1e-3)


def test_a_call_that_waited_for_a_core_is_disturbed_only_when_even_the_fastest_did():
    assert interference.verdict([0.010, 0.004], [0.002, 0.004], IDLE, IDLE, on_cpu=True) == ""   # a stall, not kept
    why = interference.verdict([0.010, 0.008], [0.004, 0.004], IDLE, IDLE, on_cpu=True)
    assert why == "its fastest call got 50% of a core"
    assert interference.verdict([0.010, 0.008], [0.004, 0.004], IDLE, IDLE, on_cpu=False) == ""   # a GPU waits for its device
    busy = Calibration(wall=2e-3, cpu=1e-3)
    assert "calibration kernel beside it got 50%" in interference.verdict([0.01], [0.01], IDLE, busy, on_cpu=False)


def test_the_calibration_kernel_gets_most_of_a_core():
    run = interference.calibrate()
    assert run.wall > 0 and 0 < run.share <= 1.5


def test_a_disturbed_point_is_retried_recorded_and_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(interference, "calibrate", lambda repeat=3: Calibration(wall=2e-3, cpu=1e-3))
    path = rp.reproduce(MICRO, ["numpy"], tmp_path, command="test", machine="test-machine", options=FAST,
                        stages=["forward"], solvers=["alternating"], sparsification=False)
    points = load_measurements(path)["points"]
    assert points and all(p["disturbed"] and p["attempts"] == FAST.retries + 1 for p in points)
    assert all(len(p["cpu_times"]) == len(p["times"]) and "calibration kernel" in p["disturbance"] for p in points)
    text = build_report(load_measurements(path), tmp_path).read_text()
    assert "disturbed: the calibration kernel beside it got 50% of a core" in text
    table = text[text.index("## Exponents against the claim"):text.index("Rule:")]
    assert "**does not hold**" not in table and "**holds**" not in table

"""Disturbed stage timings never feed a number of the report: the per-iteration time of the
end-to-end check, the achieved fractions of the matrix-product rate."""

from __future__ import annotations

import pytest

from solvers.harness.analyse import analysis, summary

from .test_synthetic_laws import _stage_points, _study_run

STAGE = "iteration:alternating"
SOLVE_D = [(128, d) for d in (8, 12, 16, 24, 32, 48)]
CROSS_N = [(n, d) for n in (64, 128, 256, 512, 1024) for d in (8, 16)]
STUDY = [(128, 8), (256, 8), (128, 16)]


def _iteration(n: int, d: int) -> float:
    """One iteration of the paper's method: the d²×d² solve, the assembly and the products."""
    return 1e-12 * d**6 + 1e-9 * (n * n * d * d + n * d**4) + 1e-11 * n * n * d


def _study(per_decade: float = 10.0) -> list[dict]:
    """Runs at :data:`STUDY` whose every iteration takes exactly :func:`_iteration`."""
    return [_study_run("alternating", n, d, seed, per_decade, _iteration(n, d)) for n, d in STUDY for seed in range(2)]


def test_a_stalled_iteration_timing_is_replaced_by_the_cost_model_in_the_end_to_end_check():
    """The audit's run: `iteration:alternating` at one study size stalled 30×; the analysis flags it, so
    measured / predicted must not read that stall (it read 0.03 before)."""
    records = _stage_points(STAGE, _iteration, SOLVE_D, "solve_d") + _stage_points(STAGE, _iteration, CROSS_N, "cross_n")
    stalled = next(r for r in records if (r["n"], r["d"]) == (256, 8))
    stalled["median"] *= 30
    assert "a stall" in next(r for r in analysis.mark_stalls(records) if (r["n"], r["d"]) == (256, 8))["disturbance"]
    result = analysis.analyse({"points": records, "convergence_study": _study()})
    checks = {(e.n, e.d): e for e in result.study.end_to_end}
    assert set(checks) == set(STUDY)
    flagged = checks[(256, 8)]
    assert flagged.per_iteration == pytest.approx(_iteration(256, 8), rel=1e-3)
    assert flagged.per_iteration != stalled["median"] and flagged.source == "cost model (its stage timing was disturbed)"
    assert checks[(128, 8)].source == "stage timing" and checks[(128, 8)].per_iteration == _iteration(128, 8)
    for check in checks.values():
        assert check.time / check.predicted == pytest.approx(1.0, rel=1e-3)
    assert "predicts to a factor 1.00 (measured/predicted)" in summary.sentences(result)[4]


def test_a_disturbed_iteration_timing_without_a_cost_model_predicts_nothing():
    """Measuring flagged the only timing (no cost model can be fitted): no per-iteration time, and no factor."""
    records = _stage_points(STAGE, _iteration, [(256, 8)], "solve_d")
    records[0].update(disturbed=True, disturbance="its fastest call got 40% of a core")
    result = analysis.analyse({"points": records, "convergence_study": _study()})
    flagged = next(e for e in result.study.end_to_end if (e.n, e.d) == (256, 8))
    assert flagged.per_iteration is None and flagged.predicted is None and flagged.source == "stage timing disturbed"
    assert "predicts to a factor" not in summary.sentences(result)[4]
    records[0]["disturbed"] = False
    timed = analysis.analyse({"points": records, "convergence_study": _study()})
    assert next(e for e in timed.study.end_to_end if (e.n, e.d) == (256, 8)).per_iteration == _iteration(256, 8)


def test_a_disturbed_point_gives_no_fraction_of_the_matrix_product_rate():
    """The disturbed point would be the best fraction (its call ran fast); it is neither the best nor drawn."""
    records = [{"stage": "forward", "backend": "numpy", "n": n, "d": 32, "sweeps": ["n"], "status": "ok",
                "median": 1e-10 * n * n * 32, "flops": 1.0 * n * n * 32} for n in (256, 512, 1024, 2048)]
    records[2].update(median=records[2]["median"] / 4, disturbed=True, disturbance="its fastest call got 40% of a core")
    result = analysis.analyse({"points": records, "gemm": {"numpy": {"status": "ok", "flops_per_s": 2e10}}})
    (best,) = result.best_fractions
    assert best.fraction == pytest.approx(0.5) and best.n != 1024
    (along_n,) = [r for r in result.scaling if r.sweep == "n"]
    assert [size for size, _ in along_n.fractions] == [256, 512, 2048]
    assert analysis.fraction_of_peak(records[2], 2e10) is None
    assert analysis.fraction_of_peak({**records[2], "disturbed": False}, 2e10) == pytest.approx(2.0)


def test_the_end_to_end_check_prices_iterations_on_the_backend_the_study_ran_on():
    """A run with NumPy and torch stage timings: the study ran on NumPy, so its per-iteration time is NumPy's
    (the torch timing at the same size, 5× slower here, came last and was the one used before), and a
    study file holding runs on two backends keeps those of its first."""
    numpy_points = _stage_points(STAGE, _iteration, STUDY, "solve_d")
    torch_points = [{**r, "backend": "torch", "median": 5 * r["median"]} for r in numpy_points]
    torch_runs = [{**run, "requested_backend": "torch"} for run in _study(per_decade=20.0)]
    result = analysis.analyse({"points": numpy_points + torch_points,
                               "convergence_study": [{**run, "requested_backend": "numpy"} for run in _study()]
                               + torch_runs})
    checks = {(e.n, e.d): e for e in result.study.end_to_end}
    assert set(checks) == set(STUDY)
    for (n, d), check in checks.items():
        assert check.per_iteration == _iteration(n, d) and check.source == "stage timing"
        assert check.time / check.predicted == pytest.approx(1.0, rel=1e-3)
    torch_first = analysis.analyse({"points": numpy_points + torch_points, "convergence_study": torch_runs})
    for (n, d), check in {(e.n, e.d): e for e in torch_first.study.end_to_end}.items():
        assert check.per_iteration == 5 * _iteration(n, d)

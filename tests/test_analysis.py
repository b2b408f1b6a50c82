"""Fits, the compute-bound rule and verdicts of the reproduction report, on synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from solvers.harness.analyse import analysis, fits
from solvers.harness.analyse.backends import compare_backends
from solvers.harness.analyse.convergence import analyse_convergence
from solvers.harness.analyse.equivalence import judge
from solvers.harness.claims import Rule
from solvers.harness.analyse.fits import Fit
from solvers.harness.measure.stages import STAGES


def _records(stage: str, sweep: str, sizes, times, fixed: int, backend: str = "numpy"):
    """Stage points as measuring records them: the flop count of the stage at each size included."""
    axis = "n" if sweep == "n" else "d"
    other = "d" if axis == "n" else "n"
    flops = STAGES[stage].flops
    points = [{"stage": stage, "backend": backend, axis: s, other: fixed, "sweeps": [sweep], "status": "ok",
               "median": t} for s, t in zip(sizes, times)]
    return [{**p, "flops": flops(p["n"], p["d"]) if flops else None} for p in points]


def test_fit_loglog_recovers_slope_with_ci(rng):
    sizes = np.array([256, 512, 1024, 2048, 4096, 8192])
    times = 1e-9 * sizes**2.0 * np.exp(0.03 * rng.standard_normal(sizes.size))
    fit = fits.fit_loglog(sizes, times)
    assert fit.points == 6
    assert fit.ci_low < 2.0 < fit.ci_high
    assert abs(fit.slope - 2.0) < 0.1
    assert 0 < fit.half_width < 0.2


def test_fit_with_two_points_has_no_ci():
    fit = fits.fit_loglog([10, 20], [1.0, 8.0])
    assert fit.slope == pytest.approx(3.0)
    assert math.isnan(fit.ci_low) and math.isnan(fit.stderr)


def test_fit_needs_two_distinct_sizes():
    with pytest.raises(ValueError):
        fits.fit_line([1.0, 1.0], [2.0, 3.0])


@pytest.mark.parametrize(("fit", "expected", "verdict"), [
    (Fit(2.05, 0, 0.02, 1.98, 2.12, 5), 2.0, "holds"),            # whole CI inside [1.7, 2.3]
    (Fit(2.4, 0, 0.02, 2.28, 2.52, 5), 2.0, "inconclusive"),      # CI only touches the band: not shown
    (Fit(0.48, 0, 0.1, 0.23, 0.72, 7), 1.0, "inconclusive"),      # the old report's "holds" (gradient, d)
    (Fit(0.48, 0, 0.1, 0.28, 0.68, 7), 1.0, "does not hold"),
    (Fit(1.2, 0, 0.02, 1.1, 1.3, 5), 2.0, "does not hold"),
    (Fit(2.0, 0, 1.0, 0.0, 4.0, 5), 2.0, "inconclusive"),         # CI too wide
    (Fit(2.0, 0, math.nan, math.nan, math.nan, 2), 2.0, "inconclusive"),
    (None, 2.0, "inconclusive"),
])
def test_verdict_rule(fit, expected, verdict):
    assert judge(fit, expected, Rule(0.3, 0.9), [8, 16, 32, 64, 128])[0] == verdict


def test_inconclusive_says_how_many_sizes_would_settle_it():
    fit = fits.fit_loglog([8, 16, 32, 64], [1.0, 3.0, 3.5, 9.5], confidence=0.9)
    verdict, why = judge(fit, 1.0, Rule(0.3, 0.9), [8, 16, 32, 64])
    assert verdict == "inconclusive"
    assert "more size(s)" in why and "holds" in why


def test_analyse_scaling_without_claim():
    result = analysis.analyse_scaling(_records("hessian_assembly", "n", [64, 128, 256], [0.01, 0.04, 0.16], 16),
                                      "hessian_assembly", "numpy", "n")
    assert result.verdict == "no claim"


def test_analyse_scaling_uses_only_compute_bound_points():
    sizes = [64, 128, 256, 512, 1024, 2048]
    times = [2e-4, 4e-4, 1.6e-3, 6.4e-3, 2.56e-2, 1.024e-1]       # overhead floor, then n²
    records = _records("forward", "n", sizes, times, fixed=32)
    records.append({"stage": "forward", "backend": "numpy", "n": 4096, "d": 32, "sweeps": ["n"],
                    "status": "failed", "reason": "MemoryError: boom", "flops": None})
    result = analysis.analyse_scaling(records, "forward", "numpy", "n")
    assert result.used == [256, 512, 1024, 2048]
    assert [size for size, _ in result.excluded] == [64, 128, 4096]
    assert "overhead-bound" in result.excluded[0][1] and "MemoryError" in result.excluded[2][1]
    assert result.fit.slope == pytest.approx(2.0)
    assert result.expected == 2.0 and result.verdict == "holds"
    assert result.flop_slope == pytest.approx(2.0, abs=0.1)


def test_analyse_scaling_explains_a_miss_with_the_flop_count():
    sizes, fixed = [8, 16, 32, 64, 128], 1024
    times = [0.05 + 1e-4 * d for d in sizes]                      # d-independent softmax dominates
    result = analysis.analyse_scaling(_records("forward", "d", sizes, times, fixed), "forward", "numpy", "d")
    assert result.expected == 1.0
    assert result.verdict == "does not hold"
    assert "below" in result.why and "achieved FLOP/s" in result.why


def test_sweep_records_groups_untagged_points_by_fixed_size():
    records = [{"stage": "forward", "backend": "numpy", "n": n, "d": 32, "status": "ok", "median": 1.0}
               for n in (256, 512, 1024)]
    records += [{"stage": "forward", "backend": "numpy", "n": 1024, "d": d, "status": "ok", "median": 1.0}
                for d in (8, 16)]
    assert [r["n"] for r in analysis.sweep_records(records, "forward", "numpy", "n")] == [256, 512, 1024]
    assert [r["d"] for r in analysis.sweep_records(records, "forward", "numpy", "d")] == [8, 16, 32]
    assert analysis.sweep_records(records, "forward", "numpy", "solve_d") == []


def test_approaches_six():
    sizes = [8, 16, 24, 32, 48]
    rising = _records("hessian_solve", "solve_d", sizes, [1e-4, 4e-4, 2e-3, 6e-3, 6e-2], fixed=128)
    result = analysis.analyse_scaling(rising, "hessian_solve", "numpy", "solve_d")
    ok, why = analysis.approaches(result, 6.0)
    assert ok and "local exponents" in why
    flat = _records("hessian_solve", "solve_d", sizes, [1e-3, 2e-3, 3e-3, 4e-3, 5e-3], fixed=128)
    assert not analysis.approaches(analysis.analyse_scaling(flat, "hessian_solve", "numpy", "solve_d"), 6.0)[0]


def test_convergence_iterations_per_decade():
    history = [{"iteration": k, "time": 0.01 * k, "loss": 10.0 ** (-k / 2), "grad_norm": 1.0} for k in range(30)]
    run = {"solver": "alternating", "backend": "numpy", "n": 32, "d": 4, "status": "converged",
           "iterations": 29, "history": history}
    result = analyse_convergence(run)
    assert result.iterations[1e-2] == 4 and result.iterations[1e-12] == 24
    assert result.fit.slope == pytest.approx(2.0)
    assert result.times[1e-8] == pytest.approx(0.16)


def test_convergence_not_reached_has_no_fit():
    history = [{"iteration": 0, "time": 0.0, "loss": 1.0, "grad_norm": 1.0}]
    result = analyse_convergence({"solver": "gd", "n": 8, "d": 2, "history": history})
    assert result.fit is None and all(v is None for v in result.iterations.values())


def test_fraction_of_peak():
    record = {"stage": "forward", "backend": "numpy", "n": 8, "d": 2, "status": "ok", "median": 2.0, "flops": 4e9}
    assert analysis.fraction_of_peak(record, 4e9) == pytest.approx(0.5)
    assert analysis.fraction_of_peak(record, None) is None


def test_backends_side_by_side_ratios_spreads_and_sentence():
    def point(backend, stage, n, q25, median, q75, **extra):
        return {"stage": stage, "backend": backend, "n": n, "d": 2, "status": "ok", "q25": q25, "median": median,
                "q75": q75, "sweeps": ["n"], **extra}

    records = [point("numpy", "forward", 8, 1.8, 2.0, 2.5), point("torch", "forward", 8, 0.4, 0.5, 0.6),
               point("numpy", "hvp", 8, 1.0, 1.0, 1.0), point("torch", "hvp", 8, 1.4, 1.5, 1.6, disturbed=True),
               point("torch", "gradient", 8, 1.0, 1.0, 1.0),  # numpy did not measure it: no ratio
               {"stage": "y_solve", "backend": "numpy", "n": 8, "d": 2, "status": "skipped", "reason": "r"}]
    comparison = compare_backends(records)
    assert comparison.backends == ["torch"] and len(comparison.ratios) == 2
    forward, hvp = comparison.ratios
    assert forward.ratio == forward.median_ratio == pytest.approx(0.25) and forward.low == pytest.approx(0.4 / 2.5)
    assert forward.high == pytest.approx(0.6 / 1.8) and not forward.disturbed
    assert hvp.ratio == pytest.approx(1.5) and hvp.disturbed
    (sentence,) = comparison.sentences()  # the disturbed hvp neither widens the range nor is named as slow
    assert sentence == ("torch took 0.25× numpy's time (median 0.25×) over the 1 sizes of 1 stage(s) "
                        "both measured undisturbed (1 disturbed left out), within 1.1× everywhere.")
    hvp_calm = [{**r, "disturbed": False} for r in records]
    (sentence,) = compare_backends(hvp_calm).sentences()
    assert sentence.startswith("torch took 0.25–1.50× numpy's time (median 0.88×) over the 2 sizes of 2 stage(s) "
                               "both measured;")
    assert "more than 1.1× at 1: hvp at n = 8, d = 2 (1.50×)." in sentence
    forward_disturbed = [{**r, "disturbed": r["stage"] == "forward"} for r in records]
    (sentence,) = compare_backends(forward_disturbed[:2]).sentences()
    assert sentence == "torch: all 1 sizes of 1 stage(s) both measured were disturbed; no ratio is given."
    assert compare_backends(records[:1]) is None
    gpu = [{**r, "backend": {"numpy": "torch-cuda", "torch": "cupy"}[r["backend"]]} for r in records]
    assert compare_backends(gpu).reference == "torch-cuda" and compare_backends(gpu).backends == ["cupy"]


def test_approaches_through_the_fit():
    # local exponents 6.6 then 4.9 (efficiency still rising), fit ≈ 5.6 with a CI containing 6
    sizes, times = [24, 32, 48], [1.7e-3, 1.14e-2, 8.4e-2]
    result = analysis.analyse_scaling(_records("hessian_solve", "solve_d", sizes, times, fixed=128),
                                      "hessian_solve", "numpy", "solve_d")
    ok, why = analysis.approaches(result, 6.0)
    assert ok and "fitted exponent" in why


def test_overshooting_local_exponents_do_not_approach():
    sizes = [16, 24, 32]
    result = analysis.analyse_scaling(_records("hessian_solve", "solve_d", sizes, [0.11, 0.0044, 0.45], fixed=128),
                                      "hessian_solve", "numpy", "solve_d")
    assert not analysis.approaches(result, 6.0)[0]


def test_untagged_records_give_every_line_of_the_sweep_across_n_equals_d_squared():
    """asv results carry no sweep tags: the lines at each d of the cross sweep are found by grouping."""
    law = lambda n, d: 1e-9 * (n * n * d * d + n * d**4) + 1e-8 * n * n * d + 1e-5   # noqa: E731
    sizes = [(128, d) for d in (8, 12, 16, 24, 32, 48, 64)] + [(n, d) for n in (64, 256, 512, 1024) for d in (8, 16)]
    records = [{"stage": "hessian_assembly", "backend": "numpy", "n": n, "d": d, "status": "ok", "median": law(n, d)}
               for n, d in sizes]
    result = analysis.analyse({"points": records})
    assert sorted((r.sweep, r.fixed) for r in result.scaling) == [("cross_n", 8), ("cross_n", 16), ("solve_d", 128)]
    assert {(c.sweep, c.fixed) for c in result.coverage} == {("cross_n", 8), ("cross_n", 16), ("solve_d", 128)}
    assert result.models[0].rms_error < 1e-6


def test_roofline_limit_is_flops_at_the_gemm_rate_plus_one_exp_per_entry():
    """A stage's roofline limit adds its flops at the measured GEMM rate and its n² exps at the measured exp rate."""
    from solvers.backends import get_backend
    from solvers.harness.analyse.roofline import exp_rates, roofline_points
    from solvers.harness.measure.stages import exp_rate

    record = {"stage": "forward", "backend": "numpy", "n": 1000, "d": 10, "status": "ok", "flops": 4e9,
              "median": 0.5, "min": 0.4}
    data = {"gemm": {"numpy": {"status": "ok", "flops_per_s": 1e10, "exp_per_s": 1e9}}}
    (point,) = roofline_points([record, {**record, "stage": "iteration:varpro", "flops": None}],
                               {"numpy": 1e10}, exp_rates(data))
    assert point.gemm_seconds == pytest.approx(0.4) and point.exp_seconds == pytest.approx(1e-3)
    assert point.fraction == pytest.approx(0.401 / 0.4)
    assert exp_rates({"gemm": {"numpy": {"status": "ok", "flops_per_s": 1e10}}}) == {}  # an older record
    assert 1e7 < exp_rate(get_backend("numpy"), 256, repeat=1) < 1e11


def test_exp_rate_times_the_in_place_kernel_the_row_blocks_use(monkeypatch):
    """Where a backend has ``exp_inplace`` (NumPy, torch on the CPU) the calibration times it, on one working
    copy of the blocks refilled with the logits before every call (never an exp of an exp, which would
    overflow), not ``xp.exp`` into fresh arrays (torch's read 12–16 ns per entry that way, its allocator's
    page faults)."""
    from solvers.backends import get_backend
    from solvers.harness.measure.stages import exp_rate

    backend = get_backend("numpy")
    seen: list[np.ndarray] = []

    def kernel(array, shift=None):
        seen.append(array.copy())
        return np.exp(array, out=array)

    monkeypatch.setattr(backend, "exp_inplace", kernel, raising=False)
    assert 1e7 < exp_rate(backend, 64, repeat=3) < 1e11
    assert len(seen) == 4  # one block of 64 rows per call, four calls
    assert np.all(np.abs(seen[0]) < 10) and all(np.array_equal(seen[0], later) for later in seen[1:])

"""The analysis fed synthetic timings with known laws and noise: the verdicts and fits a referee would accept."""

from __future__ import annotations

import re

import numpy as np
import pytest

from solvers.harness.analyse import analysis, summary
from solvers.harness.analyse.costmodel import fit_cost_model
from solvers.harness.claims import Rule
from solvers.harness.records import thin_history
from solvers.harness.claims import ASSEMBLY_TERMS
from solvers.harness.analyse.study import analyse_study, order_of_convergence

SIZES = (8, 16, 32, 64, 128, 256, 512)
NOISE = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)
SEEDS = range(8)


def _sweep(exponent: float, noise: float, seed: int) -> list[dict]:
    """Time = 1e-3·(d/8)^exponent with log-normal noise, as the d-sweep of ``forward`` (claim: exponent 1)."""
    rng = np.random.default_rng(seed)
    times = 1e-3 * (np.asarray(SIZES) / 8.0) ** exponent * np.exp(noise * rng.standard_normal(len(SIZES)))
    return [{"stage": "forward", "backend": "numpy", "n": 1024, "d": d, "sweeps": ["d"], "status": "ok",
             "median": float(t), "flops": None} for d, t in zip(SIZES, times)]


def _verdict(exponent: float, noise: float, seed: int, rule: Rule = Rule()) -> str:
    return analysis.analyse_scaling(_sweep(exponent, noise, seed), "forward", "numpy", "d", min_time=0.0,
                                    rule=rule).verdict


@pytest.mark.parametrize("noise", NOISE[:4])
def test_exact_law_at_the_claimed_exponent_holds(noise):
    assert {_verdict(1.0, noise, seed) for seed in SEEDS} == {"holds"}


@pytest.mark.parametrize("offset", [0.5, -0.5])
@pytest.mark.parametrize("rule", [Rule(), Rule(0.3, 0.95), Rule(0.45, 0.8)])
def test_a_law_half_a_unit_away_never_holds(offset, rule):
    verdicts = {_verdict(1.0 + offset, noise, seed, rule) for noise in NOISE for seed in SEEDS}
    assert "holds" not in verdicts
    assert "does not hold" in verdicts                       # shown outright when the noise is small


def test_large_noise_is_inconclusive_not_a_pass():
    verdicts = {_verdict(1.0, 1.0, seed) for seed in SEEDS}
    assert "inconclusive" in verdicts and "does not hold" not in verdicts


@pytest.mark.parametrize("noise", [0.0, 0.02, 0.05])
@pytest.mark.parametrize("seed", range(5))
def test_cost_model_recovers_a_two_term_law(noise, seed):
    rng = np.random.default_rng(seed)
    sizes = [(n, d) for n in (64, 128, 256, 512, 1024, 2048) for d in (4, 8, 16, 32, 64, 128)]
    c1, c2 = 3e-9, 2e-10                                       # n² softmax work, n²d products
    times = [(c1 * n * n + c2 * n * n * d) * np.exp(noise * rng.standard_normal()) for n, d in sizes]
    model = fit_cost_model(sizes, times, ["n²", "n²d", "nd²", "1"])
    fitted = dict(zip(model.terms, model.coefficients))
    assert fitted["n²"] == pytest.approx(c1, rel=0.1) and fitted["n²d"] == pytest.approx(c2, rel=0.1)
    assert model.rms_error < 3 * noise + 1e-9


def _stage_points(stage: str, law, sizes, sweep: str) -> list[dict]:
    return [{"stage": stage, "backend": "numpy", "n": n, "d": d, "sweeps": [sweep], "status": "ok",
             "median": law(n, d), "flops": None} for n, d in sizes]


def test_slopes_only_where_the_claimed_term_dominates():
    """forward = n² softmax + n²d products: against d the fit keeps only the sizes where n²d rules, and holds."""
    law = lambda n, d: 1e-9 * n * n + 1e-10 * n * n * d           # noqa: E731 - n²d takes over at d ≫ 10
    records = (_stage_points("forward", law, [(n, 32) for n in (256, 512, 1024, 2048, 4096)], "n")
               + _stage_points("forward", law, [(1024, d) for d in (2, 4, 8, 16, 64, 128, 256, 512)], "d"))
    result = analysis.analyse({"points": records})
    against_d = next(r for r in result.scaling if r.sweep == "d")
    assert against_d.used == [64, 128, 256, 512] and against_d.verdict == "holds"
    assert all("cost model" in why for _, why in against_d.excluded)
    cover = next(c for c in result.coverage if c.sweep == "d")
    assert cover.covered == [(128, 512)] and 8 < cover.crossover < 12


def test_the_assembly_crossing_n_equals_d_squared():
    """A Hessian assembly whose Kronecker sum n·d⁴ and S·K n²d² outgrow the named terms once n > d²."""
    law = lambda n, d: 1e-9 * (n * n * d * d + n * d**4) + 1e-8 * (n * n * d + n * d * d)   # noqa: E731
    sizes = [(n, d) for n in (64, 128, 256, 512, 1024) for d in (8, 16)] + [(128, d) for d in (4, 12, 24, 32)]
    model = fit_cost_model(sizes, [law(n, d) for n, d in sizes], ASSEMBLY_TERMS)
    assert model.named_share(64, 16) < 0.5 and model.rms_error < 1e-6
    fitted = dict(zip(model.terms, model.coefficients))
    assert fitted["nd⁴"] == pytest.approx(1e-9, rel=1e-3) and fitted["n²d²"] == pytest.approx(1e-9, rel=1e-3)


def _history(losses, per_iteration: float = 0.01) -> list[dict]:
    return [{"iteration": k, "time": per_iteration * k, "loss": loss, "grad_norm": 1.0} for k, loss in enumerate(losses)]


@pytest.mark.parametrize(("order", "start"), [(2.0, 1e-3), (1.5, 1e-3), (3.0, 3e-3)])
def test_order_of_convergence_from_successive_losses(order, start):
    losses = [start]
    while losses[-1] > 1e-30:
        losses.append(0.5 * losses[-1] ** order)
    fit = order_of_convergence(_history([1.0, 0.1, *losses]))
    assert fit.slope == pytest.approx(order, abs=1e-6)


def test_linear_convergence_has_order_one_and_thinning_keeps_the_decades():
    history = _history([10.0 ** (-k / 50) for k in range(1200)])       # 50 iterations per decade
    assert order_of_convergence(history).slope == pytest.approx(1.0)
    thin = thin_history(history)
    assert len(thin) < 200
    for eps in (1e-2, 1e-8, 1e-12):
        assert next(h for h in thin if h["loss"] <= eps)["iteration"] == next(
            h for h in history if h["loss"] <= eps)["iteration"]


def _study_run(solver: str, n: int, d: int, seed: int, per_decade: float, per_iteration: float) -> dict:
    losses = [10.0 ** (-k / per_decade) for k in range(int(11 * per_decade))]
    return {"solver": solver, "n": n, "d": d, "seed": seed, "status": "converged",
            "history": _history(losses, per_iteration), "iterations": len(losses) - 1}


def test_study_recovers_the_trend_of_iterations_per_decade_and_the_end_to_end_time():
    sizes = [(64, 8), (128, 8), (256, 8), (128, 12), (128, 16)]
    # iterations per decade grow as n^0.5 and not with d; one iteration costs 1e-7·n²d
    runs = [_study_run("alternating", n, d, seed, 10 * (n / 64) ** 0.5 * (1 + 0.02 * seed), 1e-7 * n * n * d)
            for n, d in sizes for seed in range(3)]
    study = analyse_study(runs, lambda n, d: (1e-7 * n * n * d, "stage timing"))
    per_decade = {(t.axis, t.what): t for t in study.trends if t.what.startswith("iterations")}
    assert per_decade[("n", "iterations per decade of ε")].fit.slope == pytest.approx(0.5, abs=0.05)
    assert per_decade[("d", "iterations per decade of ε")].fit.slope == pytest.approx(0.0, abs=0.05)
    time_n = next(t for t in study.trends if t.axis == "n" and t.what.startswith("time"))
    assert time_n.fit.slope == pytest.approx(2.5, abs=0.05)                 # n² per iteration × n^0.5 iterations
    for check in study.end_to_end:
        assert check.time / check.predicted == pytest.approx(1.0, rel=0.02)


def test_the_five_sentences_follow_the_data():
    product = lambda n, d: 1e-10 * n * n * d                                       # noqa: E731 - the claim exactly
    iteration = lambda n, d: 1e-12 * d**6 + 1e-9 * (n * n * d * d + n * d**4) + 1e-11 * n * n * d   # noqa: E731
    records = (_stage_points("forward", product, [(n, 32) for n in (256, 512, 1024, 2048, 4096)], "n")
               + _stage_points("forward", product, [(1024, d) for d in (8, 16, 32, 64, 128)], "d")
               + _stage_points("iteration:alternating", iteration, [(128, d) for d in (8, 12, 16, 24, 32, 48)],
                               "solve_d")
               + _stage_points("iteration:alternating", iteration,
                               [(n, d) for n in (64, 128, 256, 512, 1024) for d in (8, 16)], "cross_n"))
    result = analysis.analyse({"points": records})
    first, second, _, fourth, fifth = summary.sentences(result)
    assert "exponents 2.00 where the claim implies 2: of 1 fits, the bound (time over the claim's fitted cost) holds 1; " \
           "the exponent where n²d holds ≥ 75% of the time: holds 1" in first
    assert "of 1 fits, the bound (time over the claim's fitted cost) holds 1; the exponent: holds 1" in second
    assert "set the cost there" in fourth and "at d = 16 (n = 512…1024" in fourth
    assert fifth == "No convergence run of the paper's method is in this record."


def test_a_cost_model_that_does_not_fit_concludes_nothing():
    """Timings of a busy machine (factor-of-e noise): the model is reported but selects no sizes and no sentence uses it."""
    rng = np.random.default_rng(0)
    law = lambda n, d: (1e-12 * d**6 + 1e-9 * n * n * d * d) * float(np.exp(rng.standard_normal()))   # noqa: E731
    records = (_stage_points("iteration:alternating", law, [(128, d) for d in (8, 12, 16, 24, 32, 48)], "solve_d")
               + _stage_points("iteration:alternating", law,
                               [(n, d) for n in (64, 128, 256, 512, 1024) for d in (8, 16)], "cross_n"))
    result = analysis.analyse({"points": records})
    assert result.models and not result.models[0].usable and result.coverage == []
    assert all(not r.regime for r in result.scaling)
    assert "does not describe its timings" in summary.sentences(result)[3]


def test_the_plane_feeds_the_cost_model_but_fits_no_exponent():
    law = lambda n, d: 3e-9 * n * n + 2e-10 * n * n * d                     # noqa: E731
    plane = [(n, d) for n in (512, 2048) for d in (8, 64, 256)]
    records = (_stage_points("forward", law, [(n, 32) for n in (256, 1024, 4096)], "n")
               + _stage_points("forward", law, [(1024, d) for d in (8, 64, 512)], "d")
               + _stage_points("forward", law, plane, "plane"))
    result = analysis.analyse({"points": records})
    assert {r.sweep for r in result.scaling} == {"n", "d"}
    assert sorted(result.models[0].sizes) == sorted({(r["n"], r["d"]) for r in records})
    fitted = dict(zip(result.models[0].terms, result.models[0].coefficients))
    assert fitted["n²"] == pytest.approx(3e-9, rel=1e-6) and fitted["n²d"] == pytest.approx(2e-10, rel=1e-6)


def test_inconclusive_for_want_of_the_regime_says_where_it_begins():
    law = lambda n, d: 1e-9 * n * n + 1e-10 * n * n * d                     # noqa: E731 - n²d rules from d ≈ 30
    records = (_stage_points("forward", law, [(n, 32) for n in (256, 512, 1024, 2048)], "n")
               + _stage_points("forward", law, [(1024, d) for d in (2, 4, 8, 16)], "d"))
    against_d = next(r for r in analysis.analyse({"points": records}).scaling if r.sweep == "d")
    assert against_d.verdict == "inconclusive" and against_d.used == []
    assert re.search(r"sizes from d ≈ 3[01] would test the claim", against_d.why)   # 0.1·d/(1 + 0.1·d) = 0.75 at d = 30

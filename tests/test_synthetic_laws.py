"""The analysis fed synthetic timings with known laws and noise: the verdicts and fits a referee would accept."""

from __future__ import annotations

import numpy as np
import pytest

from solvers.harness import analysis
from solvers.harness.equivalence import Rule

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

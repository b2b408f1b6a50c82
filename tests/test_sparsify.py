"""Attention sparsification (docs/maths.md §8): correctness, baselines, backends, bad input, done-when."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse

from solvers import get_backend, get_solver
from solvers.sparsify import (
    METHODS, SparsificationWarning, attention_error, attention_instance, default_m, planted_wide,
    sparsify, sparsify_then_solve,
)

from .conftest import ALL_BACKENDS


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    return attention_instance(16, 400, r=0.05, seed=3)


def test_instance_meets_r_exactly() -> None:
    X = attention_instance(8, 100, r=0.04, seed=1, fill=0.5)
    assert np.abs(X @ X.T).max() == pytest.approx(0.02, rel=1e-12)
    S = attention_instance(8, 1000, r=0.04, seed=1, density=0.1)
    assert scipy.sparse.issparse(S) and np.abs((S @ S.T).toarray()).max() == pytest.approx(0.036, rel=1e-12)


def test_exact_factor_is_exact(small: np.ndarray) -> None:
    result = sparsify(small, method="exact-factor", errors=True)
    assert result.m == 16
    assert result.absolute_error < 1e-15 and result.relative_error < 1e-10
    np.testing.assert_allclose(result.Y @ result.Y.T, small @ small.T, atol=1e-15)
    np.testing.assert_allclose(small @ result.projection(get_backend("numpy"), 400), result.Y, atol=1e-15)


def test_zero_baseline_is_the_deviation_from_uniform(small: np.ndarray) -> None:
    result = sparsify(small, method="zero", errors=True)
    K = small @ small.T
    E = np.exp(K)
    deviation = np.abs(E / E.sum(axis=1, keepdims=True) - 1 / 16).max()
    assert result.m == 0
    assert result.absolute_error == pytest.approx(deviation, rel=1e-12)
    assert result.relative_error == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("method", ["norm", "leverage"])
def test_reweighting_is_unbiased(small: np.ndarray, method: str) -> None:
    K = small @ small.T
    samples = [sparsify(small, 40, method, seed=s).Y for s in range(400)]
    mean = np.mean([Y @ Y.T for Y in samples], axis=0)
    # 400 draws of a 40-sample estimator: the average is within a few per cent of XXᵀ.
    assert np.abs(mean - K).max() < 0.05 * np.abs(K).max()


def test_bss_meets_its_spectral_guarantee(small: np.ndarray) -> None:
    result = sparsify(small, 48, "bss")
    kappa = result.info["kappa_bound"]
    assert result.m <= 48
    assert result.info["spectral_eps"] <= (kappa - 1) / (kappa + 1) + 1e-12
    K = small @ small.T
    w, U = np.linalg.eigh(K)
    root = U / np.sqrt(w)  # K^{-1/2} up to a rotation
    lam = np.linalg.eigvalsh(root.T @ result.Y @ result.Y.T @ root)
    eps = result.info["spectral_eps"]
    assert lam.min() >= 1 - eps - 1e-9 and lam.max() <= 1 + eps + 1e-9


@pytest.mark.parametrize("backend_name", ALL_BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_backends_agree_with_numpy(small: np.ndarray, backend_name: str, method: str) -> None:
    reference = sparsify(small, method=method, seed=2, errors=True)
    other = sparsify(small, method=method, seed=2, errors=True, backend=backend_name)
    if reference.columns is not None:
        np.testing.assert_array_equal(reference.columns, other.columns)
    Y = get_backend(backend_name).to_numpy(other.Y)
    np.testing.assert_allclose(Y @ Y.T, reference.Y @ reference.Y.T, atol=1e-12)
    assert other.relative_error == pytest.approx(reference.relative_error, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_sparse_input_matches_dense(method: str) -> None:
    X = attention_instance(12, 600, r=0.05, seed=4, density=0.2)
    sparse = sparsify(X, method=method, seed=1, errors=True)
    dense = sparsify(X.toarray(), method=method, seed=1, errors=True)
    assert sparse.m == dense.m
    np.testing.assert_allclose(sparse.Y @ sparse.Y.T, dense.Y @ dense.Y.T, atol=1e-14)
    assert sparse.relative_error == pytest.approx(dense.relative_error, abs=1e-9)


def test_bad_input() -> None:
    X = attention_instance(8, 64, seed=0)
    with pytest.raises(ValueError, match="d ≤ n"):
        sparsify(X[:, :8])
    with pytest.raises(ValueError, match="m=65 > d=64"):
        sparsify(X, 65, "norm")
    with pytest.raises(ValueError, match="bss needs"):
        sparsify(X, 8, "bss")
    with pytest.raises(ValueError, match="m = 0"):
        sparsify(X, 3, "zero")
    with pytest.raises(ValueError, match="unknown method"):
        sparsify(X, method="magic")
    bad = X.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        sparsify(bad)
    with pytest.raises(ValueError, match="non-finite"):
        sparsify(scipy.sparse.csr_matrix(bad))
    with pytest.raises(ValueError, match="X is zero"):
        sparsify(np.zeros((4, 16)), method="norm")
    with pytest.raises(ValueError, match="singular"):
        sparsify(np.vstack([X[:4], X[:4]]), method="leverage")
    with pytest.warns(SparsificationWarning, match="does not apply"):
        sparsify(10 * X, method="norm", r=0.05)
    with pytest.warns(SparsificationWarning, match="outside the range"):
        sparsify(X, method="norm", r=0.5)


def test_attention_error_of_identical_inputs_is_zero(small: np.ndarray) -> None:
    absolute, relative = attention_error(small @ small.T, small)
    assert absolute < 1e-16 and relative < 1e-12


def test_done_when_reduced() -> None:
    """Issue #6 done-when on 3 seeds (the 20-seed check is ``attnreg sparsify --seeds 20``)."""
    n, d = 64, 4096
    for seed in range(3):
        X = attention_instance(n, d, r=0.05, seed=seed)
        assert np.abs(X @ X.T).max() < 0.05
        for method in ("norm", "leverage"):
            result = sparsify(X, math.ceil(8 * n * math.log(n)), method, seed=seed, r=0.05, errors=True)
            assert result.relative_error <= 0.2
        result = sparsify(X, default_m("bss", n), "bss", r=0.05, errors=True)
        assert result.m <= 4 * n and result.relative_error <= 0.5


def test_sparsify_then_solve_matches_full_loss() -> None:
    problem = planted_wide(6, 20, seed=0)

    def solve(p):
        return get_solver("alternating").solve(p, eps=1e-14, max_iter=40)

    reduced = sparsify_then_solve(problem, solve, 16, "leverage", seed=0)
    assert reduced.X.shape == (20, 20) and reduced.m <= 16
    assert reduced.loss < 1e-8
    short = sparsify_then_solve(problem, solve, 2, "leverage", seed=0)
    assert short.m <= 2 and short.loss > 1e-4  # m < n cannot reach the planted optimum here


def test_cli_prints_the_error_table(capsys: pytest.CaptureFixture[str]) -> None:
    from solvers.cli import main

    assert main(["sparsify", "--n", "8", "--d", "256", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    for method in METHODS:
        assert method in out
    assert "done-when" in out


def test_report_section_from_a_tiny_grid(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import dataclasses
    import json

    from solvers.harness.analyse.sparsify import analyse_sparsification, done_when
    from solvers.harness.measure import sparsify as report_sparsify
    from solvers.harness.render import sparsify_report

    tiny = dataclasses.replace(report_sparsify.GRIDS["quick"], seeds=2, n=16, d=512, bss_m=(32, 64),
                               time_d=(256, 512), time_n=(8, 16), densities=(0.1, 1.0), repeat=1, solve_n=4,
                               solve_d=(12, 16), max_iter=20)
    monkeypatch.setitem(report_sparsify.GRIDS, "quick", tiny)
    messages: list[str] = []
    data = json.loads(json.dumps(report_sparsify.measure("quick", progress=messages.append)))
    assert messages
    markdown = sparsify_report.render(data, analyse_sparsification(data), tmp_path)
    assert markdown.startswith("## Attention sparsification")
    for name in ("sparsify_error_vs_m.png", "sparsify_time.png", "sparsify_then_solve.png"):
        assert (tmp_path / name).stat().st_size > 0 and f"({name})" in markdown
    checks = done_when(data["error"])
    assert [check["method"] for check in checks] == ["norm", "leverage", "bss"]
    assert "Verdict" in markdown and "| zero | 0 |" in markdown


@pytest.mark.slow
def test_done_when_twenty_seeds() -> None:
    """Issue #6 done-when, 20 seeds: randomized ⌈8 n ln n⌉ ≤ 0.2, deterministic m = 4n ≤ 0.5."""
    from solvers.harness.analyse.sparsify import done_when
    from solvers.harness.measure.sparsify import error_study

    n, d = 64, 4096
    error = error_study(n, d, 0.05, range(20), randomized_m=(math.ceil(8 * n * math.log(n)),),
                        bss_m=(4 * n,), methods=("norm", "leverage", "bss"))
    checks = done_when(error)
    assert len(checks) == 3 and all(check["met"] for check in checks), checks


def test_a_full_solve_that_stopped_short_is_no_reference():
    from solvers.harness.analyse.sparsify import solve_verdicts

    rows = [{"kind": "full", "method": "full", "draws": 0, "d": 24, "m": 24, "loss": 1.1, "time": 5.0,
             "status": "timeout"},
            {"kind": "reduced", "method": "leverage", "draws": 8, "d": 24, "m": 8, "loss": 2.0, "time": 0.1,
             "status": "max_iter"}]
    (verdict,) = solve_verdicts({"rows": rows})
    assert verdict["good"] == [] and verdict["faster"] == []       # 2.0 is within 10× of 1.1, yet no match
    assert verdict["full_status_last"] == "timeout"
    rows[1].update(loss=1e-12, status="converged")
    (verdict,) = solve_verdicts({"rows": rows})
    assert verdict["good"] == [24] and verdict["faster"] == [24]

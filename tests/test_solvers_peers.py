"""The peers (adam, gd, lbfgs, autograd-newton): natural backends, statuses, honest history."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from solvers import STATUSES, Problem, get_solver, list_solvers

pytest.importorskip("torch")

TORCH_PEERS = ("adam", "gd", "autograd-newton")


def planted_start(n=24, d=3, seed=0, noise=0.5, backend="numpy"):
    problem = Problem.planted(n, d, seed=seed, backend=backend)
    X0 = problem.X_star + noise * np.random.default_rng(5).standard_normal((d, d))
    return problem, X0


@pytest.mark.parametrize("method, natural", [("adam", ("torch", "torch-cuda")), ("gd", ("torch", "torch-cuda")),
                                             ("lbfgs", ("numpy",)), ("autograd-newton", ("torch", "torch-cuda"))])
def test_peers_reduce_the_loss_on_their_natural_backend(backend_name, method, natural):
    problem, X0 = planted_start(backend=backend_name)
    result = get_solver(method).solve(problem, X0, eps=1e-20, max_iter=6)
    assert result.status in STATUSES and result.status != "error", result.message
    assert result.loss < 0.9 * result.history[0].loss
    assert result.backend in natural
    if backend_name in natural:
        assert result.backend == backend_name and "moved_from" not in result.info
    else:
        assert result.info["moved_from"] == backend_name
        assert f"does not run on {backend_name}" in result.message
    assert len(result.history) == result.iterations + 1
    times = [row.time for row in result.history]
    assert times == sorted(times) and times[0] == 0.0


def test_autograd_newton_matches_joint_newton():
    problem, X0 = planted_start()
    generic = get_solver("autograd-newton").solve(problem, X0, eps=0.0, max_iter=3)
    structured = get_solver("joint-newton").solve(problem, X0, eps=0.0, max_iter=3)
    np.testing.assert_allclose([row.loss for row in generic.history], [row.loss for row in structured.history],
                               rtol=1e-9)
    np.testing.assert_allclose(generic.X, structured.X, atol=1e-10)
    assert generic.info["final_damping"] == pytest.approx(structured.info["final_damping"])


def test_lbfgs_one_row_per_scipy_iteration_and_limits():
    problem, X0 = planted_start()
    result = get_solver("lbfgs").solve(problem, X0, eps=0.0, max_iter=7)
    assert (result.status, result.iterations, len(result.history)) == ("max_iter", 7, 8)
    losses = [row.loss for row in result.history]
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert get_solver("lbfgs").solve(problem, X0, eps=0.0, max_iter=0).status == "max_iter"
    timed_out = get_solver("lbfgs").solve(problem, X0, eps=0.0, max_iter=1000, max_time=1e-9)
    assert timed_out.status == "timeout" and timed_out.iterations == 1
    converged = get_solver("lbfgs").solve(problem, X0, eps=1e-2, max_iter=1000)
    assert converged.status == "converged" and converged.loss <= 1e-2 < converged.history[-2].loss


def test_gd_with_a_huge_step_diverges_and_keeps_its_history():
    problem, X0 = planted_start()
    result = get_solver("gd", lr=1e4).solve(problem, X0, max_iter=50)
    assert result.status == "diverged", result.message
    assert 1 <= result.iterations < 50 and len(result.history) == result.iterations + 1


@pytest.mark.parametrize("method", TORCH_PEERS)
def test_torch_peers_max_iter_and_timeout(method):
    problem, X0 = planted_start(8, 2, backend="torch")
    assert get_solver(method).solve(problem, X0, eps=0.0, max_iter=2).status == "max_iter"
    result = get_solver(method).solve(problem, X0, eps=0.0, max_iter=1000, max_time=1e-9)
    assert result.status == "timeout" and result.iterations <= 1


@pytest.mark.parametrize("method, wrong", [("adam", "numpy"), ("gd", "cupy"), ("autograd-newton", "numpy"),
                                           ("lbfgs", "torch")])
def test_an_explicit_unsupported_backend_is_refused(method, wrong):
    with pytest.raises(ValueError, match=f"{method} runs on .* only, not on '{wrong}'"):
        get_solver(method, backend=wrong)


def test_registry_lists_every_method_without_importing_torch():
    code = ("import sys, solvers; names = solvers.list_solvers(); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(','.join(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert set(out.strip().split(",")) >= {"alternating", "sketched", "joint-newton", "gauss-newton", "newton-cg",
                                           "adam", "gd", "lbfgs", "autograd-newton"}
    assert set(list_solvers()) == set(out.strip().split(","))


def test_torch_lbfgs_with_its_strong_wolfe_line_search_reaches_the_target():
    problem = Problem.planted(48, 4, seed=1)
    result = get_solver("torch-lbfgs").solve(problem, problem.start_near_solution(), eps=1e-10, max_iter=1000)
    assert result.status == "converged" and result.loss <= 1e-10, result.message
    assert result.info.get("moved_from") == "numpy"

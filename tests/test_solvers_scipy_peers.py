"""SciPy's minimisers driven by the project's oracles: registered, honest history, shared forward passes."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import Problem, get_solver, oracles
from solvers.methods.scipy_peers import CachedOracles

SCIPY_PEERS = ("lbfgs", "scipy-trust-ncg", "scipy-trust-krylov", "scipy-trust-exact", "scipy-newton-cg")


def planted_start(n=48, d=4, seed=1, noise=0.5):
    problem = Problem.planted(n, d, seed=seed)
    return problem, problem.start_near_solution(noise)


def test_every_scipy_peer_is_registered_without_importing_jax():
    import subprocess
    import sys

    code = "import sys, solvers; names = solvers.list_solvers(); assert 'jax' not in sys.modules; print(','.join(names))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert set(SCIPY_PEERS) | {"varpro", "jax-newton", "jax-newton-cg"} <= set(out.strip().split(","))


@pytest.mark.parametrize("method", SCIPY_PEERS)
def test_scipy_peers_reach_the_target_and_record_what_scipy_computed(method):
    problem, X0 = planted_start()
    result = get_solver(method).solve(problem, X0, eps=1e-10, max_iter=2000)
    assert result.status == "converged" and result.loss <= 1e-10, result.message
    last = result.history[-1]  # the loss and gradient of one pass, as the peers ask for them (a forward pass
    loss, (gX, gY) = oracles.at(problem, result.X, result.Y).value_and_grad()  # alone rounds its own way)
    assert last.loss == pytest.approx(loss, rel=1e-12, abs=1e-30)
    assert loss == pytest.approx(oracles.loss(problem, result.X, result.Y), rel=1e-9)
    assert last.grad_norm == pytest.approx(np.sqrt(np.sum(gX**2) + np.sum(gY**2)), rel=1e-9)
    walls = [row.wall for row in result.history]
    assert walls == sorted(walls) and all(row.wall >= row.time for row in result.history)


def test_scipy_peer_at_a_stationary_point_ends_converged_not_error():
    problem = Problem.random(16, 3, seed=0)
    result = get_solver("lbfgs").solve(problem, eps=0.0, max_iter=5000)
    assert result.status in ("converged", "stalled", "max_iter"), result.message
    if result.status == "stalled":
        assert result.message.startswith("SciPy L-BFGS-B stopped by its own rule at |g|/|g0| = ")


def test_a_scipy_peer_that_gives_up_says_it_was_scipy_not_the_precision():
    """At (n, d) = (2, 1) trust-krylov gives up on its model with |g|/|g0| = 0.43 and a loss far above rounding
    (varpro reaches 6e-17 from the same start): the message says SciPy's own rule stopped it, and why."""
    problem = Problem.planted(2, 1, seed=0)
    result = get_solver("scipy-trust-krylov").solve(problem, problem.start_near_solution(), max_iter=100)
    assert result.status == "stalled"
    assert result.message.startswith("SciPy trust-krylov stopped by its own rule at |g|/|g0| = ")
    assert "bad approximation" in result.message and "no further decrease possible" not in result.message


@pytest.mark.parametrize("blocked", [True, False], ids=["blocked", "dense"])
def test_cached_oracles_share_one_forward_pass_per_point(monkeypatch, blocked):
    from solvers import rowblocks
    from solvers.oracle import DenseOracle

    problem, X0 = planted_start(16, 3)
    problem = Problem(*(problem.host[k] for k in ("A1", "A2", "A3", "B")), blocked=blocked)
    cache = CachedOracles(problem)
    calls = []
    forward = DenseOracle._compute_forward
    monkeypatch.setattr(DenseOracle, "_compute_forward", lambda self: calls.append(1) or forward(self))
    for name in ("forward", "forward_and_grad"):  # the blocked layout's passes that make a forward pass
        function = getattr(rowblocks, name)
        monkeypatch.setattr(rowblocks, name, lambda *a, function=function, **k: calls.append(1) or function(*a, **k))
    z = np.concatenate([X0.ravel(), oracles.y_solve(problem, X0).ravel()])
    value, g = cache.fun_and_grad(z)
    v = np.random.default_rng(0).standard_normal(z.size)
    Hv = cache.hessp(z, v)
    trial = z + 1e-3 * v
    cache.fun_and_grad(trial)
    cache.hessp(z, v)                      # back at z after a trial point: still cached
    assert len(calls) == 2
    H = oracles.hessian_joint(problem, X0, z[9:].reshape(3, 3))
    np.testing.assert_allclose(Hv, H @ v, rtol=1e-10, atol=1e-12)
    assert value == pytest.approx(oracles.loss(problem, X0, z[9:].reshape(3, 3)))

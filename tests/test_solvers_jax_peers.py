"""JAX autodiff peers (optional extra): they agree with the project's oracles and reach the target."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import Problem, get_solver, oracles
from solvers.methods import jax_peers


def test_without_jax_the_peers_are_skipped_saying_why(monkeypatch):
    monkeypatch.setattr(jax_peers, "jax_unavailable_reason", lambda: "JAX is not installed (test)")
    problem = Problem.planted(8, 2, seed=0)
    for method in ("jax-newton", "jax-newton-cg", "jax-lbfgs", "jax-trust-krylov"):
        result = get_solver(method).solve(problem, problem.start_near_solution(), max_iter=2)
        assert result.status == "skipped" and result.message == f"{method} needs an optional library: JAX is not installed (test)"


def _require_jax():
    reason = jax_peers.jax_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def test_jax_functions_match_the_project_oracles(rng):
    _require_jax()
    problem = Problem.planted(24, 3, seed=2)
    X, Y, dX, dY = (rng.standard_normal((3, 3)) for _ in range(4))
    z, v = np.concatenate([X.ravel(), Y.ravel()]), np.concatenate([dX.ravel(), dY.ravel()])
    functions = jax_peers.JaxFunctions(problem, z)
    value, gradient = functions.value_and_grad(z)
    assert float(value) == pytest.approx(oracles.loss(problem, X, Y), rel=1e-12)
    np.testing.assert_allclose(np.asarray(gradient), np.concatenate([g.ravel() for g in oracles.grad(problem, X, Y)]),
                               rtol=1e-10, atol=1e-12)
    hX, hY = oracles.hvp(problem, X, Y, dX, dY)
    np.testing.assert_allclose(np.asarray(functions.hvp(z, v)), np.concatenate([hX.ravel(), hY.ravel()]),
                               rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("method", ["jax-newton", "jax-newton-cg", "jax-lbfgs", "jax-trust-krylov"])
def test_jax_peers_reach_the_target(method):
    _require_jax()
    problem = Problem.planted(48, 4, seed=1)
    solver = get_solver(method)
    solver.warm_up(problem)
    result = solver.solve(problem, problem.start_near_solution(), eps=1e-10, max_iter=3000)
    assert result.status == "converged" and result.loss <= 1e-10, result.message


def test_jax_computes_in_the_problem_dtype(rng):
    """On a float32 problem the JAX functions round as the project's float32 oracles do (float64 before)."""
    _require_jax()
    problem = Problem.planted(24, 3, seed=2, dtype="float32")
    X, Y = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    z = np.concatenate([X.ravel(), Y.ravel()])
    value = jax_peers.JaxFunctions(problem, z).value(z)
    assert value.dtype == np.float32  # (the gradient in z comes back in z's float64, computed in float32)
    assert float(value) == pytest.approx(oracles.loss(problem, X, Y), rel=1e-5)

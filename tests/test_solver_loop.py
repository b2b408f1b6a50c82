"""The shared solve loop: statuses, history, stopping rules, and the alternating solver."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from solvers import STATUSES, Problem, get_backend, get_solver, list_solvers, oracles
from solvers.loop import IterativeSolver, State

from .conftest import ALL_BACKENDS


def planted_start(n=32, d=4, seed=1, noise=0.5):
    problem = Problem.planted(n, d, seed=seed)
    G = np.random.default_rng(seed + 5).standard_normal((d, d))
    return problem, problem.X_star + noise * G


class _Scale(IterativeSolver):
    """Test double: multiplies Y by a factor each step (diverges for factor > 1)."""

    name = "scale-test"

    def __init__(self, factor: float, **common):
        super().__init__(**common)
        self.factor = factor

    def step(self, problem, state):
        return State(state.X, self.factor * state.Y)


@dataclass
class _CountingState(State):
    calls: int = 0


class _Broken(IterativeSolver):
    name = "broken-test"

    def init_state(self, problem, X, Y):
        return _CountingState(X, Y)

    def step(self, problem, state):
        if state.calls >= 2:
            raise np.linalg.LinAlgError("boom")
        return _CountingState(0.9 * state.X, state.Y, calls=state.calls + 1)


class _NaNStep(IterativeSolver):
    """Test double: its second step puts a NaN into X (a broken update, not an exception)."""

    name = "nan-step-test"

    def init_state(self, problem, X, Y):
        return _CountingState(X, Y)

    def step(self, problem, state):
        X = 0.9 * state.X
        if state.calls == 1:
            X = X * float("nan")
        return _CountingState(X, state.Y, calls=state.calls + 1)


def test_alternating_decreases_the_loss_monotonically(backend_name):
    problem, X0 = planted_start()
    problem = problem.on(backend_name)
    result = get_solver("alternating").solve(problem, X0, eps=1e-12, max_iter=15)
    losses = [row.loss for row in result.history]
    assert result.status in STATUSES
    assert len(losses) == result.iterations + 1
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0]
    times = [row.time for row in result.history]
    assert times == sorted(times) and times[0] == 0.0
    assert isinstance(result.X, np.ndarray) and result.X.shape == (4, 4)
    assert result.loss == pytest.approx(oracles.loss(Problem.planted(32, 4, seed=1), result.X, result.Y), rel=1e-9)


def test_converged_on_eps():
    problem, X0 = planted_start()
    result = get_solver("alternating").solve(problem, X0, eps=1e-2, max_iter=200)
    assert result.status == "converged"
    assert result.loss <= 1e-2 and result.history[-2].loss > 1e-2
    assert result.time_to_reach(1e-2) == result.time
    assert result.iterations_to_reach(1e-2) == result.iterations


def test_max_iter_status():
    problem, X0 = planted_start()
    result = get_solver("alternating").solve(problem, X0, eps=0.0, max_iter=3)
    assert (result.status, result.iterations) == ("max_iter", 3)


def test_timeout_status():
    problem, X0 = planted_start()
    result = get_solver("alternating").solve(problem, X0, eps=0.0, max_iter=10_000, max_time=1e-9)
    assert result.status == "timeout"
    assert result.iterations <= 1 and "max_time" in result.message


def test_diverged_status_keeps_history():
    problem, X0 = planted_start()
    result = _Scale(10.0).solve(problem, X0, max_iter=50)
    assert result.status == "diverged"
    assert 1 <= result.iterations < 50
    assert len(result.history) == result.iterations + 1


def test_error_status_keeps_partial_history():
    problem, X0 = planted_start()
    result = _Broken().solve(problem, X0, max_iter=10)
    assert result.status == "error"
    assert "LinAlgError: boom" in result.message
    assert result.iterations == 2 and len(result.history) == 3


def test_gradient_tolerance_converges_on_random_problems():
    problem = Problem.random(16, 3, seed=0)
    result = get_solver("joint-newton", gtol=1e-6).solve(problem, eps=0.0, max_iter=200)
    assert result.status == "converged"
    assert result.message.startswith("stationary: |g|/|g0|")
    assert result.history[-1].grad_norm <= 1e-6 * result.history[0].grad_norm


def test_callback_sees_every_row():
    problem, X0 = planted_start()
    rows = []
    result = get_solver("alternating").solve(problem, X0, eps=0.0, max_iter=4, callback=rows.append)
    assert rows == result.history


def test_registry():
    assert "alternating" in list_solvers()
    with pytest.raises(ValueError, match="unknown solver 'nope'"):
        get_solver("nope")


def test_result_rejects_unknown_status():
    from solvers import SolveResult

    with pytest.raises(ValueError, match="status"):
        SolveResult("finished", np.eye(2), np.eye(2), 0.0, 0, [])


@pytest.mark.parametrize("backend_name", [p for p in ALL_BACKENDS if p.id in ("numpy", "torch")])
def test_nan_step_ends_diverged_with_partial_history(backend_name):
    problem, X0 = planted_start()
    result = _NaNStep().solve(problem.on(backend_name), X0, max_iter=10)
    assert result.status == "diverged", result.message
    assert "nan" in result.message.lower()
    assert result.iterations == 2 and len(result.history) == 3
    assert np.isfinite(result.history[1].loss) and not np.isfinite(result.history[2].loss)


@pytest.mark.parametrize("backend_name", [p for p in ALL_BACKENDS if p.id in ("numpy", "torch")])
def test_overflowing_problem_ends_as_a_status_not_an_exception(backend_name):
    base = Problem.planted(32, 4, seed=1)
    huge = Problem(base.host["A1"], base.host["A2"], 1e160 * base.host["A3"], 1e160 * base.host["B"],
                   backend=backend_name)
    for name in ("alternating", "joint-newton", "newton-cg"):
        result = get_solver(name).solve(huge, max_iter=3)
        assert result.status in ("error", "diverged"), (name, result.status)
        assert result.message


def test_solvers_accept_backend_instances_wherever_they_accept_names():
    problem, X0 = planted_start()
    numpy_backend = get_backend("numpy")
    by_name = get_solver("lbfgs", backend="numpy").solve(problem, X0, max_iter=3)
    by_instance = get_solver("lbfgs", backend=numpy_backend).solve(problem, X0, max_iter=3)
    assert by_instance.backend == "numpy" and by_instance.status == by_name.status
    assert [r.loss for r in by_instance.history] == [r.loss for r in by_name.history]
    assert get_solver("alternating", backend=numpy_backend).options()["backend"] == "numpy"


def test_a_backend_instance_the_method_cannot_run_on_is_refused_by_name():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="lbfgs runs on numpy only, not on 'torch'"):
        get_solver("lbfgs", backend=get_backend("torch"))


@pytest.mark.parametrize("bad", [{"eps": -1.0}, {"eps": float("nan")}, {"max_time": -5.0}, {"max_iter": 2.5},
                                 {"max_iter": -3}])
def test_invalid_stopping_limits_are_rejected_before_any_work(bad):
    problem, X0 = planted_start()
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        get_solver("alternating").solve(problem, X0, **bad)


def test_unknown_solver_option_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"no option\(s\) step_size.*mu0"):
        get_solver("alternating", step_size=0.1)

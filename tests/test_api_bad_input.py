"""The library's answers to bad input: a clear error naming what is wrong, made before anything runs, and
never a silent wrong number (the command line's twin: tests/test_cli_bad_input.py)."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import Problem, get_solver, oracles
from solvers.backends import backend_unavailable_reason

#: (method, options, what the error says): one bad value per kind of option.
BAD_OPTIONS = [
    ("varpro", {"newton": "no"}, "newton must be True or False"),
    ("varpro", {"matrix_free": "yes"}, r"matrix_free must be True or False \(or None\)"),
    ("varpro", {"rcond": 2.0}, "rcond must be a finite number > 0 and < 1"),
    ("varpro", {"max_cg": 2.5}, "max_cg must be an integer ≥ 1"),
    ("varpro", {"handover": 0}, r"handover must be an integer ≥ 1 \(or None\)"),
    ("varpro", {"divergence_factor": -1}, "divergence_factor must be a number > 1"),
    ("varpro", {"gtol": float("nan")}, "gtol must be a finite number ≥ 0"),
    ("newton-cg", {"radius0": float("inf")}, "radius0 must be a finite number > 0"),
    ("newton-cg", {"accept": 2}, "accept must be a finite number ≥ 0 and < 1"),
    ("newton-cg", {"min_radius": -1}, "min_radius must be a finite number ≥ 0"),
    ("joint-newton", {"mu0": "x"}, "mu0 must be a finite number ≥ 0"),
    ("alternating", {"reg_y": float("nan")}, "reg_y must be a finite number ≥ 0"),
    ("sketched", {"seed": "x"}, "seed must be an integer ≥ 0"),
    ("lbfgs", {"memory": 0}, "memory must be an integer ≥ 1"),
    ("jax-newton", {"mu0": -1.0}, "mu0 must be a finite number ≥ 0"),
    ("torch-lbfgs", {"memory": 0}, "memory must be an integer ≥ 1"),
    ("adam", {"betas": (2, 3)}, r"betas\[0\] must be a finite number ≥ 0 and < 1"),
    ("gd", {"momentum": -1}, "momentum must be a finite number ≥ 0"),
    ("gd", {"lr": float("nan")}, "lr must be a finite number > 0"),
]


@pytest.mark.parametrize("method, options, says", BAD_OPTIONS)
def test_a_bad_option_is_refused_when_the_solver_is_built(method, options, says):
    with pytest.raises(ValueError, match=says):
        get_solver(method, **options)


def test_a_problem_holds_numbers_no_one_else_can_change():
    """The caller's arrays are copied (a later change to them would otherwise reach the NumPy backend's
    problem but not a copy on another backend, nor the JAX peers, which read ``host``)."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((6, 2)) for _ in range(4)]
    problem = Problem(*arrays)
    X, Y = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    before = oracles.loss(problem, X, Y)
    arrays[3][:] = 0.0
    assert oracles.loss(problem, X, Y) == before and oracles.loss(problem.on("numpy"), X, Y) == before
    assert not any(array.flags.writeable for array in problem.host.values())


def test_a_result_never_aliases_the_start():
    problem = Problem.planted(8, 2, seed=1)
    X0, Y0 = problem.X_star.copy(), problem.Y_star.copy()
    result = get_solver("varpro").solve(problem, X0, Y0)  # converged at the start: no step taken
    assert result.status == "converged" and result.iterations == 0
    assert not np.shares_memory(result.X, X0) and not np.shares_memory(result.Y, Y0)


def test_float32_refuses_numbers_it_cannot_hold():
    problem = Problem.planted(6, 2, seed=1, dtype="float32")
    with pytest.raises(ValueError, match=r"X0 has entries up to 1e\+39, beyond what float32 holds"):
        get_solver("varpro").solve(problem, [[1e39, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="A1 has entries up to 1e\\+39"):
        Problem(*(np.full((4, 2), 1e39),) * 4, dtype="float32")


def test_arrays_of_the_backend_are_checked_like_host_arrays():
    if backend_unavailable_reason("torch") is not None:
        pytest.skip("torch is not installed")
    import torch

    problem = Problem.planted(6, 2, seed=1, backend="torch")
    Y = torch.ones((2, 2), dtype=torch.float64)
    with pytest.raises(ValueError, match="X has non-finite entries"):
        oracles.loss(problem, torch.full((2, 2), float("nan"), dtype=torch.float64), Y)
    with pytest.raises(ValueError, match="X must have a real floating dtype"):
        oracles.loss(problem, torch.zeros((2, 2), dtype=torch.complex128), Y)


def test_a_start_where_the_gradient_vanishes_is_stationary():
    """With A3 = 0 the loss does not depend on (X, Y): ∇L = 0 everywhere, which no relative rule can judge."""
    rng = np.random.default_rng(0)
    problem = Problem(rng.standard_normal((6, 2)), rng.standard_normal((6, 2)), np.zeros((6, 2)),
                      rng.standard_normal((6, 2)))
    for method in ("varpro", "joint-newton", "scipy-trust-exact"):
        result = get_solver(method).solve(problem, np.ones((2, 2)))
        assert result.status == "converged" and result.message.startswith("stationary at the start: ∇L = 0")


def test_sampled_hessian_rows_and_the_y_step_regulariser_are_checked():
    problem = Problem.planted(6, 2, seed=0)
    X, Y = problem.start_near_solution(), np.ones((2, 2))
    for options, says in (({"rows": [0, 100]}, r"rows must lie in \[0, n\) = \[0, 6\)"),
                          ({"rows": [0.5]}, "rows must be a non-empty 1-D array of integer row indices"),
                          ({"rows": [0, 1], "weights": [1.0]}, "weights must be 2 finite numbers"),
                          ({"weights": [1.0]}, "weights without rows")):
        with pytest.raises(ValueError, match=says):
            oracles.hessian_x(problem, X, Y, **options)
    full = oracles.hessian_x(problem, X, Y)
    np.testing.assert_allclose(oracles.hessian_x(problem, X, Y, rows=np.arange(6)), full, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="reg must be a finite number ≥ 0"):
        oracles.y_solve(problem, X, reg=-1.0)


@pytest.mark.parametrize("make, says", [
    (lambda: Problem.planted(0, 3), "n must be an integer ≥ 1"),
    (lambda: Problem.random(4, 2.5), "d must be an integer ≥ 1"),
    (lambda: Problem.planted(8, 2, memory_budget="x"), "memory_budget"),
    (lambda: Problem.planted(8, 2, blocked="no"), "blocked must be True or False"),
])
def test_bad_problem_arguments_are_named(make, says):
    with pytest.raises(ValueError, match=says):
        make()


def test_a_callback_must_be_callable():
    with pytest.raises(TypeError, match="callback must be callable"):
        get_solver("varpro").solve(Problem.planted(8, 2), callback=3)


def test_a_registered_method_is_never_replaced_silently():
    from solvers.methods.varpro import VarPro
    from solvers.registry import register, solver_class

    class Impostor(VarPro):
        name = "varpro"

    with pytest.raises(ValueError, match="a solver named 'varpro' is already registered"):
        register(Impostor)
    with pytest.raises(TypeError, match="register takes an IterativeSolver subclass"):
        register(object)
    assert solver_class("varpro") is VarPro

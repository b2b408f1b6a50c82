"""Problem construction: docs/maths.md §1 generators and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import Problem, oracles
from solvers.rowterms import softmax_rows


def test_planted_draws_follow_spec_order():
    n, d, seed = 9, 4, 7
    rng = np.random.default_rng(seed)
    A1, A2, A3 = (rng.normal(0, 1 / np.sqrt(d), size=(n, d)) for _ in range(3))
    X_star = rng.normal(0, 0.5, size=(d, d))
    Y_star = rng.normal(0, 1, size=(d, d))
    problem = Problem.planted(n, d, seed=seed)
    for key, want in zip(("A1", "A2", "A3"), (A1, A2, A3)):
        np.testing.assert_array_equal(problem.host[key], want)
    np.testing.assert_array_equal(problem.X_star, X_star)
    np.testing.assert_array_equal(problem.Y_star, Y_star)
    np.testing.assert_allclose(problem.B, softmax_rows(np, A1 @ X_star @ A2.T) @ A3 @ Y_star)
    assert oracles.loss(problem, X_star, Y_star) < 1e-25


def test_random_draws_follow_spec_order():
    rng = np.random.default_rng(3)
    A = [rng.normal(0, 1 / np.sqrt(5), size=(8, 5)) for _ in range(3)]
    B = rng.normal(size=(8, 5))
    problem = Problem.random(8, 5, seed=3)
    np.testing.assert_array_equal(problem.host["A3"], A[2])
    np.testing.assert_array_equal(problem.host["B"], B)
    assert problem.X_star is None


def _inputs(n=5, d=3):
    rng = np.random.default_rng(0)
    return [rng.normal(size=(n, d)) for _ in range(4)]


@pytest.mark.parametrize("index,name", [(0, "A1"), (1, "A2"), (2, "A3"), (3, "B")])
def test_wrong_shape_names_the_input(index, name):
    arrays = _inputs()
    arrays[index] = np.ones((5, 4))
    with pytest.raises(ValueError, match=name):
        Problem(*arrays)


@pytest.mark.parametrize("bad,message", [(np.ones(5), "2-D"), (np.ones((5, 3, 1)), "2-D")])
def test_wrong_rank(bad, message):
    arrays = _inputs()
    arrays[1] = bad
    with pytest.raises(ValueError, match=f"A2 must be {message}"):
        Problem(*arrays)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input(value):
    arrays = _inputs()
    arrays[3][2, 1] = value
    with pytest.raises(ValueError, match="B has 1 non-finite"):
        Problem(*arrays)


@pytest.mark.parametrize("dtype,word", [(np.int64, "integer"), (np.complex128, "complex"), (bool, "boolean")])
def test_non_real_floating_dtype(dtype, word):
    arrays = _inputs()
    arrays[0] = np.ones((5, 3), dtype=dtype)
    with pytest.raises(ValueError, match=f"A1 must have a real floating dtype, got {word}"):
        Problem(*arrays)


def test_float32_inputs_are_accepted_and_upcast():
    arrays = [a.astype(np.float32) for a in _inputs()]
    problem = Problem(*arrays)
    assert problem.A1.dtype == np.float64


def test_variables_are_validated():
    problem = Problem.random(5, 3)
    with pytest.raises(ValueError, match=r"X must be d×d"):
        oracles.loss(problem, np.ones((3, 4)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="Y has 1 non-finite"):
        oracles.loss(problem, np.ones((3, 3)), np.array([[np.nan, 0, 0], [0, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="X must have a real floating dtype"):
        oracles.grad(problem, np.ones((3, 3), dtype=int), np.ones((3, 3)))


def test_mismatched_backends_are_refused():
    torch = pytest.importorskip("torch")
    problem = Problem.random(5, 3)
    with pytest.raises(TypeError, match="torch array .* backend 'numpy'"):
        oracles.loss(problem, torch.ones(3, 3, dtype=torch.float64), np.ones((3, 3)))
    with pytest.raises(TypeError, match="host NumPy arrays"):
        Problem(torch.ones(5, 3), *_inputs()[1:])
    on_torch = problem.on("torch")
    # host arrays are accepted anywhere; results are torch tensors
    assert isinstance(oracles.grad(on_torch, np.ones((3, 3)), np.ones((3, 3)))[0], torch.Tensor)


def test_on_moves_identical_numbers():
    problem = Problem.planted(7, 3, seed=2)
    moved = problem.on("numpy", "float32")
    assert moved.A1.dtype == np.float32
    np.testing.assert_array_equal(moved.host["A1"], problem.host["A1"])


def test_the_blocks_constant_operands_are_the_data_with_a_ones_column():
    """[A2 | 1], and A2ᵀ and [A3 | 1]ᵀ in their own (C) order, as the row-blocked oracles read them."""
    problem = Problem.planted(7, 3, seed=2)
    ones = np.ones((7, 1))
    np.testing.assert_array_equal(problem.A2_1, np.hstack([problem.host["A2"], ones]))
    np.testing.assert_array_equal(problem.A2_t, problem.host["A2"].T)
    np.testing.assert_array_equal(problem.A3_1_t, np.hstack([problem.host["A3"], ones]).T)
    assert problem.A2_t.flags.c_contiguous and problem.A3_1_t.flags.c_contiguous

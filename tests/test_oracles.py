"""Every oracle against torch autograd in float64, on fresh random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import Problem, oracles

torch = pytest.importorskip("torch")

# n < d, n ≈ d, n ≫ d
SIZES = [(3, 6), (8, 5), (17, 4), (60, 3)]


def _torch_loss(problem: Problem):
    A1, A2, A3, B = (torch.tensor(problem.host[k], dtype=torch.float64) for k in ("A1", "A2", "A3", "B"))
    d = problem.d

    def loss(x, y):
        S = torch.softmax(A1 @ x.reshape(d, d) @ A2.T, dim=1)
        return ((S @ A3 @ y.reshape(d, d) - B) ** 2).sum()

    def residual(x, y):
        S = torch.softmax(A1 @ x.reshape(d, d) @ A2.T, dim=1)
        return (S @ A3 @ y.reshape(d, d) - B).reshape(-1)

    return loss, residual


def _point(rng, d):
    return rng.normal(scale=0.7, size=(d, d)), rng.normal(size=(d, d))


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.fixture(params=SIZES, ids=[f"n{n}-d{d}" for n, d in SIZES])
def case(request, rng):
    n, d = request.param
    problem = Problem.random(n, d, seed=int(rng.integers(2**31)))
    X, Y = _point(rng, d)
    loss, residual = _torch_loss(problem)
    x, y = (torch.tensor(a).reshape(-1) for a in (X, Y))
    return problem, X, Y, x, y, loss, residual


def test_loss_and_gradients(case):
    problem, X, Y, x, y, loss, _ = case
    x.requires_grad_(True)
    y.requires_grad_(True)
    value = loss(x, y)
    value.backward()
    gX, gY = oracles.grad(problem, X, Y)
    assert oracles.loss(problem, X, Y) == pytest.approx(value.item(), rel=1e-13)
    assert _rel(gX.reshape(-1), x.grad.numpy()) < 1e-12
    assert _rel(gY.reshape(-1), y.grad.numpy()) < 1e-12


def test_hessian_x_matches_autograd_and_is_symmetric(case):
    problem, X, Y, x, y, loss, _ = case
    expected = torch.func.hessian(lambda v: loss(v, y))(x).numpy()
    H = oracles.hessian_x(problem, X, Y)
    assert H.shape == (problem.d**2, problem.d**2)
    assert _rel(H, expected) < 1e-12
    np.testing.assert_array_equal(H, H.T)


def test_gauss_newton_part_matches_jacobian_product(case):
    problem, X, Y, x, y, _, residual = case
    J = torch.func.jacrev(lambda v: residual(v, y))(x).numpy()
    GN = oracles.hessian_x(problem, X, Y, gauss_newton=True)
    assert _rel(GN, 2.0 * J.T @ J) < 1e-12
    assert np.linalg.eigvalsh(GN).min() > -1e-10 * np.abs(GN).max()


def test_joint_hessian_matches_autograd(case):
    problem, X, Y, x, y, loss, _ = case
    blocks = torch.autograd.functional.hessian(loss, (x, y))
    expected = np.block([[blocks[0][0].numpy(), blocks[0][1].numpy()],
                         [blocks[1][0].numpy(), blocks[1][1].numpy()]])
    H = oracles.hessian_joint(problem, X, Y)
    assert _rel(H, expected) < 1e-12
    assert _rel(H, H.T) < 1e-14


def test_hvp_equals_dense_products(case, rng):
    problem, X, Y, *_ = case
    d = problem.d
    dX, dY = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    H = oracles.hessian_joint(problem, X, Y)
    expected = H @ np.concatenate([dX.reshape(-1), dY.reshape(-1)])
    hX, hY = oracles.hvp(problem, X, Y, dX, dY)
    assert _rel(np.concatenate([hX.reshape(-1), hY.reshape(-1)]), expected) < 1e-12
    assert _rel(oracles.hvp_x(problem, X, Y, dX).reshape(-1), oracles.hessian_x(problem, X, Y) @ dX.reshape(-1)) < 1e-12
    hX_only, hY_only = oracles.hvp(problem, X, Y, None, dY)
    assert _rel(np.concatenate([hX_only.reshape(-1), hY_only.reshape(-1)]),
                H[:, d * d:] @ dY.reshape(-1)) < 1e-12


def test_hvp_needs_a_direction(case):
    problem, X, Y, *_ = case
    with pytest.raises(ValueError, match="direction"):
        oracles.hvp(problem, X, Y, None, None)


def test_y_solve_is_the_least_squares_minimiser(case):
    problem, X, _, *_ = case
    Y = oracles.y_solve(problem, X)
    _, gY = oracles.grad(problem, X, Y)
    S = oracles.softmax_rows(np, problem.A1 @ X @ problem.A2.T)
    P = S @ problem.A3
    Y_lstsq = np.linalg.lstsq(P, problem.B, rcond=None)[0]
    # same loss as the least-squares solution, and stationary in Y
    assert oracles.loss(problem, X, Y) == pytest.approx(oracles.loss(problem, X, Y_lstsq), rel=1e-9, abs=1e-12)
    assert np.abs(gY).max() < 1e-8 * max(1.0, np.abs(P.T @ problem.B).max())


def test_y_solve_ridge_matches_normal_equations(rng):
    problem = Problem.random(20, 4, seed=1)
    X = rng.normal(size=(4, 4))
    S = oracles.softmax_rows(np, problem.A1 @ X @ problem.A2.T)
    P = S @ problem.A3
    expected = np.linalg.solve(P.T @ P + 0.3 * np.eye(4), P.T @ problem.B)
    np.testing.assert_allclose(oracles.y_solve(problem, X, reg=0.3), expected, rtol=1e-12)


@pytest.mark.parametrize("scale", [50.0, 1000.0])
def test_large_logits_stay_finite(scale):
    n, d = 6, 3
    ones = np.ones((n, d)) / np.sqrt(d)
    problem = Problem(ones, ones, ones, np.zeros((n, d)))
    X = np.full((d, d), scale)  # logits of size `scale`
    assert np.isfinite(oracles.loss(problem, X, np.eye(d)))
    assert all(np.isfinite(g).all() for g in oracles.grad(problem, X, np.eye(d)))
    assert np.isfinite(oracles.hessian_x(problem, X, np.eye(d))).all()
    S = oracles.softmax_rows(np, np.array([[50.0, 0.0, -50.0], [1000.0, 999.0, 0.0]]))
    np.testing.assert_allclose(S.sum(axis=1), 1.0)
    assert np.isfinite(S).all()


def test_join_and_split_are_inverse_row_major(rng):
    problem = Problem.random(5, 3)
    A, B = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    v = oracles.join(problem, A, B)
    np.testing.assert_array_equal(v, np.concatenate([A.reshape(-1), B.reshape(-1)]))
    back = oracles.split(problem, v)
    np.testing.assert_array_equal(back[0], A)
    np.testing.assert_array_equal(back[1], B)

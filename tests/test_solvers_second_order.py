"""The paper's method, its sketched variant, joint Newton, Gauss–Newton and Newton–CG."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from solvers import STATUSES, Problem, get_solver, oracles
from solvers.methods.alternating import XRegulariser
from solvers.methods.newton import JointSystem
from solvers.methods.newton_cg import steihaug_cg
from solvers.methods.sketched import row_probabilities, sample_rows, spectral_factor


def planted_start(n=48, d=4, seed=1, noise=0.5, backend="numpy"):
    """A start from which the Newton-type methods reach the planted minimum (from some other
    starts, e.g. n=32, d=4, seed=1, they stop in a spurious local minimum with L ≈ 7e-4)."""
    problem = Problem.planted(n, d, seed=seed, backend=backend)
    X0 = problem.X_star + noise * np.random.default_rng(5).standard_normal((d, d))
    return problem, X0


def losses(result):
    return [row.loss for row in result.history]


@pytest.mark.parametrize("method, target, max_iter", [
    ("joint-newton", 1e-20, 30), ("gauss-newton", 1e-20, 30), ("newton-cg", 1e-14, 60)])
def test_joint_second_order_methods_reach_their_accuracy(backend_name, method, target, max_iter):
    problem, X0 = planted_start(backend=backend_name)
    result = get_solver(method).solve(problem, X0, eps=target, max_iter=max_iter)
    assert result.status == "converged", result.message
    assert result.loss <= target and result.backend == backend_name
    assert all(b <= a for a, b in zip(losses(result), losses(result)[1:]))


@pytest.mark.parametrize("method", ["alternating", "sketched"])
def test_paper_methods_reduce_the_loss(backend_name, method):
    problem, X0 = planted_start(backend=backend_name)
    result = get_solver(method).solve(problem, X0, eps=1e-12, max_iter=10)
    assert result.status in STATUSES and result.iterations == 10
    assert result.loss < 0.2 * result.history[0].loss


def test_done_when_case_joint_newton_and_newton_cg():
    problem, X0 = planted_start(128, 16)
    Y0 = oracles.y_solve(problem, X0)
    newton = get_solver("joint-newton").solve(problem, X0, Y0, eps=1e-20, max_iter=30)
    assert newton.status == "converged" and newton.loss <= 1e-20
    cg = get_solver("newton-cg").solve(problem, X0, Y0, eps=1e-12, max_iter=100)
    assert cg.status == "converged" and cg.loss <= 1e-12


# --- the alternating method's regularisers ---------------------------------------------

def test_regulariser_gradient_and_hessian_are_consistent(rng):
    problem = Problem.planted(9, 3, seed=2)
    reg = XRegulariser(problem, reg_attention=0.7, reg_x=0.3)
    X, D = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    h = 1e-6
    fd = (reg.value(X + h * D) - reg.value(X - h * D)) / (2 * h)
    assert np.sum(reg.grad(X) * D) == pytest.approx(fd, rel=1e-6)
    fd_grad = (reg.grad(X + h * D) - reg.grad(X - h * D)) / (2 * h)
    np.testing.assert_allclose(reg.hessian() @ D.reshape(-1), fd_grad.reshape(-1), rtol=1e-6, atol=1e-8)
    A1, A2 = problem.host["A1"], problem.host["A2"]
    np.testing.assert_allclose(reg.hessian(), 0.7 * np.kron(A1.T @ A1, A2.T @ A2) + 0.6 * np.eye(9), atol=1e-12)


@pytest.mark.parametrize("options", [{"reg_attention": 1e-3}, {"reg_x": 1e-4}, {"reg_y": 1e-6}])
def test_alternating_with_regularisation_still_fits(options):
    problem, X0 = planted_start()
    result = get_solver("alternating", **options).solve(problem, X0, eps=1e-12, max_iter=8)
    assert result.status == "max_iter"
    assert result.loss < 0.3 * result.history[0].loss


def test_regularised_step_decreases_the_regularised_objective():
    problem, X0 = planted_start()
    solver = get_solver("alternating", reg_attention=0.5)
    result = solver.solve(problem, X0, eps=0.0, max_iter=1)
    reg = XRegulariser(problem, reg_attention=0.5)
    Y1 = result.Y  # the Y step is exact for X0, then X moves with Y fixed
    before = oracles.loss(problem, X0, Y1) + reg.value(X0)
    after = oracles.loss(problem, result.X, Y1) + reg.value(result.X)
    assert after < before


# --- the sketch ---------------------------------------------------------------------------

def test_row_subset_hessian_sums_to_the_exact_one(rng):
    problem = Problem.planted(10, 3, seed=3)
    X, Y = rng.normal(0, 0.5, (3, 3)), rng.standard_normal((3, 3))
    exact = oracles.hessian_x(problem, X, Y)
    per_row = [oracles.hessian_x(problem, X, Y, rows=[j]) for j in range(10)]
    np.testing.assert_allclose(sum(per_row), exact, atol=1e-12)
    rows, weights = np.array([1, 4, 7]), np.array([0.5, 2.0, 3.0])
    np.testing.assert_allclose(oracles.hessian_x(problem, X, Y, rows=rows, weights=weights),
                               sum(w * per_row[j] for j, w in zip(rows, weights)), atol=1e-12)


def test_sampled_hessian_is_unbiased(rng):
    problem = Problem.planted(12, 2, seed=4)
    X, Y = rng.normal(0, 0.5, (2, 2)), rng.standard_normal((2, 2))
    exact = oracles.hessian_x(problem, X, Y)
    probabilities = row_probabilities(problem.host["A1"])
    assert probabilities.sum() == pytest.approx(1.0) and probabilities.min() >= 0.5 / 12
    draws = np.random.default_rng(0)
    samples = [oracles.hessian_x(problem, X, Y, rows=r, weights=w)
               for r, w in (sample_rows(draws, probabilities, 3) for _ in range(1500))]
    few, many = np.mean(samples[:30], axis=0), np.mean(samples, axis=0)
    error = np.linalg.norm(many - exact) / np.linalg.norm(exact)
    assert error < 0.08
    assert error < np.linalg.norm(few - exact) / np.linalg.norm(exact)


def test_sample_rows_costs_order_n_whatever_m():
    """m = 10¹² draws are one multinomial of n counts: a per-draw sample would need 8 TB."""
    probabilities = row_probabilities(Problem.planted(40, 3, seed=2).host["A1"])
    rows, weights = sample_rows(np.random.default_rng(0), probabilities, 10**12)
    assert np.array_equal(rows, np.arange(40))
    np.testing.assert_allclose(weights, 1.0, rtol=1e-4)  # counts ≈ m p_j, so weights ≈ 1
    rows, weights = sample_rows(np.random.default_rng(0), probabilities, 1)
    assert rows.size == 1 and weights[0] == pytest.approx(1.0 / probabilities[rows[0]])


def test_spectral_factor():
    H = np.diag([1.0, 2.0, 3.0])
    assert spectral_factor(H, H) == (pytest.approx(0.0, abs=1e-15), "spectral")
    assert spectral_factor(H, np.diag([1.1, 2.0, 2.7]))[0] == pytest.approx(0.1)
    assert spectral_factor(np.diag([1.0, -2.0]), np.diag([1.0, -1.5])) == (0.25, "relative-norm")


def test_sketched_records_eps0_and_full_sampling_is_accurate():
    problem, X0 = planted_start()
    results = {m: get_solver("sketched", m=m, measure_eps0=True, reg_attention=1e-1).solve(
        problem, X0, eps=0.0, max_iter=4) for m in (4, 256)}
    for m, result in results.items():
        assert result.info["m"] == m and len(result.info["eps0"]) == result.iterations == 4
        assert all(np.isfinite(result.info["eps0"]))
    assert np.mean(results[256].info["eps0"]) < np.mean(results[4].info["eps0"])


@pytest.mark.parametrize("gauss_newton", [False, True])
@pytest.mark.parametrize("layout", ["dense", "blocked"])
def test_joint_block_elimination_solves_the_shifted_joint_hessian(backend_name, layout, gauss_newton, rng):
    # eliminating Y through PᵀP's eigenvectors gives the formed matrix's solution at every shift, and fails
    # exactly where the shifted matrix is not positive definite
    d = 3
    problem = Problem.planted(13, d, seed=4, backend=backend_name, blocked=layout == "blocked")
    if layout == "blocked":
        problem.block_rows = problem.hessian_block_rows = 5  # three blocks, summed
    assert problem.layout == layout
    X, Y = rng.normal(0, 0.7, (d, d)), rng.standard_normal((d, d))
    oracle = problem.oracle(problem.backend.asarray(X), problem.backend.asarray(Y))
    system = JointSystem(problem, oracle.joint_terms(gauss_newton=gauss_newton))
    H = problem.backend.to_numpy(oracle.hessian_joint(gauss_newton=gauss_newton))
    np.testing.assert_allclose(problem.backend.to_numpy(system.matrix), H, rtol=1e-13, atol=1e-13)
    assert system.scale == pytest.approx(np.mean(np.abs(np.diag(H))), rel=1e-12)
    g = rng.standard_normal(2 * d * d)
    smallest = np.linalg.eigvalsh(H)[0]
    for shift in (1e-6, 1e-2, 1.0, 10.0, -smallest + 1e-3, -smallest - 1e-3):
        p, ok = system.solve(problem.backend.asarray(g), shift)
        assert ok == (smallest + shift > 0)
        if ok:
            np.testing.assert_allclose(problem.backend.to_numpy(p), np.linalg.solve(H + shift * np.eye(2 * d * d), g),
                                       rtol=1e-8)


# --- Newton–CG ----------------------------------------------------------------------------

def test_newton_cg_products_match_the_dense_hessian(backend_name, rng):
    problem = Problem.planted(11, 3, seed=5, backend=backend_name)
    X, Y = rng.normal(0, 0.5, (3, 3)), rng.standard_normal((3, 3))
    v = rng.standard_normal(18)
    H = problem.backend.to_numpy(oracles.hessian_joint(problem, X, Y))
    hX, hY = oracles.hvp(problem, X, Y, v[:9].reshape(3, 3), v[9:].reshape(3, 3))
    product = np.concatenate([problem.backend.to_numpy(hX).ravel(), problem.backend.to_numpy(hY).ravel()])
    np.testing.assert_allclose(product, H @ v, rtol=1e-10, atol=1e-12)


def test_steihaug_cg_solves_a_positive_definite_system(rng):
    import array_api_compat.numpy as xp

    M = rng.standard_normal((6, 6))
    H, g = M @ M.T + np.eye(6), rng.standard_normal(6)
    model = lambda p: g @ p + 0.5 * p @ H @ p
    p, reason, _, predicted, norm = steihaug_cg(xp, lambda v: H @ v, g, radius=1e6, tol=1e-12, max_iter=50)
    assert reason == "converged" and norm == pytest.approx(np.linalg.norm(p), rel=1e-12)
    np.testing.assert_allclose(p, -np.linalg.solve(H, g), atol=1e-9)
    assert predicted == pytest.approx(-model(p), rel=1e-10)
    p, reason, _, predicted, norm = steihaug_cg(xp, lambda v: H @ v, g, radius=1e-3, tol=1e-12, max_iter=50)
    assert reason == "boundary" and np.linalg.norm(p) == pytest.approx(1e-3) and norm == 1e-3
    assert predicted == pytest.approx(-model(p), rel=1e-10)
    p, reason, _, predicted, norm = steihaug_cg(xp, lambda v: -H @ v, g, radius=2.0, tol=1e-12, max_iter=50)
    assert reason == "negative curvature" and np.linalg.norm(p) == pytest.approx(2.0)
    assert predicted == pytest.approx(-(g @ p - 0.5 * p @ H @ p), rel=1e-10)


def test_steihaug_cg_takes_the_better_boundary_point_on_negative_curvature():
    import array_api_compat.numpy as xp

    # two CG steps, then negative curvature along d2; the boundary point *behind* p2 (τ < 0)
    # has the lower model value here (−3.165 against −2.640 for the usual τ > 0)
    H, g, radius = np.diag([-0.7, 2.4, 0.7]), np.array([0.2, 0.3, -1.4]), 3.1
    model = lambda p: g @ p + 0.5 * p @ H @ p
    p, reason, used, predicted, norm = steihaug_cg(xp, lambda v: H @ v, g, radius=radius, tol=1e-14, max_iter=10)
    assert (reason, used) == ("negative curvature", 3) and np.linalg.norm(p) == pytest.approx(radius)
    assert model(p) == pytest.approx(-3.1649142748, rel=1e-9)
    assert predicted == pytest.approx(-model(p), rel=1e-10)


def test_boundary_roots_without_cancellation():
    from solvers.methods.newton_cg import _boundary_roots

    # p nearly on the boundary, d large: the small root would cancel in the textbook formula
    pp, pd, dd, radius = 1.0 - 1e-14, 1e6, 1e12, 1.0
    small, large = sorted(_boundary_roots(pp, pd, dd, radius))
    for tau in (small, large):
        assert pp + 2 * tau * pd + tau * tau * dd == pytest.approx(radius ** 2, rel=1e-9)
    assert small == pytest.approx(-2e-6, rel=1e-6) and large == pytest.approx(5e-21, rel=1e-6)


def test_forcing_term_is_loose_far_and_tight_near_a_solution():
    from solvers.methods.newton_cg import forcing_term

    assert forcing_term(1.0, None, None) == 0.5
    assert forcing_term(1e-3, 1.0, 0.3) == pytest.approx(0.9e-6)           # fast decrease: tight solve
    assert forcing_term(0.99, 1.0, 0.5) == 0.5                              # slow decrease: capped
    assert forcing_term(1e-3, 1.0, 0.45) == pytest.approx(0.9 * 0.45 ** 2)  # safeguard: η may not fall abruptly


def test_newton_cg_never_forms_a_d2_by_d2_array():
    d = 120  # a d²×d² float64 array would take 1.66 GB
    problem = Problem.planted(8, d, seed=0)
    tracemalloc.start()
    try:
        result = get_solver("newton-cg", max_cg=10).solve(problem, eps=0.0, max_iter=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.iterations == 2 and result.status == "max_iter"
    assert peak < 100e6, f"peak {peak / 1e6:.0f} MB"
    assert result.info["cg_iterations"] > 0


def test_newton_cg_timeout():
    problem, X0 = planted_start()
    result = get_solver("newton-cg").solve(problem, X0, eps=0.0, max_iter=100, max_time=1e-9)
    assert result.status == "timeout" and result.iterations <= 1
    assert len(result.history) == result.iterations + 1 and "max_time" in result.message


def test_gauss_newton_matrix_is_two_jt_j():
    torch = pytest.importorskip("torch")
    n, d = 7, 3
    problem = Problem.planted(n, d, seed=6, backend="torch")
    rng = np.random.default_rng(1)
    X, Y = rng.normal(0, 0.5, (d, d)), rng.standard_normal((d, d))

    def residual(z):
        return oracles.forward(problem, z[: d * d].reshape(d, d), z[d * d:].reshape(d, d)).R.reshape(-1)

    z = torch.tensor(np.concatenate([X.ravel(), Y.ravel()]))
    J = torch.func.jacrev(residual)(z)
    GN = oracles.hessian_joint(problem, X, Y, gauss_newton=True)
    torch.testing.assert_close(GN, 2.0 * J.T @ J, rtol=1e-10, atol=1e-12)
    assert float(torch.linalg.eigvalsh(GN).min()) > -1e-10

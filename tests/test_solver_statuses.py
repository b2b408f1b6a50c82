"""Honest statuses, the least-squares Y step at every logit scale, and gain-ratio damping."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from solvers import Problem, get_backend, get_solver, oracles
from solvers.loop import StepFailed, default_gtol
from solvers.methods.damping import FLOOR_TRIALS, Damping, damped_newton_step
from solvers.rowterms import softmax_rows

PROJECT_METHODS = ("varpro", "joint-newton", "gauss-newton", "newton-cg", "alternating", "sketched")


def host_P(problem, X):
    h = problem.host
    return softmax_rows(np, h["A1"] @ X @ h["A2"].T) @ h["A3"]


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("scale", [0.01, 1.0])
def test_y_solve_matches_lstsq_at_every_logit_scale(scale):
    problem = Problem.planted(128, 16, seed=1)
    X = scale * problem.X_star
    P = host_P(problem, X)
    expected = np.linalg.lstsq(P, problem.host["B"], rcond=None)[0]
    assert np.linalg.cond(P) > (1e3 if scale < 1 else 1.0)   # near-uniform attention: ill-conditioned P
    assert relative(oracles.y_solve(problem, X), expected) <= 1e-10


def test_y_solve_reaches_the_planted_minimum_to_the_rounding_floor():
    problem = Problem.planted(128, 16, seed=1)
    Y = oracles.y_solve(problem, 0.01 * problem.X_star)
    assert relative(Y, np.linalg.lstsq(host_P(problem, 0.01 * problem.X_star), problem.host["B"], rcond=None)[0]) < 1e-10
    assert oracles.loss(problem, problem.X_star, oracles.y_solve(problem, problem.X_star)) < 1e-26


def test_y_solve_at_x_zero_is_the_minimum_norm_solution():
    problem = Problem.planted(64, 8, seed=2)
    X = np.zeros((8, 8))
    P = host_P(problem, X)
    assert np.linalg.matrix_rank(P) == 1
    Y = oracles.y_solve(problem, X)
    np.testing.assert_allclose(Y, np.linalg.pinv(P) @ problem.host["B"], rtol=1e-10, atol=1e-12)
    # the minimum-norm solution lies in the row space of P: no component in its null space
    _, _, Vt = np.linalg.svd(P)
    assert np.linalg.norm(Vt[1:] @ Y) < 1e-12 * np.linalg.norm(Y)


def test_default_gtol_is_reachable_per_dtype():
    assert default_gtol("float64") == pytest.approx(3.7e-11, rel=0.05)
    assert default_gtol("float32") == pytest.approx(2.4e-5, rel=0.05)
    assert get_solver("joint-newton").gtol is None


@pytest.mark.parametrize("method", PROJECT_METHODS)
def test_no_project_method_ends_in_error_on_a_random_problem(method):
    problem = Problem.random(48, 4, seed=0)
    result = get_solver(method).solve(problem, eps=1e-10, max_iter=400)
    assert result.status in ("converged", "stalled", "max_iter", "timeout"), result.message
    _assert_honest(result)
    assert math.isfinite(result.grad_norm) and result.wall_time >= result.time


def _assert_honest(result, eps=1e-10):
    """``converged`` only with loss ≤ eps or |g|/|g0| ≤ gtol; ``stalled`` states the |g|/|g0| it reached."""
    relative = result.history[-1].grad_norm / result.history[0].grad_norm
    if result.status == "converged":
        assert result.loss <= eps or relative <= default_gtol("float64"), result.message
        assert result.message.startswith(("loss ≤ eps", "stationary"))
    if result.status == "stalled":
        assert relative > default_gtol("float64") and f"|g|/|g0| = {relative:.2e}" in result.message


@pytest.mark.parametrize("method", PROJECT_METHODS + ("lbfgs", "scipy-trust-ncg"))
@pytest.mark.parametrize("kind", ["random", "noisy"])
def test_converged_never_comes_with_loss_above_eps_and_gradient_above_gtol(method, kind):
    problem = Problem.random(24, 3, seed=1) if kind == "random" else Problem.planted(24, 3, seed=1)
    X0 = None if kind == "random" else problem.start_near_solution(1.5)
    result = get_solver(method).solve(problem, X0, eps=1e-10, max_iter=300)
    _assert_honest(result)


def test_the_float64_floor_is_its_own_status():
    """With gtol = 0 no point is stationary: joint-newton on a random problem reaches the float64 floor."""
    problem = Problem.random(16, 3, seed=0)
    result = get_solver("joint-newton", gtol=0.0).solve(problem, eps=0.0, max_iter=500)
    assert result.status == "stalled"
    assert result.message.startswith("no further decrease possible in float64 at |g|/|g0| = ")
    assert "> gtol = 0" in result.message


def test_a_step_failure_away_from_a_stationary_point_is_stalled_and_says_where():
    """No step changes the loss in float64: the status is ``stalled``, never ``error``, with |g|/|g0| ≫ 0."""
    from solvers.loop import IterativeSolver

    class Stuck(IterativeSolver):
        name = "stuck"

        def step(self, problem, state):
            raise StepFailed("predicted decrease below the rounding level (test)")

    result = Stuck().solve(Problem.random(16, 3, seed=0), max_iter=5)
    assert result.status == "stalled" and result.iterations == 0
    assert result.message.startswith("no further decrease possible in float64 at |g|/|g0| = 1.00e+00")
    assert "(test)" in result.message


# --- gain-ratio damping on an indefinite Hessian -------------------------------------------

def _indefinite_problem():
    """f(x) = ½ xᵀAx + ¼ ‖x‖⁴ with A indefinite: H(0) = A has a negative eigenvalue, minima at ‖x‖² = 1."""
    A = np.diag([-1.0, 2.0, 3.0])
    f = lambda x: 0.5 * x @ A @ x + 0.25 * (x @ x) ** 2
    grad = lambda x: A @ x + (x @ x) * x
    hess = lambda x: A + (x @ x) * np.eye(3) + 2.0 * np.outer(x, x)
    return f, grad, hess


def test_damping_raises_mu_until_the_shifted_hessian_is_positive_definite_and_the_loss_drops():
    f, grad, hess = _indefinite_problem()
    backend = get_backend("numpy")
    x = np.array([0.05, 0.3, -0.2])
    H = hess(x)
    assert np.linalg.eigvalsh(H)[0] < 0
    outcome = damped_newton_step(backend, H, grad(x), lambda p: f(x - p), f(x), Damping(1e-6))
    assert outcome.trials > 1 and outcome.damping.mu > 1e-6        # failed factorisations raised μ
    assert outcome.loss == pytest.approx(f(x - outcome.p)) and outcome.loss < f(x)
    assert outcome.rho > 0


def test_nielsen_update_rules():
    damping = Damping(1.0)
    assert damping.after_success(1.0).mu == pytest.approx(1.0 / 3.0)            # very good model: μ/3
    assert damping.after_success(0.5).mu == pytest.approx(1.0)                  # ρ = ½: unchanged
    assert damping.after_success(0.01).mu == pytest.approx(1.0 - (2 * 0.01 - 1) ** 3)
    failed = damping.after_failure().after_failure()
    assert (failed.mu, failed.nu) == (2.0 * 4.0, 8.0)
    assert failed.after_success(0.9).nu == 2.0


def test_damped_iteration_never_accepts_an_increase_and_reaches_a_minimum():
    f, grad, hess = _indefinite_problem()
    backend = get_backend("numpy")
    x, damping = np.array([0.05, 0.3, -0.2]), Damping(1e-3)
    values = [f(x)]
    for _ in range(100):
        try:
            outcome = damped_newton_step(backend, hess(x), grad(x), lambda p: f(x - p), f(x), damping)
        except StepFailed:
            break
        x, damping = x - outcome.p, outcome.damping
        values.append(f(x))
    assert all(b < a for a, b in zip(values, values[1:]))
    assert np.linalg.norm(grad(x)) < 1e-7 and x @ x == pytest.approx(1.0)
    assert np.all(np.linalg.eigvalsh(hess(x)) > 0)


def test_a_rejected_trial_raises_the_damping():
    backend = get_backend("numpy")
    H, g = np.eye(2), np.array([1.0, 0.0])
    calls = []

    def trial(p):  # the model promises a decrease; the first trial's loss goes up, the second's down
        calls.append(p.copy())
        return 2.0 if len(calls) == 1 else 0.9

    outcome = damped_newton_step(backend, H, g, trial, 1.0, Damping(1.0))
    assert len(calls) == 2 and np.linalg.norm(calls[1]) < np.linalg.norm(calls[0])
    assert outcome.loss == 0.9 and outcome.trials == 2


def test_a_damped_step_at_the_rounding_floor_is_taken_when_it_cuts_the_gradient():
    # L = 1 + ½ xᵀAx at ‖x‖ = 1e-9: the model promises ≈ 1e-18, below the loss's rounding level 8·eps·L,
    # while the Newton step still sends the gradient to zero
    backend = get_backend("numpy")
    A = np.diag([1.0, 2.0, 3.0])
    f = lambda x: 1.0 + 0.5 * x @ A @ x
    x = np.array([1e-9, -1e-9, 2e-9])
    H, g = A, A @ x
    with pytest.raises(StepFailed, match="below the rounding level"):  # without the gradient: stalled
        damped_newton_step(backend, H, g, lambda p: f(x - p), f(x), Damping(1e-3))
    trial = {}

    def trial_loss(p):
        trial["grad_norm"] = np.linalg.norm(A @ (x - p))
        return f(x - p)

    outcome = damped_newton_step(backend, H, g, trial_loss, f(x), Damping(1e-3), grad_norm=np.linalg.norm(g),
                                 trial_grad_norm=lambda: trial["grad_norm"])
    assert trial["grad_norm"] <= 1e-3 * np.linalg.norm(g) and outcome.trials == 1
    np.testing.assert_allclose(outcome.p, x, rtol=1e-2)


def test_a_damped_step_at_the_rounding_floor_that_does_not_cut_the_gradient_stalls_after_its_trials():
    backend = get_backend("numpy")
    A = np.diag([1.0, 2.0, 3.0])
    x = np.array([1e-9, -1e-9, 2e-9])
    calls = []

    def trial_loss(p):
        calls.append(p)
        return 1.0

    with pytest.raises(StepFailed, match="cuts the gradient"):
        damped_newton_step(backend, A, A @ x, trial_loss, 1.0, Damping(1e-3), grad_norm=np.linalg.norm(A @ x),
                           trial_grad_norm=lambda: np.linalg.norm(A @ x))  # the gradient never falls
    assert len(calls) == FLOOR_TRIALS + 1
    assert all(np.linalg.norm(b) < np.linalg.norm(a) for a, b in zip(calls, calls[1:]))  # ever more damped


# --- variable projection -------------------------------------------------------------------

def test_varpro_gauss_newton_is_the_schur_complement_of_the_joint_one(rng):
    from solvers.methods.varpro import reduced_point

    problem = Problem.planted(20, 3, seed=1)
    X = problem.X_star + 0.3 * rng.standard_normal((3, 3))
    point = reduced_point(problem, X)
    H = point["oracle"].varpro_gauss_newton(point["Q"])
    J = oracles.hessian_joint(problem, X, point["Y"], gauss_newton=True)
    schur = J[:9, :9] - J[:9, 9:] @ np.linalg.solve(J[9:, 9:], J[9:, :9])
    np.testing.assert_allclose(H, schur, atol=1e-12 * np.abs(H).max())
    D = rng.standard_normal((3, 3))
    np.testing.assert_allclose(point["oracle"].varpro_gn_product(point["Q"], D).ravel(),
                               H @ D.ravel(), atol=1e-12 * np.abs(H).max())
    gX, _ = oracles.grad(problem, X, point["Y"])   # the reduced gradient is ∇_X L at Y(X)
    f = lambda X: oracles.loss(problem, X, oracles.y_solve(problem, X))
    step = 1e-6 * rng.standard_normal((3, 3))
    assert (f(X + step) - f(X - step)) / 2 == pytest.approx(np.sum(gX * step), rel=1e-6)


@pytest.mark.parametrize("blocked", [False, True])
def test_varpro_hessian_is_the_exact_hessian_of_the_reduced_objective(rng, blocked):
    """On a noisy problem (the residual's curvature matters), both layouts: the d²×d² Schur complement equals
    central differences of the reduced gradient ∇_X L(X, Y(X)), and the matrix-free product agrees with it."""
    from solvers.methods.varpro import reduced_hessian_product, reduced_point

    options = {"blocked": True, "memory_budget": 40 * 16 * 8 * 4} if blocked else {"blocked": False}
    problem = Problem.planted(40, 3, seed=1, noise=0.1, **options)
    X = problem.X_star + 0.3 * rng.standard_normal((3, 3))
    point = reduced_point(problem, X)
    assert point["oracle"].layout == ("blocked" if blocked else "dense")
    H = point["oracle"].varpro_hessian(point["ls"].gram_factor())
    assert np.array_equal(H, H.T)
    D, h = rng.standard_normal((3, 3)), 1e-5
    reduced_grad = lambda X: reduced_point(problem, X)["oracle"].grad[0]
    central = (reduced_grad(X + h * D) - reduced_grad(X - h * D)) / (2 * h)
    np.testing.assert_allclose(H @ D.ravel(), central.ravel(), rtol=1e-6, atol=1e-8 * np.abs(H).max())
    np.testing.assert_allclose(reduced_hessian_product(point["oracle"], point["ls"], D).ravel(), H @ D.ravel(),
                               atol=1e-12 * np.abs(H).max())


@pytest.mark.parametrize("dense", [True, False])
def test_varpro_forms_the_exact_reduced_hessian_where_dense_steps_are_affordable(monkeypatch, dense):
    """After a slow Gauss–Newton step the exact step forms the d²×d² reduced Hessian and takes a damped step on
    it where dense steps are affordable, else products in the trust region; both reach stationarity on a noisy
    problem (where Gauss–Newton alone converges linearly)."""
    from solvers.methods.varpro import VarPro
    from solvers.oracle import Oracle

    monkeypatch.setattr(VarPro, "dense_affordable", staticmethod(lambda problem: dense))
    formed = []
    for oracle in Oracle.__subclasses__():
        original = oracle.varpro_hessian
        counted = lambda self, G, original=original: formed.append(1) or original(self, G)
        monkeypatch.setattr(oracle, "varpro_hessian", counted)
    problem = Problem.planted(64, 4, seed=2, noise=0.1)
    result = get_solver("varpro", gtol=1e-8).solve(problem, problem.start_near_solution(1.5), eps=0.0, max_iter=300)
    assert result.status == "converged" and result.history[-1].grad_norm <= 1e-8 * result.history[0].grad_norm
    assert result.info["newton_steps"] > 0
    assert len(formed) == (result.info["newton_steps"] if dense else 0)


def test_varpro_reaches_a_noisy_minimum_where_p_is_worse_conditioned_than_its_entry_cut_off():
    """The matrix's 1%-noise (128, 16) seed 2 from X* + 3·G: at its minimum κ(P) ≈ 8300 passes eps^(-1/4) = 8192.
    With the entry cut-off on its trial points the reduced objective jumped by 0.12 between neighbours there
    and varpro stalled at ‖∇L‖/‖∇L₀‖ ≈ 4e-5; with lstsq's cut-off it reaches the target (the point it reaches
    has κ(P) within 10 % of the cut-off's or beyond). Matrix-free Gauss–Newton steps: the trajectory that reaches
    that minimum (the formed steps end in one with κ(P) ≈ 6400)."""
    from solvers.harness.measure.cases import case_inputs
    from solvers.harness.records.cases import Case
    from solvers.methods.varpro import reduced_point

    case = Case("noisy-1%", "near-3", 128, 16, 2)
    problem, X0, Y0 = case_inputs(case)
    solver = get_solver("varpro", gtol=case.target[1], matrix_free=True)
    result = solver.solve(problem, X0, Y0, eps=0.0, max_iter=250)
    assert result.status == "converged" and result.history[-1].grad_norm <= 1e-8 * result.history[0].grad_norm
    assert result.info["joint_steps"] == 0
    inverse = np.asarray(reduced_point(problem, result.X)["ls"].inverse)   # 1/σ of P's singular values
    assert inverse.max() / inverse.min() > 0.9 / solver.cutoff(problem)


@pytest.mark.parametrize("matrix_free", [False, True, None])
def test_varpro_reaches_the_planted_minimum(matrix_free):
    problem = Problem.planted(128, 16, seed=1)
    result = get_solver("varpro", matrix_free=matrix_free).solve(problem, problem.start_near_solution(), eps=1e-20,
                                                                 max_iter=40)
    assert result.status == "converged" and result.loss <= 1e-20, result.message
    losses = [row.loss for row in result.history]
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert result.info["matrix_free"] is (False if matrix_free is None else matrix_free)  # (128, 16): formed


@pytest.mark.parametrize(("n", "d", "formed"), [(128, 8, True), (128, 16, True), (512, 16, True), (1024, 32, True),
                                                (64, 16, False), (256, 24, False), (512, 32, False),
                                                (1024, 64, False), (1 << 20, 48, False)])
def test_varpro_forms_its_gauss_newton_matrix_where_that_costs_few_products(n, d, formed):
    """Sizes on both sides of the rule, most of them measured (module docstring of solvers.methods.varpro), and
    d > 39, where no d²×d² matrix is factorised however large n is (the model alone would form it at n = 2²⁰,
    d = 48)."""
    from solvers.methods.varpro import FORMED_GN_PRODUCTS, VarPro, formed_gn_products

    problem = SimpleNamespace(n=n, d=d)
    assert VarPro().formed_gauss_newton(problem) is formed
    if d <= 39:
        assert (formed_gn_products(n, d) <= FORMED_GN_PRODUCTS) is formed
    elif n == 1 << 20:
        assert formed_gn_products(n, d) <= FORMED_GN_PRODUCTS   # the d guard decides
    assert VarPro(matrix_free=True).formed_gauss_newton(problem) is False
    assert VarPro(matrix_free=False).formed_gauss_newton(problem) is True


def test_varpro_from_a_cold_start_takes_dense_joint_newton_steps_where_they_are_cheap():
    """At X = 0 P = S A3 has rank one; where the 2d²×2d² factorisation is cheap varpro takes damped joint
    Newton steps (the benchmark matrix: Newton–CG then the reduced iteration solved none of its 13 solvable
    cold starts, joint damped Newton 11). The matrix's random/zero/128x16/0 case reaches its stationarity
    target; where the factorisation is not cheap the Newton–CG phase stays."""
    from solvers.harness.measure.cases import case_inputs
    from solvers.harness.records.cases import Case
    from solvers.methods.newton import JointState
    from solvers.methods.newton_cg import NewtonCGState

    case = Case("random", "zero", 128, 16, 0)
    problem, X0, Y0 = case_inputs(case)
    solver = get_solver("varpro", gtol=case.target[1])
    state = solver.init_state(problem, problem.as_variable(X0, "X0"), problem.as_variable(Y0, "Y0"))
    assert isinstance(state.joint, JointState) and not state.joint_only
    result = solver.solve(problem, X0, Y0, eps=0.0, max_iter=2000)
    assert result.status == "converged" and result.history[-1].grad_norm <= 1e-8 * result.history[0].grad_norm
    assert result.info["matrix_free"] is False   # the Gauss–Newton mode of this size, though none was taken
    big = Problem.random(64, 40, seed=0)   # (2·40²)³/3 = 1.4e10 flops per factorisation
    zero = np.zeros((40, 40))
    state = solver.init_state(big, big.as_variable(zero, "X0"), oracles.y_solve(big, zero))
    assert isinstance(state.joint, NewtonCGState) and not state.joint_only



def test_varpro_hands_crawling_joint_newton_steps_over_to_the_reduced_iteration():
    """From X = 0 on the matrix's 1%-noise (128, 16) seed 8 damped joint Newton crawls (388 iterations to the
    stationarity target: nearly undamped steps, each lowering the loss by less than 1 %); varpro hands such steps
    over to the reduced iteration, which gets there in about a third of that (module docstring of
    solvers.methods.varpro). The rule itself: a step crawls only when both hold."""
    from solvers.harness.measure.cases import case_inputs
    from solvers.harness.records.cases import Case
    from solvers.methods.damping import Damping
    from solvers.methods.newton import JointState
    from solvers.methods.varpro import CRAWL_DAMPING, CRAWL_DECREASE, crawls

    case = Case("noisy-1%", "zero", 128, 16, 8)
    problem, X0, Y0 = case_inputs(case)
    gtol = case.target[1]
    joint = get_solver("joint-newton", gtol=gtol).solve(problem, X0, Y0, eps=0.0, max_iter=250)
    assert joint.status == "max_iter"
    result = get_solver("varpro", gtol=gtol).solve(problem, X0, Y0, eps=0.0, max_iter=250)
    assert result.status == "converged" and result.history[-1].grad_norm <= gtol * result.history[0].grad_norm
    assert 0 < result.info["joint_steps"] < result.iterations
    X = np.zeros((2, 2))

    def state(loss: float, mu: float) -> JointState:
        return JointState(X, X, damping=Damping(mu), oracle=None, loss=loss)

    assert crawls(state(1.0, 1.0), state(1.0 - 0.5 * CRAWL_DECREASE, CRAWL_DAMPING))
    assert not crawls(state(1.0, 1.0), state(1.0 - 2.0 * CRAWL_DECREASE, CRAWL_DAMPING))
    assert not crawls(state(1.0, 1.0), state(1.0 - 0.5 * CRAWL_DECREASE, 2.0 * CRAWL_DAMPING))

# --- monitoring costs nothing extra ----------------------------------------------------------

@pytest.mark.parametrize("method", PROJECT_METHODS)
def test_methods_hand_the_loop_the_loss_and_gradient_they_computed(method):
    problem = Problem.planted(32, 3, seed=1)
    X0 = problem.start_near_solution()
    solver = get_solver(method)
    state = solver.init_state(problem, problem.as_variable(X0, "X0"), oracles.y_solve(problem, X0))
    for _ in range(3):
        state = solver.step(problem, state)
        assert state.loss is not None and state.grad_norm is not None
        gX, gY = oracles.grad(problem, state.X, state.Y)
        assert state.loss == pytest.approx(oracles.loss(problem, state.X, state.Y), rel=1e-12)
        assert state.grad_norm == pytest.approx(np.sqrt(np.sum(gX**2) + np.sum(gY**2)), rel=1e-9)


@pytest.mark.parametrize("method", [*PROJECT_METHODS, "lbfgs", "scipy-trust-ncg"])
def test_the_loop_evaluates_only_the_start_itself(monkeypatch, method):
    from solvers.loop import Run

    problem = Problem.planted(32, 3, seed=1)
    evaluated = []
    record = Run.record

    def spy(self, iteration, elapsed, state):
        evaluated.append((iteration, state.loss is None or state.grad_norm is None))
        return record(self, iteration, elapsed, state)

    monkeypatch.setattr(Run, "record", spy)
    result = get_solver(method).solve(problem, problem.start_near_solution(), eps=0.0, max_iter=3)
    assert result.iterations == 3 and len(evaluated) == 4
    assert [needs for _, needs in evaluated] == [True, False, False, False]   # only iteration 0


def test_damping_trials_after_the_first_ones_reuse_one_eigendecomposition(rng, monkeypatch):
    from solvers.methods import damping as damping_module

    backend = get_backend("numpy")
    M = rng.standard_normal((8, 8))
    H = M + M.T - 6.0 * np.eye(8)            # strongly indefinite: many shifts fail
    g = rng.standard_normal(8)
    f = lambda p: -float(g @ p) + 0.5 * float(p @ H @ p) + 0.1 * float(p @ p) ** 2
    results = {}
    for trials in (2, 100):                  # eigendecomposition from the 3rd trial / Cholesky only
        monkeypatch.setattr(damping_module, "CHOLESKY_TRIALS", trials)
        results[trials] = damped_newton_step(backend, H, g, lambda p: f(p) - 10.0, f(np.zeros(8)) - 10.0 + 1e-3,
                                             Damping(1e-6))
    assert results[2].trials == results[100].trials > 2
    np.testing.assert_allclose(results[2].p, results[100].p, rtol=1e-9)
    assert results[2].damping == results[100].damping

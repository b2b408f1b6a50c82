"""varpro's restart: its fallbacks (damped joint Newton for a while, then Newton–CG) from the start after a stationary
point above eps, or after ``handover`` iterations above it, within the same limits; from a cold start, line-search
Newton–CG first."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import Problem, get_solver, oracles
from solvers.loop import default_gtol
from solvers.methods.varpro import reduced_point


def _solve(restart, seed, sigma, handover=50, **limits):
    problem = Problem.planted(24, 3, seed=seed)
    X0 = problem.start_near_solution(sigma)
    solver = get_solver("varpro", restart=restart, handover=handover)
    return problem, solver.solve(problem, X0, **{"eps": 1e-10, "max_iter": 500, **limits})


def _assert_one_history(result):
    """Iterations count on through both attempts, solver time never runs backwards, and the returned point
    is the one the last row describes."""
    iterations = [row.iteration for row in result.history]
    assert iterations == sorted(iterations) and iterations[-1] == result.iterations
    times = [row.time for row in result.history]
    assert all(b >= a for a, b in zip(times, times[1:]))


def test_a_spurious_stationary_point_is_left_for_the_fallbacks_from_the_start():
    """Planted (24, 3) seed 2 from X* + 3·G: the reduced iteration stops at a stationary point with L ≈ 0.09;
    damped joint Newton from the same start reaches L ≤ eps, and that ending is the result's."""
    _, alone = _solve(False, 2, 3.0)
    assert alone.status == "converged" and alone.loss > 1e-2 and "restart" not in alone.info
    problem, result = _solve(True, 2, 3.0)
    assert result.status == "converged" and result.loss <= 1e-10, result.message
    [restart] = result.info["restart"]
    assert restart["method"] == "joint-newton" and restart["kept"] == "second"
    assert restart["after_iterations"] == alone.iterations and restart["first_loss"] == pytest.approx(alone.loss)
    assert "by joint-newton from the start, after varpro stopped at a stationary point" in result.message
    # the first attempt's rows are the history's first rows, then the second attempt climbs back up from the start
    assert [row.loss for row in result.history[:alone.iterations + 1]] == pytest.approx(
        [row.loss for row in alone.history])
    assert result.history[alone.iterations + 1].loss > alone.loss
    _assert_one_history(result)
    assert oracles.loss(problem, result.X, result.Y) == pytest.approx(result.loss, rel=1e-9)


def test_newton_cg_takes_over_from_joint_newton(monkeypatch):
    """With joint Newton handed over after 3 iterations, Newton–CG runs from the start in turn and reaches L ≤ eps;
    the record holds both attempts, the second starting where the first left the iteration count."""
    from solvers.methods import fallbacks

    monkeypatch.setattr(fallbacks, "JOINT_HANDOVER", 3)
    _, alone = _solve(False, 2, 3.0)
    problem, result = _solve(True, 2, 3.0)
    assert result.status == "converged" and result.loss <= 1e-10, result.message
    joint, newton_cg = result.info["restart"]
    assert joint["method"] == "joint-newton" and joint["second_status"] == "handed over"
    assert newton_cg["method"] == "newton-cg" and newton_cg["kept"] == "second"
    assert newton_cg["after_iterations"] == alone.iterations + 3
    assert newton_cg["first_loss"] == pytest.approx(min(alone.loss, joint["second_loss"]))
    assert "by newton-cg from the start" in result.message
    _assert_one_history(result)
    assert oracles.loss(problem, result.X, result.Y) == pytest.approx(result.loss, rel=1e-9)


def test_the_lower_ending_is_kept_when_the_restart_does_worse():
    """With the second attempt cut short by max_iter, the first stationary point is returned, recorded as the
    last row; the status is the first one's and still honest, and no further fallback runs."""
    _, alone = _solve(False, 2, 3.0)
    problem, result = _solve(True, 2, 3.0, max_iter=alone.iterations + 2)
    [restart] = result.info["restart"]
    assert restart["kept"] == "first" and restart["second_status"] == "max_iter"
    assert result.status == "converged" and result.message.startswith("stationary")
    assert "joint-newton from the start ended max_iter" in result.message
    assert result.loss == pytest.approx(alone.loss) and result.history[-2].loss > alone.loss
    relative = result.history[-1].grad_norm / result.history[0].grad_norm
    assert relative <= default_gtol("float64")
    _assert_one_history(result)
    np.testing.assert_allclose(result.X, alone.X)
    assert oracles.loss(problem, result.X, result.Y) == pytest.approx(result.loss, rel=1e-9)


def test_the_restart_shares_the_iteration_and_time_limits():
    """The second attempt's iterations and solver time count on from the first's: max_iter and max_time bound
    both together."""
    from solvers.loop import Run
    from solvers.methods.restart import ContinuedRun

    problem = Problem.planted(24, 3, seed=2)
    run = Run(get_solver("varpro"), problem, eps=1e-10, max_iter=50, max_time=1.0, callback=None)
    continued = ContinuedRun(run, 40, 0.9)
    assert continued.limits(5, 0.05) == ("", "")
    assert continued.limits(5, 0.2)[0] == "timeout" and continued.limits(10, 0.0)[0] == "max_iter"
    assert continued.gtol == run.gtol and continued.eps == run.eps


@pytest.mark.parametrize("eps", [0.0, 1.0])
def test_no_restart_without_a_loss_target_or_once_the_target_is_met(eps):
    """eps = 0 asks for stationarity only (noisy and random problems); a loss at or below eps is the target met."""
    _, result = _solve(True, 2, 3.0, eps=eps)
    assert "restart" not in result.info and result.status == "converged"


def test_a_stall_above_eps_restarts_too():
    """Planted (32, 4) seed 2 from X* + 1.5·G: the reduced iteration stalls at L ≈ 3e-3 (no step lowers the loss
    in float64 at |g|/|g0| ≈ 1e-9, above gtol) after 78 iterations, past the default handover, so none here;
    joint Newton from the start reaches L ≤ eps."""
    problem = Problem.planted(32, 4, seed=2)
    X0 = problem.start_near_solution(1.5)
    alone = get_solver("varpro", restart=False).solve(problem, X0, eps=1e-10, max_iter=500)
    assert alone.status in ("stalled", "converged") and alone.loss > 1e-4, alone.message
    result = get_solver("varpro", handover=None).solve(problem, X0, eps=1e-10, max_iter=1000)
    assert result.status == "converged" and result.loss <= 1e-10, result.message
    [restart] = result.info["restart"]
    assert restart["kept"] == "second" and restart["after_iterations"] == alone.iterations
    _assert_one_history(result)


@pytest.mark.parametrize("status, loss, restarts", [("converged", 0.1, True), ("stalled", 0.1, True),
                                                    ("handed over", 0.1, True),
                                                    ("stalled", 1e-12, False), ("timeout", 0.1, False),
                                                    ("max_iter", 0.1, False), ("error", 0.1, False)])
def test_which_endings_restart(status, loss, restarts):
    """Only an ending the method chose itself (stationary, or no decreasing step) above eps restarts: at a limit
    there is nothing left to restart with, and an error is reported as it is."""
    from types import SimpleNamespace

    from solvers.methods.restart import stopped_above_target

    run = SimpleNamespace(history=[SimpleNamespace(loss=loss)], eps=1e-10)
    assert stopped_above_target(run, status) is restarts


def test_a_long_first_attempt_is_handed_over_to_the_fallbacks():
    """Planted (24, 3) seed 2 from X* + 3·G with ``handover=5``: after 5 iterations above eps, joint Newton from the
    start reaches L ≤ eps, and the history holds both attempts."""
    problem, result = _solve(True, 2, 3.0, handover=5)
    assert result.status == "converged" and result.loss <= 1e-10, result.message
    [restart] = result.info["restart"]
    assert restart["first_status"] == "handed over" and restart["after_iterations"] == 5 and restart["kept"] == "second"
    assert "after varpro was handed over" in result.message
    assert result.history[6].loss > result.history[5].loss  # the second attempt starts from the start again
    _assert_one_history(result)
    assert oracles.loss(problem, result.X, result.Y) == pytest.approx(result.loss, rel=1e-9)


def test_a_handed_over_point_kept_at_a_limit_takes_the_limits_status():
    """Joint Newton cut short by max_iter two iterations after the handover ends above the handed-over point:
    that point is returned with status ``max_iter``, never the internal "handed over"."""
    problem, result = _solve(True, 2, 3.0, handover=5, max_iter=7)
    assert result.status == "max_iter" and result.iterations == 7, result.message
    [restart] = result.info["restart"]
    assert restart["kept"] == "first" and restart["second_status"] == "max_iter"
    assert "varpro was handed over at loss" in result.message
    assert result.loss == pytest.approx(result.history[5].loss)
    _assert_one_history(result)
    assert oracles.loss(problem, result.X, result.Y) == pytest.approx(result.loss, rel=1e-9)


def test_the_reduced_iteration_goes_on_where_the_fallbacks_stop_above_the_handed_over_point(monkeypatch):
    """Fallbacks that stop by themselves without a step (stubs) leave the handed-over point the lower one:
    the reduced iteration goes on from it, within the same limits, to L ≤ eps."""
    from solvers.methods import fallbacks

    class Stops:
        name = "stub"

        def __init__(self, **options):
            pass

        def drive(self, problem, state, run):
            return state, 0, "stalled", "no step"

    monkeypatch.setattr(fallbacks, "NewtonCG", Stops)
    monkeypatch.setattr(fallbacks, "JointNewton", Stops)
    problem, result = _solve(True, 2, 0.5, handover=2)
    assert result.status == "converged" and result.loss <= 1e-10, result.message
    first, last = result.info["restart"]
    assert first["first_status"] == last["first_status"] == "handed over"
    assert last["kept"] == "first" and last["resumed"]
    assert result.history[2].loss == pytest.approx(last["first_loss"])  # the stubs took no step
    assert result.iterations > 2 and result.history[3].loss < result.history[2].loss
    _assert_one_history(result)
    assert oracles.loss(problem, result.X, result.Y) == pytest.approx(result.loss, rel=1e-9)


@pytest.mark.parametrize("options", [{"eps": 0.0}, {"restart": False}])
def test_no_handover_without_a_loss_target_or_a_restart(options):
    """Stationarity targets (eps = 0) and ``restart=False`` leave the reduced iteration alone, ``handover`` or not."""
    restart = options.pop("restart", True)
    _, result = _solve(restart, 2, 3.0, handover=2, **options)
    assert "restart" not in result.info and result.iterations > 2


def test_the_handover_waits_for_the_solves_own_limits():
    from solvers.loop import Run
    from solvers.methods.restart import HANDED_OVER, ContinuedRun

    problem = Problem.planted(24, 3, seed=2)
    run = Run(get_solver("varpro"), problem, eps=1e-10, max_iter=5, max_time=None, callback=None)
    assert ContinuedRun(run, until=3).limits(2, 0.0) == ("", "")
    assert ContinuedRun(run, until=3).limits(3, 0.0)[0] == HANDED_OVER
    assert ContinuedRun(run, until=8).limits(5, 0.0)[0] == "max_iter"


def test_a_rank_deficient_start_is_not_handed_over():
    """From X = 0 (P = S A3 of rank one) the iteration takes joint damped Newton steps, which solve cold starts that
    Newton–CG from there does not: ``handover`` leaves them alone, however small."""
    problem = Problem.planted(24, 3, seed=2)
    X0 = np.zeros((3, 3))
    assert get_solver("varpro").joint_start(problem, X0)
    assert not get_solver("varpro").joint_start(problem, problem.start_near_solution(0.5))
    alone = get_solver("varpro", handover=None).solve(problem, X0, eps=1e-10, max_iter=500)
    result = get_solver("varpro", handover=2).solve(problem, X0, eps=1e-10, max_iter=500)
    assert alone.iterations > 2 and result.iterations == alone.iterations and result.loss == alone.loss
    assert all(record["first_status"] != "handed over" for record in result.info.get("restart", []))


def test_an_ill_conditioned_start_is_not_a_cold_one():
    """A small random start (X = 1e-4·G here: P = S A3 has rank one at eps^(1/4), full rank at √eps) begins with the
    reduced iteration, and is handed over like any other; with ``rcond`` given, that one cut-off decides."""
    problem = Problem.planted(24, 3, seed=2)
    X0 = 1e-4 * np.random.default_rng(0).standard_normal((3, 3))
    assert reduced_point(problem, X0, 1e-4)["rank"] == 1 and reduced_point(problem, X0, 1.5e-8)["rank"] == 3
    assert not get_solver("varpro").joint_start(problem, X0)
    assert get_solver("varpro", rcond=1e-4).joint_start(problem, X0)
    result = get_solver("varpro", restart=False).solve(problem, X0, eps=1e-10, max_iter=5)
    assert result.iterations == 5 and result.info["joint_steps"] == 0
    cold = get_solver("varpro", restart=False, rcond=1e-4).solve(problem, X0, eps=1e-10, max_iter=5)
    assert cold.info["joint_steps"] == 5


def test_which_attempts_run_where():
    """Where d ≤ 39 the reduced iteration, damped joint Newton for a while, then Newton–CG; beyond, no joint Newton;
    from a cold start line-search Newton–CG, then the reduced iteration (its joint steps first), then Newton–CG."""
    from solvers.methods import fallbacks

    solver = get_solver("varpro")
    small, large = Problem.planted(24, 3, seed=0), Problem.planted(48, 40, seed=0)

    def chain(problem, X):
        chain = solver.attempts(problem, get_solver("varpro", restart=False), solver.joint_start(problem, X))
        return [(method.name, until) for method, until in chain]

    assert chain(small, small.start_near_solution(1.5)) == [("varpro", fallbacks.HANDOVER),
                                                            ("joint-newton", fallbacks.JOINT_HANDOVER),
                                                            ("newton-cg", None)]
    assert chain(large, large.start_near_solution(1.5)) == [("varpro", fallbacks.HANDOVER), ("newton-cg", None)]
    assert chain(small, np.zeros((3, 3))) == [("line-search-newton-cg", fallbacks.COLD_HANDOVER), ("varpro", None),
                                              ("newton-cg", None)]


def test_a_cold_start_begins_with_the_line_search():
    """Planted (128, 16) seed 3 from X = 0, the benchmark matrix's case that SciPy's Newton–CG alone had solved:
    line-search Newton–CG reaches L ≤ eps with no restart, every step a joint one."""
    problem = Problem.planted(128, 16, seed=3)
    result = get_solver("varpro").solve(problem, np.zeros((16, 16)), eps=1e-10, max_iter=150)
    assert result.status == "converged" and result.loss <= 1e-10, result.message
    assert "restart" not in result.info and result.info["joint_steps"] == result.iterations
    assert oracles.loss(problem, result.X, result.Y) == pytest.approx(result.loss, rel=1e-9)


def test_after_the_line_search_the_reduced_iteration_runs_from_the_start(monkeypatch):
    """Planted (24, 3) seed 4 from X = 0, the line search handed over after 3 iterations: the reduced iteration from
    the start ends lower (L ≈ 6e-4, a spurious minimum), Newton–CG after it does not, and the record says so."""
    from solvers.methods import fallbacks

    monkeypatch.setattr(fallbacks, "COLD_HANDOVER", 3)
    problem = Problem.planted(24, 3, seed=4)
    result = get_solver("varpro").solve(problem, np.zeros((3, 3)), eps=1e-10, max_iter=500)
    reduced, newton_cg = result.info["restart"]
    assert reduced["method"] == "varpro" and reduced["after_iterations"] == 3
    assert reduced["first_status"] == "handed over" and reduced["kept"] == "second"
    assert newton_cg["method"] == "newton-cg" and newton_cg["kept"] == "first"
    assert result.loss == pytest.approx(reduced["second_loss"]) and result.loss < reduced["first_loss"]
    assert "by varpro from the start, after line-search-newton-cg was handed over" in result.message
    _assert_one_history(result)

"""Line-search Newton–CG (SciPy's rules on the project's oracles): SciPy's iterates, on every backend; its CG
direction; its own stopping rule reported as such."""

from __future__ import annotations

import re

import numpy as np
import pytest

from solvers import Problem, get_solver, oracles
from solvers.methods.line_search_newton_cg import XTOL, LineSearchNewtonCG, cg_direction
from solvers.rowterms import join, split


@pytest.mark.parametrize("seed, start", [(2, "zero"), (5, "zero"), (0, "zero"), (1, "near")])
def test_the_iterates_are_scipys(seed, start):
    """Step by step the losses of scipy.optimize.minimize(method="Newton-CG") on the same oracles, to the last bit,
    from a cold start (X = 0) and from X* + 1.5·G, to the same ending (seed 0: a spurious minimum, left by SciPy's
    step-size rule)."""
    problem = Problem.planted(24, 3, seed=seed)
    X0 = np.zeros((3, 3)) if start == "zero" else problem.start_near_solution(1.5)
    ours = LineSearchNewtonCG().solve(problem, X0, eps=1e-10, max_iter=60)
    scipys = get_solver("scipy-newton-cg").solve(problem, X0, eps=1e-10, max_iter=60)
    assert ours.status == scipys.status and ours.iterations >= 15
    losses = [row.loss for row in ours.history]
    assert [row.loss for row in scipys.history[:len(losses)]] == losses  # the peer records its ending once more
    assert {row.loss for row in scipys.history[len(losses):]} <= {ours.loss}
    assert ours.info["hvps"] >= ours.iterations
    assert oracles.loss(problem, ours.X, ours.Y) == pytest.approx(ours.loss, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 2])
def test_the_direction_meets_scipys_residual_rule(seed):
    """Near the planted minimiser (X* + 0.01·G): the direction solves H p = −g to the 1-norm residual
    min(½, √‖g‖₁)·‖g‖₁ in several products, and is a descent direction."""
    problem = Problem.planted(24, 3, seed=seed)
    X = problem.start_near_solution(0.01)
    oracle = problem.oracle(X, oracles.y_solve(problem, X))
    g = oracle.joint_grad
    p, used = cg_direction(problem, oracle, g, 200)
    residual = join(problem, *oracle.hvp(*split(problem, p))) + g
    magnitude = float(np.abs(g).sum())
    assert 5 <= used <= 18 and float(np.abs(residual).sum()) <= min(0.5, magnitude ** 0.5) * magnitude
    assert float(g @ p) < 0.0


@pytest.mark.parametrize("scale, expected", [(2.0, -0.5), (-1.0, -1.0)])
def test_the_direction_on_known_curvature(scale, expected):
    """With H = 2I CG is exact after one product (p = −g/2); with H = −I its first product meets negative
    curvature and the step is steepest descent scaled by gᵀg/|gᵀHg| (p = −g)."""
    class Scaled:
        def hvp(self, dX, dY):
            return scale * dX, scale * dY

    problem = Problem.planted(24, 3, seed=0)
    g = np.random.default_rng(1).standard_normal(18)
    p, used = cg_direction(problem, Scaled(), g, 200)
    assert used == 1
    np.testing.assert_allclose(p, expected * g, rtol=1e-14)


def test_a_crawl_stops_by_scipys_step_rule():
    """Planted (24, 3) seed 0 from X = 0 ends at a spurious minimum (L ≈ 3e-3) towards which the steps shrink
    without the gradient reaching gtol: ``stalled``, the rule named, the last step below 1e-5 × 2d²."""
    problem = Problem.planted(24, 3, seed=0)
    result = LineSearchNewtonCG().solve(problem, np.zeros((3, 3)), eps=1e-10, max_iter=500)
    assert result.status == "stalled" and result.iterations < 100 and result.loss > 1e-3
    assert result.message.startswith("stopped by SciPy's step-size rule at |g|/|g0|")
    step = float(re.search(r"the last step's 1-norm (\S+) is at most", result.message).group(1))
    assert 0.0 < step <= XTOL * 2 * 3**2


def test_torch_takes_the_same_steps():
    """On torch (CPU, float64) the iterates are NumPy's (to rounding)."""
    pytest.importorskip("torch")
    problem = Problem.planted(24, 3, seed=5)
    numpy_run = LineSearchNewtonCG().solve(problem, np.zeros((3, 3)), eps=1e-10, max_iter=8)
    torch_run = LineSearchNewtonCG().solve(problem.on("torch"), np.zeros((3, 3)), eps=1e-10, max_iter=8)
    assert torch_run.backend == "torch"
    np.testing.assert_allclose([row.loss for row in torch_run.history], [row.loss for row in numpy_run.history],
                               rtol=1e-9)
    np.testing.assert_allclose(torch_run.X, numpy_run.X, rtol=1e-8, atol=1e-12)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="max_cg"):
        LineSearchNewtonCG(max_cg=0)


def test_scipy_optimize_is_imported_only_for_a_cold_start():
    """The registry does not import scipy.optimize (0.15 s); varpro's warm_up does, before a harness's clock."""
    import subprocess
    import sys

    code = ("import sys, solvers; solvers.list_solvers(); before = 'scipy.optimize' in sys.modules; "
            "solvers.get_solver('varpro').warm_up(None); print(before, 'scipy.optimize' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]

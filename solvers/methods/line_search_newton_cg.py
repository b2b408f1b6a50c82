"""Line-search (truncated) Newton–CG on the joint variable (x, y): SciPy's ``minimize(method="Newton-CG")``
written against the array API, on the project's oracles.

Each iteration runs conjugate gradients on H p = −g with exact Hessian–vector products
(:meth:`solvers.oracle.Oracle.hvp`) until the residual's 1-norm falls below min(½, √‖g‖₁)·‖g‖₁, up to
20·2d² products; negative curvature stops CG (on its first product, the step is steepest descent scaled by
gᵀg/|dᵀHd|). A line search for the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9: MINPACK's ``dcsrch``,
then the Nocedal–Wright zoom where that fails) sets the step length, its first trial min(1, 2.02·(L_k −
L_{k−1})/gᵀp). The iteration stops (``stalled``) once a step's 1-norm is at most 1e-5 × 2d². These are SciPy's
rules and its scalar line searches (``scalar_search_wolfe1`` and ``…2``), driven here through closures over the
backend's arrays: on NumPy the iterates are SciPy's to the last bit (dot products by ``vecdot``, which is
``numpy.dot``'s BLAS; loss and gradient at each trial point from one pass, as SciPy asks for them), on the other
backends to rounding.

Why a second Newton–CG beside the trust-region one (:class:`solvers.methods.newton_cg.NewtonCG`): from a cold
start (X = 0) of a planted problem, where the landscape has many spurious minima with L ≈ 0.05–0.1, the two
walk into different basins. It is the step ``varpro`` takes from a planted cold start
(:mod:`solvers.methods.fallbacks` has the measurements).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# SciPy's scalar line searches, which its Newton–CG calls through array wrappers; private names, so the tests
# compare this method's iterates with scipy.optimize.minimize(method="Newton-CG")'s.
from scipy.optimize._linesearch import scalar_search_wolfe1, scalar_search_wolfe2

from .. import check
from ..backends import Backend, host_floats
from ..loop import IterativeSolver, State, StepFailed, machine_eps
from ..oracle import Oracle
from ..problem import Problem
from ..rowterms import join, split

#: The sufficient-decrease and curvature constants of the strong Wolfe conditions (SciPy's).
C1, C2 = 1e-4, 0.9
#: The iteration stops (``stalled``) once a step's 1-norm is at most this times the number of variables (SciPy's
#: ``xtol``, ``avextol`` = 1e-5): a crawl towards a degenerate stationary point, which the gradient rule may never see.
XTOL = 1e-5


@dataclass
class LineSearchState(State):
    """The iterate, its oracle, the previous loss (the line search's first trial uses it), the last step's size
    and the products used."""

    oracle: Oracle = field(kw_only=True)
    previous_loss: float | None = None
    hvps: int = 0
    #: ‖x_k − x_{k−1}‖₁ (infinite at the start).
    last_step: float = math.inf


def cg_direction(problem: Problem, oracle: Oracle, g: Any, max_cg: int) -> tuple[Any, int]:
    """SciPy's truncated CG for H p = −g at ``oracle``'s iterate: ``(p, products used)``."""
    xp = problem.xp
    magnitude, rr = host_floats(problem.backend, xp.sum(xp.abs(g)), xp.vecdot(g, g))
    stop = min(0.5, math.sqrt(magnitude)) * magnitude
    p, r = xp.zeros_like(g), g
    d = -r
    residual = magnitude
    for i in range(max_cg):
        if residual <= stop:
            return p, i
        Hd = join(problem, *oracle.hvp(*split(problem, d)))
        (curvature,) = host_floats(problem.backend, xp.vecdot(d, Hd))
        if 0.0 <= curvature <= 3.0 * machine_eps("float64"):
            return p, i + 1
        if curvature < 0.0:
            return (p if i > 0 else (rr / -curvature) * (-g)), i + 1
        alpha = rr / curvature
        p, r = p + alpha * d, r + alpha * Hd
        rr_next, residual = host_floats(problem.backend, xp.vecdot(r, r), xp.sum(xp.abs(r)))
        d = -r + (rr_next / rr) * d
        rr = rr_next
    raise StepFailed(f"CG did not converge in {max_cg} products: the Hessian is not positive definite")


class LineSearchNewtonCG(IterativeSolver):
    """Truncated Newton–CG with a strong-Wolfe line search on (x, y), matrix-free (SciPy's rules).

    Parameters
    ----------
    max_cg : int, optional
        Hessian–vector products per CG solve. Default 20 × 2d² (SciPy's 20 × the number of variables).
    """

    name = "line-search-newton-cg"

    def __init__(self, backend: str | Backend | None = None, *, max_cg: int | None = None, **common: Any) -> None:
        super().__init__(backend, **common)
        self.max_cg = check.integer("max_cg", max_cg, at_least=1, optional=True)

    def init_state(self, problem: Problem, X: Any, Y: Any) -> LineSearchState:
        oracle = problem.oracle(X, Y)
        loss, gnorm = oracle.summary()
        return LineSearchState(X, oracle.Y, oracle=oracle, loss=loss, grad_norm=gnorm)

    def step(self, problem: Problem, state: LineSearchState) -> LineSearchState:
        xp, oracle = problem.xp, state.oracle
        if state.last_step <= XTOL * 2 * problem.d**2:
            raise StepFailed(f"the last step's 1-norm {state.last_step:.2e} is at most {XTOL:g} × 2d²",
                             "stopped by SciPy's step-size rule")
        g = oracle.joint_grad
        p, used = cg_direction(problem, oracle, g, self.max_cg or 40 * problem.d ** 2)
        pX, pY = split(problem, p)
        points: dict[float, Oracle] = {}

        def at(step: float) -> Oracle:
            if step not in points:  # loss and gradient from one pass, as SciPy asks for them (and so rounded alike)
                points[step] = problem.oracle(state.X + step * pX, state.Y + step * pY)
                points[step].value_and_grad()
            return points[step]

        def slope(step: float) -> float:
            return host_floats(problem.backend, xp.vecdot(at(step).joint_grad, p))[0]

        start_slope, length = host_floats(problem.backend, xp.vecdot(g, p), xp.sum(xp.abs(p)))
        step, _, _ = scalar_search_wolfe1(lambda s: at(s).loss, slope, state.loss, state.previous_loss, start_slope,
                                          c1=C1, c2=C2, amax=50.0, amin=1e-8, xtol=1e-14)
        if step is None:
            step, *_ = scalar_search_wolfe2(lambda s: at(s).loss, slope, state.loss, state.previous_loss,
                                            start_slope, c1=C1, c2=C2)
        if step is None:
            raise StepFailed("the line search found no step satisfying the Wolfe conditions")
        new = at(step)
        loss, gnorm = new.summary()
        return LineSearchState(new.X, new.Y, oracle=new, previous_loss=state.loss, hvps=state.hvps + used,
                               last_step=step * length, loss=loss, grad_norm=gnorm)

    def info(self, state: State) -> dict[str, Any]:
        return {"hvps": getattr(state, "hvps", 0)}

"""Which methods ``varpro`` runs from the start after its first attempt, and when each hands over to the next.

Where a loss target eps > 0 is asked for (min L = 0: a planted problem) and ``varpro`` stops at a stationary
point above it (``converged`` by gtol, or ``stalled`` where float64 leaves |g|/|g0| just above gtol: planted
(128, 16) seed 6 from X* + 1.5·G ends at 3.77e-11 against 3.7e-11 on one BLAS thread), that point is a
spurious minimum which no local step leaves. Its first attempts that reached eps on the planted cases of
the benchmark matrix ((128, 16) to (1024, 64), seeds 0–9) took 5–36 iterations, those that ended at a
spurious minimum 139 or more (1–2 s at (128, 16)), by when a restart comes too late. So with ``restart``
(the default) the first attempt is handed over after :data:`HANDOVER` iterations above eps (or stops
there), and the :func:`fallbacks` run from the start in turn, within the same ``max_iter`` and
``max_time`` (:mod:`solvers.methods.restart`); the lowest ending is returned, and should the last stop by
itself above a handed-over point, the reduced iteration goes on from there. ``eps = 0`` (stationarity
asked for) never restarts.

Which basin a method reaches from a far start is its own: from X* + 1.5·G at planted (128, 16), seeds
0–79, Gauss–Newton on (X, Y) alone solved 14 (12 of them in 12–41 iterations, 0.04–0.16 s), damped
joint Newton and Newton–CG each about 40 %, often on other seeds. Where dense steps are affordable
(d ≤ 39) the fallbacks are Gauss–Newton for :data:`GAUSS_NEWTON_HANDOVER` iterations, damped joint Newton
for :data:`JOINT_HANDOVER`, then Newton–CG; beyond, Newton–CG. Measured one case at a time (one thread,
2 s caps), seeds 0–79: without fallbacks 10 of the first 40 solved; Newton–CG alone after the handover
18 of 40; with joint Newton before it 42 of 80; with Gauss–Newton first 44 (none lost; the geometric
mean time of the 42 both solved 0.97×); at (256, 24) seeds 0–9 (4.9 s caps) 7 and 9. SciPy's
line-search Newton–CG last instead of the project's trust-region one solved 41.

From a cold start (X = 0: P = S A3 rank one, a :meth:`solvers.methods.varpro.VarPro.joint_start`) the
first attempt is damped joint Newton where d ≤ 39, whose solves from X = 0 (planted (128, 16), seeds 0–39)
took 32 and 64 iterations and whose spurious endings took 259 or more; it is handed over after
:data:`JOINT_START_HANDOVER`, to SciPy's line-search Newton–CG (``scipy.optimize.minimize``, on the
project's oracles) where the problem is one NumPy process, then the project's Newton–CG. Of those 40
cold starts that rule solved 5 (seeds 3, 10, 11, 19, 32), joint Newton to the end 2; the trust-region
methods and L-BFGS-B from the handover solved fewer (L-BFGS-B: 10, 11, 19).
"""

from __future__ import annotations

from typing import Any

from ..loop import IterativeSolver
from ..problem import Problem
from .newton import GaussNewton, JointNewton
from .newton_cg import NewtonCG
from .scipy_peers import ScipyNewtonCG

#: Iterations above a loss target eps > 0 after which ``varpro``'s reduced iteration hands over to the fallbacks:
#: its first attempts that reached 1e-10 on the matrix's planted cases took 5–36, spurious endings 139+.
HANDOVER = 50
#: Iterations of the fallback Gauss–Newton on (X, Y) before the next: from X* + 1.5·G at (128, 16), seeds 0–79,
#: alone it solved 14, 12 of them in 12–41 iterations, others in 60 and 240; its other endings took 274+.
GAUSS_NEWTON_HANDOVER = 45
#: Iterations of the fallback damped joint Newton before Newton–CG: from X* + 1.5·G at (128, 16), seeds 0–39,
#: its solves took 24–96 iterations (one 192), its other endings 169 and more.
JOINT_HANDOVER = 100
#: Iterations of damped joint Newton from a cold start above eps before the fallbacks: from X = 0 at (128, 16),
#: planted seeds 0–39, its solves took 32 and 64 iterations, its spurious endings 259 and more.
JOINT_START_HANDOVER = 70


def first_handover(handover: int | None, joint_start: bool, dense: bool) -> int | None:
    """Iterations above eps after which the first attempt hands over (``None``: only after a stop): ``handover``
    (``None`` keeps it so), or from a cold start :data:`JOINT_START_HANDOVER` where its steps are damped joint
    Newton (``dense``) and none where they are Newton–CG."""
    if handover is None or not joint_start:
        return handover
    return JOINT_START_HANDOVER if dense else None


def fallbacks(problem: Problem, joint_start: bool, dense: bool, **newton_cg: Any) -> list[tuple[IterativeSolver,
                                                                                                 int | None]]:
    """The methods run from the start in turn, each with the iterations after which the next takes over (``None``:
    none), Newton–CG (options ``newton_cg``) last: after a cold start SciPy's Newton–CG where the problem is one
    NumPy process; after a reduced iteration Gauss–Newton and damped joint Newton where dense steps are affordable."""
    if joint_start:
        scipy_newton_cg = ScipyNewtonCG()
        runs_here = problem.backend.name == "numpy" and scipy_newton_cg.skip(problem) is None
        first: list[tuple[IterativeSolver, int | None]] = [(scipy_newton_cg, None)] if runs_here else []
    elif dense:
        first = [(GaussNewton(), GAUSS_NEWTON_HANDOVER), (JointNewton(), JOINT_HANDOVER)]
    else:
        first = []
    return [*first, (NewtonCG(**newton_cg), None)]

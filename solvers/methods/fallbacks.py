"""Which methods ``varpro`` runs from the start, in turn, and when each hands over to the next (:func:`attempts`).

Where a loss target eps > 0 is asked for (min L = 0: a planted problem) and ``varpro`` stops at a stationary
point above it (``converged`` by gtol, or ``stalled`` where float64 leaves |g|/|g0| just above gtol: planted
(128, 16) seed 6 from X* + 1.5·G ends at 3.77e-11 against 3.7e-11 on one BLAS thread), that point is a
spurious minimum which no local step leaves. Its first attempts that reached eps on the planted cases of
the benchmark matrix ((128, 16) to (1024, 64), seeds 0–9) took 5–36 iterations, those that ended at a
spurious minimum 139 or more (1–2 s at (128, 16)), by when a restart comes too late. So with ``restart``
(the default) the first attempt is handed over after :data:`HANDOVER` iterations above eps (or stops
there), and the fallbacks run from the start in turn, within the same ``max_iter`` and
``max_time`` (:mod:`solvers.methods.restart`): damped joint Newton for up to :data:`JOINT_HANDOVER`
iterations where dense steps are affordable (d ≤ 39), then Newton–CG. The lowest ending is returned, and
should the last stop by itself above a handed-over point, the reduced iteration goes on from there.
``eps = 0`` (stationarity asked for) never restarts. Measured one case at a time (one thread, 2 s caps) from
X* + 1.5·G at (128, 16): over seeds 0–39, 10 solved with a restart only after a stop, 18 with the handover to
Newton–CG, 21 with joint Newton first (alone from the start: joint Newton 16, Newton–CG 15); over seeds
40–79, on which nothing was chosen, 17 and 21 (none lost); at (256, 24) seeds 0–9 (4.9 s caps) 6 and 7.

**From a cold start** (X = 0, where P = S A3 has rank one: :meth:`solvers.methods.varpro.VarPro.joint_start`) a
planted problem has many spurious minima (L ≈ 0.05–0.1 at (128, 16)), and which one a method reaches is decided
early, by its path. Measured from X = 0 at (128, 16), seeds 0–79, one case at a time (one thread, 2 s caps):
SciPy's line-search Newton–CG solved 9 (seeds 3, 10, 11, 32, 45, 46, 59, 74, 77; 46–121 iterations), ``varpro``'s
joint steps then the reduced iteration 8 (10, 11, 19, 45, 47, 59, 69, 74), damped joint Newton alone 7;
:class:`~solvers.methods.line_search_newton_cg.LineSearchNewtonCG`, SciPy's rules on the project's oracles
(on NumPy SciPy's iterates to the last bit), and ``varpro`` with it first solved SciPy's 9, in the same
iterations. Either first attempt leaves about nine in ten cold starts unsolved; the line search goes first,
being no worse and the one a user would otherwise reach for (the benchmark matrix's planted X = 0 seed 3 was
solved by SciPy's Newton–CG alone, in both runs). Its other runs crawl: at (128, 16) they were at 85–97
iterations when 2 s ran out, so the hand-over after :data:`COLD_HANDOVER` and ``varpro``'s own joint steps
(then trust-region Newton–CG) matter only under longer limits.

Tried and not kept (commit 9ecb269, measured the same way; the choices made on the seeds below 80, and on
the cold starts below 40):

* Gauss–Newton on (X, Y) for 45 iterations before joint Newton (alone from X* + 1.5·G it solved 14 of
  seeds 0–79, 12 of them in 12–41 iterations): 44 against 42 of seeds 0–79 and 9 against 7 at (256, 24),
  but 23 against 23 on seeds 80–119, and in the full benchmark matrix 60 of its 64 solvable cases
  against 61: its 0.15–0.2 s pushed planted X* + 1.5·G seed 4 past the 2 s cap (L = 0.014 at the cap).
* From a cold start, a handover after 70 damped joint Newton iterations to SciPy's line-search Newton–CG
  (its solves from X = 0 on seeds 0–39 had taken 32 and 64 iterations): 5 against 2 of seeds 0–39 (the
  matrix's planted X = 0 seed 3 among them, 1.5 s alone, at the 2 s cap in the matrix), but 6 against 7
  on seeds 40–79, where joint Newton alone solves seeds 73 and 77 in more than 70 iterations (kept instead:
  the line search first, above).
"""

from __future__ import annotations

from typing import Any

from ..loop import IterativeSolver
from .newton import JointNewton
from .newton_cg import NewtonCG

#: Iterations above a loss target eps > 0 after which ``varpro``'s reduced iteration hands over to the fallbacks:
#: its first attempts that reached 1e-10 on the matrix's planted cases took 5–36, spurious endings 139+.
HANDOVER = 50
#: Iterations of the fallback damped joint Newton before Newton–CG: from X* + 1.5·G at (128, 16), seeds 0–39,
#: its solves took 24–96 iterations (one 192), its other endings 169 and more.
JOINT_HANDOVER = 100
#: Iterations of line-search Newton–CG from a cold start before ``varpro``'s own joint steps: from X = 0 at
#: (128, 16), seeds 0–79, its solves took 46–121 iterations; its other runs were at 85–97 when 2 s ran out.
COLD_HANDOVER = 150


def warm_up() -> None:
    """Import what a cold start's first attempt needs (``scipy.optimize``'s line searches, about 0.15 s the first time
    in a process), for a harness to call before its clock starts; ``import solvers`` does not."""
    from . import line_search_newton_cg  # noqa: F401


def attempts(plain: IterativeSolver, cold: bool, dense: bool, handover: int | None,
             **newton_cg: Any) -> list[tuple[IterativeSolver, int | None]]:
    """The methods ``varpro`` runs from the start in turn, each with the iterations above eps after which the next
    takes over (``None``: only after a stop), ``plain`` being ``varpro`` without restarts.

    From a cold start (``cold``): line-search Newton–CG for :data:`COLD_HANDOVER`, then ``plain`` (its joint steps),
    then trust-region Newton–CG (options ``newton_cg``). Elsewhere ``plain`` for ``handover``, damped joint Newton
    for :data:`JOINT_HANDOVER` where dense steps are affordable (``dense``), then trust-region Newton–CG.
    """
    last = (NewtonCG(**newton_cg), None)
    if cold:
        from .line_search_newton_cg import LineSearchNewtonCG  # scipy.optimize (0.15 s): only where used (warm_up)

        return [(LineSearchNewtonCG(), COLD_HANDOVER), (plain, None), last]
    return [(plain, handover), *([(JointNewton(), JOINT_HANDOVER)] if dense else []), last]

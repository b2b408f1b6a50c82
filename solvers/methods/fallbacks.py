"""Which methods ``varpro`` runs from the start after its first attempt, and when each hands over to the next.

Where a loss target eps > 0 is asked for (min L = 0: a planted problem) and ``varpro`` stops at a stationary
point above it (``converged`` by gtol, or ``stalled`` where float64 leaves |g|/|g0| just above gtol: planted
(128, 16) seed 6 from X* + 1.5·G ends at 3.77e-11 against 3.7e-11 on one BLAS thread), that point is a
spurious minimum which no local step leaves. Its first attempts that reached eps on the planted cases of
the benchmark matrix ((128, 16) to (1024, 64), seeds 0–9) took 5–36 iterations, those that ended at a
spurious minimum 139 or more (1–2 s at (128, 16)), by when a restart comes too late. So with ``restart``
(the default) the first attempt is handed over after :data:`HANDOVER` iterations above eps (or stops
there), and the :func:`fallbacks` run from the start in turn, within the same ``max_iter`` and
``max_time`` (:mod:`solvers.methods.restart`): damped joint Newton for up to :data:`JOINT_HANDOVER`
iterations where dense steps are affordable (d ≤ 39), then Newton–CG. The lowest ending is returned, and
should the last stop by itself above a handed-over point, the reduced iteration goes on from there.
``eps = 0`` (stationarity asked for) never restarts, nor is a cold start (X = 0, where P = S A3 has rank
one: a :meth:`solvers.methods.varpro.VarPro.joint_start`) handed over: its damped joint Newton steps solve
cold starts that the fallbacks do not. Measured one case at a time (one thread, 2 s caps) from X* + 1.5·G
at (128, 16): over seeds 0–39, 10 solved with a restart only after a stop, 18 with the handover to
Newton–CG, 21 with joint Newton first (alone from the start: joint Newton 16, Newton–CG 15); over seeds
40–79, on which nothing was chosen, 17 and 21 (none lost); at (256, 24) seeds 0–9 (4.9 s caps) 6 and 7.

Tried and not kept (commit 9ecb269, measured the same way; the choices made on the seeds below 80, and on
the cold starts below 40):

* Gauss–Newton on (X, Y) for 45 iterations before joint Newton (alone from X* + 1.5·G it solved 14 of
  seeds 0–79, 12 of them in 12–41 iterations): 44 against 42 of seeds 0–79 and 9 against 7 at (256, 24),
  but 23 against 23 on seeds 80–119, and in the full benchmark matrix 60 of its 64 solvable cases
  against 61: its 0.15–0.2 s pushed planted X* + 1.5·G seed 4 past the 2 s cap (L = 0.014 at the cap).
* From a cold start, a handover after 70 damped joint Newton iterations to SciPy's line-search Newton–CG
  (its solves from X = 0 on seeds 0–39 had taken 32 and 64 iterations): 5 against 2 of seeds 0–39 (the
  matrix's planted X = 0 seed 3 among them, 1.5 s alone, at the 2 s cap in the matrix), but 6 against 7
  on seeds 40–79, where joint Newton alone solves seeds 73 and 77 in more than 70 iterations.
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


def first_handover(handover: int | None, joint_start: bool) -> int | None:
    """Iterations above eps after which the first attempt hands over (``None``: only after a stop): ``handover``,
    none from a cold start (module docstring)."""
    return None if joint_start else handover


def fallbacks(joint_start: bool, dense: bool, **newton_cg: Any) -> list[tuple[IterativeSolver, int | None]]:
    """The methods run from the start in turn, each with the iterations after which the next takes over (``None``:
    none): damped joint Newton for :data:`JOINT_HANDOVER` where dense steps are affordable (``dense``) and not after
    a cold start (whose steps those were), then Newton–CG (options ``newton_cg``)."""
    chain: list[tuple[IterativeSolver, int | None]] = [(NewtonCG(**newton_cg), None)]
    return chain if joint_start or not dense else [(JointNewton(), JOINT_HANDOVER), *chain]

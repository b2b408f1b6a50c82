"""Which stage points a busy machine disturbed, and the time the fits read from the others.

Two sources, one flag. Measuring marks a point ``disturbed`` when its fastest call, or a
calibration kernel timed beside it, did not get a whole core (:mod:`solvers.harness.measure.interference`).
Analysing adds the stalls that slipped through: a stage's cost model is a positive sum of
powers of the size, so its time is non-decreasing and convex in log–log and grows no faster
than its steepest term; a point that lies far above the chord of its neighbours along a
sweep, is far slower than a larger size, or grows far faster than the steepest term allows
from the size before it is not work but a scheduler stall (the quick grid under load saw a forward pass take 24 ms against 0.3 ms).
Flagged points are left out of every fit and cost model, and a sweep that lost any point to
a disturbance never concludes "does not hold" (:func:`cautious`): a busy machine may make
the harness less sure, never reverse it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: A point this many times above what its neighbours allow is a stall, not work.
STALL_FACTOR = 3.0


def fit_time(record: dict[str, Any]) -> float:
    """The time the fits read: the fastest call (other jobs only ever slow a call down), else the median."""
    return float(record.get("min", record["median"]))


def disturbed(record: dict[str, Any]) -> bool:
    """Whether ``record`` was marked disturbed (by measuring or by :func:`stalls`)."""
    return bool(record.get("disturbed"))


def stalls(sizes: Sequence[float], times: Sequence[float], steepest: float | None) -> dict[float, str]:
    """Points of one sweep (sizes increasing) that no positive sum of powers of the size can explain.

    Repeatedly takes the worst of: a point more than :data:`STALL_FACTOR` above the log–log
    chord of its neighbours; a point that factor slower than the next larger size; a point
    that factor above the size before it grown by ``steepest`` (the largest power of the
    stage's cost terms along the axis; ``None``: not checked). Returns size -> why.
    """
    points = [(math.log(s), math.log(t), s) for s, t in zip(sizes, times) if t > 0]
    found: dict[float, str] = {}
    while len(points) >= 2:
        excess = []
        for i, (x, y, size) in enumerate(points):
            if 0 < i < len(points) - 1:
                (x0, y0, _), (x1, y1, _) = points[i - 1], points[i + 1]
                excess.append((y - (y0 + (y1 - y0) * (x - x0) / (x1 - x0)), size, "above the log–log chord of its neighbours"))
            if i < len(points) - 1:
                excess.append((y - points[i + 1][1], size, "slower than the next larger size"))
            if i > 0 and steepest is not None:
                x0, y0, _ = points[i - 1]
                excess.append((y - y0 - steepest * (x - x0), size,
                               f"above the size before it grown by the steepest cost term (size^{steepest:g})"))
        worst = max(excess, key=lambda item: item[0])
        if worst[0] <= math.log(STALL_FACTOR):
            break
        found[worst[1]] = f"a stall: {math.exp(worst[0]):.3g}× {worst[2]}"
        points = [p for p in points if p[2] != worst[1]]
    return found


def cautious(verdict: str, why: str, lost: int) -> tuple[str, str]:
    """``verdict`` unless it is "does not hold" on a sweep that lost ``lost`` > 0 sizes to disturbances."""
    if verdict == "does not hold" and lost:
        return "inconclusive", (f"{why}; but {lost} size(s) of this sweep were disturbed, and a negative verdict "
                                "needs an undisturbed sweep: rerun on an idle machine")
    return verdict, why

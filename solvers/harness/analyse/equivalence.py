"""Equivalence testing of a fitted exponent against the claimed one, under the verdict rule
(:class:`solvers.harness.claims.Rule`).

A fitted exponent **holds** only when its whole confidence interval lies inside the band
[expected − δ, expected + δ] (with a 90 % interval this is the two one-sided tests, TOST,
at the 5 % level); it **does not hold** when the interval lies entirely outside the band;
otherwise it is **inconclusive**, and :func:`settle` says how many more sizes (continuing
the sweep's ratio, at the same scatter) would shrink the interval enough to decide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from ..claims import Rule
from .fits import Fit

#: Most extra sizes :func:`settle` considers before saying the sweep cannot settle it.
MAX_EXTRA_SIZES = 30


def judge(fit: Fit | None, expected: float, rule: Rule, sizes: Sequence[float] = (),
          shift: float = 0.0) -> tuple[str, str]:
    """Verdict on ``fit`` (an exponent and its CI at ``rule.confidence``) against ``expected``.

    ``sizes`` are the sizes the fit used; for an inconclusive verdict they let
    :func:`settle` say how many more sizes would decide it. ``shift`` is how far the terms
    a cost model puts beside the claimed one move the slope over those sizes (the model's own
    slope minus ``expected``): the band is widened by it on its side.
    """
    if fit is None:
        return "inconclusive", "fewer than two sizes to fit: needs at least three"
    if fit.points < 3 or not math.isfinite(fit.half_width):
        return "inconclusive", f"only {fit.points} sizes fitted: no confidence interval (needs at least three)"
    low, high = expected - rule.delta + min(shift, 0.0), expected + rule.delta + max(shift, 0.0)
    ci = f"{rule.confidence:.0%} CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}]"
    band = f"[{low:.2f}, {high:.2f}]" + (f" (±{rule.delta:g}, widened by the {abs(shift):.2f} the cost model's other "
                                         "terms move the slope at these sizes)" if abs(shift) >= 0.005 else "")
    if low <= fit.ci_low and fit.ci_high <= high:
        return "holds", f"{ci} inside {band}"
    if fit.ci_low > high or fit.ci_high < low:
        side = "above" if fit.ci_low > high else "below"
        return "does not hold", f"{ci} entirely {side} {band}"
    return "inconclusive", f"{ci} overlaps the edge of {band}; " + settle(fit, expected, rule, sizes)


def settle(fit: Fit, expected: float, rule: Rule, sizes: Sequence[float]) -> str:
    """What would decide an inconclusive verdict: more sizes along the sweep, if any number can.

    The interval must shrink to ``δ − |slope − expected|`` to show "holds" (slope inside the
    band) or to ``|slope − expected| − δ`` to show "does not hold" (slope outside it). The
    half-width is ``t · s / sqrt(Σ (log size − mean)²)``; extra sizes continue the sweep's
    geometric ratio past its largest size with the same residual scatter ``s``.
    """
    distance = abs(fit.slope - expected)
    needed = abs(rule.delta - distance)
    outcome = "holds" if distance < rule.delta else "does not hold"
    if needed < 1e-3 or len(sizes) < 3:
        return "the fitted exponent sits on the band's edge: no number of sizes settles it"
    logs = list(np.log(np.asarray(sizes, dtype=float)))
    ratio = (logs[-1] - logs[0]) / (len(logs) - 1)
    scatter = fit.stderr * math.sqrt(sum((x - np.mean(logs)) ** 2 for x in logs))
    for extra in range(1, MAX_EXTRA_SIZES + 1):
        logs.append(logs[-1] + ratio)
        sxx = sum((x - np.mean(logs)) ** 2 for x in logs)
        half = stats.t.ppf(0.5 + rule.confidence / 2, len(logs) - 2) * scatter / math.sqrt(sxx)
        if half <= needed:
            largest = float(np.exp(logs[-1]))
            return (f"{extra} more size(s) continuing the sweep to ≈{largest:.3g} at the same scatter would show "
                    f"whether it {outcome} (half-width needed ≤ {needed:.2f}, now {fit.half_width:.2f}); "
                    "less scatter (more repeats on an idle machine) needs fewer")
    return (f"half-width needed ≤ {needed:.2f} (now {fit.half_width:.2f}): more than {MAX_EXTRA_SIZES} more sizes; "
            "less scatter (more repeats on an idle machine) is the way to settle it")

"""Straight-line and log–log fits with confidence intervals: the one slope fit of the harness."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Fit:
    """A straight-line fit y = slope·x + intercept with a confidence interval on the slope.

    Attributes
    ----------
    slope, intercept : float
    stderr : float
        Standard error of the slope (NaN with only two points).
    ci_low, ci_high : float
        Confidence interval of the slope (Student t, ``points − 2`` degrees of freedom);
        NaN when it cannot be computed.
    points : int
        Number of points used.
    """

    slope: float
    intercept: float
    stderr: float
    ci_low: float
    ci_high: float
    points: int

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval (NaN when there is none)."""
        return (self.ci_high - self.ci_low) / 2.0


def fit_line(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> Fit:
    """Ordinary least squares of ``y`` on ``x`` with a t-based confidence interval on the slope.

    Raises
    ------
    ValueError
        Fewer than two points, or all ``x`` equal.
    """
    x_arr, y_arr = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x_arr.size < 2 or np.ptp(x_arr) == 0:
        raise ValueError("a fit needs at least two distinct x values")
    if x_arr.size == 2:
        slope = (y_arr[1] - y_arr[0]) / (x_arr[1] - x_arr[0])
        return Fit(float(slope), float(y_arr[0] - slope * x_arr[0]), math.nan, math.nan, math.nan, 2)
    if np.ptp(y_arr) == 0:  # an exact constant: linregress has no stderr for it, the slope is 0 exactly
        return Fit(0.0, float(y_arr[0]), 0.0, 0.0, 0.0, int(x_arr.size))
    res = stats.linregress(x_arr, y_arr)
    t = stats.t.ppf(0.5 + confidence / 2.0, x_arr.size - 2)
    return Fit(float(res.slope), float(res.intercept), float(res.stderr), float(res.slope - t * res.stderr),
               float(res.slope + t * res.stderr), int(x_arr.size))


def fit_loglog(sizes: Sequence[float], times: Sequence[float], confidence: float = 0.95) -> Fit:
    """Slope of log(time) against log(size): the measured exponent, its CI at ``confidence``."""
    return fit_line(np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(times, dtype=float)), confidence)


def local_slopes(sizes: Sequence[float], times: Sequence[float]) -> list[float]:
    """Exponents between consecutive sizes, d log t / d log size."""
    s, t = np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(times, dtype=float))
    return [float(v) for v in np.diff(t) / np.diff(s)]

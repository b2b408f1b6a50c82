"""Cost models: a stage's time as a non-negative sum of terms in (n, d), fitted over all its sizes.

A stage's cost is not one power law: the forward pass spends n²d in products and n² in the
softmax, the Hessian assembly n²d² and n·d⁴ in products the claim does not name. Fitting
time = Σ_k c_k·n^a_k·d^b_k by non-negative least squares (:func:`scipy.optimize.nnls`) on
relative errors over every measured (n, d) of the stage gives each term's share of the time
at each size, the region where the claim's named terms account for most of it, and the
sizes where a single term dominates — the only sizes over which a power-law slope means
what the claim says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from ..claims import TERMS


#: The claim's named terms must account for at least this share for a size to be "covered".
NAMED_SHARE = 0.9
#: A model whose root-mean-square relative error exceeds this does not describe its stage's
#: timings (noise, or work outside its terms): nothing is concluded from it.
MAX_MODEL_ERROR = 0.3


@dataclass
class CostModel:
    """The fitted cost model of one stage on one backend.

    Attributes
    ----------
    stage, backend : str
    terms : list of str
        Names of the :data:`TERMS` fitted.
    coefficients : list of float
        Seconds per unit of each term (non-negative).
    sizes : list of (int, int)
        The (n, d) fitted, in the order of ``shares``.
    shares : list of list of float
        ``shares[i][k]``: term k's share of the modelled time at ``sizes[i]``.
    rms_error, max_error : float
        Root-mean-square and largest relative error of the model over the sizes fitted.
    """

    stage: str
    backend: str
    terms: list[str]
    coefficients: list[float]
    sizes: list[tuple[int, int]]
    shares: list[list[float]] = field(default_factory=list)
    rms_error: float = math.nan
    max_error: float = math.nan

    @property
    def usable(self) -> bool:
        """Whether the model fits its timings well enough (:data:`MAX_MODEL_ERROR`) to conclude from."""
        return self.rms_error <= MAX_MODEL_ERROR

    def predict(self, n: float, d: float) -> float:
        """Modelled seconds per call at (n, d)."""
        return sum(c * TERMS[t](n, d) for c, t in zip(self.coefficients, self.terms))

    def share(self, n: float, d: float) -> dict[str, float]:
        """Each term's share of the modelled time at (n, d)."""
        parts = {t: c * TERMS[t](n, d) for c, t in zip(self.coefficients, self.terms)}
        total = sum(parts.values())
        return {t: (v / total if total > 0 else 0.0) for t, v in parts.items()}

    def named_share(self, n: float, d: float) -> float:
        """The share of the claim's named terms at (n, d)."""
        return sum(v for t, v in self.share(n, d).items() if TERMS[t].named)

    def dominant(self, n: float, d: float) -> tuple[str, float]:
        """The term with the largest share at (n, d), and that share."""
        return max(self.share(n, d).items(), key=lambda item: item[1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"stage": self.stage, "backend": self.backend, "terms": self.terms, "coefficients": self.coefficients,
                "sizes": self.sizes, "shares": self.shares, "rms_error": self.rms_error, "max_error": self.max_error}


def separable_terms(terms: Sequence[str], sizes: Sequence[tuple[int, int]]) -> list[str]:
    """The terms ``sizes`` can tell apart, in the order given.

    Along an axis with fewer than three distinct values (a sweep of d at one n), terms that
    differ only in their power along it are the same column up to a constant; one stands for
    them all: the one the claim names (the benefit of the doubt goes to the claim), else the
    one with the smaller power along that axis (``1`` for ``n²`` at one n).
    """
    kept = list(terms)
    for axis, index in (("n", 0), ("d", 1)):
        if len({s[index] for s in sizes}) >= 3:
            continue
        other = "d" if axis == "n" else "n"
        groups: dict[int, list[str]] = {}
        for name in kept:
            groups.setdefault(TERMS[name].power(other), []).append(name)
        chosen = {min(group, key=lambda t: (not TERMS[t].named, TERMS[t].power(axis))) for group in groups.values()}
        kept = [name for name in kept if name in chosen]
    return kept


def identifiable(terms: Sequence[str], sizes: Sequence[tuple[int, int]]) -> bool:
    """Whether ``sizes`` can separate ``terms``: along each axis with fewer than three distinct values,
    no two terms differ only in their power along it (see :func:`separable_terms`), and at least
    two more sizes than terms."""
    for axis, index in (("n", 0), ("d", 1)):
        other = "d" if axis == "n" else "n"
        if (any(TERMS[t].power(axis) for t in terms) and len({s[index] for s in sizes}) < 3
                and len({TERMS[t].power(other) for t in terms}) < len(terms)):
            return False
    return len(set(sizes)) >= len(terms) + 2


def fit_cost_model(sizes: Sequence[tuple[int, int]], times: Sequence[float], terms: Sequence[str],
                   stage: str = "", backend: str = "") -> CostModel:
    """Fit time = Σ c_k·term_k(n, d), c ≥ 0, minimising the squared *relative* errors.

    Each row is divided by its measured time, so a 1 ms point weighs as much as a 1 s one;
    columns are scaled to unit maximum before :func:`scipy.optimize.nnls` for conditioning.

    Raises
    ------
    ValueError
        Fewer sizes than terms, or a non-positive time.
    """
    t = np.asarray(times, dtype=float)
    if len(sizes) < len(terms) or np.any(t <= 0):
        raise ValueError("a cost model needs at least as many sizes as terms, with positive times")
    basis = np.array([[TERMS[name](n, d) for name in terms] for n, d in sizes]) / t[:, None]
    scale = basis.max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(basis / scale, np.ones(len(sizes)))
    coef = coef / scale
    model = CostModel(stage=stage, backend=backend, terms=list(terms), coefficients=[float(c) for c in coef],
                      sizes=[(int(n), int(d)) for n, d in sizes])
    relative = np.array([model.predict(n, d) for n, d in sizes]) / t - 1.0
    model.rms_error = float(np.sqrt(np.mean(relative**2)))
    model.max_error = float(np.max(np.abs(relative)))
    model.shares = [[model.share(n, d)[name] for name in terms] for n, d in sizes]
    return model


def covered_ranges(model: CostModel, axis: str, fixed: int, values: Sequence[int],
                   threshold: float = NAMED_SHARE) -> list[tuple[int, int]]:
    """Contiguous runs of ``values`` along ``axis`` (other size ``fixed``) where the named terms hold ≥ ``threshold``."""
    runs: list[tuple[int, int]] = []
    start = None
    previous = None
    for value in sorted(values):
        n, d = (value, fixed) if axis == "n" else (fixed, value)
        inside = model.named_share(n, d) >= threshold
        if inside and start is None:
            start = value
        if not inside and start is not None:
            runs.append((start, previous))
            start = None
        previous = value
    if start is not None:
        runs.append((start, previous))
    return runs


def crossover(model: CostModel, axis: str, fixed: int, low: float, high: float, share: float = 0.5) -> float | None:
    """The first size along ``axis`` in [low, high] where the named terms' share crosses ``share``
    (from the model on a fine log-spaced grid), or None when it does not cross there."""
    grid = np.geomspace(low, high, 400)
    named = [model.named_share(*((v, fixed) if axis == "n" else (fixed, v))) for v in grid]
    above = [value >= share for value in named]
    for i in range(1, len(grid)):
        if above[i] != above[i - 1]:
            return float(grid[i])
    return None


@dataclass
class Coverage:
    """Where along one sweep the claim's named terms account for the time, by a cost model.

    Attributes
    ----------
    stage, backend, sweep, axis : str
    fixed : int
        The other size, held fixed along the sweep.
    values : list of int
        The measured sizes along ``axis``.
    covered : list of (int, int)
        Runs of ``values`` where the named terms hold ≥ :data:`NAMED_SHARE` of the time.
    named : list of float
        The named terms' share at each of ``values``.
    crossover : float or None
        Where (between the measured sizes) the named terms' share crosses one half.
    """

    stage: str
    backend: str
    sweep: str
    axis: str
    fixed: int
    values: list[int]
    covered: list[tuple[int, int]]
    named: list[float]
    crossover: float | None


def coverage(model: CostModel, sweep: str, axis: str, fixed: int, values: Sequence[int]) -> Coverage:
    """The :class:`Coverage` of ``model`` along ``axis`` at the other size ``fixed``, over ``values``."""
    values = sorted(values)
    at = [(v, fixed) if axis == "n" else (fixed, v) for v in values]
    return Coverage(stage=model.stage, backend=model.backend, sweep=sweep, axis=axis, fixed=fixed, values=values,
                    covered=covered_ranges(model, axis, fixed, values),
                    named=[model.named_share(n, d) for n, d in at],
                    crossover=crossover(model, axis, fixed, values[0], values[-1]) if len(values) > 1 else None)

"""The paper's approximate Newton method: alternating steps on a sampled X-Hessian (docs/maths.md §6).

H_X = Σ_j (a_j a_jᵀ) ⊗ C_j is a sum of n row-terms. Each iteration draws m of them with
replacement, with probabilities p_j that mix the leverage scores of A1 with the uniform
distribution, and rescales each drawn term by 1/(m p_j), so the sampled matrix H̃ is an
unbiased estimate of H_X. It is assembled by :meth:`solvers.oracle.Oracle.hessian_x` with its
``rows``/``weights`` arguments: m×n×d² and d²×m×d² products instead of n×n×d² and d²×n×d².
The sampling runs on the host with a seeded NumPy Generator, so every backend sees the
same rows.

With ``measure_eps0=True`` the solver also records, off the clock, the achieved spectral
approximation factor ε0 of each step: the smallest ε0 with (1−ε0)H ⪯ H̃ ⪯ (1+ε0)H, where
H is the exact Hessian (plus the regulariser, which both share) at the same point. That
needs H positive definite; where it is not, the relative spectral-norm error
‖H̃ − H‖₂ / ‖H‖₂ is recorded instead and ``eps0_kind`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import scipy.linalg

from .. import check
from ..backends import Backend
from ..loop import State
from .alternating import Alternating, AlternatingState
from ..problem import Problem


def row_probabilities(A1: np.ndarray, kind: str = "leverage") -> np.ndarray:
    """Sampling probabilities over the n row-terms of H_X.

    Parameters
    ----------
    A1 : (n, d) numpy.ndarray
    kind : {"leverage", "uniform"}
        ``"leverage"``: ½ · (leverage score of row j of A1) / rank + ½ · 1/n, which weights
        rows by their share of A1ᵀA1 yet keeps every p_j ≥ 1/(2n); ``"uniform"``: 1/n.
    """
    n = A1.shape[0]
    if kind == "uniform":
        return np.full(n, 1.0 / n)
    if kind != "leverage":
        raise ValueError(f"sampling must be 'leverage' or 'uniform', got {kind!r}")
    Q, _ = np.linalg.qr(A1)
    scores = np.sum(Q * Q, axis=1)
    return 0.5 * scores / scores.sum() + 0.5 / n


def sample_rows(rng: np.random.Generator, probabilities: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw m row indices with replacement; return the distinct rows and their weights.

    The weight of row j is (times drawn)/(m p_j), so Σ weights_j · term_j is an unbiased
    estimate of Σ_j term_j. The times drawn are one multinomial draw, so the cost is O(n)
    whatever m is, and at most n distinct row-terms enter the Hessian.
    """
    counts = rng.multinomial(m, probabilities)
    rows = np.flatnonzero(counts)
    return rows, counts[rows] / (m * probabilities[rows])


def spectral_factor(H_exact: np.ndarray, H_approx: np.ndarray) -> tuple[float, str]:
    """ε0 with (1−ε0)H ⪯ H̃ ⪯ (1+ε0)H, or the relative norm error when H is not definite.

    Returns
    -------
    eps0, kind
        ``kind`` is ``"spectral"`` or ``"relative-norm"``.
    """
    try:
        L = np.linalg.cholesky(H_exact)
    except np.linalg.LinAlgError:
        error = np.linalg.norm(H_approx - H_exact, 2) / np.linalg.norm(H_exact, 2)
        return float(error), "relative-norm"
    half = scipy.linalg.solve_triangular(L, H_approx, lower=True)
    M = scipy.linalg.solve_triangular(L, half.T, lower=True)
    eigenvalues = np.linalg.eigvalsh(0.5 * (M + M.T))
    return float(np.max(np.abs(eigenvalues - 1.0))), "spectral"


@dataclass
class SketchedState(AlternatingState):
    """The alternating state, the row sampler, and (with ``measure_eps0``) the achieved ε0 per step.

    ``sketch`` holds the point and sampled Hessian of the last step until :meth:`Sketched.monitor`
    has measured it (off the clock); every step's state shares one ``eps0`` list.
    """

    rng: np.random.Generator
    probabilities: np.ndarray
    m: int
    eps0: list[float] = field(default_factory=list)
    eps0_kind: str | None = None
    sketch: tuple[Any, Any] | None = None


class Sketched(Alternating):
    """Alternating steps whose X-Hessian sums m sampled, rescaled row-terms.

    Parameters
    ----------
    m : int, optional
        Row-terms drawn per iteration (with replacement). Default min(n, 4d).
    sampling : {"leverage", "uniform"}
        See :func:`row_probabilities`.
    seed : int
        Seed of the host NumPy Generator that draws the rows.
    measure_eps0 : bool
        Record the achieved ε0 of each step (off the clock; costs an exact Hessian and
        an eigen-decomposition per iteration).
    **options
        Those of :class:`~solvers.methods.alternating.Alternating` (regularisers, ``mu0``).
    """

    name = "sketched"

    def __init__(self, backend: str | Backend | None = None, *, m: int | None = None, sampling: str = "leverage",
                 seed: int = 0, measure_eps0: bool = False, **options: Any) -> None:
        super().__init__(backend, **options)
        if sampling not in ("leverage", "uniform"):
            raise ValueError(f"sampling must be 'leverage' or 'uniform', got {sampling!r}")
        self.m = check.integer("m (row-terms drawn per step)", m, optional=True)
        self.sampling = sampling
        self.seed = check.integer("seed", seed, at_least=0)
        self.measure_eps0 = check.flag("measure_eps0", measure_eps0)

    def init_state(self, problem: Problem, X: Any, Y: Any) -> SketchedState:
        base = super().init_state(problem, X, Y)
        return SketchedState(**{f.name: getattr(base, f.name) for f in fields(base)}, rng=np.random.default_rng(self.seed),
                             probabilities=row_probabilities(problem.host["A1"], self.sampling),
                             m=min(problem.n, 4 * problem.d) if self.m is None else self.m)

    def x_hessian(self, problem: Problem, state: SketchedState) -> Any:
        rows, weights = sample_rows(state.rng, state.probabilities, state.m)
        H = state.oracle.hessian_x(rows=rows, weights=weights)
        if self.measure_eps0:
            state.sketch = (state.oracle, H)
        return H

    def monitor(self, problem: Problem, state: SketchedState) -> None:
        if not self.measure_eps0 or state.sketch is None:
            return
        oracle, H_approx = state.sketch
        H_exact = oracle.hessian_x()
        if state.reg.active:
            H_exact, H_approx = H_exact + state.reg.hessian(), H_approx + state.reg.hessian()
        to_host = problem.backend.to_numpy
        eps0, state.eps0_kind = spectral_factor(to_host(H_exact).astype(np.float64),
                                                to_host(H_approx).astype(np.float64))
        state.eps0.append(eps0)
        state.sketch = None

    def info(self, state: State) -> dict[str, Any]:
        record = {**super().info(state), "m": getattr(state, "m", self.m)}
        if self.measure_eps0:
            record.update(eps0=list(getattr(state, "eps0", [])), eps0_kind=getattr(state, "eps0_kind", None))
        return record

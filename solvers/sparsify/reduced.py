"""Sparsify-then-solve: the same column selection applied to the features of A1, A2, A3 (docs/maths.md §8).

:func:`planted_wide` makes a d > n planted instance whose X-block matters;
:func:`sparsify_then_solve` selects m feature columns with :func:`solvers.sparsify.sparsify`,
solves the m×m problem, lifts X = Π X̃ Πᵀ and refits Y on the full problem.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import oracles
from ..backends import Backend
from ..problem import Problem
from ..rowterms import softmax_rows
from .selection import sparsify


def planted_wide(n: int, d: int, seed: int = 0, *, value_rank: int | None = None,
                 backend: str | Backend = "numpy", dtype: str = "float64") -> Problem:
    """A planted §1 instance with d > n whose X-block actually matters.

    With d ≥ n and a full-rank A3, ``S A3`` has full row rank for almost every X, so the
    exact Y step alone reaches L = 0 and every X is optimal: no meaningful comparison.
    Here A3 has rank k = ``value_rank`` (default ⌈n/4⌉) < n, so B's columns lie in the
    k-dimensional space S*·col(A3) and X must reproduce it.

    With ``rng = numpy.random.default_rng(seed)`` draw, in this order: A1, A2 with N(0, 1/d)
    entries; F ∈ R^{n×k} with N(0, 1) and H ∈ R^{k×d} with N(0, 1/(k d)) entries,
    A3 = F H (entries of variance 1/d, as in docs/maths.md §1); X* with N(0, 0.25), Y* with N(0, 1)
    entries; B = softmax_rows(A1 X* A2ᵀ) A3 Y*, so min L = 0.
    """
    k = math.ceil(n / 4) if value_rank is None else int(value_rank)
    if not 1 <= k <= n:
        raise ValueError(f"value_rank must be in [1, n], got {k}")
    rng = np.random.default_rng(seed)
    A1 = rng.normal(0.0, 1.0 / math.sqrt(d), size=(n, d))
    A2 = rng.normal(0.0, 1.0 / math.sqrt(d), size=(n, d))
    A3 = rng.normal(0.0, 1.0, size=(n, k)) @ rng.normal(0.0, 1.0 / math.sqrt(k * d), size=(k, d))
    X_star = rng.normal(0.0, 0.5, size=(d, d))
    Y_star = rng.normal(0.0, 1.0, size=(d, d))
    B = softmax_rows(np, A1 @ X_star @ A2.T) @ (A3 @ Y_star)
    return Problem(A1, A2, A3, B, backend=backend, dtype=dtype, X_star=X_star, Y_star=Y_star,
                   name=f"planted_wide(n={n}, d={d}, k={k}, seed={seed})")


@dataclass
class ReducedSolve:
    """Outcome of :func:`sparsify_then_solve`.

    Attributes
    ----------
    m : int
        Reduced feature dimension.
    loss : float
        L on the FULL problem at the lifted iterate (X = Π X̃ Πᵀ, Y = exact LS for that X).
    reduced_loss : float
        L of the reduced problem at its final iterate.
    time : float
        Wall time of selection + reduced solve (solver time) + lift and Y refit.
    times : dict
        The three parts: ``select``, ``solve``, ``lift``.
    status : str
        The reduced solve's status.
    X, Y : numpy.ndarray
        The lifted iterate (d×d, host).
    """

    m: int
    loss: float
    reduced_loss: float
    time: float
    times: dict[str, float]
    status: str
    X: np.ndarray
    Y: np.ndarray


def sparsify_then_solve(problem: Problem, solve: Callable[[Problem], Any], m: int,
                        method: str = "leverage", *, seed: int = 0) -> ReducedSolve:
    """Select m feature columns, solve the m×m problem, lift, refit Y on the full problem.

    The selection Π ∈ R^{d×m} is computed from the stacked matrix [A1; A2] ∈ R^{2n×d} (so
    A1ΠΠᵀA2ᵀ ≈ A1A2ᵀ with the same columns for both), and applied to all three feature
    matrices: the reduced problem is (A1Π, A2Π, A3Π, BΠ) with m×m unknowns X̃, Ỹ. The
    lifted X = Π X̃ Πᵀ gives the full problem exactly the reduced logits
    A1Π X̃ ΠᵀA2ᵀ; Y is then the exact least-squares minimiser of the FULL problem for that
    X (docs/maths.md §3; its cost T_mat(n,n,d) + T_mat(n,d,d), §7, with no d^{2ω} term), which is at least as good as
    lifting Ỹ. Requires d > 2n (and m > 2n for ``bss``).

    Parameters
    ----------
    problem : Problem
        The full problem (its backend is used throughout).
    solve : callable
        ``solve(reduced_problem) -> SolveResult``, e.g.
        ``lambda p: get_solver("joint-newton").solve(p, eps=1e-12)``.
    m : int
        Reduced dimension (draws for the randomized methods).
    method : str
        Any column method of :data:`METHODS` or ``exact-factor``.
    seed : int
        Seed of the column draws.
    """
    be = problem.backend
    host = problem.host
    started = time.perf_counter()
    sp = sparsify(np.vstack([host["A1"], host["A2"]]), m, method, seed=seed, backend=be)
    P = sp.projection(be, problem.d)
    reduced_host = {key: be.to_numpy(getattr(problem, key) @ P) for key in ("A1", "A2", "A3", "B")}
    reduced = Problem(*(reduced_host[key] for key in ("A1", "A2", "A3", "B")), backend=be,
                      name=f"{method}(m={sp.m}) of {problem.name}")
    selected = time.perf_counter() - started
    result = solve(reduced)
    started = time.perf_counter()
    Xt = be.asarray(result.X)
    X = (P @ Xt) @ P.T
    Y = oracles.y_solve(problem, X)
    be.synchronize()
    lifted = time.perf_counter() - started
    times = {"select": selected, "solve": result.time, "lift": lifted}
    return ReducedSolve(sp.m, oracles.loss(problem, X, Y), result.loss, sum(times.values()), times,
                        result.status, be.to_numpy(X), be.to_numpy(Y))

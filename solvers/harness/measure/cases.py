"""Building a matrix case (:class:`solvers.harness.records.cases.Case`): its problem and its start.

See :mod:`solvers.harness.records.cases` for the kinds, starts and targets (docs/maths.md §1 for
the problems).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...problem import START_SEED, Problem
from ..records.cases import SMALL, Case


def case_problem(case: Case, **options: Any) -> Problem:
    """The case's problem; ``options`` go to :class:`Problem` (default NumPy, float64, as the matrix measures)."""
    if case.kind == "random":
        return Problem.random(case.n, case.d, seed=case.seed, **options)
    return Problem.planted(case.n, case.d, seed=case.seed, noise=case.noise, **options)


def case_start(case: Case, problem: Problem) -> np.ndarray:
    """The starting X on the host: X* + σ·G, 0, or SMALL·G (G standard normal from ``default_rng(START_SEED)``)."""
    d = problem.d
    if case.start == "zero":
        return np.zeros((d, d))
    G = np.random.default_rng(START_SEED).standard_normal((d, d))
    if case.start == "small":
        return SMALL * G
    return problem.start_near_solution(float(case.start.removeprefix("near-")), START_SEED)


def case_inputs(case: Case) -> tuple[Problem, np.ndarray, Any]:
    """The problem, X0 and Y0 (the exact least-squares step at X0, on the host) every method of the case is given."""
    from ... import oracles

    problem = case_problem(case)
    X0 = case_start(case, problem)
    return problem, X0, problem.backend.to_numpy(oracles.y_solve(problem, X0))

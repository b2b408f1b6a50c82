"""Run to run: how far two measurements of the same benchmark matrix agree.

Each case is decided within a time cap, and where a far or cold start ends (the global minimum or a
spurious one) can turn on the last bits of a step, so a case solved near its cap, or near a basin's
edge, may be solved in one run and not in the next. Two runs are compared on the cases and methods both
measured: for each method, the cases it solved in one run only and, where it solved a case in both, the
ratio of its two times; and the matrix's profile (:func:`solvers.harness.analyse.profile.analyse_matrix`)
of each run on those cases, so that the default method's shares can be read side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..records import RaceEntry
from .profile import MatrixAnalysis, analyse_matrix, case_key, case_times


@dataclass
class MethodAgreement:
    """One method in two runs of a matrix, on the cases both measured.

    Attributes
    ----------
    method : str
    solved : tuple of int
        Cases it reached the target on in the first and in the second run.
    only_first, only_second : list of str
        Cases it solved in that run alone.
    ratios : list of float
        Its time in the second run over its time in the first, on every case it solved in both (sorted).
    """

    method: str
    solved: tuple[int, int]
    only_first: list[str]
    only_second: list[str]
    ratios: list[float]


@dataclass
class Agreement:
    """Two runs of a matrix on the cases both measured: each run's profile and every method's agreement."""

    cases: list[str]
    first: MatrixAnalysis
    second: MatrixAnalysis
    methods: list[MethodAgreement]


def agreement(first: Sequence[RaceEntry], second: Sequence[RaceEntry], default: str) -> Agreement:
    """How the runs ``first`` and ``second`` (a matrix file's entries each) agree on the cases and methods both
    hold, ``default`` being the method whose shares the profiles report.

    Raises
    ------
    ValueError
        The runs share no case, or no method.
    """
    times = [case_times(entries)[0] for entries in (first, second)]
    cases = [case for case in times[0] if case in times[1]]
    methods = [m for m in dict.fromkeys(entry["method"] for entry in first) if any(e["method"] == m for e in second)]
    if not cases or not methods:
        raise ValueError(f"the two matrix files share no {'case' if not cases else 'method'}: nothing to compare")
    shared, named = set(cases), set(methods)

    def common(entries: Sequence[RaceEntry]) -> list[RaceEntry]:
        return [entry for entry in entries if entry["method"] in named and case_key(entry) in shared]

    rows = []
    for method in methods:
        solved = [{case for case in cases if run[case].get(method) is not None} for run in times]
        rows.append(MethodAgreement(
            method, (len(solved[0]), len(solved[1])), [case for case in cases if case in solved[0] - solved[1]],
            [case for case in cases if case in solved[1] - solved[0]],
            sorted(times[1][case][method] / times[0][case][method] for case in solved[0] & solved[1])))
    return Agreement(cases, analyse_matrix(common(first), default), analyse_matrix(common(second), default), rows)

"""Performance profiles (Dolan & Moré, Math. Programming 91, 2002) of the benchmark matrix.

For a case p and a method s with time t_{p,s} to the case's target (∞ when not reached),
r_{p,s} = t_{p,s} / min_s t_{p,s}, and the profile ρ_s(τ) is the fraction of cases with
r_{p,s} ≤ τ: ρ_s(1) is the share of cases s is fastest on, ρ_s(τ → ∞) the share it solves.
The cases are those some method solved (a case no method solved says nothing about who is
faster; their number is reported beside the profile). A method absent from a case's records
counts as not solved there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..records import RaceEntry
from ..records.cases import KINDS, case_from_fields

#: τ at which the profile is tabulated and drawn (1 … 100, log-spaced).
TAU_MAX = 100.0


def case_times(entries: Iterable[RaceEntry]) -> tuple[dict[str, dict[str, float | None]], dict[str, str]]:
    """``(times, kinds)``: per case key, each method's wall time to the target (``None``: not reached),
    and each case's problem kind. Old race entries are planted cases from ``near-0.5``."""
    times: dict[str, dict[str, float | None]] = {}
    kinds: dict[str, str] = {}
    for entry in entries:
        key = case_key(entry)
        kinds[key] = case_from_fields(entry).kind
        times.setdefault(key, {})[entry["method"]] = entry.get("wall")
    return times, kinds


def case_key(entry: RaceEntry) -> str:
    """The case an entry measured, as the report names it (``kind/start/NxD/seed``)."""
    return entry.get("case") or case_from_fields(entry).key


def ratios(times: dict[str, dict[str, float | None]], methods: Sequence[str]) -> dict[str, dict[str, float]]:
    """r_{p,s} for every case some method solved (∞ where s did not; the case's fastest has 1)."""
    out: dict[str, dict[str, float]] = {}
    for case, row in times.items():
        solved = [t for t in row.values() if t is not None]
        if not solved:
            continue
        best = min(solved)
        out[case] = {m: (row[m] / best if best > 0 else 1.0) if row.get(m) is not None else math.inf
                     for m in methods}
    return out


def rho(method_ratios: Sequence[float], tau: float) -> float:
    """ρ(τ): the fraction of ``method_ratios`` that are ≤ τ (0 for no cases)."""
    return sum(r <= tau * (1 + 1e-12) for r in method_ratios) / len(method_ratios) if method_ratios else 0.0


@dataclass
class KindRow:
    """One method on the cases of one problem kind (or all: ``kind == "all"``)."""

    kind: str
    cases: int          # cases of this kind
    solved: int         # cases the method reached the target on
    fastest: int        # of the cases some method solved: the method's time was the best
    within2: int        # … within 2× of the best
    solvable: int       # cases of this kind some method solved


@dataclass
class MatrixAnalysis:
    """The profile and the tables of a matrix file.

    Attributes
    ----------
    methods : list of str
        Every method, in the order of the records.
    default : str
        The project's default method (highlighted).
    taus : list of float
    curves : dict of str to list of float
        ρ_s(τ) at :attr:`taus`.
    ratios : dict
        r_{p,s} per case (solved by some method) and method.
    rows : dict of str to list of KindRow
        Per method: one row per kind present, then ``"all"``.
    unsolved : list of str
        Cases no method solved.
    default_fails_peer_solves : list of str
        Cases where the default did not reach the target and a peer did.
    """

    methods: list[str]
    default: str
    taus: list[float]
    curves: dict[str, list[float]]
    ratios: dict[str, dict[str, float]]
    rows: dict[str, list[KindRow]]
    unsolved: list[str]
    default_fails_peer_solves: list[str]
    project: dict[str, bool] = field(default_factory=dict)
    cases: int = 0

    def share(self, method: str, what: str) -> float | None:
        """``what`` ∈ {solved, fastest, within2} over the cases some method solved, for ``method``
        (``None`` where no method solved any case: the share is undefined)."""
        row = self.rows[method][-1]
        return getattr(row, what) / row.solvable if row.solvable else None


def analyse_matrix(entries: Sequence[RaceEntry], default: str, taus: Sequence[float] | None = None) -> MatrixAnalysis:
    """The :class:`MatrixAnalysis` of ``entries`` (a matrix file's records)."""
    methods = list(dict.fromkeys(entry["method"] for entry in entries))
    project = {entry["method"]: bool(entry.get("project")) for entry in entries}
    times, kinds = case_times(entries)
    r = ratios(times, methods)
    if taus is None:
        taus = [10 ** (2 * i / 200) for i in range(201)]
    curves = {m: [rho([r[c][m] for c in r], tau) for tau in taus] for m in methods}
    present = [kind for kind in KINDS if kind in kinds.values()] + sorted(set(kinds.values()) - set(KINDS))
    rows = {m: [_kind_row(kind, m, times, kinds, r) for kind in [*present, "all"]] for m in methods}
    unsolved = [case for case in times if case not in r]
    fails = [case for case in r if times[case].get(default) is None
             and any(times[case].get(m) is not None for m in methods if not project.get(m))]
    return MatrixAnalysis(methods, default, list(taus), curves, r, rows, unsolved, fails, project, len(times))


def _kind_row(kind: str, method: str, times: dict[str, dict[str, float | None]], kinds: dict[str, str],
              r: dict[str, dict[str, float]]) -> KindRow:
    cases = [c for c in times if kind == "all" or kinds[c] == kind]
    solvable = [c for c in cases if c in r]
    return KindRow(kind, len(cases), sum(times[c].get(method) is not None for c in cases),
                   sum(r[c][method] <= 1.0 for c in solvable), sum(r[c][method] <= 2.0 for c in solvable),
                   len(solvable))

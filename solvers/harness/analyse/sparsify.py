"""The attention-sparsification measurements summarised: errors per method and m over seeds,
the done-when checks of issue #6, the selection-time slopes and the sparsify-then-solve verdicts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...sparsify import METHODS, RANDOMIZED
from ..claims import DETERMINISTIC_TARGET, RANDOMIZED_TARGET
from .fits import fit_loglog

#: The selection-time studies: (study, x column of its rows).
TIME_STUDIES = (("d", "d"), ("n", "n"), ("nnz", "nnz"))


@dataclass
class SparsifyAnalysis:
    """Everything the report states about the sparsification measurements.

    Attributes
    ----------
    summary : list of dict
        :func:`summarize_errors` of the error study.
    checks : list of dict
        :func:`done_when` of the error study.
    slopes : dict
        Method -> study ("d", "n", "nnz") -> log–log slope of selection time (:func:`time_slopes`).
    verdicts : list of dict
        :func:`solve_verdicts` of the sparsify-then-solve study.
    """

    summary: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    slopes: dict[str, dict[str, float]]
    verdicts: list[dict[str, Any]]


def analyse_sparsification(data: dict[str, Any]) -> SparsifyAnalysis:
    """The summaries and fits of :func:`solvers.harness.measure.sparsify.measure`'s raw data."""
    return SparsifyAnalysis(summary=summarize_errors(data["error"]), checks=done_when(data["error"]),
                            slopes=time_slopes(data["timing"]), verdicts=solve_verdicts(data["solve"]))


def time_slopes(timing: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Log–log slope of selection time against d, n and nnz(X) per method (NaN with one size only)."""
    slopes: dict[str, dict[str, float]] = {}
    for study, key in TIME_STUDIES:
        for method in METHODS:
            rows = [row for row in timing["rows"] if row["study"] == study and row["method"] == method]
            if rows:
                x, y = [row[key] for row in rows], [row["time"] for row in rows]
                slopes.setdefault(method, {})[study] = fit_loglog(x, y).slope if len(set(x)) > 1 else math.nan
    return slopes


def summarize_errors(error: dict) -> list[dict]:
    """Mean and max errors per (method, draws), over seeds, sorted by method then m."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in error["rows"]:
        groups.setdefault((row["method"], row["draws"]), []).append(row)
    order = {method: k for k, method in enumerate(METHODS)}
    summary = []
    for (method, draws), rows in sorted(groups.items(), key=lambda item: (order[item[0][0]], item[0][1])):
        rel = np.array([row["relative"] for row in rows])
        ab = np.array([row["absolute"] for row in rows])
        summary.append({"method": method, "draws": draws, "m_mean": float(np.mean([row["m"] for row in rows])),
                        "relative_mean": float(rel.mean()), "relative_max": float(rel.max()),
                        "absolute_mean": float(ab.mean()), "absolute_max": float(ab.max()),
                        "time_median": float(np.median([row["time"] for row in rows])), "seeds": len(rows)})
    return summary


def done_when(error: dict) -> list[dict]:
    """The issue's checks: randomized at m = ⌈8 n ln n⌉ (≤ 0.2), deterministic at the largest m ≤ 4n (≤ 0.5)."""
    n = error["n"]
    summary = summarize_errors(error)
    checks = []
    for method in RANDOMIZED:
        target_m = math.ceil(8 * n * math.log(n))
        rows = [row for row in summary if row["method"] == method and row["draws"] == target_m]
        if rows:
            checks.append({**rows[0], "target": RANDOMIZED_TARGET, "met": rows[0]["relative_max"] <= RANDOMIZED_TARGET})
    rows = [row for row in summary if row["method"] == "bss" and row["draws"] <= 4 * n]
    if rows:
        best = max(rows, key=lambda row: row["draws"])
        checks.append({**best, "target": DETERMINISTIC_TARGET, "met": best["relative_max"] <= DETERMINISTIC_TARGET})
    return checks


def solve_configs(solve: dict, with_full: bool = False) -> list[tuple[str, int]]:
    """(method, draws) of the solve study in measurement order, the full solve first if asked."""
    keys = [(row["method"], row["draws"]) for row in solve["rows"] if with_full or row["kind"] == "reduced"]
    return list(dict.fromkeys(keys))


def solve_verdicts(solve: dict) -> list[dict]:
    """Per reduced configuration: where it matched the full loss and where it was faster.

    Where the full solve stopped before ε (``status`` other than converged) it is no
    reference: a reduced solve "matches" there only below 1e-8, is "faster" only if it
    converged, and the speed-up at the largest d is a lower bound (``full_status_last``).
    """
    full = {row["d"]: row for row in solve["rows"] if row["kind"] == "full"}
    configs: dict[tuple[str, int], list[dict]] = {}
    for row in solve["rows"]:
        if row["kind"] == "reduced":
            configs.setdefault((row["method"], row["draws"]), []).append(row)
    verdicts = []
    for (method, draws), rows in configs.items():
        good, faster, speedups = [], [], []
        for row in rows:
            reference = full[row["d"]]
            finished = reference.get("status", "converged") == "converged"
            # a full solve that stopped short is no reference for the loss, and its time is only a lower bound
            if row["loss"] <= (max(10.0 * reference["loss"], 1e-8) if finished else 1e-8):
                good.append(row["d"])
            if row["time"] < reference["time"] and (finished or row.get("status", "converged") == "converged"):
                faster.append(row["d"])
            speedups.append(reference["time"] / row["time"] if row["time"] > 0 else math.inf)
        last = full[rows[-1]["d"]]
        verdicts.append({"method": method, "draws": draws, "m_min": min(row["m"] for row in rows),
                         "good": good, "faster": faster,
                         "all_d": [row["d"] for row in rows], "speedup_last": speedups[-1],
                         "full_status_last": last.get("status", "converged"),
                         "worst_loss": max(row["loss"] for row in rows)})
    return verdicts

"""Convergence plots: loss against solver time and against iteration, for several runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..result import SolveResult


def _as_dict(result: SolveResult | Mapping[str, Any]) -> Mapping[str, Any]:
    return result.to_dict() if isinstance(result, SolveResult) else result


def plot_convergence(results: Iterable[SolveResult | Mapping[str, Any]], path: str | Path, *,
                     title: str | None = None) -> Path:
    """Draw loss (log scale) against solver time (log scale) and against iteration, one line per run.

    Parameters
    ----------
    results : iterable of SolveResult or dict
        Runs, as results or their :meth:`SolveResult.to_dict` records (e.g. read from JSON).
    path : str or Path
        Image file to write (format from its suffix, e.g. ``.png``).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The file written. Losses of exactly 0 are drawn at the smallest positive float.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_time, by_iteration) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for record in map(_as_dict, results):
        history = record.get("history") or []
        if not history:
            continue
        loss = np.maximum([row["loss"] for row in history], np.finfo(float).tiny)
        label = f"{record.get('solver', '?')} [{record.get('backend', '?')}] ({record.get('status', '?')})"
        times = np.array([row["time"] for row in history])
        timed = times > 0
        line, = by_time.loglog(times[timed], loss[timed], marker=".", label=label)
        by_iteration.semilogy([row["iteration"] for row in history], loss, marker=".", color=line.get_color())
    by_time.set(xlabel="solver time (s, log scale; the start at t = 0 is left out)", ylabel="loss L",
                title="loss against time")
    by_iteration.set(xlabel="iteration", ylabel="loss L", title="loss against iteration")
    for axes in (by_time, by_iteration):
        axes.grid(True, which="both", alpha=0.3)
    if by_time.lines:
        by_time.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

"""Every figure the harness draws: time against size, fraction of peak, backends side by side, convergence.

Figures only read what :mod:`solvers.harness.analyse` computed (each scaling result carries the
points it plots, and the convergence results their runs); each is written atomically as a PNG.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...result import SolveResult
from ..analyse.backends import BackendComparison, BackendRatio
from ..analyse.scaling import MIN_FIT_TIME, ScalingResult
from ..analyse.convergence import ConvergenceResult
from ..analyse.roofline import RooflinePoint
from ..records import write_atomic

SWEEP_TITLES = {"n": "time against n", "d": "time against d (product stages)", "solve_d": "time against d (d²×d² stages)",
                "cross_n": "time against n across n = d²", "wide_d": "time against d > n (product stages)"}


def _key(res: ScalingResult) -> str:
    """A line's name: the stage, and the fixed size where a sweep runs at several."""
    return f"{res.stage} ({'d' if res.axis == 'n' else 'n'}={res.fixed})" if res.sweep == "cross_n" else res.stage


def _figure(ncols: int, width: float = 5.2, height: float = 4.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False, layout="constrained")
    return fig, axes[0]


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    from matplotlib.ticker import NullFormatter

    for ax in fig.axes:
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # the legends below the axes included
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def _styles(names: Iterable[str]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    pairs = plt.get_cmap("tab20").colors  # 10 dark and 10 light colours, paired: the dark ones first
    cycle = pairs[0::2] + pairs[1::2]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(dict.fromkeys(names))}


LINESTYLES = ("-", "--", ":", "-.")


def _size_ticks(ax: Any, sizes: Iterable[int]) -> None:
    """Label a logarithmic size axis with exactly the sizes that were run."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ticks = sorted(set(sizes))
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())


def _legend(ax: Any) -> None:
    """The axes' legend below it, outside the data, in a readable size."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)


def _sweep_figure(scaling: list[ScalingResult]) -> tuple[list[str], Any, Any, dict[str, Any], dict[str, str]]:
    """One panel per sweep present, a colour per stage and a line style per backend."""
    sweeps = [s for s in SWEEP_TITLES if any(r.sweep == s for r in scaling)]
    fig, axes = _figure(max(len(sweeps), 1))
    colors = _styles(_key(r) for r in scaling)
    styles = {b: LINESTYLES[i % len(LINESTYLES)] for i, b in enumerate(dict.fromkeys(r.backend for r in scaling))}
    return sweeps, fig, axes, colors, styles


def plot_scaling(scaling: list[ScalingResult], path: Path, min_fit_time: float = MIN_FIT_TIME) -> None:
    """Time against size per sweep, medians with IQR bars (× marks disturbed points), fitted lines over the points used."""
    sweeps, fig, axes, colors, styles = _sweep_figure(scaling)
    for ax, sweep in zip(axes, sweeps):
        sizes: list[int] = []
        for res in (r for r in scaling if r.sweep == sweep):
            points = [p for p in res.points if p["status"] == "ok"]
            if not points:
                continue
            x = [p[res.axis] for p in points]
            sizes += x
            y = [p["median"] for p in points]
            err = [[max(p["median"] - (p.get("q25") or p["median"]), 0.0) for p in points],
                   [max((p.get("q75") or p["median"]) - p["median"], 0.0) for p in points]]
            label = f"{_key(res)} [{res.backend}]"
            if res.fit is not None:
                label += f" slope {res.fit.slope:.2f}"
            ax.errorbar(x, y, yerr=err, marker="o", ms=3, lw=1, ls=styles[res.backend], color=colors[_key(res)],
                        label=label, alpha=0.85)
            lost = [p for p in points if p.get("disturbed")]
            if lost:  # left out of every fit: the machine was busy, or the point is a stall
                ax.plot([p[res.axis] for p in lost], [p["median"] for p in lost], ls="none", marker="x", ms=7,
                        color=colors[_key(res)])
            if res.fit is not None:
                xs = [min(res.used), max(res.used)]
                ax.plot(xs, [math.exp(res.fit.intercept) * v ** res.fit.slope for v in xs], color=colors[_key(res)],
                        lw=3, alpha=0.35)
        mine = [r for r in scaling if r.sweep == sweep]
        axis, other = mine[0].axis, "d" if mine[0].axis == "n" else "n"
        fixed = ", ".join(map(str, dict.fromkeys(r.fixed for r in mine)))
        ax.set(xscale="log", yscale="log", xlabel=f"{axis} ({other} = {fixed})",
               ylabel="seconds per call (median, IQR)", title=SWEEP_TITLES[sweep])
        _size_ticks(ax, sizes)
        ax.axhline(min_fit_time, color="grey", lw=0.8, ls=":")
        _legend(ax)
        ax.grid(True, which="both", alpha=0.2)
    _save(fig, path)


def plot_fraction(scaling: list[ScalingResult], path: Path) -> None:
    """Achieved FLOP/s as a fraction of the backend's measured matrix-product rate."""
    sweeps, fig, axes, colors, styles = _sweep_figure(scaling)
    for ax, sweep in zip(axes, sweeps):
        sizes: list[int] = []
        for res in (r for r in scaling if r.sweep == sweep):
            pairs = res.fractions
            sizes += [x for x, _ in pairs]
            if pairs:
                ax.plot(*zip(*pairs), marker="o", ms=3, ls=styles[res.backend], color=colors[_key(res)],
                        label=f"{_key(res)} [{res.backend}]")
        ax.set(xscale="log", yscale="log", xlabel=next(r.axis for r in scaling if r.sweep == sweep), ylabel="fraction of GEMM rate",
               title=f"fraction of peak {SWEEP_TITLES[sweep].removeprefix('time ')}")
        _size_ticks(ax, sizes)
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        _legend(ax)
        ax.grid(True, which="both", alpha=0.2)
    _save(fig, path)


def plot_roofline(points: list[RooflinePoint], path: Path) -> None:
    """Each stage's fastest call against its roofline limit (flops at the GEMM rate + exps at the exp rate), log–log.

    On the diagonal a call runs at the limit; the dotted line is twice the limit.
    """
    fig, axes = _figure(1, width=6.0, height=5.0)
    ax = axes[0]
    keys = [f"{p.stage} [{p.backend}]" for p in points]
    colors = _styles(keys)
    for key in dict.fromkeys(keys):
        mine = sorted((p for p, k in zip(points, keys) if k == key), key=lambda p: p.limit)
        ax.plot([p.limit for p in mine], [p.seconds for p in mine], marker="o", ms=3, ls="", color=colors[key], label=key)
    span = [min(p.limit for p in points), max(p.seconds for p in points)]
    ax.plot(span, span, color="grey", lw=0.8, label="at the limit")
    ax.plot(span, [2 * x for x in span], color="grey", lw=0.8, ls=":", label="twice the limit")
    ax.set(xscale="log", yscale="log", xlabel="roofline limit (s): flops / GEMM rate + n² exps / exp rate",
           ylabel="fastest call (s)", title="time against the roofline limit")
    _legend(ax)
    ax.grid(True, which="both", alpha=0.2)
    _save(fig, path)


def _longest_sweep(ratios: list[BackendRatio]) -> tuple[str, int, list[BackendRatio]]:
    """The n- or d-sweep line (axis, fixed size, points) with the most points among ``ratios``."""
    lines: dict[tuple[str, int], list[BackendRatio]] = {}
    for r in ratios:
        for sweep in ("n", "d"):
            if sweep in r.sweeps:
                lines.setdefault((sweep, r.d if sweep == "n" else r.n), []).append(r)
    if not lines:  # points of no n- or d-sweep: along n, whatever d
        return "n", 0, ratios
    (axis, fixed), points = max(lines.items(), key=lambda item: len({(r.n, r.d) for r in item[1]}))
    return axis, fixed, points


def plot_backends(comparison: BackendComparison, path: Path) -> None:
    """Time (fastest call) against size, one panel per stage, one line per backend (the reference included)."""
    stages = list(dict.fromkeys(r.stage for r in comparison.ratios))
    fig, axes = _figure(len(stages), width=4.2, height=3.6)
    backends = [comparison.reference, *comparison.backends]
    colors = _styles(backends)
    for ax, stage in zip(axes, stages):
        axis, fixed, points = _longest_sweep([r for r in comparison.ratios if r.stage == stage])
        reference = sorted({(getattr(r, axis), r.reference_time) for r in points})
        ax.plot(*zip(*reference), marker="o", ms=3, color=colors[comparison.reference], label=comparison.reference)
        for backend in comparison.backends:
            mine = sorted((getattr(r, axis), r.time) for r in points if r.backend == backend)
            if mine:
                ax.plot(*zip(*mine), marker="o", ms=3, color=colors[backend], label=backend)
        other = "d" if axis == "n" else "n"
        ax.set(xscale="log", yscale="log", xlabel=axis, ylabel="time per call (s)",
               title=f"{stage} against {axis}" + (f" ({other}={fixed})" if fixed else ""))
        _size_ticks(ax, sorted({getattr(r, axis) for r in points}))
        _legend(ax)
        ax.grid(True, which="both", alpha=0.2)
    _save(fig, path)


def plot_convergence(runs: Iterable[SolveResult | Mapping[str, Any]], path: str | Path, *,
                     results: list[ConvergenceResult] | None = None, title: str | None = None) -> Path:
    """Loss against iteration and against solver time, one line per run; with ``results``, a third
    panel of iterations to reach ε against log10(1/ε) with the fitted straight lines.

    Parameters
    ----------
    runs : iterable of SolveResult or dict
        Runs, as results or their :meth:`SolveResult.to_dict` records (e.g. read from JSON).
    path : str or Path
        PNG file to write.
    results : list of ConvergenceResult, optional
        :func:`solvers.harness.analyse.convergence.analyse_convergence` of each run, in the same order.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The file written. Losses of exactly 0 are drawn at 1e-32; the start (t = 0) is
        left out of the time panel, whose axis is logarithmic. A panel with nothing to draw
        (no method took a step, or no loss is finite) says so instead.
    """
    records = [run.to_dict() if isinstance(run, SolveResult) else run for run in runs]
    rows = math.ceil(len(records) / 3)
    fig, axes = _figure(3 if results is not None else 2, height=4.2 + 0.22 * rows)
    colors = _styles(f"{r.get('solver', '?')} [{r.get('backend', '?')}]" for r in records)
    legend: dict[str, tuple[Any, str]] = {}  # one entry per run, below the panels: they share the colours
    drawn = [False, False]  # whether the iteration and the time panel got a finite point
    last = 0  # the last iteration drawn: at 0 (no step), the iteration axis still spans 0 … 1
    for index, run in enumerate(records):
        history = run.get("history") or []
        key = f"{run.get('solver', '?')} [{run.get('backend', '?')}]"
        if not history:
            continue
        size = f", n={run['n']}, d={run['d']}" if "n" in run else ""
        losses = np.maximum([h["loss"] if h["loss"] is not None else math.nan for h in history], 1e-32)
        times = np.array([h["time"] for h in history])
        (line,) = axes[0].plot([h["iteration"] for h in history], losses, color=colors[key], lw=1.2, marker=".", ms=3)
        stepped = (times > 0) & np.isfinite(losses)
        axes[1].plot(times[stepped], losses[stepped], color=colors[key], lw=1.2, marker=".", ms=3)
        drawn = [drawn[0] or bool(np.isfinite(losses).any()), drawn[1] or bool(stepped.any())]
        last = max(last, history[-1]["iteration"])
        label = f"{key} ({run.get('status', '?')}{size})"
        res = results[index] if results is not None else None
        if res is not None:
            reached = [(math.log10(1 / eps), it) for eps, it in res.iterations.items() if it is not None]
            if reached:
                axes[2].plot(*zip(*reached), marker="o", ms=3, ls="none", color=colors[key])
            if res.fit is not None:
                xs = np.linspace(min(x for x, _ in reached), max(x for x, _ in reached), 50)
                axes[2].plot(xs, res.fit.intercept + res.fit.slope * xs, color=colors[key])
                label += f": {res.fit.slope:.2g} it/decade"
        legend[f"{index}"] = (line, label)
    _log_panel(axes[0], drawn[0], "no finite loss to draw",
               {"yscale": "log", "xscale": "symlog", "xlim": (0, None if last else 1)},
               xlabel="iteration", ylabel="loss L(X, Y)", title="loss against iteration")
    _log_panel(axes[1], drawn[1], "no method took a step:\nnothing to draw against time",
               {"yscale": "log", "xscale": "log"}, xlabel="solver time (s)", ylabel="loss", title="loss against time")
    if results is not None:
        axes[2].set(xlabel="log10(1/ε)", ylabel="iterations to reach ε", title="iterations against log(1/ε)",
                    ylim=(0, None))
    for ax in axes:
        ax.grid(True, alpha=0.2)
    if legend:
        handles, labels = zip(*legend.values())
        fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    path = Path(path)
    _save(fig, path)
    return path


def _log_panel(ax: Any, drawn: bool, note: str, scales: dict[str, Any], **labels: Any) -> None:
    """Label a panel; give it the logarithmic ``scales`` where it has points (``drawn``), else (a log axis cannot
    scale nothing) write ``note`` in it."""
    ax.set(**labels)
    if drawn:
        ax.set(**scales)
    else:
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", color="0.4")
        ax.set(xticks=[], yticks=[])

"""The report's convergence sections: iterations against log(1/ε) per solver, and convergence across sizes."""

from __future__ import annotations

import math
import statistics
from typing import Any

from ..analyse.analysis import Analysis
from ..analyse.convergence import SizeSummary
from .markdown import brief, fit_ci, fmt_count, fmt_loss, fmt_time, table
from ..analyse.study import median_order
from ..claims import EPS_LEVELS, NEWTON_SOLVERS, REFERENCE_SOLVER, STUDY_EPS


def convergence_section(runs: list[dict[str, Any]], result: Analysis) -> list[str]:
    """Iterations to ε per solver and the fitted iterations per decade of ε."""
    if not runs:
        return ["## Convergence against log(1/ε)", "", "No convergence runs in this record.", ""]
    eps_levels = EPS_LEVELS
    rows = []
    for run, res in zip(runs, result.convergence):
        per_decade = "–"
        if res.fit is not None:
            per_decade = (f"{res.fit.slope:.3g}" if not math.isfinite(res.fit.stderr)
                          else f"{res.fit.slope:.3g} [{res.fit.ci_low:.3g}, {res.fit.ci_high:.3g}]")
        why = "" if res.status in ("converged", "asv") else brief(run.get("message", ""))
        rows.append([f"`{res.solver}`", f"{res.n}×{res.d}", run.get("backend", ""), res.status,
                     fmt_loss(res.final_loss),
                     res.total_iterations, *[fmt_count(res.iterations.get(e)) for e in eps_levels],
                     per_decade, fmt_time(res.times.get(1e-8)), why])
    start = runs[0].get("start", "")
    lines = ["## Convergence against log(1/ε)", "",
             f"Planted problems (min L = 0), every solver from the same start: {start}. "
             + (f"Caps per run: ε = {runs[0]['eps']}, {runs[0]['max_iter']} iterations, {runs[0]['max_time']} s "
                "solver time. " if runs[0].get("max_iter") is not None else "") +
             "The claim's log(1/ε) factor hides the iterations needed per decade of ε: the slope below "
             "(OLS of iterations on log10(1/ε) over the ε reached; 95 % CI with three or more) is that constant.", "",
             table(["solver", "n×d", "backend", "status", "final loss", "iterations",
                     *[f"it. to {e:g}" for e in eps_levels], "iterations per decade [95 % CI]", "time to 1e-8",
                     "why it stopped (unless converged)"], rows),
             "", "![convergence](convergence.png)", ""]
    lines += _convergence_claims(result.sizes)
    return lines


def _convergence_claims(sizes: list[SizeSummary]) -> list[str]:
    """Statements comparing the paper's alternating method with the others, per size."""
    lines = []
    for size in sizes:
        ref = size.reference
        if ref is not None:
            ref_text = (f"`{REFERENCE_SOLVER}` reached 1e-8 after {ref.iterations[1e-8]} iterations"
                        + (f" ({fmt_time(ref.times[1e-8])})" if ref.times.get(1e-8) is not None else "")
                        if ref.iterations.get(1e-8) is not None else
                        f"`{REFERENCE_SOLVER}` did not reach 1e-8 ({ref.status}, final loss {fmt_loss(ref.final_loss)})")
            if ref.fit is not None:
                ref_text += f", {ref.fit.slope:.3g} iterations per decade of ε"
            lines.append(f"- n={size.n}, d={size.d}: {ref_text}.")
        if size.fewest_iterations is not None:
            fastest, count = size.fewest_iterations
            lowest = (f"; lowest final loss: `{size.lowest_loss.solver}` ({size.lowest_loss.final_loss:.2e})"
                      if size.lowest_loss else "")
            quickest = (f"; least solver time to 1e-8: `{size.least_time[0]}` ({fmt_time(size.least_time[1])})"
                        if size.least_time else "")
            lines.append(f"- n={size.n}, d={size.d}: fewest iterations to 1e-8: `{fastest}` ({count})"
                         f"{quickest}{lowest}.")
    return lines + [""] if lines else []


def _median_range(values: list[float], digits: int = 3) -> str:
    if not values:
        return "–"
    mid = statistics.median(values)
    return f"{mid:.{digits}g}" if len(values) == 1 else f"{mid:.{digits}g} [{min(values):.{digits}g}–{max(values):.{digits}g}]"


def study_section(result: Analysis) -> list[str]:
    """Convergence across sizes and seeds: iterations per decade and its trend, orders, time to ε."""
    study = result.study
    if study is None:
        return []
    runs = study.runs
    seeds = sorted({r.seed for r in runs})
    lines = ["## Convergence across sizes", "",
             f"Planted problems at {len(dict.fromkeys((r.n, r.d) for r in runs))} sizes, seeds "
             f"{', '.join(map(str, seeds))} (problem and start X* + 0.5·G both drawn from the seed), target "
             f"ε = {STUDY_EPS:g}. The paper's method converges linearly: its constant is the number of iterations per "
             "decade of ε. The Newton-type methods converge superlinearly: their summary is the order q fitted to "
             "log L_{k+1} = q·log L_k + c over successive iterations with 1e-26 < L < 1e-2 (1: linear, 2: quadratic).",
             ""]
    rows = []
    end_to_end = {(e.n, e.d): e for e in study.end_to_end}
    for n, d in dict.fromkeys((r.n, r.d) for r in runs if r.solver == REFERENCE_SOLVER):
        mine = [r for r in runs if (r.solver, r.n, r.d) == (REFERENCE_SOLVER, n, d)]
        reached = f"{sum(r.time is not None for r in mine)}/{len(mine)}"
        e = end_to_end.get((n, d))
        if e is None:  # every seed stopped before ε: the size stays in the table, said as such
            rows.append([f"{n}×{d}", reached, "–", "none reached ε", "–", "–", "–", "–"])
            continue
        per_decade = [r.per_decade.slope for r in mine if r.per_decade is not None]
        ratio = f"{e.time / e.predicted:.2f}" if e.predicted else "–"
        rows.append([f"{n}×{d}", reached, _median_range(per_decade), f"{e.iterations:g}", fmt_time(e.time),
                     f"{fmt_time(e.per_iteration)} ({e.source})", fmt_time(e.predicted), ratio])
    lines += [f"The paper's method (`{REFERENCE_SOLVER}`), medians over the seeds that reached ε "
              "[lowest–highest]:", "",
              table(["n×d", "seeds reaching ε", "iterations per decade", f"iterations to {STUDY_EPS:g}",
                      f"time to {STUDY_EPS:g}", "one iteration (stage timing)", "one iteration × iterations",
                      "measured / predicted"], rows) if rows else f"No run of `{REFERENCE_SOLVER}` reached ε.", ""]
    rows = [[t.what, f"`{t.solver}`", f"{t.axis} ({'d' if t.axis == 'n' else 'n'}={t.fixed})",
             ", ".join(map(str, t.sizes)), fit_ci(t.fit)] for t in study.trends]
    if rows:
        lines += ["Trends over sizes and seeds (log–log slope, 95 % CI):", "",
                  table(["quantity", "solver", "against", "sizes", "exponent [95 % CI]"], rows), ""]
    rows = []
    for solver in NEWTON_SOLVERS:
        for n, d in dict.fromkeys((r.n, r.d) for r in runs if r.solver == solver):
            mine = [r for r in runs if (r.solver, r.n, r.d) == (solver, n, d)]
            order = median_order(runs, solver, n, d)
            rows.append([f"`{solver}`", f"{n}×{d}", f"{sum(r.iterations is not None for r in mine)}/{len(mine)}",
                         "–" if order is None else f"{order[0]:.2f} [{order[1]:.2f}–{order[2]:.2f}]",
                         _median_range([r.iterations for r in mine if r.iterations is not None])])
    if rows:
        lines += ["Newton-type methods:", "",
                  table(["solver", "n×d", "seeds reaching ε", "order q (median [range])",
                          f"iterations to {STUDY_EPS:g}"], rows), ""]
    return lines

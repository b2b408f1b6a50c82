"""The verdict on the claim in five sentences, each computed from an :class:`~solvers.harness.analyse.analysis.Analysis`.

One sentence each on: the product stages against n, the product stages against d, the
d²×d² stages against d, the regime the claim leaves out (n > d²), and convergence. Every
number in them appears in a table of the report, so a reader can check each one.
"""

from __future__ import annotations

import statistics
from collections import Counter

from ..claims import NEWTON_SOLVERS, REFERENCE_SOLVER, STUDY_EPS
from .analysis import Analysis
from .scaling import REGIME_SHARE, ScalingResult
from .costmodel import MAX_MODEL_ERROR, NAMED_SHARE
from .fits import Fit

#: The stages whose per-call work is products and elementwise n×n work (no d²×d² matrix).
PRODUCT_STAGES = ("forward", "gradient", "y_solve", "hvp")
#: The stages the regime sentence reads, in order of preference: one iteration of the paper's method, then the assembly.
CROSS_STAGES = (f"iteration:{REFERENCE_SOLVER}", "hessian_assembly")


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if abs(high - low) < 0.005 else f"{low:.2f}–{high:.2f}"


def _tally(results: list[ScalingResult]) -> str:
    counts = Counter(r.verdict for r in results)
    order = ("holds", "does not hold", "inconclusive")
    return ", ".join(f"{v} {counts[v]}" for v in order if counts[v])


def _bounds(results: list[ScalingResult]) -> str:
    counts = Counter(r.bound.verdict for r in results)
    order = ("holds", "does not hold", "inconclusive")
    return "the bound (time over the claim's fitted cost) " + ", ".join(f"{v} {counts[v]}" for v in order if counts[v])


def _ci(fit: Fit) -> str:
    return f"{fit.slope:.2f} [{fit.ci_low:.2f}, {fit.ci_high:.2f}]" if fit.points > 2 else f"{fit.slope:.2f} (no CI)"


def against_n(result: Analysis) -> str:
    """Sentence 1: the product stages' exponents against n."""
    mine = [r for r in result.scaling if r.stage in PRODUCT_STAGES and r.axis == "n" and r.expected is not None]
    fitted = [r.fit.slope for r in mine if r.fit is not None]
    if not fitted:
        return (f"Against n, no product stage had enough sizes where n²d holds ≥ {REGIME_SHARE:.0%} of the time to "
                f"fit an exponent ({_tally(mine) or 'no fit'}); " + (_bounds(mine) if mine else "no bound either") + ".")
    fixed = ", ".join(f"d = {v}" for v in dict.fromkeys(r.fixed for r in mine))
    return (f"Against n ({fixed}), the product stages' time grows with exponents {_span(fitted)} where the claim "
            f"implies {mine[0].expected:g}: of {len(mine)} fits, {_bounds(mine)}; the exponent where n²d holds "
            f"≥ {REGIME_SHARE:.0%} of the time: {_tally(mine)} (δ = {result.rule.delta:g}, "
            f"{result.rule.confidence:.0%} CI).")


def against_d(result: Analysis) -> str:
    """Sentence 2: the product stages against d, read through their cost models (n ≫ d, then d > n)."""
    mine = [r for r in result.scaling if r.stage in PRODUCT_STAGES and r.sweep == "d" and r.expected is not None]
    wide = [r for r in result.scaling if r.stage in PRODUCT_STAGES and r.sweep == "wide_d" and r.expected is not None]
    if not mine and not wide:
        return "Against d, no product stage was measured."
    text = ""
    if mine:
        fixed = ", ".join(f"n = {v}" for v in dict.fromkeys(r.fixed for r in mine))
        text = (f"Against d ({fixed}) the claim implies d^{mine[0].expected:g} for the product stages: of {len(mine)} "
                f"fits, {_bounds(mine)}; the exponent: {_tally(mine)}")
        elementwise = [share for m in result.models if m.stage in PRODUCT_STAGES and "n²" in m.terms and m.usable
                       for share in (row[m.terms.index("n²")] for row in m.shares)]
        if elementwise:
            regime = sorted({size for r in mine if r.regime for size in r.used})
            text += (f"; their cost models put {min(elementwise):.0%}–{max(elementwise):.0%} of the time in the n² "
                     f"elementwise work the claim does not name, and the claimed n²d term holds ≥ {REGIME_SHARE:.0%} "
                     "of it " + (f"at d = {', '.join(map(str, regime))}" if regime else "at no compute-bound size measured"))
    if wide:
        fixed = ", ".join(f"n = {v}" for v in dict.fromkeys(r.fixed for r in wide))
        fitted = [r.fit.slope for r in wide if r.fit is not None]
        text += ("; w" if text else "W") + (
            f"ith d > n ({fixed}) it implies d^{wide[0].expected:g} (T_mat(n,d,d)): of {len(wide)} fits, "
            f"{_bounds(wide)}; the exponent where nd² holds ≥ {REGIME_SHARE:.0%}"
            + (f" ({_span(fitted)})" if fitted else "") + f": {_tally(wide)}")
    return text + "."


def d_squared_stages(result: Analysis) -> str:
    """Sentence 3: the d²×d² solve and one iteration of the paper's method against d."""
    parts = []
    for stage in ("hessian_solve", f"iteration:{REFERENCE_SOLVER}"):
        res = next((r for r in result.scaling if r.stage == stage and r.sweep == "solve_d" and r.expected is not None),
                   None)
        if res is None:
            continue
        name = "the d²×d² solve" if stage == "hessian_solve" else "one iteration of the paper's method"
        if res.fit is None:
            parts.append(f"{name} has too few sizes where d⁶ dominates to fit ({res.verdict}; its bound {res.bound.verdict})")
        else:
            parts.append(f"{name} grows as d^{_ci(res.fit)} over d = {', '.join(map(str, res.used))} at n = {res.fixed} "
                         f"against the claimed d^{res.expected:g}: {res.verdict}, and its bound {res.bound.verdict}")
    if not parts:
        return "The d²×d² stages were not measured against d."
    return "Against d, " + "; ".join(parts) + "."


def left_out(result: Analysis) -> str:
    """Sentence 4: how much of the time the claim's named terms account for beyond n = d² (the sweep across it)."""
    for stage in CROSS_STAGES:
        rows = [c for c in result.coverage if c.stage == stage and c.sweep == "cross_n"]
        if not rows:
            continue
        name = "one iteration of the paper's method" if stage.startswith("iteration") else "the Hessian assembly"
        parts, beyond = [], []
        for c in rows:
            shares = [share for n, share in zip(c.values, c.named) if n > c.fixed**2]
            sizes = [n for n in c.values if n > c.fixed**2]
            if not shares:
                continue
            beyond += shares
            cross = "" if c.crossover is None else f", crossing one half at n ≈ {c.crossover:.0f}"
            low, high = min(shares), max(shares)
            parts.append(f"{low:.0%}–{high:.0%} at d = {c.fixed} (n = {sizes[0]}…{sizes[-1]}{cross})")
        if not parts:
            continue
        if max(beyond) < 0.5:
            verdict = "the unnamed terms (n², n²d², n·d⁴, fixed cost) set the cost there, which the claim's bound does not cover"
        elif min(beyond) >= NAMED_SHARE:
            verdict = "the claim's bound still accounts for the cost there"
        else:
            verdict = f"the claim's named terms fall short of {NAMED_SHARE:.0%} of the cost there"
        along = [r for r in result.scaling if r.stage == stage and r.sweep == "cross_n"]
        return (f"Beyond n = d², the terms the claim names (n²d, nd², d⁶) account for this share of the modelled "
                f"time of {name}: " + "; ".join(parts) + f" — {verdict}"
                + (f"; yet along n, of {len(along)} sweeps, {_bounds(along)}" if along else "") + ".")
    unfit = [m for m in result.models if m.stage in CROSS_STAGES and not m.usable]
    if unfit:
        return ("The cost model of " + " and of ".join(f"`{m.stage}` (rms error {m.rms_error:.0%})" for m in unfit)
                + f" does not describe its timings (rms relative error above {MAX_MODEL_ERROR:.0%}), so this record "
                "cannot say where beyond n = d² the unnamed terms take over; rerun on an idle machine.")
    covered = [c for c in result.coverage if c.named and max(c.named) >= NAMED_SHARE]
    return ("No sweep crossed n = d², so this record cannot say where the unnamed terms take over; "
            f"the claim's named terms reach {NAMED_SHARE:.0%} of the time along {len(covered)} of "
            f"{len(result.coverage)} modelled sweeps.")


def convergence(result: Analysis) -> str:
    """Sentence 5: iterations per decade of the paper's method across sizes, Newton orders, time to ε."""
    study = result.study
    if study is None or not study.runs:
        ref = next((r for r in result.convergence if r.solver == REFERENCE_SOLVER and r.fit is not None), None)
        if ref is None:
            return "No convergence run of the paper's method is in this record."
        return (f"The paper's method needed {ref.fit.slope:.3g} iterations per decade of ε at n = {ref.n}, d = {ref.d} "
                "(one size, one seed: no trend in n or d can be read from this record).")
    per_decade = [r.per_decade.slope for r in study.runs if r.solver == REFERENCE_SOLVER and r.per_decade]
    text = (f"The paper's method needed {min(per_decade):.3g}–{max(per_decade):.3g} iterations per decade of ε over "
            f"{len({(r.n, r.d) for r in study.runs})} sizes and {len({r.seed for r in study.runs})} seeds"
            if per_decade else "The paper's method reached no two decades of ε in the study")
    trends = [t for t in study.trends if t.what.startswith("iterations") and t.fit is not None and t.fit.points > 2]
    if trends:
        text += " (trend " + ", ".join(f"{t.axis}^{_ci(t.fit)}" for t in trends) + ")"
    times = [t for t in study.trends if t.what.startswith("time") and t.fit is not None]
    checks = [e.time / e.predicted for e in study.end_to_end if e.predicted]
    if times:
        text += (f", and its time to {STUDY_EPS:g} grows as " + ", ".join(f"{t.axis}^{t.fit.slope:.2f}" for t in times))
    if checks:
        text += f", which per-iteration time × iterations predicts to a factor {_span(checks)} (measured/predicted)"
    orders = [r.order.slope for r in study.runs if r.solver in NEWTON_SOLVERS and r.order is not None]
    if orders:
        text += (f"; the Newton-type methods converge with order {statistics.median(orders):.2f} "
                 f"(median, range {_span(orders)})")
    return text + "."


def sentences(result: Analysis) -> list[str]:
    """The five sentences of the report's verdict section."""
    return [against_n(result), against_d(result), d_squared_stages(result), left_out(result), convergence(result)]

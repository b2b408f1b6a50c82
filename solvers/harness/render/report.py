"""The reproduction report, rendering only: ``report.md``, the figures, ``analysis.json`` and a CSV.

:func:`build_report` renders a measurements record (written by
:mod:`solvers.harness.measure.reproduce`, or read from stored asv results by
:func:`solvers.harness.measure.asv_import.measurements_from_asv`; any schema, see
:func:`solvers.harness.records.load_measurements`). Every number and every claim in the
text comes from the :class:`~solvers.harness.analyse.analysis.Analysis` of that record.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..analyse import analysis, summary
from . import figures
from ..analyse.analysis import NND_RANGE, NND_STAGE, SOLVE_STAGE, Analysis
from ..analyse.backends import BackendComparison
from ..analyse.scaling import REGIME_SHARE, ScalingResult, fraction_of_peak
from ..analyse.costmodel import MAX_MODEL_ERROR, NAMED_SHARE
from ..claims import TERMS, Rule
from .convergence_report import convergence_section, study_section
from .markdown import fit_ci, fmt, table
from .provenance import environment_lines
from .race import race_section
from ..records import Measurements, load_measurements, write_atomic, write_json

#: Above this median relative spread (IQR / median) the report warns that the timings are noisy.
NOISE_WARNING = 0.10


# -------------------------------------------------------------------------------- markdown

def _fit_text(res: ScalingResult) -> str:
    return fit_ci(res.fit)


def _sweep_text(res: ScalingResult) -> str:
    other = "d" if res.axis == "n" else "n"
    return f"{res.axis} ({other}={res.fixed})"


def _closer_omega(res: ScalingResult) -> str:
    if res.fit is None or res.expected is None or res.expected_best is None or res.expected == res.expected_best:
        return ""
    closer = "ω=3" if abs(res.fit.slope - res.expected) <= abs(res.fit.slope - res.expected_best) else "ω≈2.37"
    return closer


def verdict_section(result: Analysis) -> list[str]:
    """The verdict table (both verdicts of every fit) and the two headline statements."""
    min_fit_time = result.min_fit_time
    judged = [r for r in result.scaling if r.expected is not None]
    rows = [[f"`{r.stage}`", r.backend, _sweep_text(r), f"**{r.bound.verdict}**", r.bound.why, fmt(r.expected),
             fmt(r.expected_best), _fit_text(r), _closer_omega(r), _regime_text(r), ", ".join(map(str, r.used)) or "–",
             f"**{r.verdict}**", r.why] for r in judged]
    lines = ["## Verdict", "", "Five sentences, each computed from the tables below:", ""]
    lines += [f"{i}. {sentence}" for i, sentence in enumerate(summary.sentences(result), start=1)]
    lines += ["", "## Exponents against the claim", "",
              "Two questions per fit: does the claim's **bound** hold (time over the claim's own cost, its named "
              "terms with fitted constants, does not grow along the sweep), and is it **tight** (the exponent, "
              "fitted only where the claimed term dominates, is the claimed one).", "",
              table(["stage", "backend", "time against", "bound", "why (bound)", "expected (ω=3)", "expected (ω≈2.37)",
                     f"fitted exponent [{result.rule.confidence:.0%} CI]", "closer to", "fitted where (cost model)",
                     "sizes fitted", "tight exponent", "why (tight)"], rows), ""]
    rule = result.rule
    lines += [f"Rule: a fit uses only the sizes whose fastest call took at least {min_fit_time * 1e3:g} ms "
              "(faster calls are overhead-bound) and that no other work disturbed (see the timing noise below), by "
              "ordinary least squares of log time on log size, with a "
              f"{rule.confidence:.0%} confidence interval from the t distribution. **Bound**: the claim's named terms "
              "that apply to the stage (n²d, nd², d⁶) are fitted by non-negative least squares over all its sizes; "
              f"the bound holds when the whole CI of the slope of log(time / that cost) against log size lies at or "
              f"below +{rule.delta:g}, does not hold when it lies entirely above, and is inconclusive otherwise. "
              f"**Tight exponent**: against the exponent expected with classical products (ω = 3), {rule.text()}. "
              f"Options: δ = {rule.delta:g}, confidence = "
              f"{rule.confidence:g} (`attnreg reproduce`/`report` `--delta`, `--confidence`). Where the stage has a "
              "cost model (next section), a size enters the tight fit only where the claimed terms (the named ones "
              f"growing with the claimed exponent) hold at least {REGIME_SHARE:.0%} of the modelled time, and the band is "
              "widened by how far the model's other terms (at most a quarter of the time there) move the slope at "
              "those sizes (the model's own slope minus the claimed exponent). A sweep "
              "that lost a size to a disturbance never concludes \"does not hold\".", ""]
    headline = []
    for res, inside in result.nnd_checks:
        if res.fit is None:
            headline.append(f"- n×n×d stage (`{NND_STAGE}`, {res.backend}) against n: no fit (too few compute-bound sizes).")
            continue
        headline.append(f"- n×n×d stage (`{NND_STAGE}`, {res.backend}) against n: exponent {_fit_text(res)}, "
                        f"{'inside' if inside else 'outside'} [{NND_RANGE[0]}, {NND_RANGE[1]}] (claim: 2).")
    for res, ok, why in result.solve_checks:
        fitted = f"fitted on d = {', '.join(map(str, res.used))}" if res.used else "no compute-bound sizes"
        headline.append(f"- d²×d² solve (`{SOLVE_STAGE}`, {res.backend}) against d ({fitted}): exponent {_fit_text(res)}; "
                        f"{'approaches' if ok else 'does not approach'} 6 (= 2ω, ω = 3): {why}.")
    return lines + (["Headline:", ""] + headline + [""] if headline else [])


def _regime_text(res: ScalingResult) -> str:
    if not res.regime:
        return "all compute-bound sizes (no cost model)"
    return f"{' + '.join(res.regime)} ≥ {REGIME_SHARE:.0%}"


def _runs_text(runs: list[tuple[int, int]], axis: str) -> str:
    if not runs:
        return "nowhere"
    return ", ".join(f"{axis} = {a}" if a == b else f"{axis} = {a}…{b}" for a, b in runs)


def cost_model_section(result: Analysis) -> list[str]:
    """Each stage's cost model: terms, shares of the time, goodness of fit, and where the claim's terms rule."""
    lines = ["## Cost model: where the time goes", ""]
    if not result.models:
        return lines + ["No stage was measured at enough (n, d) to separate its cost terms (three distinct values "
                        "along each axis a term varies with, and two more sizes than terms).", ""]
    lines += ["Each stage's median time over all its measured (n, d) is fitted as a non-negative sum of its own "
              "terms, time = Σ c_k·term_k (non-negative least squares on relative errors, "
              "`scipy.optimize.nnls`). Terms the claim names: n²d (T_mat(n,n,d)), nd² (T_mat(n,d,d)), d⁶ "
              "(d^{2ω}); not named: the n² elementwise work, d³, d⁴, the Hessian assembly's n²d² (S·K) and n·d⁴ "
              "(Kronecker sum), and a fixed cost per call. Shares are of the modelled time at the measured sizes. "
              f"A model with an rms relative error above {MAX_MODEL_ERROR:.0%} does not describe its timings: it "
              "selects no sizes for the exponent fits and is left out of the table below.", ""]
    rows = []
    for m in result.models:
        shares = list(zip(*m.shares))
        for name, coef, share in zip(m.terms, m.coefficients, shares):
            peak = max(range(len(share)), key=lambda i: share[i])
            rows.append([f"`{m.stage}`", m.backend, name, "yes" if TERMS[name].named else "no", f"{coef:.3g}",
                         f"{min(share):.0%}–{max(share):.0%}", f"n={m.sizes[peak][0]}, d={m.sizes[peak][1]}",
                         f"{m.rms_error:.0%} / {m.max_error:.0%}"])
    lines += [table(["stage", "backend", "term", "named by the claim", "coefficient (s)", "share of the time",
                      "largest at", "model error: rms / max"], rows), ""]
    rows = []
    for c in result.coverage:
        other = "d" if c.axis == "n" else "n"
        cross = "–" if c.crossover is None else f"{c.axis} ≈ {c.crossover:.3g}"
        rows.append([f"`{c.stage}`", c.backend, f"{c.axis} ({other}={c.fixed})",
                     f"{min(c.named):.0%}–{max(c.named):.0%}", _runs_text(c.covered, c.axis), cross])
    lines += [f"Where the claim's named terms account for at least {NAMED_SHARE:.0%} of the time, along each sweep:",
              "", table(["stage", "backend", "sweep", "named terms' share", f"named ≥ {NAMED_SHARE:.0%} at",
                          "named share crosses 50 % at"], rows), ""]
    return lines


def noise_lines(noise: analysis.Noise | None, scaling: list[ScalingResult] | None = None) -> list[str]:
    """How noisy the timings were: the spread of repeated calls relative to their median, and the disturbed points."""
    if noise is None:
        lines = ["Timing noise: no point was timed more than once, so the spread of repeated calls is unknown."]
    else:
        text = (f"Timing noise: the interquartile range of repeated calls is {noise.typical:.0%} of the median at a "
                f"typical point (worst {noise.worst:.0%}).")
        if noise.typical > NOISE_WARNING:
            text += (f" Above {NOISE_WARNING:.0%}: the machine was probably busy with other work while this ran, "
                     "and the exponents above are not trustworthy; rerun on an otherwise idle machine "
                     "(or with `--threads 1` on a shared one).")
        lines = [text]
    lost = {(r.stage, r.backend, r.axis, r.fixed, size): why for r in scaling or [] for size, why in r.excluded
            if why.startswith("disturbed")}
    if lost:
        lines.append(f"Disturbed: {len(lost)} point(s) of the fitted sweeps did not get a whole core (measured) or lie "
                     "far above what their neighbours allow (a scheduler stall); they are left out of every fit and "
                     "listed under \"Sizes left out\".")
    return [" ".join(lines), ""]


def chosen_sizes(data: Measurements, result: Analysis) -> list[str]:
    """Why the grid's sweeps sit where they do (grids that record their reasons), and each size's
    share of the claimed term by this run's own cost models."""
    reasons = dict((data.get("grid") or {}).get("reasons") or [])
    if not reasons:
        return []
    lines = ["## Sizes chosen", "", f"The `{data['grid'].get('name')}` grid places each sweep where the cost models "
             "of the quick report give the claim's term at least 75 % of the time:", ""]
    lines += [f"- `{sweep}`: {why}." for sweep, why in reasons.items()]
    rows = []
    for r in result.scaling:
        model = next((m for m in result.models if (m.stage, m.backend) == (r.stage, r.backend) and m.usable), None)
        if r.sweep not in reasons or model is None or not r.regime:
            continue
        shares = [(p[r.axis], sum(model.share(p["n"], p["d"])[t] for t in r.regime)) for p in r.points
                  if p["status"] == "ok"]
        rows.append([f"`{r.stage}`", r.backend, _sweep_text(r), " + ".join(r.regime),
                     ", ".join(f"{size} ({share:.0%})" for size, share in shares)])
    if rows:
        lines += ["", "By this run's own cost models, the claimed term's share of the time at each measured size:", "",
                  table(["stage", "backend", "sweep", "claimed term", "size (share)"], rows)]
    return lines + [""]


def excluded_section(scaling: list[ScalingResult]) -> list[str]:
    """Which sizes were left out of the fits and why (overhead-bound, skipped or failed)."""
    lines = ["## Sizes left out", ""]
    rows = [[f"`{r.stage}`", r.backend, _sweep_text(r), size, why] for r in scaling for size, why in r.excluded]
    lines += [table(["stage", "backend", "sweep", "size", "why"], rows) if rows else "None.", ""]
    return lines


def peak_section(result: Analysis) -> list[str]:
    """The measured matrix-product rate and each stage's best fraction of it."""
    lines = ["## Fraction of the hardware limit", ""]
    if not result.gemm:
        return lines + ["No matrix-product rate was measured in this record.", ""]
    lines += [f"- `{b}`: square matrix product at {rate / 1e9:.1f} GFLOP/s"
              + (f", `exp` at {1e9 / result.exp[b]:.2f} ns per entry" if b in result.exp else "")
              + " (measured in this run)." for b, rate in result.gemm.items()]
    lines += [f"- `{b}`: the forward pass's cost model prices its n² elementwise work at {ratio:.2f}× the measured "
              "`exp` per entry." for b, ratio in result.exp_pricing]
    rows = [[f"`{best.stage}`", best.backend, f"{best.fraction:.1%}", f"n={best.n}, d={best.d}",
             f"{best.flops_per_s / 1e9:.1f}", _roofline_text(best.roofline)] for best in result.best_fractions]
    lines += ["", table(["stage", "backend", "best fraction of GEMM rate", "at", "GFLOP/s",
                         "best fraction of the roofline (at)"], rows) if rows else
              "No stage with a flop count was measured.", "",
              "Flop counts are classical (docs/maths.md §7); stages without one (solver iterations) are left out. "
              "The roofline limit of a call is its flops at the measured matrix-product rate plus its n×n "
              "exponentials (one per entry) at the measured `exp` rate; the fraction is limit / fastest call.", "",
              "![fraction of peak](fraction_of_peak.png)", ""]
    if result.roofline:
        lines += ["![time against the roofline limit](roofline.png)", ""]
    return lines


def _roofline_text(point: Any) -> str:
    """A best roofline point as "fraction (n=…, d=…)", or a dash where the run has no exp rate."""
    return "–" if point is None else f"{point.fraction:.0%} (n={point.n}, d={point.d})"


def backends_section(comparison: BackendComparison | None) -> list[str]:
    """Backends side by side, where more than one ran: the sentences, every ratio with its spread, the figure."""
    if comparison is None:
        return []
    others = comparison.backends
    reference = comparison.reference
    rows = {}
    for r in comparison.ratios:
        row = rows.setdefault((r.stage, r.n, r.d), {"reference": r.reference_time})
        row[r.backend] = (f"{r.time * 1e3:.3g} ms, {r.ratio:.2f}× (medians {r.median_ratio:.2f}× [{r.low:.2f}, "
                          f"{r.high:.2f}])" + (" *" if r.disturbed else ""))
    body = [[f"`{stage}`", n, d, f"{row['reference'] * 1e3:.3g} ms", *(row.get(b, "–") for b in others)]
            for (stage, n, d), row in rows.items()]
    return ["## Backends side by side", "", *comparison.sentences(), "",
            f"Fastest call of each stage at every size both backends measured (the time the fits read), and its ratio to "
            f"{reference}'s (below 1: faster than {reference}); then the ratio of the medians, in brackets the lowest "
            "and highest ratio the two interquartile ranges allow; * marks a point either backend measured "
            "disturbed. Each backend ran with its library's own threads (listed under \"Where these numbers come "
            "from\").", "",
            table(["stage", "n", "d", reference, *(f"{b}: time, ratio (medians [spread])" for b in others)], body), "",
            "![backends side by side](backends.png)", ""]


def sparsification_section(data: Measurements, result: Analysis, out_dir: Path) -> list[str]:
    """The attention-sparsification section (:mod:`solvers.harness.render.sparsify_report`), or why it is missing."""
    entry = data.get("sparsification")
    if not entry:
        return []
    if entry.get("status") == "ok" and result.sparsification is not None:
        try:
            from . import sparsify_report

            return [sparsify_report.render(entry["data"], result.sparsification, out_dir).rstrip(), ""]
        except Exception as exc:  # noqa: BLE001 - the rest of the report still builds
            reason = f"{type(exc).__name__}: {exc}"
    else:
        reason = entry.get("reason", entry.get("status", "unknown"))
    return ["## Attention sparsification", "", f"Not available in this run: {reason}.", ""]


CSV_COLUMNS = ("stage", "backend", "n", "d", "sweeps", "status", "median_s", "q25_s", "q75_s", "min_s", "repeats", "flops",
               "gflops_per_s", "fraction_of_gemm", "reason")


def timings_csv(records: list[dict[str, Any]], rates: dict[str, float]) -> str:
    """The stage timings as CSV, one row per point."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        ok = r["status"] == "ok"
        fraction = fraction_of_peak(r, rates.get(r["backend"]))
        reason = r.get("reason", "") or (f"disturbed: {r.get('disturbance', '')}" if r.get("disturbed") else "")
        writer.writerow([r["stage"], r["backend"], r["n"], r["d"], " ".join(r.get("sweeps", [])), r["status"],
                         r.get("median") if ok else "", r.get("q25", "") if ok else "", r.get("q75", "") if ok else "",
                         r.get("min", "") if ok else "",
                         r.get("repeats", "") if ok else "", r.get("flops") or "",
                         f"{r['flops'] / r['median'] / 1e9:.4g}" if ok and r.get("flops") else "",
                         f"{fraction:.4g}" if fraction is not None else "", reason])
    return out.getvalue()


def build_report(data: Measurements | dict[str, Any], out_dir: Path, min_fit_time: float = analysis.MIN_FIT_TIME,
                 rule: Rule | None = None) -> Path:
    """Write ``report.md``, the figures, ``analysis.json`` and ``stage_timings.csv`` into ``out_dir``.

    ``data`` is a measurements record of any schema; ``min_fit_time`` (seconds): sizes faster
    than this are overhead-bound and left out of the fits; ``rule``: the verdict rule
    (default: the one recorded in ``data``, else the defaults).
    """
    data = load_measurements(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = data["points"]
    runs = data["convergence"]
    result = analysis.analyse(data, min_fit_time, rule)
    if result.scaling:
        figures.plot_scaling(result.scaling, out_dir / "scaling.png", min_fit_time)
        figures.plot_fraction(result.scaling, out_dir / "fraction_of_peak.png")
        if result.roofline:
            figures.plot_roofline(result.roofline, out_dir / "roofline.png")
    if runs:
        figures.plot_convergence(runs, out_dir / "convergence.png", results=result.convergence)
    if result.backends:
        figures.plot_backends(result.backends, out_dir / "backends.png")
    machine = data.get("machine") or "an unnamed machine"  # every file attnreg writes names one
    source = ("stored asv results" if data.get("source") == "asv" else "`attnreg reproduce`")
    lines = [f"# Reproducing the runtime claim on `{machine}`", "",
             "Claim (Gao, Song, Wang, Yin, UAI 2025): one softmax-attention layer trains to loss ε in "
             "Õ((T_mat(n,n,d) + T_mat(n,d,d) + d^{2ω}) log(1/ε)). This report checks, on this machine, the "
             "exponents of each stage's time against n and d, the iterations hidden in log(1/ε), and how far "
             f"each stage runs from the backend's matrix-product rate. Built from {source}.", ""]
    lines += verdict_section(result)
    lines += noise_lines(result.noise, result.scaling)
    lines += chosen_sizes(data, result)
    lines += cost_model_section(result)
    lines += ["## Time against size", "", "Medians with interquartile bars; thick lines are the fits over the "
              "sizes used; the dotted line is the compute-bound threshold.", "", "![scaling](scaling.png)", ""]
    lines += convergence_section(runs, result)
    lines += study_section(result)
    lines += peak_section(result)
    lines += backends_section(result.backends)
    lines += sparsification_section(data, result, out_dir)
    lines += race_section(out_dir)
    lines += excluded_section(result.scaling)
    lines += ["## Where these numbers come from", ""] + environment_lines(data) + [""]
    write_json(out_dir / "analysis.json", result.to_dict())
    write_atomic(out_dir / "stage_timings.csv", timings_csv(records, result.gemm))
    report = out_dir / "report.md"
    write_atomic(report, "\n".join(lines).rstrip() + "\n")
    return report

"""The benchmark matrix as a report: the performance-profile figure, the tables, and ``report.md``.

Everything here reads a matrix file alone (:func:`write_matrix_report`), so measuring
(``attnreg compare --matrix --json F``) and reporting (``attnreg compare --report F --out DIR``)
are separate steps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..analyse.profile import TAU_MAX, MatrixAnalysis, analyse_matrix, rho
from ..records import RaceEntry, RaceFile, load_race, write_atomic
from .figures import _figure, _save, _styles
from .markdown import brief, table
from .provenance import commit_label

#: τ at which the profile table reads the curves.
TABLE_TAUS = (1.0, 2.0, 5.0, 10.0, 100.0)


def plot_profile(analysis: MatrixAnalysis, path: Path) -> None:
    """ρ_s(τ) against τ from 1 to 100 on a log axis, one step curve per method (the default bold and black,
    the peers dashed), written atomically as a PNG."""
    fig, (ax,) = _figure(1, width=8.0, height=5.6)
    colours = _styles(analysis.methods)
    order = sorted(analysis.methods, key=lambda m: -analysis.share(m, "solved"))
    for method in order:
        ratios = sorted(r[method] for r in analysis.ratios.values())
        taus = [1.0] + [r for r in ratios if r <= TAU_MAX] + [TAU_MAX]
        values = [rho(ratios, tau) for tau in taus]
        is_default = method == analysis.default
        label = f"{method} (default)" if is_default else method if analysis.project.get(method) else f"{method} (peer)"
        ax.step(taus, values, where="post", label=label, color="black" if is_default else colours[method],
                linewidth=3.0 if is_default else 1.4, linestyle="-" if analysis.project.get(method) else "--",
                zorder=3 if is_default else 2)
    ax.set_xscale("log")
    ax.set_xlim(1.0, TAU_MAX)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("τ (time over the fastest method's time on the case)")
    ax.set_ylabel("fraction of cases solved within τ × the fastest")
    ax.set_title(f"Performance profile (Dolan & Moré): the {len(analysis.ratios)} of {analysis.cases} cases "
                 "some method solved")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    _save(fig, path)


def profile_table(analysis: MatrixAnalysis) -> str:
    """Per method: ρ(τ) at :data:`TABLE_TAUS` (ρ(1) = share fastest, ρ(100) ≈ share solved), the default first."""
    rows = []
    for method in _ordered(analysis):
        ratios = [r[method] for r in analysis.ratios.values()]
        name = f"**{method}** (default)" if method == analysis.default else (
            method if analysis.project.get(method) else f"{method} (peer)")
        rows.append([name, *(f"{rho(ratios, tau):.2f}" for tau in TABLE_TAUS)])
    return table(["method", *(f"ρ({tau:g})" for tau in TABLE_TAUS)], rows)


def kinds_table(analysis: MatrixAnalysis) -> str:
    """Per method: success rate per problem kind, and over all cases: fastest and within 2× of the fastest."""
    kinds = [row.kind for row in analysis.rows[analysis.methods[0]]][:-1]
    rows = []
    for method in _ordered(analysis):
        per_kind = analysis.rows[method]
        solved = [f"{row.solved}/{row.cases}" for row in per_kind[:-1]]
        total = per_kind[-1]
        name = f"**{method}**" if method == analysis.default else method
        rows.append([name, *solved, f"{total.solved}/{total.cases}",
                     f"{total.fastest}/{total.solvable}", f"{total.within2}/{total.solvable}"])
    return table(["method", *(f"solved: {kind}" for kind in kinds), "solved: all", "fastest", "within 2×"], rows)


def verdict_lines(analysis: MatrixAnalysis) -> list[str]:
    """The default method against the issue's bar: share solved (of what any method solves), fastest, within 2×,
    and the cases where it fails while a peer succeeds."""
    default = analysis.default
    if default not in analysis.rows:
        return [f"The default method `{default}` is not in this file."]
    solved, fastest, within2 = (analysis.share(default, what) for what in ("solved", "fastest", "within2"))
    lines = [f"Over {analysis.cases} cases ({len(analysis.ratios)} solved by some method, {len(analysis.unsolved)} "
             f"by none), the default `{default}` solves {solved:.0%} of the cases any method solves (bar: 95 %), is "
             f"the fastest on {fastest:.0%} (bar: 60 %) and within 2× of the fastest on {within2:.0%} (bar: 90 %)."]
    best_peer = max((m for m in analysis.methods if not analysis.project.get(m)),
                    key=lambda m: (analysis.share(m, "solved"), analysis.share(m, "within2")), default=None)
    if best_peer is not None:
        lines.append(f"The strongest peer is `{best_peer}`: it solves {analysis.share(best_peer, 'solved'):.0%}, is "
                     f"the fastest on {analysis.share(best_peer, 'fastest'):.0%} and within 2× on "
                     f"{analysis.share(best_peer, 'within2'):.0%}.")
    fails = analysis.default_fails_peer_solves
    lines.append("No case where the default fails and a peer reaches the target." if not fails else
                 f"Cases where the default fails and a peer reaches the target ({len(fails)}): "
                 + ", ".join(f"`{case}`" for case in fails[:20]) + (" …" if len(fails) > 20 else "") + ".")
    return lines


def failures_table(entries: Sequence[RaceEntry], default: str) -> str:
    """How each method ended where it did not reach the target: counts of each status (skipped ones with the reason)."""
    counts: dict[str, Counter[str]] = {}
    reasons: dict[str, str] = {}
    for entry in entries:
        if entry.get("wall") is not None:
            continue
        counts.setdefault(entry["method"], Counter())[entry["status"]] += 1
        if entry["status"] in ("skipped", "error"):
            reasons.setdefault(entry["method"], brief(entry.get("message", ""), 110))
    rows = [[f"**{m}**" if m == default else m, ", ".join(f"{s} {k}" for s, k in c.most_common()),
             reasons.get(m, "")] for m, c in counts.items()]
    return table(["method", "endings where the target was not reached", "reason (first skip or error)"], rows)


def matrix_markdown(race: RaceFile, figure: str | None = "profile.png") -> list[str]:
    """The matrix section: verdict, figure, profile table, success per kind, endings (Markdown lines)."""
    entries = race["race"]
    settings = race.get("settings") or {}
    default = settings.get("default") or entries[0]["method"]
    analysis = analyse_matrix(entries, default)
    commits = ", ".join(dict.fromkeys(commit_label(e.get("provenance") or {}) for e in entries)) or "no commit"
    lines = ["## The benchmark matrix: performance profile", "",
             f"Every method on every case (problem kind × start × size × seed), wall time to the case's target: "
             f"L ≤ 1e-10 where min L = 0 (planted), else ‖∇L‖/‖∇L(start)‖ ≤ 1e-8; measured at {commits} by "
             f"`attnreg compare --matrix`. A method's solver-time cap on a case is min({settings.get('max_time', 2):g} s "
             f"× √(n²d / (128²·16)), {settings.get('budget_factor', 100):g}× the best time so far there), so the "
             f"profile is exact up to τ = {settings.get('budget_factor', 100):g} where the absolute cap does not bind.",
             ""]
    lines += verdict_lines(analysis) + [""]
    if figure:
        lines += [f"![performance profile]({figure})", ""]
    lines += ["ρ(τ): the fraction of the cases some method solved that the method solved within τ × the fastest "
              "time (ρ(1): fastest):", "", profile_table(analysis), "",
              "Cases solved per problem kind, and over the cases some method solved: fastest, within 2×:", "",
              kinds_table(analysis), "", "Where the target was not reached:", "", failures_table(entries, default), ""]
    return lines


def write_matrix_report(source: Path | RaceFile, out_dir: Path) -> Path:
    """``out_dir/report.md`` and ``out_dir/profile.png`` from a matrix file alone; returns the report's path."""
    race = load_race(source) if isinstance(source, (str, Path)) else source
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not race["race"]:
        raise ValueError("the matrix file holds no measured case yet")
    settings = race.get("settings") or {}
    default = settings.get("default") or race["race"][0]["method"]
    plot_profile(analyse_matrix(race["race"], default), out_dir / "profile.png")
    lines = ["# The benchmark matrix", "", *matrix_markdown(race)]
    path = out_dir / "report.md"
    write_atomic(path, "\n".join(lines))
    return path


def _ordered(analysis: MatrixAnalysis) -> list[str]:
    """The default first, then by share solved and share within 2×."""
    rest = sorted((m for m in analysis.methods if m != analysis.default),
                  key=lambda m: (-analysis.share(m, "solved"), -analysis.share(m, "within2")))
    return ([analysis.default] if analysis.default in analysis.methods else []) + rest

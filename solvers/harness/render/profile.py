"""The benchmark matrix as a report: the performance-profile figure, the tables, and ``report.md``.

Everything here reads a matrix file alone (:func:`write_matrix_report`), so measuring
(``attnreg compare --matrix --json F``) and reporting (``attnreg compare --report F --out DIR``)
are separate steps. A race file (``attnreg compare --race``: its entries name no case) is refused,
a share of no cases is "n/a", and a setting the file does not record is said to be not recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from statistics import median
from typing import Any

from ..analyse.agreement import agreement
from ..analyse.profile import TAU_MAX, MatrixAnalysis, analyse_matrix, rho
from ..records import RaceEntry, RaceFile, load_race, write_atomic
from .figures import _figure, _save, _styles
from .markdown import brief, fmt_share, table
from .provenance import commit_label

#: τ at which the profile table reads the curves.
TABLE_TAUS = (1.0, 2.0, 5.0, 10.0, 100.0)
#: The fields that name an entry's case (:mod:`solvers.harness.records.cases`): every matrix entry has them,
#: no race entry does.
CASE_FIELDS = ("case", "kind", "start", "target")


def require_matrix(race: RaceFile) -> None:
    """Refuse what is not a measured benchmark matrix: no entries, or entries that name no case.

    Raises
    ------
    ValueError
        ``race`` holds no entry, or an entry lacks one of :data:`CASE_FIELDS` (a race file).
    """
    entries = race["race"]
    if not entries:
        raise ValueError("the matrix file holds no measured case yet")
    caseless = sum(any(name not in entry for name in CASE_FIELDS) for entry in entries)
    if caseless:
        raise ValueError(f"not a benchmark-matrix file: {caseless} of {len(entries)} entries name no case "
                         f"({', '.join(CASE_FIELDS)}), as the entries of a race (`attnreg compare --race`) do; "
                         "the matrix report reads a file written by `attnreg compare --matrix --json FILE`")


def recorded_settings(race: RaceFile) -> dict[str, Any]:
    """The matrix's settings as the file records them: its ``settings``, else the options every entry's
    provenance records alike (the run's own); ``{}`` where it records neither."""
    if race.get("settings"):
        return race["settings"]
    options = [(entry.get("provenance") or {}).get("options") for entry in race["race"]]
    return options[0] if options and options[0] and all(o == options[0] for o in options) else {}


def default_method(race: RaceFile) -> str:
    """The matrix's default method: the one its settings record, else the method it ran first."""
    return recorded_settings(race).get("default") or race["race"][0]["method"]


def matrix_analysis(race: RaceFile) -> MatrixAnalysis:
    """The profile of ``race``'s entries, with its :func:`default_method`."""
    return analyse_matrix(race["race"], default_method(race))


def caps_sentence(settings: dict[str, Any]) -> str:
    """The solver-time caps the matrix ran under, as far as ``settings`` records them (never a default)."""
    max_time, factor = settings.get("max_time"), settings.get("budget_factor")
    absolute = ("an absolute cap (not recorded in this file)" if max_time is None
                else f"{max_time:g} s × max(1, √(n²d / (128²·16)))")
    relative = ("a multiple of the best time so far there (not recorded in this file)" if factor is None
                else f"{factor:g}× the best time so far there")
    exact = ("so up to which τ the profile is exact is not recorded" if factor is None
             else f"so the profile is exact up to τ = {factor:g} where the absolute cap does not bind")
    return f"A method's solver-time cap on a case is min({absolute}, {relative}), {exact}."


def _rank(analysis: MatrixAnalysis, method: str) -> tuple[float, float]:
    """Sort key of a method: its share solved, then within 2× (where no case was solved every share is
    undefined, and the methods rank alike)."""
    return (analysis.share(method, "solved") or 0.0, analysis.share(method, "within2") or 0.0)


def plot_profile(analysis: MatrixAnalysis, path: Path) -> None:
    """ρ_s(τ) against τ from 1 to 100 on a log axis, one step curve per method (the default bold and black,
    the peers dashed), written atomically as a PNG."""
    fig, (ax,) = _figure(1, width=8.0, height=5.6)
    colours = _styles(analysis.methods)
    order = sorted(analysis.methods, key=lambda m: -_rank(analysis, m)[0])
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
    """Per method: ρ(τ) at :data:`TABLE_TAUS` (ρ(1) = share fastest, ρ(100) ≈ share solved), the default first;
    "n/a" where no case was solved by any method."""
    rows = []
    for method in _ordered(analysis):
        ratios = [r[method] for r in analysis.ratios.values()]
        name = f"**{method}** (default)" if method == analysis.default else (
            method if analysis.project.get(method) else f"{method} (peer)")
        rows.append([name, *(f"{rho(ratios, tau):.2f}" if ratios else "n/a" for tau in TABLE_TAUS)])
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
    """The default method against the issue's bar: share solved (of what any method solves), fastest, within 2×
    ("n/a" where no method solved any case), the strongest peer, and the cases where the default fails while a
    peer succeeds."""
    default = analysis.default
    if default not in analysis.rows:
        return [f"The default method `{default}` is not in this file."]
    solved, fastest, within2 = (fmt_share(analysis.share(default, what)) for what in ("solved", "fastest", "within2"))
    cases = (f"Over {analysis.cases} cases ({len(analysis.ratios)} solved by some method, {len(analysis.unsolved)} "
             "by none)" if analysis.ratios else
             f"Over {analysis.cases} cases, none solved by any method (so every share of them is undefined)")
    lines = [f"{cases}, the default `{default}` solves {solved} of the cases any method solves (bar: 95 %), is "
             f"the fastest on {fastest} (bar: 60 %) and within 2× of the fastest on {within2} (bar: 90 %)."]
    best_peer = max((m for m in analysis.methods if not analysis.project.get(m)), key=lambda m: _rank(analysis, m),
                    default=None)
    if best_peer is not None and analysis.ratios:
        lines.append(f"The strongest peer is `{best_peer}`: it solves {fmt_share(analysis.share(best_peer, 'solved'))}, "
                     f"is the fastest on {fmt_share(analysis.share(best_peer, 'fastest'))} and within 2× on "
                     f"{fmt_share(analysis.share(best_peer, 'within2'))}.")
    fails = analysis.default_fails_peer_solves
    lines.append("No case where the default fails and a peer reaches the target." if not fails else
                 f"Cases where the default fails and a peer reaches the target ({len(fails)}): "
                 + ", ".join(f"`{case}`" for case in fails[:20]) + (" …" if len(fails) > 20 else "") + ". "
                 f"Rerun one with `attnreg compare --case {fails[0]} --plot case.png` (every method, its curves) or "
                 f"`attnreg solve --case {fails[0]} --method {default}`.")
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
    analysis = matrix_analysis(race)
    commits = _commits(entries)
    lines = ["## The benchmark matrix: performance profile", "",
             f"Every method on every case (problem kind × start × size × seed), wall time to the case's target: "
             f"L ≤ 1e-10 where min L = 0 (planted), else ‖∇L‖/‖∇L(start)‖ ≤ 1e-8; measured at {commits} by "
             f"`attnreg compare --matrix`. {caps_sentence(recorded_settings(race))}", ""]
    lines += verdict_lines(analysis) + [""]
    if figure:
        lines += [f"![performance profile]({figure})", ""]
    lines += ["ρ(τ): the fraction of the cases some method solved that the method solved within τ × the fastest "
              "time (ρ(1): fastest):", "", profile_table(analysis), "",
              "Cases solved per problem kind, and over the cases some method solved: fastest, within 2×:", "",
              kinds_table(analysis), "", "Where the target was not reached:", "", failures_table(entries, analysis.default),
              ""]
    return lines


def _commits(entries: Sequence[RaceEntry]) -> str:
    """The commits the entries were measured at, as the report names them."""
    return ", ".join(dict.fromkeys(commit_label(e.get("provenance") or {}) for e in entries)) or "no commit"


def agreement_markdown(race: RaceFile, other: RaceFile, other_name: str) -> list[str]:
    """The section that sets this matrix run beside ``other``, another run of its cases (Markdown lines,
    :func:`solvers.harness.analyse.agreement.agreement`)."""
    runs = agreement(race["race"], other["race"], default_method(race))
    default = runs.first.default
    lines = ["## Run to run", "",
             f"The {len(runs.cases)} cases both runs measured: this file (measured at {_commits(race['race'])}) and "
             f"`{other_name}` (at {_commits(other['race'])}), each method within its cap in each. A case solved near "
             "its cap, or from a start near the edge of a basin, may be solved in one run only.", ""]
    if default in runs.first.rows:
        rows = []
        for what, label in (("solved", "solved (of the cases some method solved)"), ("fastest", "fastest"),
                            ("within2", "within 2× of the fastest")):
            rows.append([label, *(f"{getattr(a.rows[default][-1], what)}/{a.rows[default][-1].solvable} "
                                  f"({fmt_share(a.share(default, what))})" for a in (runs.first, runs.second))])
        rows.append(["cases where it fails and a peer reaches the target",
                     *(", ".join(f"`{case}`" for case in a.default_fails_peer_solves) or "none"
                       for a in (runs.first, runs.second))])
        lines += [table([f"the default `{default}`", "this run", other_name], rows), ""]
    rows = []
    order = {method: k for k, method in enumerate(_ordered(runs.first))}
    for method in sorted(runs.methods, key=lambda m: order.get(m.method, len(order))):
        spread = (f"{median(method.ratios):.2f} [{method.ratios[0]:.2f}, {method.ratios[-1]:.2f}]"
                  if method.ratios else "n/a")
        rows.append([f"**{method.method}**" if method.method == default else method.method,
                     f"{method.solved[0]} / {method.solved[1]}", len(method.ratios),
                     _cases(method.only_first), _cases(method.only_second), spread])
    lines += ["Each method: cases solved in each run, in both, in one only, and its time in the other run over "
              "its time in this one where it solved a case in both (median [min, max]):", "",
              table(["method", "solved: this / other", "both", "this run only", "other run only",
                     "time other / this"], rows), ""]
    return lines


def _cases(cases: Sequence[str], most: int = 4) -> str:
    """A count of cases, naming the first ``most``."""
    if not cases:
        return "0"
    named = ", ".join(f"`{case}`" for case in cases[:most])
    return f"{len(cases)}: {named}" + (" …" if len(cases) > most else "")


def read_matrix(source: Path | RaceFile) -> RaceFile:
    """A measured matrix, from its file or as already read (:func:`require_matrix`)."""
    race = load_race(source) if isinstance(source, (str, Path)) else source
    require_matrix(race)
    return race


def write_matrix_report(source: Path | RaceFile, out_dir: Path, against: Path | RaceFile | None = None,
                        against_name: str | None = None) -> Path:
    """``out_dir/report.md`` and ``out_dir/profile.png`` from a matrix file alone; returns the report's path.

    No figure where no method solved any case (there is no profile to draw). ``against``: another run of the
    same cases, set beside this one in a last section (:func:`agreement_markdown`) under ``against_name``
    (default: its path, or "the other run" where it is given as read).

    Raises
    ------
    ValueError
        ``source`` or ``against`` is not a race file, or not a measured matrix (:func:`require_matrix`), or the
        two share no case or no method.
    """
    race = read_matrix(source)
    other = None if against is None else read_matrix(against)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = matrix_analysis(race)
    lines = ["# The benchmark matrix", "", *matrix_markdown(race, "profile.png" if analysis.ratios else None)]
    if other is not None:
        name = against_name or (str(against) if isinstance(against, (str, Path)) else "the other run")
        lines += agreement_markdown(race, other, name)
    if analysis.ratios:
        plot_profile(analysis, out_dir / "profile.png")
    path = out_dir / "report.md"
    write_atomic(path, "\n".join(lines))
    return path


def _ordered(analysis: MatrixAnalysis) -> list[str]:
    """The default first, then by share solved and share within 2×."""
    rest = sorted((m for m in analysis.methods if m != analysis.default), key=lambda m: _rank(analysis, m),
                  reverse=True)
    return ([analysis.default] if analysis.default in analysis.methods else []) + rest

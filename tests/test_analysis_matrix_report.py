"""The matrix report (``attnreg compare --report F --out DIR``) says only what the file records: a race
file is refused, a share of no cases is n/a, and a cap the file does not record is not invented."""

from __future__ import annotations

from pathlib import Path

import pytest

from solvers.cli import main
from solvers.harness.analyse.profile import analyse_matrix
from solvers.harness.records import RaceEntry, load_race, write_race
from solvers.harness.render.profile import matrix_markdown, verdict_lines, write_matrix_report
from solvers.harness.render.race import race_section

RACE_DIR = Path(__file__).resolve().parents[1] / "reports" / "vm" / "race"


def _entry(method: str, seed: int, wall: float | None, **extra) -> RaceEntry:
    """One method on the planted case ``seed`` of a small matrix."""
    return RaceEntry(method=method, project=method != "peer", n=8, d=2, seed=seed, wall=wall,
                     solver_time=wall or 1.0, iterations=1, loss=0.0, status="converged" if wall else "timeout",
                     message="", case=f"planted/zero/8x2/{seed}", kind="planted", start="zero", target="loss",
                     target_value=1e-10, **extra)


SOLVED = [_entry("a", 0, 1.0), _entry("peer", 0, 3.0), _entry("a", 1, None), _entry("peer", 1, 2.0)]
UNSOLVED = [_entry(method, seed, None) for seed in (0, 1) for method in ("a", "peer")]


def test_a_race_file_is_refused_and_the_command_says_so(tmp_path, capsys):
    race = RACE_DIR / "race-budget3.json"
    assert not any("case" in entry for entry in load_race(race)["race"])    # a real `attnreg compare --race` file
    with pytest.raises(ValueError, match=r"not a benchmark-matrix file: 90 of 90 entries name no case .*\(`attnreg compare --race`\)"):
        write_matrix_report(race, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main(["compare", "--report", str(race), "--out", str(tmp_path / "out")]) == 2
    assert "not a benchmark-matrix file" in capsys.readouterr().err
    mixed = tmp_path / "mixed.json"
    write_race(mixed, [*SOLVED, {k: v for k, v in SOLVED[0].items() if k != "case"}], {}, {"default": "a"})
    with pytest.raises(ValueError, match="1 of 5 entries name no case"):
        write_matrix_report(mixed, tmp_path / "out")
    (tmp_path / "race").mkdir()
    mixed.rename(tmp_path / "race" / "mixed.json")  # the reproduction report's race section says so too
    assert "`race/mixed.json`: not readable (not a benchmark-matrix file: 1 of 5" in "\n".join(race_section(tmp_path))


def test_with_no_case_solved_every_share_is_n_a_and_no_profile_is_drawn(tmp_path):
    path = tmp_path / "m.json"
    write_race(path, UNSOLVED, {}, {"default": "a", "max_time": 2.0, "budget_factor": 100.0})
    analysis = analyse_matrix(UNSOLVED, "a")
    assert analysis.share("a", "solved") is None and analysis.share("peer", "within2") is None
    first, *rest = verdict_lines(analysis)
    assert "none solved by any method" in first and "solves n/a" in first and "fastest on n/a" in first
    assert "%" not in first.replace("(bar: 95 %)", "").replace("(bar: 60 %)", "").replace("(bar: 90 %)", "")
    assert not any("strongest peer" in line for line in rest)
    text = write_matrix_report(path, tmp_path / "out").read_text()
    assert "| **a** (default) | n/a | n/a | n/a | n/a | n/a |" in text
    assert "![performance profile]" not in text and not (tmp_path / "out" / "profile.png").exists()


def test_shares_of_solved_cases_are_numbers():
    lines = verdict_lines(analyse_matrix(SOLVED, "a"))
    assert lines[0].startswith("Over 2 cases (2 solved by some method, 0 by none), the default `a` solves 50% ")
    assert "is the fastest on 50% (bar: 60 %) and within 2× of the fastest on 50%" in lines[0]
    assert lines[1] == "The strongest peer is `peer`: it solves 100%, is the fastest on 50% and within 2× on 50%."


def test_a_cap_the_file_does_not_record_is_not_invented(tmp_path):
    text = "\n".join(matrix_markdown({"race": SOLVED}, None))
    assert "min(an absolute cap (not recorded in this file), a multiple of the best time so far there (not " \
           "recorded in this file)), so up to which τ the profile is exact is not recorded." in text
    assert "2 s ×" not in text and "τ = 100" not in text
    text = "\n".join(matrix_markdown({"race": SOLVED, "settings": {"default": "a", "max_time": 5.0}}, None))
    assert "min(5 s × max(1, √(n²d / (128²·16))), a multiple of the best time so far there (not recorded" in text
    options = {"default": "a", "max_time": 0.5, "budget_factor": 20.0}
    recorded = [{**entry, "provenance": {"grid": "matrix", "options": options}} for entry in SOLVED]
    text = "\n".join(matrix_markdown({"race": recorded}, None))
    assert "min(0.5 s × max(1, √(n²d / (128²·16))), 20× the best time so far there), so the profile is exact up to τ = 20" in text


def test_the_committed_matrix_reads_as_before():
    text = "\n".join(matrix_markdown(load_race(RACE_DIR / "matrix.json"), None))
    assert "measured at `a8fcb99c25b6` by `attnreg compare --matrix`. A method's solver-time cap on a case is min(2 s × " \
           "max(1, √(n²d / (128²·16))), 100× the best time so far there), so the profile is exact up to τ = 100 where the " \
           "absolute cap does not bind." in text
    assert "the default `varpro` solves 100% of the cases any method solves (bar: 95 %)" in text
    assert "No case where the default fails and a peer reaches the target." in text

"""What a newcomer reads: one-line errors for sizes that cannot fit, a version, a compare table
that fits a 100-column terminal, install hints printed as they are typed."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from solvers import Problem, SolveResult, get_solver
from solvers.cli import SUBCOMMANDS, main
from solvers.cli.compare import results_table


def _one_line_error(capsys, argv: list[str], *needles: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and re.match(r"attnreg \S+", capsys.readouterr().out)


def test_help_describes_the_program_not_its_module(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "softmax-attention" in out and "``" not in out and "configure(parser)" not in out


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_command_prints_its_help(capsys, command):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and f"usage: attnreg {command}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["solve", "--n", "100000000", "--d", "4096"],
                                  ["compare", "--n", "300000000", "--d", "1024", "--kind", "random"]])
def test_sizes_that_cannot_fit_in_memory_are_refused_before_any_allocation(capsys, argv):
    _one_line_error(capsys, argv, "GiB of host memory", "available")


def test_problem_refuses_sizes_beyond_memory_with_the_numbers():
    with pytest.raises(ValueError, match=r"planted\(n=100000000, d=4096\) needs .* GiB"):
        Problem.planted(100_000_000, 4096)


def test_sparsify_names_the_cause_when_d_is_not_above_n(capsys):
    _one_line_error(capsys, ["sparsify", "--n", "16", "--d", "4", "--r", "1000"], "d = 4", "d ≤ n")


def test_sparsify_names_the_m_given_when_it_is_too_small(capsys):
    _one_line_error(capsys, ["sparsify", "--n", "16", "--d", "64", "--m", "8", "--method", "bss"], "--m 8")


def test_the_compare_table_fits_a_100_column_terminal():
    problem = Problem.planted(16, 2, seed=3)
    results = [get_solver(name).solve(problem, problem.start_near_solution(), max_iter=3)
               for name in ("scipy-trust-krylov", "scipy-trust-exact", "varpro")]
    console = Console(width=100, record=True)
    console.print(results_table(results, title=str(problem)))
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 100
    assert "scipy-trust-krylov" in text and "scipy-trust-exact" in text and "…" not in text


def test_compare_prints_install_hints_verbatim(monkeypatch, capsys):
    import numpy as np

    from solvers.cli import compare as cli_compare

    def skipped(problem, methods, X0=None, **options):
        return [SolveResult("skipped", np.zeros((2, 2)), np.zeros((2, 2)), float("nan"), 0, [],
                            message="jax-newton needs an optional library: pip install -e '.[jax]'",
                            solver="jax-newton", backend="numpy")]

    monkeypatch.setattr(cli_compare, "compare", skipped)
    assert main(["compare", "--n", "8", "--d", "2", "--methods", "jax-newton"]) == 0
    assert "pip install -e '.[jax]'" in capsys.readouterr().out


@pytest.mark.parametrize("content, needle", [(None, "nothing to resume"), ("{not json", "JSONDecodeError"),
                                             ("[]", "no 'points'"), ('{"points": [], "schema": 99}', "schema 99")])
def test_resume_refuses_what_it_cannot_continue(tmp_path, capsys, content, needle):
    if content is not None:
        (tmp_path / "measurements.json").write_text(content)
    _one_line_error(capsys, ["reproduce", "--resume", "--out", str(tmp_path), "--no-progress"], needle)
    assert (tmp_path / "measurements.json").exists() == (content is not None)  # nothing written, nothing lost
    if content is not None:
        assert (tmp_path / "measurements.json").read_text() == content


@pytest.mark.parametrize("out, needle", [("/dev/null", "is not a folder"), ("/dev/null/x", "cannot create")])
def test_reproduce_refuses_an_output_it_cannot_write(capsys, out, needle):
    _one_line_error(capsys, ["reproduce", "--out", out, "--no-progress"], needle)


def test_report_on_a_file_that_is_not_json_says_so(tmp_path, capsys):
    (tmp_path / "measurements.json").write_text("{truncated")
    _one_line_error(capsys, ["report", "--out", str(tmp_path)], "cannot read")


def test_piped_progress_lines_say_the_time_left(monkeypatch, capsys):
    from solvers.cli import progress

    clock = iter([0.0, 0.0, 20.0, 40.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with progress.work_progress(100.0) as tick:  # pytest's stderr is not a terminal: plain lines
        tick("stage a", 0.0)
        tick("stage b", 25.0)
        tick("stage c", 25.0)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "[     0 s, ~0%] stage a"
    assert lines[1] == "[    20 s, ~25%, ~60 s left] stage b"
    assert lines[2] == "[    40 s, ~50%, ~40 s left] stage c"


def test_solve_and_compare_say_before_it_starts_when_one_iteration_of_a_dense_method_is_out_of_reach(capsys):
    main(["solve", "--method", "joint-newton", "--n", "96", "--d", "64", "--max-iter", "0"])
    assert "joint-newton at d = 64: one iteration factorises a 8192×8192 matrix" in capsys.readouterr().err
    main(["compare", "--methods", "newton-cg,alternating", "--n", "96", "--d", "64", "--max-iter", "0"])
    err = capsys.readouterr().err
    assert "alternating at d = 64: one iteration factorises a 4096×4096 matrix" in err and "newton-cg at" not in err
    main(["solve", "--method", "joint-newton", "--n", "96", "--d", "32", "--max-iter", "0"])
    assert "factorises" not in capsys.readouterr().err

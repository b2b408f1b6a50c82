"""Results are never lost or mislabelled: the matrix file is not overwritten unasked and a damaged one is
refused in one line, compare's JSON is written before its plot (which draws runs without steps), and
the table marks the methods that moved, not those that stayed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from solvers.cli import build_parser, main
from solvers.cli.compare import results_table
from solvers.harness.measure import matrix
from solvers.harness.records import load_race
from solvers.harness.render.figures import plot_convergence
from solvers.result import SolveResult

MATRIX = ["compare", "--matrix", "--sizes", "24x3", "--seeds", "1", "--kinds", "planted", "--starts", "near-0.5",
          "--methods", "varpro"]


def _usage_error(capsys, argv: list[str], *words: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("attnreg compare: error: ") and all(word in err for word in words), err
    return err


# --- the matrix file --------------------------------------------------------------------------------

def test_a_matrix_file_holding_cases_is_kept_unless_resumed_or_overwritten(tmp_path, capsys):
    path = tmp_path / "m.json"
    assert main([*MATRIX, "--json", str(path)]) == 0
    capsys.readouterr()
    before = path.read_bytes()
    _usage_error(capsys, [*MATRIX, "--json", str(path)], "already holds measurements (1 entries)", "--resume",
                 "--overwrite")
    assert path.read_bytes() == before
    _usage_error(capsys, [*MATRIX, "--json", str(path), "--resume", "--overwrite"], "give one of them")
    assert main([*MATRIX, "--json", str(path), "--overwrite", "--seeds", "2"]) == 0
    assert [entry["seed"] for entry in load_race(path)["race"]] == [2]        # measured afresh: seed 1 is gone


@pytest.mark.parametrize("content", [b"", b'{"schema": 3, "race": [{"method": "varpro"', b"\xff\xfe\x00\x01",
                                     b'{"points": []}', b'{"schema": 99, "race": []}', b'{"race": [1, 2]}'],
                         ids=["empty", "truncated", "binary", "measurements", "newer-schema", "not-entries"])
def test_resume_refuses_a_file_it_cannot_read_in_one_line(tmp_path, capsys, content):
    path = tmp_path / "m.json"
    path.write_bytes(content)
    _usage_error(capsys, [*MATRIX, "--resume", "--json", str(path)], f"--resume: {path}: ", "new --json")
    assert path.read_bytes() == content


def test_a_file_that_is_not_a_matrix_is_not_overwritten_unasked_but_an_empty_one_is(tmp_path, capsys, monkeypatch):
    path = tmp_path / "m.json"
    path.write_text('{"points": []}')
    _usage_error(capsys, [*MATRIX, "--json", str(path)], "--overwrite replaces it")
    started = []
    monkeypatch.setattr(matrix, "run_matrix", lambda cases, file, **options: started.append(file) or ({"race": []}, 0))
    assert main([*MATRIX, "--json", str(path), "--overwrite"]) == 0
    path.write_bytes(b"")
    assert main([*MATRIX, "--json", str(path)]) == 0 and started == [path, path]


def test_overwrite_is_documented_in_the_help():
    text = build_parser()._subparsers._group_actions[0].choices["compare"].format_help()
    assert "--overwrite" in text and "refused" in " ".join(text.split())


# --- compare --json and --plot ----------------------------------------------------------------------

COMPARE = ["compare", "--n", "32", "--d", "4", "--methods", "varpro,lbfgs"]


@pytest.mark.parametrize("option", [["--max-iter", "0"], ["--start-noise", "0"]], ids=["no-step", "at-the-minimum"])
def test_compare_plots_runs_that_took_no_step(tmp_path, option):
    plot, record = tmp_path / "p.png", tmp_path / "p.json"
    assert main([*COMPARE, *option, "--plot", str(plot), "--json", str(record)]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
    results = json.loads(record.read_text())["results"]
    assert [r["solver"] for r in results] == ["varpro", "lbfgs"] and all(len(r["history"]) == 1 for r in results)


def test_the_json_is_written_before_the_plot(tmp_path, monkeypatch):
    record = tmp_path / "p.json"

    def broken(*args, **kwargs):
        raise RuntimeError("the plot failed")

    monkeypatch.setattr("solvers.harness.render.figures.plot_convergence", broken)
    with pytest.raises(RuntimeError, match="the plot failed"):
        main([*COMPARE, "--max-iter", "2", "--plot", str(tmp_path / "p.png"), "--json", str(record)])
    assert [r["iterations"] for r in json.loads(record.read_text())["results"]] == [2, 2]


@pytest.mark.parametrize("losses", [[0.0], [0.0, 0.0], [None, None], [0.5]], ids=["zero", "zeros", "none", "one"])
def test_plot_convergence_draws_what_a_log_axis_can(tmp_path, losses):
    history = [{"iteration": k, "time": 0.01 * k, "loss": loss, "grad_norm": 1.0} for k, loss in enumerate(losses)]
    path = plot_convergence([{"solver": "a", "backend": "numpy", "status": "max_iter", "history": history},
                             {"solver": "b", "backend": "numpy", "status": "error", "history": []}], tmp_path / "p.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


# --- the moved marker -------------------------------------------------------------------------------

def _result(solver: str, backend: str, **info) -> SolveResult:
    return SolveResult("max_iter", np.zeros((2, 2)), np.zeros((2, 2)), 0.1, 3, [], solver=solver, backend=backend,
                       dtype="float64", info=info)


def _text(results: list[SolveResult]) -> str:
    console = Console(width=100, record=True)
    console.print(results_table(results))
    return console.export_text()


def test_the_table_marks_the_method_that_moved_even_when_it_comes_first():
    text = _text([_result("adam", "torch", moved_from="numpy"), _result("varpro", "numpy"), _result("lbfgs", "numpy")])
    assert "adam*" in text and "varpro*" not in text and "lbfgs*" not in text
    assert "* ran on torch (the problem moved there off the clock)" in text
    assert "*" not in _text([_result("lbfgs", "numpy"), _result("varpro", "numpy")])


def test_compare_marks_the_peer_that_moved_to_torch(capsys):
    pytest.importorskip("torch")
    assert main(["compare", "--n", "32", "--d", "4", "--max-iter", "2", "--methods", "adam,varpro,lbfgs"]) == 0
    out = capsys.readouterr().out
    assert "adam*" in out and "varpro*" not in out and "lbfgs*" not in out and "ran on torch" in out

"""The console script, run in-process."""

from __future__ import annotations

import json

import pytest

from solvers.cli import main


def test_env_json(capsys):
    assert main(["env", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    for key in ("python", "cpu", "versions", "blas", "git", "backend"):
        assert key in record
    assert record["backend"]["dtype"] == "float64"
    assert record["versions"]["numpy"]


def test_env_text(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "numpy:" in out and "blas:" in out and "commit:" in out


def test_solve_prints_a_summary(capsys):
    code = main(["solve", "--method", "alternating", "--n", "24", "--d", "3", "--max-iter", "5", "--eps", "1e-30"])
    out = capsys.readouterr().out
    assert code == 0
    assert "alternating" in out and "max_iter" in out and "5 iterations" in out


def test_solve_rejects_unknown_method(capsys):
    with pytest.raises(SystemExit):
        main(["solve", "--method", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_solve_with_defaults_converges(capsys):
    assert main(["solve"]) == 0
    assert "-> converged" in capsys.readouterr().out

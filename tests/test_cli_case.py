"""``--case``: one case of the benchmark matrix, as its report names it, solved or compared from the command line."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from solvers.cli import main
from solvers.cli.solve import add_problem_arguments, build_problem, solve_limits
from solvers.harness.measure.cases import case_inputs
from solvers.harness.measure.matrix import MAX_ITER, size_cap
from solvers.harness.records.cases import Case, case_from_key


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_problem_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("case", [Case("planted", "near-1.5", 24, 3, 2), Case("noisy-10%", "zero", 30, 4, 1),
                                  Case("random", "small", 20, 3, 0)])
def test_a_case_builds_the_matrix_problem_start_and_target(case):
    assert case_from_key(case.key) == case
    problem, X0 = build_problem(parse("--case", case.key))
    expected, X_matrix, _ = case_inputs(case)
    for key in ("A1", "A2", "A3", "B"):
        np.testing.assert_array_equal(problem.host[key], expected.host[key])
    np.testing.assert_array_equal(X0, X_matrix)
    solver_options, limits = solve_limits(parse("--case", case.key))
    assert limits["max_iter"] == MAX_ITER and limits["max_time"] == size_cap(case.n, case.d)
    if case.kind == "planted":
        assert solver_options == {} and limits["eps"] == 1e-10
    else:  # stationarity: eps = 0, the relative-gradient target as gtol
        assert solver_options == {"gtol": 1e-8} and limits["eps"] == 0.0


@pytest.mark.parametrize("max_iter", ["7", "100"])
def test_given_limits_replace_the_matrix_caps(max_iter):
    """Also a --max-iter equal to the plain default: given is given."""
    _, limits = solve_limits(parse("--case", "planted/zero/24x3/1", "--max-iter", max_iter, "--max-time", "0.5"))
    assert limits == {"eps": 1e-10, "max_iter": int(max_iter), "max_time": 0.5}
    assert solve_limits(parse("--max-iter", max_iter))[1]["max_iter"] == int(max_iter)
    assert solve_limits(parse())[1]["max_iter"] == 100


def test_solve_a_case_reaches_its_target_and_names_it(capsys):
    assert main(["solve", "--case", "planted/near-0.5/24x3/0"]) == 0
    out = capsys.readouterr().out
    assert "case planted/near-0.5/24x3/0" in out and "-> converged" in out


def test_compare_a_noisy_case_runs_to_stationarity_and_records_the_limits(tmp_path, capsys):
    record = tmp_path / "case.json"
    key = "noisy-10%/near-0.5/24x3/0"
    assert main(["compare", "--case", key, "--methods", "varpro,joint-newton", "--json", str(record)]) == 0
    out = capsys.readouterr().out
    assert f"case {key}" in out and "gtol=1e-08" in out
    saved = json.loads(record.read_text())
    assert saved["settings"]["case"] == key and saved["settings"]["solver_options"] == {"gtol": 1e-8}
    assert saved["settings"]["limits"]["eps"] == 0.0
    for result in saved["results"]:  # stationarity reached: |g|/|g0| ≤ 1e-8 at a loss far above 0 (the noise)
        history = result["history"]
        assert result["status"] == "converged" and result["loss"] > 1e-4
        assert history[-1]["grad_norm"] <= 1e-8 * history[0]["grad_norm"]

"""``attnreg compare``, run in-process on a tiny problem."""

from __future__ import annotations

import json

import pytest

from solvers import Problem, get_solver
from solvers.cli import compare as cli_compare
from solvers.cli import main
from solvers.harness.render.figures import plot_convergence


def test_compare_prints_a_table_and_writes_plot_and_json(tmp_path, capsys):
    plot, record = tmp_path / "conv.png", tmp_path / "runs.json"
    code = main(["compare", "--n", "16", "--d", "2", "--seed", "3", "--start-noise", "0.3", "--max-iter", "5",
                 "--eps", "1e-12", "--methods", "alternating,joint-newton,newton-cg,lbfgs",
                 "--plot", str(plot), "--json", str(record)])
    out = capsys.readouterr().out
    assert code == 0
    for text in ("alternating", "joint-newton", "newton-cg", "lbfgs", "L≤1e-2", "L≤1e-12", "wall"):
        assert text in out
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
    saved = json.loads(record.read_text())
    assert [r["solver"] for r in saved["results"]] == ["alternating", "joint-newton", "newton-cg", "lbfgs"]
    assert saved["environment"]["backend"]["backend"] == "numpy" and saved["settings"]["start_seed"] == 5
    for result in saved["results"]:
        assert result["status"] in ("converged", "max_iter") and result["history"][0]["iteration"] == 0
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_compare_rejects_unknown_methods(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--methods", "alternating,nope"])
    assert "unknown method(s) nope" in capsys.readouterr().err


def test_one_failing_method_does_not_stop_the_others(monkeypatch):
    def flaky(name, **options):
        if name == "gauss-newton":
            raise RuntimeError("no such luck")
        return get_solver(name, **options)

    monkeypatch.setattr(cli_compare, "get_solver", flaky)
    problem = Problem.planted(12, 2, seed=0)
    results = cli_compare.compare(problem, ["gauss-newton", "joint-newton"], eps=1e-10, max_iter=3)
    assert [r.status for r in results][0] == "error" and "no such luck" in results[0].message
    assert results[1].solver == "joint-newton" and results[1].iterations >= 1
    table = cli_compare.results_table(results)
    assert table.row_count == 2


def test_plot_accepts_result_dicts(tmp_path):
    problem = Problem.planted(12, 2, seed=0)
    result = get_solver("newton-cg").solve(problem, eps=1e-30, max_iter=3)
    path = plot_convergence([result.to_dict(), result], tmp_path / "p.png", title="t")
    assert path.exists()


def test_start_seed_reproduces_the_documented_start():
    import numpy as np

    from solvers.cli import build_parser
    from solvers.cli.solve import build_problem

    args = build_parser().parse_args(["compare", "--n", "12", "--d", "3", "--seed", "1", "--start-noise", "0.5"])
    problem, X0 = build_problem(args)
    np.testing.assert_array_equal(X0, problem.X_star + 0.5 * np.random.default_rng(5).standard_normal((3, 3)))


@pytest.mark.parametrize("method", ["sketched", "joint-newton", "gauss-newton", "newton-cg", "varpro", "adam", "gd",
                                    "lbfgs", "scipy-trust-ncg", "scipy-trust-krylov", "scipy-trust-exact",
                                    "scipy-newton-cg", "autograd-newton"])
def test_solve_runs_every_method(method, capsys):
    code = main(["solve", "--method", method, "--n", "10", "--d", "2", "--max-iter", "2", "--eps", "1e-30"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(method) and "2 iterations" in out

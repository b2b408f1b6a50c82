"""The benchmark matrix: its cases, the profile maths on known answers, resume, the report round trip
(no timing is asserted)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from solvers import Problem
from solvers.harness.analyse.profile import analyse_matrix, ratios, rho
from solvers.harness.measure import matrix
from solvers.harness.measure.cases import case_inputs, case_problem, case_start
from solvers.harness.records import RaceEntry, ResumeConflict, load_race
from solvers.harness.records.cases import GRADIENT_TARGET, LOSS_TARGET, Case, matrix_cases
from solvers.loop import default_gtol
from solvers.problem import START_SEED


# --- cases -----------------------------------------------------------------------------------

def test_the_full_matrix_has_every_kind_and_start_where_it_exists():
    cases = matrix.full_cases()
    assert len(cases) == 5 * (3 * 5 + 2) + 3 * 4 + 3 * 2 + 1 == 104 and len({case.key for case in cases}) == 104
    assert {(case.n, case.d) for case in cases} == {(128, 16), (512, 32), (1024, 64), (256, 24)}
    assert Case("planted", "near-1.5", 256, 24, 4) in cases          # the reported case
    assert {case.seed for case in cases if case.n == 1024} == {0, 1, 2}
    assert len(matrix_cases([(8, 2)], [0])) == 17
    assert not [case for case in cases if case.kind == "random" and case.start.startswith("near")]
    with pytest.raises(ValueError, match="no X"):
        Case("random", "near-0.5", 32, 4, 0)


def test_targets_are_the_loss_where_min_l_is_zero_and_stationarity_elsewhere():
    assert Case("planted", "zero", 32, 4, 0).target == ("loss", LOSS_TARGET)
    for kind in ("noisy-1%", "noisy-10%", "random"):
        assert Case(kind, "zero", 32, 4, 0).target == ("stationary", GRADIENT_TARGET)


@pytest.mark.parametrize("kind, level", [("noisy-1%", 0.01), ("noisy-10%", 0.1)])
def test_noise_is_relative_to_the_size_of_b(kind, level):
    clean = Problem.planted(40, 4, seed=3).host["B"]
    noisy = case_problem(Case(kind, "zero", 40, 4, 3)).host["B"]
    assert math.isclose(np.linalg.norm(noisy - clean), level * np.linalg.norm(clean), rel_tol=1e-12)


def test_planted_numbers_do_not_change_without_noise():
    assert np.array_equal(Problem.planted(40, 4, seed=3, noise=0.0).host["B"], Problem.planted(40, 4, seed=3).host["B"])


def test_the_starts():
    problem = Problem.planted(40, 4, seed=3)
    G = np.random.default_rng(START_SEED).standard_normal((4, 4))
    assert np.array_equal(case_start(Case("planted", "zero", 40, 4, 3), problem), np.zeros((4, 4)))
    assert np.allclose(case_start(Case("planted", "small", 40, 4, 3), problem), 0.01 * G)
    assert np.allclose(case_start(Case("planted", "near-1.5", 40, 4, 3), problem), problem.X_star + 1.5 * G)
    _, X0, Y0 = case_inputs(Case("noisy-1%", "near-3", 40, 4, 3))
    assert np.allclose(X0, problem.X_star + 3.0 * G) and Y0.shape == (4, 4)


# --- the profile on synthetic times -------------------------------------------------------------

def fake(case, kind, method, wall, project=True):
    n, seed = 8, int(case[1:])
    return RaceEntry(method=method, project=project, n=n, d=2, seed=seed, wall=wall, solver_time=wall or 1.0,
                     iterations=1, loss=0.0, status="converged" if wall else "timeout", message="",
                     case=f"{kind}/zero/8x2/{seed}", kind=kind, start="zero",
                     target="loss" if kind == "planted" else "stationary")


SYNTHETIC = [  # case: (a, b, peer); None = not reached
    *(fake("p0", "planted", m, t) for m, t in (("a", 1.0), ("b", 2.0))), fake("p0", "planted", "peer", 10.0, False),
    *(fake("p1", "planted", m, t) for m, t in (("a", 3.0), ("b", 1.0))), fake("p1", "planted", "peer", None, False),
    *(fake("p2", "random", m, t) for m, t in (("a", None), ("b", 4.0))), fake("p2", "random", "peer", 2.0, False),
    *(fake("p3", "random", m, t) for m, t in (("a", None), ("b", None))), fake("p3", "random", "peer", None, False),
]


def test_ratios_and_profile_have_the_known_answers():
    analysis = analyse_matrix(SYNTHETIC, "a", taus=[1.0, 2.0, 3.0, 10.0, 100.0])
    assert analysis.unsolved == ["random/zero/8x2/3"] and analysis.cases == 4
    r = analysis.ratios
    assert r["planted/zero/8x2/0"] == {"a": 1.0, "b": 2.0, "peer": 10.0}
    assert r["planted/zero/8x2/1"]["a"] == 3.0 and r["planted/zero/8x2/1"]["peer"] == math.inf
    assert r["random/zero/8x2/2"] == {"a": math.inf, "b": 2.0, "peer": 1.0}
    assert analysis.curves["a"] == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert analysis.curves["b"] == pytest.approx([1 / 3, 1.0, 1.0, 1.0, 1.0])
    assert analysis.curves["peer"] == pytest.approx([1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert analysis.default_fails_peer_solves == ["random/zero/8x2/2"]
    planted, random, total = analysis.rows["a"]
    assert (planted.kind, planted.solved, planted.cases, planted.fastest, planted.within2) == ("planted", 2, 2, 1, 1)
    assert (random.solved, random.cases, random.solvable) == (0, 2, 1)
    assert (total.solved, total.fastest, total.within2, total.solvable) == (2, 1, 1, 3)
    assert analysis.share("b", "within2") == 1.0


def test_rho_counts_ties_and_is_empty_safe():
    assert rho([1.0, 1.0, math.inf], 1.0) == pytest.approx(2 / 3)
    assert rho([], 5.0) == 0.0
    assert ratios({"c": {"a": None, "b": None}}, ["a", "b"]) == {}


# --- measuring, resuming, reporting -------------------------------------------------------------

QUICK = [Case("planted", "near-0.5", 24, 3, 1), Case("noisy-10%", "near-0.5", 24, 3, 1)]
METHODS = ("varpro", "lbfgs")


def test_a_small_matrix_resumes_where_it_stopped_and_keeps_its_settings(tmp_path):
    path = tmp_path / "m.json"
    race, left = matrix.run_matrix(QUICK[:1], path, methods=METHODS, pause=0.0, max_time=5.0)
    assert left == 0 and [e["method"] for e in race["race"]] == ["varpro", "lbfgs"]
    first = race["race"][0]
    assert first["case"] == QUICK[0].key and first["target"] == "loss" and first["wall"] is not None
    assert race["race"][1]["budget"] == pytest.approx(min(matrix.size_cap(24, 3, 5.0), 100 * first["wall"]))
    race, left = matrix.run_matrix(QUICK, path, methods=METHODS, pause=0.0, max_time=5.0, resume=True)
    assert [e["case"] for e in race["race"]] == [QUICK[0].key] * 2 + [QUICK[1].key] * 2
    assert race["race"][0] == load_race(path)["race"][0]          # the first case was kept, not measured again
    with pytest.raises(ResumeConflict, match="budget_factor"):
        matrix.run_matrix(QUICK, path, methods=METHODS, pause=0.0, max_time=5.0, resume=True, budget_factor=7.0)


def test_a_time_budget_leaves_cases_for_a_resume(tmp_path):
    race, left = matrix.run_matrix(QUICK, tmp_path / "m.json", methods=("varpro",), pause=0.0, time_budget=1e-9)
    assert left == 1 and len(race["race"]) == 1


def test_converged_is_honest_in_the_matrix(tmp_path):
    """``converged`` never comes with loss > eps and |g|/|g0| > gtol (the gtol each case gives the method)."""
    race, _ = matrix.run_matrix(QUICK, tmp_path / "m.json", methods=METHODS, pause=0.0, max_time=5.0)
    for entry in race["race"]:
        if entry["status"] == "converged":
            gtol = default_gtol("float64") if entry["target"] == "loss" else entry["target_value"]
            assert entry["loss"] <= LOSS_TARGET or entry["grad_ratio"] <= gtol, entry
        reached = entry["loss"] <= LOSS_TARGET if entry["target"] == "loss" else entry["grad_ratio"] <= GRADIENT_TARGET
        assert reached == (entry["wall"] is not None)


def test_dense_methods_are_refused_where_one_iteration_is_out_of_reach():
    assert matrix.dense_refusal("joint-newton", 32) is None
    assert "8192×8192" in matrix.dense_refusal("joint-newton", 64)
    assert "4096×4096" in matrix.dense_refusal("alternating", 64)
    assert matrix.dense_refusal("varpro", 1024) is None


def test_matrix_and_report_round_trip_through_the_command_line(tmp_path, capsys):
    from solvers.cli import main

    path = tmp_path / "m.json"
    assert main(["compare", "--matrix", "--sizes", "24x3", "--seeds", "1", "--kinds", "planted,random",
                 "--starts", "near-0.5,zero", "--methods", "varpro,lbfgs", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ρ(1)" in out and "solved: planted" in out
    assert len({e["case"] for e in json.loads(path.read_text())["race"]}) == 3
    assert main(["compare", "--report", str(path), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## The benchmark matrix: performance profile" in text and "![performance profile](profile.png)" in text
    assert "**varpro** (default)" in text and (tmp_path / "report" / "profile.png").stat().st_size > 1000
    assert main(["compare", "--report", str(path)]) == 2                    # --out missing: a usage error


def test_the_reproduction_report_shows_a_matrix_file_beside_it(tmp_path):
    from solvers.harness.records import write_race
    from solvers.harness.render.race import race_section

    write_race(tmp_path / "race" / "matrix.json", [{**e, "provenance": {"commit": "c0ffee" * 7}} for e in SYNTHETIC],
               {}, {"default": "a", "budget_factor": 100})
    text = "\n".join(race_section(tmp_path))
    assert "From the matrix file `race/matrix.json`" in text and "**a** (default)" in text
    assert "![performance profile]" not in text                      # no figure beside the file yet
    (tmp_path / "race" / "matrix").mkdir()
    (tmp_path / "race" / "matrix" / "profile.png").write_bytes(b"png")
    assert "![performance profile](race/matrix/profile.png)" in "\n".join(race_section(tmp_path))
    assert "`random/zero/8x2/2`" in text     # the default fails there and a peer solves it: named


@pytest.mark.parametrize("method", ["autograd-newton", "torch-lbfgs"])
def test_torch_peers_warm_up_on_the_numpy_problem_the_harness_holds(method):
    """The matrix (like the race) warms a method up off the clock before ``solve`` moves the problem to torch."""
    pytest.importorskip("torch")
    from solvers import get_solver

    problem = Problem.planted(24, 3, seed=1)
    solver = get_solver(method)
    solver.warm_up(problem)
    assert solver.solve(problem, problem.start_near_solution(), max_iter=3).status != "error"


def test_the_reported_case_the_default_descends_without_stalling():
    """Planted (256, 24) seed 4 from X* + 1.5·G (a case of the full matrix): the default method's
    trust region keeps every accepted step a descent step and never stalls or ends in error there.

    Reaching L ≤ 1e-10 from this start takes every method minutes or more (README, "The benchmark
    matrix"); the matrix measures who gets there within its cap, this test what the globalisation does.
    """
    from solvers import get_solver

    problem, X0, Y0 = case_inputs(Case("planted", "near-1.5", 256, 24, 4))
    result = get_solver(matrix.DEFAULT_METHOD).solve(problem, X0, Y0, eps=1e-10, max_iter=10)
    assert result.status == "max_iter", result.message
    losses = [row.loss for row in result.history]
    assert all(b <= a for a, b in zip(losses, losses[1:])) and losses[-1] < losses[0] / 5


def test_the_command_measures_the_full_matrix_unless_told_which_cases(tmp_path, monkeypatch):
    """Without --sizes, --seeds, --kinds or --starts, ``compare --matrix`` runs the README's full matrix (104 cases),
    not every combination of its sizes and seeds (153)."""
    from solvers.cli import main

    seen: list[list[Case]] = []

    def run_matrix(cases, path, **options):
        seen.append(list(cases))
        return {"race": []}, 0

    monkeypatch.setattr(matrix, "run_matrix", run_matrix)
    assert main(["compare", "--matrix", "--json", str(tmp_path / "m.json")]) == 0
    assert seen[-1] == matrix.full_cases()
    assert main(["compare", "--matrix", "--seeds", "0", "--json", str(tmp_path / "m.json")]) == 0
    assert len(seen[-1]) == 3 * 17 and {case.seed for case in seen[-1]} == {0}

"""The race harness: who ran, with which budget, and how the table reads (no timing is asserted)."""

from __future__ import annotations

import json
import math

from solvers.harness.analyse.race import summarise
from solvers.harness.measure import race
from solvers.harness.records import RaceEntry, load_race, write_race
from solvers.harness.render.race import markdown


def entry(method, project, wall, seed=0, budget=None, status="converged"):
    return RaceEntry(method=method, project=project, n=24, d=3, seed=seed, wall=wall, solver_time=wall or 1.0,
                     iterations=5, loss=1e-12, status=status, message="", budget=budget)


def test_ratio_is_best_peer_over_best_project():
    rows = summarise([entry("varpro", True, 0.5), entry("newton-cg", True, 0.8),
                           entry("lbfgs", False, 2.0, budget=10.0), entry("scipy-trust-ncg", False, 1.5, budget=10.0)])
    (row,) = rows
    assert (row.project, row.peer) == ("varpro", "scipy-trust-ncg")
    assert math.isclose(row.ratio, 3.0) and not row.ratio_is_lower_bound


def test_no_peer_within_its_budget_gives_a_lower_bound():
    rows = summarise([entry("varpro", True, 0.5), entry("lbfgs", False, None, budget=1.5, status="timeout")])
    assert rows[0].ratio_is_lower_bound and math.isclose(rows[0].ratio, 3.0)
    assert "> 3.0×" in markdown([entry("varpro", True, 0.5), entry("lbfgs", False, None, budget=1.5)])


def test_a_small_race_runs_every_available_method_from_the_same_start():
    seen = []
    entries = race.run_race([(24, 3)], [1], project=("varpro",), peers=("lbfgs", "no-such-method"),
                            budget_factor=50.0, pause=0.0, progress=seen.append)
    assert [e["method"] for e in entries] == ["varpro", "lbfgs"] and seen == entries
    project, peer = entries
    assert project["wall"] is not None and project["loss"] <= 1e-10 and project["budget"] is None
    assert math.isclose(peer["budget"], 50.0 * project["wall"])
    assert project["provenance"]["commit"] == peer["provenance"]["commit"]
    assert project["provenance"]["options"]["budget_factor"] == 50.0
    assert len(summarise(entries)) == 1


def test_a_method_needing_too_much_memory_is_recorded_as_skipped():
    entries = race.run_race([(24, 3)], [1], project=("varpro",), peers=("jax-newton",), memory_limit=1.0, pause=0.0)
    if len(entries) == 2:   # jax installed: it is listed, and skipped with the reason
        assert entries[1]["status"] == "skipped" and "GB" in entries[1]["message"]


def test_the_reproduction_report_shows_the_race_files_beside_it(tmp_path):
    from solvers.harness.render.race import race_section

    assert race_section(tmp_path) == []
    (tmp_path / "race").mkdir()
    entries = [entry("varpro", True, 0.5), entry("lbfgs", False, 2.0, budget=10.0)]
    fake = {"commit": "c0ffee" * 7, "dirty": False}
    write_race(tmp_path / "race" / "r.json", [{**e, "provenance": fake} for e in entries], {})
    (tmp_path / "race" / "old.json").write_text(json.dumps({"race": entries, "environment": {"git": fake}}))
    (tmp_path / "race" / "broken.json").write_text("{")
    text = "\n".join(race_section(tmp_path))
    assert "| 24, 3 | 0 | varpro 500 ms | lbfgs 2.00 s | 4.0× |" in text
    assert "From `race/r.json`, measured at `c0ffeec0ffee`" in text
    assert "From `race/old.json`, measured at `c0ffeec0ffee`" in text      # old files: the file's commit
    assert load_race(tmp_path / "race" / "old.json")["race"][0]["provenance"]["commit"] == fake["commit"]
    assert "`race/broken.json`: not readable" in text


def test_compare_race_json_is_a_race_record(tmp_path, capsys):
    from solvers.cli import main

    path = tmp_path / "race.json"
    assert main(["compare", "--race", "--sizes", "24x3", "--seeds", "1", "--methods", "varpro", "--json", str(path)]) == 0
    race_file = load_race(path)
    assert race_file["schema"] == json.loads(path.read_text())["schema"]
    assert race_file["race"][0]["method"] == "varpro" and race_file["race"][0]["provenance"]["commit"]
    assert race_file["race"][0]["provenance"]["options"]["sizes"] == [[24, 3]]
    assert "| 24, 3 | 1 | varpro" in capsys.readouterr().out

"""The race harness: who ran, with which budget, and how the table reads (no timing is asserted)."""

from __future__ import annotations

import math

from solvers.harness.measure import race


def entry(method, project, wall, seed=0, budget=None, status="converged"):
    return race.RaceEntry(method, project, 24, 3, seed, wall, wall or 1.0, 5, 1e-12, status, "", budget)


def test_ratio_is_best_peer_over_best_project():
    rows = race.summarise([entry("varpro", True, 0.5), entry("newton-cg", True, 0.8),
                           entry("lbfgs", False, 2.0, budget=10.0), entry("scipy-trust-ncg", False, 1.5, budget=10.0)])
    (row,) = rows
    assert (row.project, row.peer) == ("varpro", "scipy-trust-ncg")
    assert math.isclose(row.ratio, 3.0) and not row.ratio_is_lower_bound


def test_no_peer_within_its_budget_gives_a_lower_bound():
    rows = race.summarise([entry("varpro", True, 0.5), entry("lbfgs", False, None, budget=1.5, status="timeout")])
    assert rows[0].ratio_is_lower_bound and math.isclose(rows[0].ratio, 3.0)
    assert "> 3.0×" in race.markdown([entry("varpro", True, 0.5), entry("lbfgs", False, None, budget=1.5)])


def test_a_small_race_runs_every_available_method_from_the_same_start():
    seen = []
    entries = race.run_race([(24, 3)], [1], project=("varpro",), peers=("lbfgs", "no-such-method"),
                            budget_factor=50.0, pause=0.0, progress=seen.append)
    assert [e.method for e in entries] == ["varpro", "lbfgs"] and seen == entries
    project, peer = entries
    assert project.wall is not None and project.loss <= 1e-10 and project.budget is None
    assert math.isclose(peer.budget, 50.0 * project.wall)
    assert len(race.summarise(entries)) == 1


def test_a_method_needing_too_much_memory_is_recorded_as_skipped():
    entries = race.run_race([(24, 3)], [1], project=("varpro",), peers=("jax-newton",), memory_limit=1.0, pause=0.0)
    if len(entries) == 2:   # jax installed: it is listed, and skipped with the reason
        assert entries[1].status == "skipped" and "GB" in entries[1].message


def test_the_reproduction_report_shows_the_race_files_beside_it(tmp_path):
    import json

    from solvers.harness.render.report import race_section

    assert race_section(tmp_path) == []
    (tmp_path / "race").mkdir()
    entries = [entry("varpro", True, 0.5), entry("lbfgs", False, 2.0, budget=10.0)]
    (tmp_path / "race" / "r.json").write_text(json.dumps({"race": race.to_records(entries)}))
    (tmp_path / "race" / "broken.json").write_text("{")
    text = "\n".join(race_section(tmp_path))
    assert "| 24, 3 | 0 | varpro 500 ms | lbfgs 2.00 s | 4.0× |" in text
    assert "`race/broken.json`: not readable" in text

"""Two runs of one matrix side by side (``attnreg compare --report A --against B``): which cases each method
solved in one run only, its time ratios where it solved both, and the default's shares in each run, on the
cases and methods both runs hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from solvers.cli import main
from solvers.harness.analyse.agreement import agreement
from solvers.harness.records import RaceEntry, load_race, write_race
from solvers.harness.render.profile import write_matrix_report


def _entry(method: str, seed: int, wall: float | None, start: str = "zero") -> RaceEntry:
    """One method on the planted case ``seed`` of a small matrix."""
    return RaceEntry(method=method, project=method != "peer", n=8, d=2, seed=seed, wall=wall,
                     solver_time=wall or 1.0, iterations=1, loss=0.0, status="converged" if wall else "timeout",
                     message="", case=f"planted/{start}/8x2/{seed}", kind="planted", start=start, target="loss",
                     target_value=1e-10)


#: Seed 0: both solve it in both runs; seed 1: the default in the first run only, the peer in both;
#: seed 2: the default in the second only; seed 3 and method "extra": in the first run alone.
FIRST = [_entry("a", 0, 1.0), _entry("peer", 0, 2.0), _entry("a", 1, 1.0), _entry("peer", 1, 4.0),
         _entry("a", 2, None), _entry("peer", 2, None), _entry("a", 3, 1.0), _entry("peer", 3, 1.0),
         _entry("extra", 0, 0.5)]
SECOND = [_entry("a", 0, 1.5), _entry("peer", 0, 1.0), _entry("a", 1, None), _entry("peer", 1, 2.0),
          _entry("a", 2, 3.0), _entry("peer", 2, None)]


def test_each_method_s_flips_and_time_ratios_on_the_shared_cases():
    runs = agreement(FIRST, SECOND, "a")
    assert runs.cases == ["planted/zero/8x2/0", "planted/zero/8x2/1", "planted/zero/8x2/2"]
    by_method = {row.method: row for row in runs.methods}
    assert set(by_method) == {"a", "peer"}
    a, peer = by_method["a"], by_method["peer"]
    assert a.solved == (2, 2) and a.only_first == ["planted/zero/8x2/1"] and a.only_second == ["planted/zero/8x2/2"]
    assert a.ratios == [1.5]
    assert peer.solved == (2, 2) and peer.only_first == peer.only_second == [] and peer.ratios == [0.5, 0.5]
    # each run's profile on the shared cases alone ("extra", faster on seed 0 in the first run, is not in it)
    assert runs.first.rows["a"][-1].fastest == 2 and runs.second.rows["a"][-1].fastest == 1
    assert runs.first.default_fails_peer_solves == []
    assert runs.second.default_fails_peer_solves == ["planted/zero/8x2/1"]
    assert runs.first.rows["a"][-1].solvable == 2 and runs.second.rows["a"][-1].solvable == 3


def test_runs_with_nothing_in_common_are_refused():
    with pytest.raises(ValueError, match="share no case"):
        agreement(FIRST, [_entry("a", 0, 1.0, start="near-0.5")], "a")
    with pytest.raises(ValueError, match="share no method"):
        agreement(FIRST, [_entry("other", 0, 1.0)], "a")


def test_the_report_sets_the_other_run_beside_this_one(tmp_path, capsys):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    write_race(first, FIRST, {}, {"default": "a"})
    write_race(second, SECOND, {}, {"default": "a"})
    assert main(["compare", "--report", str(first), "--against", str(second), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Run to run" in text and "The 3 cases both runs measured" in text
    assert "| solved (of the cases some method solved) | 2/2 (100%) | 2/3 (67%) |" in text
    assert "| cases where it fails and a peer reaches the target | none | `planted/zero/8x2/1` |" in text
    assert "| **a** | 2 / 2 | 1 | 1: `planted/zero/8x2/1` | 1: `planted/zero/8x2/2` | 1.50 [1.50, 1.50] |" in text
    assert "| peer | 2 / 2 | 2 | 0 | 0 | 0.50 [0.50, 0.50] |" in text
    read = write_matrix_report(first, tmp_path / "read", against=load_race(second)).read_text()
    assert "| the default `a` | this run | the other run |" in read
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["compare", "--report", str(first), "--against", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert f"--against: {bad}" in capsys.readouterr().err
    assert main(["compare", "--report", str(first), "--against", str(tmp_path / "missing.json"),
                 "--out", str(tmp_path / "out")]) == 2
    assert main(["compare", "--matrix", "--against", str(second), "--json", str(tmp_path / "m.json")]) == 2


@pytest.mark.parametrize(("name", "cases", "shares", "fails"), [
    ("matrix", 104, [(67, 52, 66, 67), (65, 52, 63, 66)], [[], ["planted/near-1.5/128x16/4"]]),
    ("matrix_heldout", 85, [(55, 39, 53, 58), (56, 42, 52, 60)],
     [["planted/near-3/128x16/5", "planted/zero/128x16/9"], ["planted/near-3/128x16/5", "planted/zero/128x16/9"]])])
def test_the_committed_replicates_read_as_before(name, cases, shares, fails):
    """The committed runs beside their replicates: the full matrix at a8fcb99 (an iterate's oracle keeps its one block
    for the next products) beside the run at b87ba90, and the held-out seeds at a8fcb99 beside the run at 5319096; in
    each, the default's shares and the cases where it fails and a peer reaches the target."""
    race = Path(__file__).resolve().parents[1] / "reports" / "vm" / "race"
    runs = agreement(load_race(race / f"{name}.json")["race"], load_race(race / "replicate" / f"{name}.json")["race"],
                     "varpro")
    assert len(runs.cases) == cases
    for run, expected, failed in zip((runs.first, runs.second), shares, fails):
        total = run.rows["varpro"][-1]
        assert (total.solved, total.fastest, total.within2, total.solvable) == expected
        assert run.default_fails_peer_solves == failed

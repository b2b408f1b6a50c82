"""Ctrl-C stops the whole run: ``solve`` passes KeyboardInterrupt on, and every command keeps what it
finished (never the interrupted entry), says so in one line and exits with 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from solvers import Problem, get_solver
from solvers.cli import INTERRUPTED, main
from solvers.harness.measure import matrix, race
from solvers.harness.measure.convergence_runs import RunSet, run_convergence
from solvers.harness.records import Store, load_race
from solvers.loop import Run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ctrl_c(monkeypatch):
    """``arm(method, at, solve)``: Ctrl-C arrives as ``method`` records iteration ``at`` in its ``solve``-th
    solve (counting from 0); for a SciPy peer that is inside SciPy's callback."""

    def arm(method: str, at: int = 2, solve: int = 0) -> None:
        record, started = Run.record, 0

        def interrupting(self, iteration, elapsed, state):
            nonlocal started
            if self.solver.name == method:
                started += iteration == 0
                if iteration == at and started == solve + 1:
                    raise KeyboardInterrupt
            return record(self, iteration, elapsed, state)

        monkeypatch.setattr(Run, "record", interrupting)

    return arm


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    return lines[-1]


# --- solve ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["varpro", "gd"])
def test_a_step_interrupted_by_ctrl_c_is_not_a_status(method, monkeypatch):
    problem = Problem.planted(12, 2, seed=0)
    solver = get_solver(method)
    step, rows = solver.step, []

    def interrupted_step(problem, state):
        if len(rows) == 3:
            raise KeyboardInterrupt
        return step(problem, state)

    monkeypatch.setattr(solver, "step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        solver.solve(problem, problem.start_near_solution(), eps=0.0, max_iter=10, callback=rows.append)
    assert [row.iteration for row in rows] == [0, 1, 2]          # the partial history went to the callback


@pytest.mark.parametrize("method", ["lbfgs", "scipy-trust-ncg"])
def test_a_scipy_peer_passes_ctrl_c_on(method, ctrl_c):
    ctrl_c(method)
    problem = Problem.planted(12, 2, seed=0)
    with pytest.raises(KeyboardInterrupt):
        get_solver(method).solve(problem, problem.start_near_solution(), eps=0.0, max_iter=10)


# --- compare ----------------------------------------------------------------------------------------

COMPARE = ["compare", "--n", "12", "--d", "2", "--max-iter", "4", "--methods", "varpro,lbfgs,newton-cg"]


def test_compare_keeps_the_methods_finished_and_names_the_rest(tmp_path, ctrl_c, capsys):
    record = tmp_path / "c.json"
    ctrl_c("lbfgs")
    assert main([*COMPARE, "--json", str(record)]) == INTERRUPTED
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("interrupted:") and str(record) in line and "--methods lbfgs,newton-cg" in line
    assert [r["solver"] for r in json.loads(record.read_text())["results"]] == ["varpro"]


def test_compare_interrupted_in_its_first_method_writes_nothing(tmp_path, ctrl_c, capsys):
    ctrl_c("varpro")
    assert main([*COMPARE, "--json", str(tmp_path / "c.json")]) == INTERRUPTED
    assert "no method finished" in _one_line(capsys.readouterr().err) and not (tmp_path / "c.json").exists()
    ctrl_c("varpro")                                             # armed afresh: each arming stops one solve
    assert main(COMPARE) == INTERRUPTED
    assert "nothing was saved (no --json)" in _one_line(capsys.readouterr().err)


def test_the_race_keeps_the_problems_finished(tmp_path, monkeypatch, capsys):
    record, calls = tmp_path / "r.json", []
    timed = race.time_to_target

    def interrupting(method, problem, *args, **kwargs):
        calls.append(method)
        if len(calls) == 3:                                      # the first method on the second problem
            raise KeyboardInterrupt
        return timed(method, problem, *args, **kwargs)

    monkeypatch.setattr(race, "time_to_target", interrupting)
    available = race.available
    monkeypatch.setattr(race, "available", lambda names: [name for name in available(names) if name in ("varpro",
                                                                                                          "lbfgs")])
    code = main(["compare", "--race", "--sizes", "24x3", "--seeds", "0,1", "--methods", "varpro", "--json", str(record),
                 "--max-time", "5"])
    assert code == INTERRUPTED
    assert "finished problems (1) are kept in" in _one_line(capsys.readouterr().err)
    entries = load_race(record)["race"]
    assert {entry["seed"] for entry in entries} == {0} and len(entries) == 2


# --- the matrix -------------------------------------------------------------------------------------

MATRIX = ["compare", "--matrix", "--sizes", "24x3", "--seeds", "1", "--kinds", "planted", "--starts", "near-0.5,zero",
          "--methods", "varpro,lbfgs"]


def test_the_matrix_drops_the_case_under_way_and_a_resume_measures_it(tmp_path, ctrl_c, monkeypatch, capsys):
    path = tmp_path / "m.json"
    ctrl_c("lbfgs", solve=1)                                     # in the second case
    assert main([*MATRIX, "--json", str(path)]) == INTERRUPTED
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("interrupted:") and str(path) in line and "--resume" in line
    kept = load_race(path)["race"]
    assert [entry["method"] for entry in kept] == ["varpro", "lbfgs"] and len({e["case"] for e in kept}) == 1
    assert all(entry["status"] != "error" for entry in kept)
    monkeypatch.undo()
    measure, measured = matrix.measure_case, []
    monkeypatch.setattr(matrix, "measure_case",
                        lambda case, options: measured.append(case.key) or measure(case, options))
    assert main([*MATRIX, "--resume", "--json", str(path)]) == 0
    entries = load_race(path)["race"]
    assert len(measured) == 1 and measured[0] not in {entry["case"] for entry in kept}   # only the lost case
    assert len(entries) == 4 and entries[:2] == kept and all(entry["status"] != "error" for entry in entries)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_the_matrix_with_workers_stops_at_once_on_ctrl_c(tmp_path):
    """A terminal's Ctrl-C (SIGINT to the whole process group) while two worker processes measure cases."""
    path = tmp_path / "m.json"
    command = [sys.executable, "-m", "solvers.cli", "compare", "--matrix", "--sizes", "24x3", "--seeds", "0,1,2,3",
               "--kinds", "planted,random", "--starts", "near-0.5,zero", "--methods", "varpro,lbfgs", "--workers", "2",
               "--json", str(path)]

    def own_group_with_default_sigint() -> None:  # a shell's background job would start with SIGINT ignored
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=own_group_with_default_sigint) as process:
        watchdog = threading.Timer(60.0, process.kill)          # a hung run fails the test instead of hanging it
        watchdog.start()
        try:
            lines = []
            while not any(" varpro: " in line for line in lines):   # a case finished: Ctrl-C during the others
                line = process.stderr.readline()
                assert line, "".join(lines)
                lines.append(line)
            os.killpg(process.pid, signal.SIGINT)
            _, err = process.communicate(timeout=30)
        finally:
            watchdog.cancel()
            if process.poll() is None:  # still running: fail here rather than wait on it when the block closes
                process.kill()
    assert process.returncode == INTERRUPTED, err
    assert _one_line("".join(lines) + err).startswith("interrupted: the finished cases are kept in")
    entries = load_race(path)["race"]
    cases = {entry["case"] for entry in entries}
    assert 1 <= len(cases) < 12 and len(entries) == 2 * len(cases)   # whole cases only, the run stopped early


def test_reproduce_records_no_convergence_run_for_the_one_interrupted(tmp_path, ctrl_c, monkeypatch):
    store = Store.open(tmp_path / "measurements.json", {}, resume=False, provenance={})
    runs = RunSet("convergence", ["varpro", "lbfgs"], [(12, 2)], [0], eps=1e-30, max_iter=5, max_time=5.0,
                  study=False, estimate=0.1)
    ctrl_c("lbfgs")
    with pytest.raises(KeyboardInterrupt):
        run_convergence(store, runs, "numpy", lambda label, advance: None)
    saved = json.loads((tmp_path / "measurements.json").read_text())["convergence"]
    assert [run["solver"] for run in saved] == ["varpro"]
    monkeypatch.undo()
    run_convergence(store, runs, "numpy", lambda label, advance: None)
    assert [(run["solver"], run["status"]) for run in store.data["convergence"]] == [("varpro", "max_iter"),
                                                                                  ("lbfgs", "max_iter")]


def test_any_other_command_says_it_was_interrupted(ctrl_c, capsys):
    ctrl_c("lbfgs")
    assert main(["solve", "--method", "lbfgs", "--n", "10", "--d", "2", "--max-iter", "5", "--eps", "1e-30"]) == 130
    assert _one_line(capsys.readouterr().err) == "interrupted: attnreg solve stopped"

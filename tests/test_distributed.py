"""Row-sharded runs on torch.distributed (gloo, 2 processes on this machine) equal the one-process run.

Each rank draws the same planted problem, keeps its rows of A1 and B, and all-reduces the
oracles' partial sums; the solvers run unchanged, so the loss history must match the
single-process run to rounding. A second test launches the command line under ``torchrun``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: distributed runs use torch.distributed")
dist = pytest.importorskip("torch.distributed", reason="this torch build has no torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available in this torch build", allow_module_level=True)

from solvers import Problem, get_backend, get_solver, list_solvers  # noqa: E402
from solvers.registry import solver_class  # noqa: E402

N, D, ITERATIONS = 45, 4, 3  # 45 rows: the two shards differ in size
#: X* + 1.0·G: far enough that Y(X) and the steps differ from the start's, as a skeptic would try.
START_NOISE = 1.0


def _losses(problem: Problem, method: str) -> list[float]:
    result = get_solver(method).solve(problem, problem.start_near_solution(START_NOISE), eps=0.0,
                                      max_iter=ITERATIONS)
    assert result.status == "max_iter", result.message
    return [row.loss for row in result.history]


def _outcome(problem: Problem, method: str) -> dict:
    """The loss history of a method that runs sharded, or how it declined (status or error)."""
    if solver_class(method).skip(problem) is None:
        return {"losses": _losses(problem, method)}
    try:
        result = get_solver(method).solve(problem, problem.start_near_solution(START_NOISE), max_iter=ITERATIONS)
    except ValueError as exc:  # a peer whose optional library is absent refuses construction
        return {"error": str(exc)}
    return {"status": result.status, "message": result.message, "history": len(result.history)}


def _rank(rank: int, size: int, init_file: str, out: str) -> None:
    """One process: join the group, solve on its shard, write its loss histories and bytes reduced."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=size)
    try:
        backend = get_backend("torch", distributed=True)
        problem = Problem.planted(N, D, seed=3, backend=backend, shard=(rank, size))
        record = {method: _outcome(problem, method) for method in list_solvers()}
        X, Y = (problem.as_variable(a, "X") for a in (problem.X_star, problem.Y_star))
        backend.reduced_bytes = 0
        problem.oracle(X, Y).hvp(X, Y)
        record["hvp_bytes"] = backend.reduced_bytes
        record["rows"] = [problem.rows.start, problem.rows.stop]
        Path(out, f"rank{rank}.json").write_text(json.dumps(record))
    finally:
        dist.destroy_process_group()


def test_every_method_matches_the_one_process_run_sharded_or_declines(tmp_path):
    """Every registered method, through the Python API on 2 gloo processes: the one-process losses at
    every iteration to 1e-10, or status ``skipped`` saying it cannot run sharded — never a wrong answer."""
    torch.multiprocessing.spawn(_rank, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert [r["rows"] for r in ranks] == [[0, 22], [22, 45]]
    whole = Problem.planted(N, D, seed=3, backend="torch")
    sharded = {"alternating", "sketched", "joint-newton", "gauss-newton", "newton-cg", "varpro"}
    assert {m for m in list_solvers() if "losses" in ranks[0][m]} == sharded
    for method in list_solvers():
        outcome = ranks[0][method]
        assert ranks[1][method] == outcome  # every rank holds the same, reduced numbers
        if "losses" in outcome:
            assert len(outcome["losses"]) == ITERATIONS + 1
            np.testing.assert_allclose(outcome["losses"], _losses(whole, method), rtol=1e-10, atol=1e-28)
        elif "status" in outcome:
            assert outcome["status"] == "skipped" and outcome["history"] == 0
            assert f"{method} cannot run on a sharded problem" in outcome["message"]
        else:
            assert "JAX" in outcome["error"]
    # one joint HVP all-reduces one 2×d×d array: O(d²) bytes per process, independent of n
    assert ranks[0]["hvp_bytes"] == ranks[1]["hvp_bytes"] == 2 * D * D * 8


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_torchrun_runs_the_command_line_and_only_rank_0_prints():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    command = ["torchrun", "--standalone", "--nproc-per-node", "2", "-m", "solvers.cli", "--", "solve",
               "--backend", "torch", "--distributed", "--n", "40", "--d", "3", "--method", "newton-cg",
               "--max-iter", "2", "--eps", "0"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    summaries = [line for line in done.stdout.splitlines() if line.startswith("newton-cg on")]
    assert len(summaries) == 1 and "after 2 iterations" in summaries[0]
    assert "2 processes (gloo)" in done.stdout


@pytest.mark.parametrize("options", [["--backend", "numpy", "--method", "newton-cg"],
                                     ["--backend", "torch", "--method", "lbfgs"],
                                     ["--backend", "torch", "--method", "newton-cg", "--max-time", "5"],
                                     ["--backend", "torch", "--method", "newton-cg"]])  # outside torchrun
def test_distributed_options_are_checked_before_joining_a_group(options, capsys, monkeypatch):
    from solvers.cli import main

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main(["solve", "--distributed", *options]) == 2
    assert "--distributed" in capsys.readouterr().err
    assert not dist.is_initialized()

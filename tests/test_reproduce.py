"""The reproduction run and its report, on a micro grid (seconds, not minutes)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from solvers.harness.measure import reproduce as rp
from solvers.cli import main
from solvers.harness.measure.grids import GRIDS, Grid
from solvers.harness.measure.asv_import import measurements_from_asv
from solvers.harness.measure.environment import machine_name
from solvers.harness.claims import Rule
from solvers.harness.records import load_measurements
from solvers.harness.render.report import build_report
from solvers.harness.claims import STUDY_SOLVERS
from solvers.registry import list_solvers

MICRO = Grid("micro", n_sweep=(32, 64, 128), d_for_n=4, d_sweep=(2, 4), n_for_d=32, solve_d_sweep=(2, 3, 4),
             n_for_solve=16, convergence_sizes=((16, 3),), backends=("numpy",), memory_limit=2**28)
FAST = rp.Options(repeat=2, min_time=0.0, point_budget=1.0, gemm_size=64, conv_eps=1e-12, conv_max_iter=5,
                  conv_max_time=2.0)
STAGES = ["forward", "hessian_solve"]


def _run(out: Path, **kwargs) -> Path:
    """A micro reproduction run into ``out`` and its report (as ``attnreg reproduce`` does)."""
    options = dict(command="attnreg reproduce --test", machine="test-machine", options=FAST,
                   stages=STAGES, solvers=["alternating"], sparsification=False)
    options.update(kwargs)
    path = rp.reproduce(MICRO, ["numpy"], out, **options)
    return build_report(load_measurements(path), out)


def _points(out: Path) -> list[dict]:
    return json.loads((out / "measurements.json").read_text())["points"]


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory) -> Path:
    """One micro reproduction run shared by the tests that only read its output."""
    out = tmp_path_factory.mktemp("micro")
    _run(out)
    return out


def test_micro_run_writes_the_report(micro_run):
    assert json.loads((micro_run / "measurements.json").read_text())["verdict_rule"] == {"delta": 0.3, "confidence": 0.9}
    tmp_path = micro_run
    report = tmp_path / "report.md"
    for name in ("measurements.json", "stage_timings.csv", "analysis.json", "scaling.png", "convergence.png",
                 "fraction_of_peak.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    text = report.read_text()
    assert text.index("## Verdict") < text.index("## Convergence")
    assert "`attnreg reproduce --test`" in text and "`alternating`" in text
    data = json.loads((tmp_path / "measurements.json").read_text())
    assert data["environment"]["python"] and data["gemm"]["numpy"]["status"] == "ok"
    # 3 n-sweep + 2 d-sweep points share (32, 4): forward has 4 distinct points, hessian_solve 3
    assert len(data["points"]) == 7
    shared = next(p for p in data["points"] if p["stage"] == "forward" and (p["n"], p["d"]) == (32, 4))
    assert shared["sweeps"] == ["n", "d"]
    assert all(p["status"] == "ok" and p["median"] > 0 for p in data["points"])
    assert data["convergence"][0]["solver"] == "alternating" and data["convergence"][0]["history"]
    assert data["runs"][0]["wall_s"] > 0
    assert len((tmp_path / "stage_timings.csv").read_text().splitlines()) == 8


def test_resume_skips_finished_points(tmp_path, monkeypatch):
    calls = []
    real = rp.measure_point

    def interrupt_after_two(task, *args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(task)
        return real(task, *args)

    monkeypatch.setattr(rp, "measure_point", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path)
    assert len(_points(tmp_path)) == 2                      # what finished was kept

    monkeypatch.setattr(rp, "measure_point", real)
    _run(tmp_path, resume=True)
    points = _points(tmp_path)
    assert len(points) == 7
    first = [(p["stage"], p["n"], p["d"]) for p in points[:2]]
    assert first == [(t.stage, t.n, t.d) for t in calls]

    def must_not_run(task, *args):
        raise AssertionError(f"{task} was measured again")

    monkeypatch.setattr(rp, "measure_point", must_not_run)
    _run(tmp_path, resume=True)
    data = json.loads((tmp_path / "measurements.json").read_text())
    assert len(data["points"]) == 7 and len(data["convergence"]) == 1 and len(data["runs"]) == 3


def test_failing_size_is_recorded_and_report_builds(tmp_path, monkeypatch):
    real = rp.prepare_stage

    def out_of_memory(stage, backend, n, d, **kwargs):
        if n >= 64:
            raise MemoryError("simulated out of memory")
        return real(stage, backend, n, d, **kwargs)

    monkeypatch.setattr(rp, "prepare_stage", out_of_memory)
    report = _run(tmp_path, stages=["forward"])
    by_n = {p["n"]: p for p in _points(tmp_path) if p["d"] == 4}
    assert by_n[32]["status"] == "ok"
    assert by_n[64]["status"] == "failed" and "simulated out of memory" in by_n[64]["reason"]
    assert by_n[128]["status"] == "skipped" and "smaller size failed" in by_n[128]["reason"]
    text = report.read_text()
    assert "simulated out of memory" in text and "## Verdict" in text


def test_per_point_budget_cuts_larger_sizes_and_threads_are_limited(tmp_path):
    _run(tmp_path, stages=["forward"], threads=1,
         options=rp.Options(repeat=1, min_time=0.0, point_budget=1e-9, gemm_size=64, conv_max_iter=2))
    data = json.loads((tmp_path / "measurements.json").read_text())
    assert data["threads"] == 1 and all(blas["num_threads"] == 1 for blas in data["environment"]["blas"])
    by_n = {p["n"]: p for p in _points(tmp_path) if p["d"] == 4}
    assert by_n[32]["status"] == "ok"
    assert by_n[64]["status"] == "skipped" and "per-point budget" in by_n[64]["reason"]
    assert by_n[128]["status"] == "skipped"


def test_machine_name(monkeypatch, tmp_path):
    assert machine_name("my box/1") == "my-box-1"
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    (tmp_path / ".asv-machine.json").write_text(json.dumps({"asv-box": {"machine": "asv-box"}, "version": 1}))
    assert machine_name() == "asv-box"


def _asv_results(root: Path, across: bool = False) -> Path:
    """Fake stored asv results; with ``across``, the Hessian assembly on the sweep across n = d² too."""
    results = root / "results"
    (results / "box").mkdir(parents=True)
    names = ["backend", "n", "d"]
    (results / "benchmarks.json").write_text(json.dumps({
        "bench_stages.TimeForwardN.time_forward": {"param_names": names},
        "bench_stages.TimeHessianSolve.time_hessian_solve": {"param_names": names},
        "bench_stages.PeakForward.peakmem_forward": {"param_names": names},
        "bench_iteration.Iteration.time_iteration": {"param_names": ["solver", *names]},
        "bench_convergence.IterationsToEps.track_iterations": {"param_names": ["solver", *names, "eps"]},
        "bench_hessian_assembly.HessianAssemblyD.time_stage": {"param_names": names},
        "bench_hessian_assembly.HessianAssemblyAcross.time_stage": {"param_names": names},
        "version": 2}))
    ns = [256, 512, 1024, 2048]
    forward = [1e-8 * n**2 for n in ns] + [None] * len(ns)     # torch: n/a
    solve_d = [16, 24, 32, 48]
    solve = [2e-3 * (d / 16) ** 6 for d in solve_d]
    columns = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a", "stats_ci_99_b",
               "stats_q_25", "stats_q_75", "stats_number", "stats_repeat", "samples", "profile"]
    (results / "box" / "abc123-existing.json").write_text(json.dumps({
        "commit_hash": "abc123", "env_name": "existing", "date": 1, "params": {"machine": "box"},
        "python": "3.11", "requirements": {}, "env_vars": {}, "result_columns": columns, "version": 2,
        "results": {
            "bench_stages.TimeForwardN.time_forward": [forward, [["'numpy'", "'torch'"], [str(n) for n in ns], ["32"]]],
            "bench_stages.TimeHessianSolve.time_hessian_solve": [solve, [["'numpy'"], ["128"], [str(d) for d in solve_d]]],
            "bench_stages.PeakForward.peakmem_forward": [[1e6], [["'numpy'"], ["256"], ["32"]]],
            "bench_iteration.Iteration.time_iteration": [[0.01, 0.02], [["'alternating'"], ["'numpy'"], ["128"],
                                                                        ["8", "16"]]],
            "bench_convergence.IterationsToEps.track_iterations": [
                [3, 6, 12, None, 2, 3, 4, 5],
                [["'alternating'", "'joint-newton'"], ["'numpy'"], ["128"], ["16"], ["0.01", "0.0001", "1e-08", "1e-12"]]],
            **(_asv_assembly() if across else {}),
        }}))
    (results / "box" / "machine.json").write_text(json.dumps({"machine": "box", "version": 1}))
    return results


def _asv_assembly() -> dict:
    """asv rows of the Hessian assembly against d (n = 128) and against n across n = d² (d = 8, 16)."""
    law = lambda n, d: 1e-9 * (n * n * d * d + n * d**4) + 1e-10 * n * n * d + 1e-5   # noqa: E731
    ds, ns = [8, 12, 16, 24, 32], [64, 128, 256, 512, 1024]
    return {"bench_hessian_assembly.HessianAssemblyD.time_stage": [
                [law(128, d) for d in ds], [["'numpy'"], ["128"], [str(d) for d in ds]]],
            "bench_hessian_assembly.HessianAssemblyAcross.time_stage": [
                [law(n, d) for n in ns for d in (8, 16)], [["'numpy'"], [str(n) for n in ns], ["8", "16"]]]}


def test_report_from_asv_results_has_the_same_kinds_of_verdicts(tmp_path):
    data = measurements_from_asv(_asv_results(tmp_path, across=True))
    text = build_report(data, tmp_path / "out").read_text()
    verdict = text[text.index("## Verdict"):text.index("## Exponents against the claim")]
    assert [line[:3] for line in verdict.splitlines() if line[:1].isdigit()] == ["1. ", "2. ", "3. ", "4. ", "5. "]
    assert "Beyond n = d²" in verdict and "set the cost there" in verdict
    assert "whole 90% confidence interval" in text and "## Cost model: where the time goes" in text
    fits = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert {(c["sweep"], c["fixed"]) for c in fits["coverage"] if c["stage"] == "hessian_assembly"} == {
        ("solve_d", 128), ("cross_n", 8), ("cross_n", 16)}


def test_report_from_asv_results(tmp_path):
    results = _asv_results(tmp_path)
    data = measurements_from_asv(results)
    ok = [p for p in data["points"] if p["status"] == "ok"]
    assert {p["stage"] for p in ok} == {"forward", "hessian_solve", "iteration:alternating"} and len(ok) == 10
    assert len(data["points"]) == 10 and data["asv_not_run"] == 4     # torch: n/a
    report = build_report(data, tmp_path / "out")
    text = report.read_text()
    assert "stored asv results" in text
    fits = json.loads((tmp_path / "out" / "analysis.json").read_text())["scaling"]
    forward = next(f for f in fits if f["stage"] == "forward" and f["sweep"] == "n" and f["backend"] == "numpy")
    assert forward["fit"]["slope"] == pytest.approx(2.0) and forward["verdict"] == "holds"
    solve = next(f for f in fits if f["stage"] == "hessian_solve")
    assert solve["fit"]["slope"] == pytest.approx(6.0)
    runs = {r["solver"]: r for r in json.loads((tmp_path / "out" / "analysis.json").read_text())["convergence"]}
    assert runs["alternating"]["iterations"]["1e-08"] == 12 and runs["alternating"]["iterations"]["1e-12"] is None
    assert runs["joint-newton"]["fit"]["slope"] == pytest.approx(0.3, abs=0.05)
    assert "`joint-newton`" in text


def test_cli_report_commands(tmp_path, micro_run):
    results = _asv_results(tmp_path)
    assert main(["report", "--from-asv", str(results), "--out", str(tmp_path / "asv")]) == 0
    assert (tmp_path / "asv" / "report.md").exists()
    (tmp_path / "run").mkdir()
    shutil.copy(micro_run / "measurements.json", tmp_path / "run")
    assert main(["report", "--out", str(tmp_path / "run"), "--min-fit-ms", "0.001"]) == 0
    assert "at least 0.001 ms" in (tmp_path / "run" / "report.md").read_text()
    assert "δ = 0.3, confidence = 0.9 " in (tmp_path / "run" / "report.md").read_text()   # as recorded
    assert main(["report", "--out", str(tmp_path / "run"), "--delta", "0.2", "--confidence", "0.95"]) == 0
    assert "δ = 0.2, confidence = 0.95 " in (tmp_path / "run" / "report.md").read_text()
    analysis = json.loads((tmp_path / "run" / "analysis.json").read_text())
    assert analysis["verdict_rule"] == {"delta": 0.2, "confidence": 0.95}
    assert main(["report", "--out", str(tmp_path / "nothing")]) == 2


def test_cli_reproduce_passes_its_options(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake(grid, backends, out, **kwargs):
        seen.update(grid=grid, backends=backends, out=out, **kwargs)
        raise KeyboardInterrupt  # stop before any measuring: only the options are under test

    monkeypatch.setattr(rp, "reproduce", fake)
    (tmp_path / "measurements.json").write_text('{"points": []}')  # something to resume
    argv = ["reproduce", "--backend", "numpy", "--backend", "torch", "--grid", "full", "--out", str(tmp_path),
            "--resume", "--threads", "1", "--no-progress", "--machine", "box", "--min-fit-ms", "5",
            "--delta", "0.2", "--confidence", "0.95"]
    assert main(argv) == 130
    assert seen["grid"] == "full" and seen["backends"] == ["numpy", "torch"] and seen["out"] == tmp_path
    assert seen["resume"] and seen["threads"] == 1 and seen["progress"] is None and seen["machine"] == "box"
    assert seen["command"].startswith("attnreg ")
    assert seen["rule"] == Rule(0.2, 0.95)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rp, "reproduce", interrupted)
    assert main(["reproduce", "--no-progress"]) == 130
    assert "--resume" in capsys.readouterr().err
    # the quick grid's optional torch is left out where it is not installed, not refused
    monkeypatch.setattr("solvers.backends.backend_unavailable_reason", lambda name: "absent" if name == "torch" else None)
    monkeypatch.setattr("solvers.cli.reproduce.backend_unavailable_reason",
                        lambda name: "absent" if name == "torch" else None)
    assert main(["reproduce", "--no-progress", "--out", str(tmp_path / "quick")]) == 130


def test_a_run_that_measured_nothing_fails_and_a_partial_one_says_so(capsys):
    from solvers.cli.reproduce import _completeness

    skipped = {"stage": "forward", "backend": "numpy", "n": 8, "d": 2, "status": "skipped", "reason": "x"}
    assert _completeness({"points": [skipped], "convergence": [{"status": "error"}]}) == 1
    assert "nothing was measured" in capsys.readouterr().err
    measured = {**skipped, "status": "ok", "median": 1.0}
    assert _completeness({"points": [skipped, measured], "convergence": []}) == 0
    assert "measured 1 of 2 stage points" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value"), [("--confidence", "1"), ("--confidence", "0"), ("--delta", "0"),
                                               ("--delta", "-0.1")])
def test_bad_verdict_options_are_refused_before_any_work(option, value, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["report", option, value])
    assert stop.value.code == 2 and option in capsys.readouterr().err


def test_quick_grid_crosses_n_equals_d_squared():
    quick = GRIDS["quick"]
    for d in quick.d_for_cross:
        assert min(quick.cross_n_sweep) <= d * d < max(quick.cross_n_sweep)
    planned = {(t.stage, t.sweep) for t in rp.plan(quick, ["numpy"])}
    assert {("hessian_assembly", "cross_n"), ("iteration:alternating", "cross_n")} <= planned
    assert not any(sweep == "cross_n" and stage == "forward" for stage, sweep in planned)
    assert ("forward", "plane") in planned and len({n for n, _ in quick.points("plane")}) > 1   # a 2-D grid


def test_cross_sweep_feeds_the_cost_model(tmp_path):
    grid = dataclasses.replace(MICRO, cross_n_sweep=(4, 8, 16, 32, 64), d_for_cross=(2, 3))
    path = rp.reproduce(grid, ["numpy"], tmp_path, command="test", machine="test-machine", options=FAST,
                        stages=["hessian_assembly"], solvers=["alternating"], sparsification=False)
    text = build_report(load_measurements(path), tmp_path).read_text()
    crossed = [p for p in _points(tmp_path) if "cross_n" in p["sweeps"] and p["n"] > p["d"] ** 2]
    assert crossed and all(p["status"] == "ok" for p in crossed)
    assert "## Cost model: where the time goes" in text and "| n (d=2) |" in text and "| n (d=3) |" in text
    models = json.loads((tmp_path / "analysis.json").read_text())["cost_models"]
    assert [m["stage"] for m in models] == ["hessian_assembly"]


def test_convergence_study_runs_every_size_seed_and_method(tmp_path):
    grid = dataclasses.replace(MICRO, convergence_sizes=(), study_sizes=((16, 3), (24, 3), (32, 3), (16, 4), (16, 5)),
                               study_seeds=(0, 1, 2))
    options = dataclasses.replace(FAST, study_max_iter=200, study_max_time=2.0)
    path = rp.reproduce(grid, ["numpy"], tmp_path, command="test", machine="test-machine", options=options,
                        stages=["forward"], sparsification=False)
    study = load_measurements(path)["convergence_study"]
    assert {(r["solver"], r["n"], r["d"], r["seed"]) for r in study} == {
        (s, n, d, seed) for s in STUDY_SOLVERS if s in list_solvers() for n, d in grid.study_sizes for seed in (0, 1, 2)}
    assert all(r["history"] and r["history_thinned"] for r in study)      # every run ran (a stall is a status)
    text = build_report(load_measurements(path), tmp_path).read_text()
    assert "## Convergence across sizes" in text and "| iterations per decade of ε | `alternating` | n (d=3) |" in text
    assert "| `gauss-newton` | 16×3 |" in text


def test_a_size_where_every_seed_stopped_short_stays_in_the_study_table(tmp_path):
    data = load_measurements(Path(__file__).resolve().parents[1] / "reports" / "vm" / "measurements.json")
    n, d = next((r["n"], r["d"]) for r in data["convergence_study"] if r["solver"] == "alternating")
    for run in data["convergence_study"]:
        if (run["solver"], run["n"], run["d"]) == ("alternating", n, d):
            run.update(status="timeout", loss=1.0)
            for row in run["history"]:
                row["loss"] = max(row["loss"], 1.0)
    text = build_report(data, tmp_path).read_text()
    seeds = sum((r["solver"], r["n"], r["d"]) == ("alternating", n, d) for r in data["convergence_study"])
    assert f"| {n}×{d} | 0/{seeds} | – | none reached ε |" in text


def test_quick_grid_times_torch_on_the_product_stages_only_where_installed(monkeypatch):
    from solvers.harness.measure import grids

    quick = GRIDS["quick"]
    tasks = rp.plan(quick, ["numpy", "torch"])
    assert {t.stage for t in tasks if t.backend == "torch"} == set(grids.BACKEND_STAGES)
    assert {t.stage for t in tasks if t.backend == "numpy"} > set(grids.BACKEND_STAGES)
    assert quick.times("torch", "hvp") and not quick.times("torch", "hessian_solve") and quick.times("numpy", "hessian_solve")
    monkeypatch.setattr("solvers.backends.backend_unavailable_reason", lambda name: "not here" if name == "torch" else None)
    assert quick.default_backends() == ("numpy",)


def test_backends_side_by_side_in_the_report(tmp_path):
    torch_only_forward = dataclasses.replace(MICRO, backends=("numpy", "torch"), optional_backends=("torch",),
                                             backend_stages=(("torch", ("forward",)),))
    pytest.importorskip("torch")
    path = rp.reproduce(torch_only_forward, None, tmp_path, command="attnreg reproduce --test", machine="test-machine",
                        options=FAST, stages=STAGES, solvers=["alternating"], sparsification=False)
    points = _points(tmp_path)
    assert {(p["backend"], p["stage"]) for p in points} == {("numpy", "forward"), ("numpy", "hessian_solve"),
                                                            ("torch", "forward")}
    text = build_report(load_measurements(path), tmp_path).read_text()
    section = text[text.index("## Backends side by side"):]
    assert section.split("\n")[2].startswith("torch took ") and "numpy's time (median" in section
    assert "| `forward` | 128 | 4 |" in section and (tmp_path / "backends.png").stat().st_size > 0
    analysis = json.loads((tmp_path / "analysis.json").read_text())["backends"]
    assert analysis["reference"] == "numpy" and len(analysis["ratios"]) == 4  # forward's 4 distinct sizes

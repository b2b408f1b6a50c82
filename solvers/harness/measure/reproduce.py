"""The reproduction run, measuring only: stage timings over a grid, the matrix-product rate,
convergence runs, the convergence study across sizes and seeds, and the sparsification study.

Stages come from :data:`solvers.harness.measure.stages.STAGES` (the asv suites time the same
objects), sizes from :mod:`solvers.harness.measure.grids`, the record layout from
:mod:`solvers.harness.records`. Every finished point is written at once to
``<out>/measurements.json`` (atomically), so an interrupted run keeps what it finished and
``resume=True`` continues it. A point that cannot run is recorded with its status
(``skipped`` or ``failed``) and the reason. Each point and run carries the provenance it
was measured under (commit, thread limit, allocator policy, dtype, grid, options), and a
resume never mixes them: continuing a file measured at another commit or with other
settings is refused (:class:`solvers.harness.records.ResumeConflict`; ``attnreg reproduce``
exits 2 and asks for a new ``--out``). Convergence runs are measured by
:mod:`solvers.harness.measure.convergence_runs`. The report is built from the record by
:func:`solvers.harness.render.report.build_report`.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ...loop import describe_exception
from ..claims import OMEGA_CLASSICAL, STUDY_EPS, STUDY_SOLVERS, SWEEP_AXES, TERMS, Rule
from ..records import SCHEMA, GemmEntry, RunEntry, SparsificationRecord, StagePoint, Store, json_safe
from .convergence_runs import RunSet, reference_first, run_convergence
from .environment import measured_under, thread_limit
from . import interference
from .grids import Grid, get_grid
from .stages import STAGES, Stage, exp_rate, gemm_rate, prepare_stage, time_body

#: Where reports go unless ``--out`` says otherwise: an ignored folder, so that running the
#: Quickstart never overwrites the committed ``reports/<machine>/`` (publish with ``--out reports/<machine>``).
DEFAULT_OUT = Path("out") / "reports"
#: Rough seconds of the attention-sparsification measurements, for the time-left estimate.
SPARSIFICATION_ESTIMATE = 90.0
#: Rough seconds of one run of the convergence study, for the time-left estimate.
STUDY_ESTIMATE = 0.5


@dataclass(frozen=True)
class Options:
    """How hard to measure.

    Attributes
    ----------
    repeat : int
        Timed calls per point (after one warm-up call), at least.
    min_time : float
        Keep calling until this many seconds were timed at a point.
    point_budget : float
        Seconds of timed calls allowed per point; a size predicted to need more than this
        per call is skipped, with every larger size of the same stage and sweep.
    gemm_size : int
        Side of the square matrix product that measures the backend's rate.
    conv_eps, conv_max_iter, conv_max_time : float, int, float
        Target loss and caps of each convergence run (solver time, seconds).
    study_max_iter, study_max_time : int, float
        Caps of each run of the convergence study (target :data:`solvers.harness.claims.STUDY_EPS`).
    retries : int
        Times a point found disturbed (:mod:`solvers.harness.measure.interference`) is timed
        again, within ``point_budget``, before it is recorded as disturbed.
    """

    repeat: int = 5
    min_time: float = 0.2
    point_budget: float = 5.0
    gemm_size: int = 2048
    conv_eps: float = 1e-20
    conv_max_iter: int = 1000
    conv_max_time: float = 15.0
    study_max_iter: int = 3000
    study_max_time: float = 10.0
    retries: int = 2

    @classmethod
    def for_grid(cls, grid: Grid) -> "Options":
        """Defaults sized so that the quick grid finishes in minutes on two cores."""
        if grid.name == "gpu":
            return cls(point_budget=20.0, gemm_size=8192, conv_max_time=60.0)
        if grid.name == "full":
            return cls(point_budget=20.0, conv_max_time=60.0)
        if grid.name == "decisive":
            return cls(repeat=3, point_budget=150.0, retries=1)
        return cls()


@dataclass(frozen=True)
class Task:
    """One (stage, backend, size) to measure, and the sweep that planned it."""

    stage: str
    backend: str
    sweep: str
    n: int
    d: int


def plan(grid: Grid, backends: list[str], stages: list[str] | None = None) -> list[Task]:
    """Every (backend, stage, sweep, size) of the grid (of ``stages``, else the grid's, else all), less the
    stages the grid leaves out on a backend (``Grid.backend_stages``), sizes increasing within a sweep."""
    names = stages or list(grid.stages) or list(STAGES)
    subsets = dict(grid.backend_stages)
    return [Task(name, backend, sweep, n, d) for backend in backends for name in names
            if name in subsets.get(backend, names)
            for sweep in STAGES[name].claim.sweeps for n, d in grid.points(sweep)]


def _sweeps_of(grid: Grid, stage: Stage, n: int, d: int) -> list[str]:
    return [sweep for sweep in stage.claim.sweeps if (n, d) in grid.points(sweep)]


def estimate_seconds(stage: Stage, n: int, d: int, rate: float, options: Options) -> float:
    """A rough wall-clock cost of measuring one point, for the progress bar's time estimate."""
    flops = stage.flops(n, d) if stage.flops else 40.0 * stage.memory(n, d) * d
    per_call = flops / (0.3 * rate)
    calls = 1 + max(options.repeat, options.min_time / max(per_call, 1e-9))
    return 0.02 + 2 * per_call + min(calls * per_call, options.point_budget)


def _base_record(task: Task, sweeps: list[str]) -> StagePoint:
    stage = STAGES[task.stage]
    return StagePoint(stage=task.stage, backend=task.backend, n=task.n, d=task.d, sweeps=sweeps,
                      flops=stage.flops(task.n, task.d) if stage.flops else None)


def measure_point(task: Task, grid: Grid, options: Options, sweeps: list[str]) -> StagePoint:
    """Prepare, warm up and time one point; never raises for a failing size.

    A point whose calls waited for a core (:func:`solvers.harness.measure.interference.verdict`)
    is timed again, up to ``options.retries`` times while its budget lasts; every call is kept,
    and the point is recorded ``disturbed`` (with why) when no attempt was clean.
    """
    stage = STAGES[task.stage]
    record = _base_record(task, sweeps)
    started = time.perf_counter()
    samples: list[float] = []
    cpu: list[float] = []
    try:
        body, backend = prepare_stage(stage, task.backend, task.n, task.d, warmup=1, memory_limit=grid.memory_limit)
        record["prepare_s"] = time.perf_counter() - started
        on_cpu = str(backend.device).startswith("cpu")
        for attempt in range(options.retries + 1):
            before = interference.calibrate()
            walls: list[float] = []
            calls: list[float] = []
            walls += time_body(body, backend, repeat=options.repeat, min_time=options.min_time,
                               max_time=options.point_budget, cpu=calls)
            samples += walls
            cpu += calls
            why = interference.verdict(walls, calls, before, interference.calibrate(), on_cpu)
            if not why or sum(samples) + min(samples) > options.point_budget:
                break
    except NotImplementedError as exc:
        record.update(status="skipped", reason=describe_exception(exc, brief=True))
        return record
    except Exception as exc:  # noqa: BLE001 - a failing size is a result (MemoryError included)
        record.update(status="failed", reason=describe_exception(exc, brief=True))
        return record
    finally:
        gc.collect()
    q25, median, q75 = (float(v) for v in np.percentile(samples, [25, 50, 75]))
    record.update(status="ok", reason="", times=samples, median=median, q25=q25, q75=q75, iqr=q75 - q25,
                  min=float(min(samples)),
                  repeats=len(samples), flops_per_s=record["flops"] / median if record["flops"] else None,
                  cpu_times=cpu, disturbed=bool(why), attempts=attempt + 1)
    if why:
        record["disturbance"] = why
    return record


def _predicted_call(stage: Stage, done: list[dict[str, Any]], task: Task, axis: str) -> float | None:
    """Predicted seconds per call at ``task`` from the fastest call at the last measured size.

    Scales by the stage's flop count, or (no flop count) by the exponent the claim implies
    with classical products along ``axis`` (where it implies none, the largest exponent
    along ``axis`` of the stage's cost-model terms): never by a measured local slope, which
    noise can make arbitrarily large.
    """
    ok = [r for r in done if r["status"] == "ok"]
    if not ok:
        return None
    last = ok[-1]
    fastest = last.get("min", last["median"])  # the least disturbed call: other jobs only slow calls down
    if stage.flops is not None:
        return fastest * stage.flops(task.n, task.d) / stage.flops(last["n"], last["d"])
    claim = stage.claim.claim_n if axis == "n" else stage.claim.claim_d
    exponent = (claim(OMEGA_CLASSICAL) if claim is not None
                else max(TERMS[name].power(axis) for name in stage.claim.cost_terms))
    return fastest * (getattr(task, axis) / last[axis]) ** exponent


def run_stage_timings(store: Store, grid: Grid, backends: list[str], options: Options,
                      tick: Callable[[str, float], None], stages: list[str] | None = None) -> None:
    """Measure every planned point not yet in ``store``, with the early cut-off per sweep."""
    from ...backends import backend_unavailable_reason

    rates = {b: (store.data["gemm"].get(b) or {}).get("flops_per_s") or 1e10 for b in backends}
    cut: dict[tuple[str, str, str], str] = {}
    history: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    unavailable = {b: backend_unavailable_reason(b) for b in backends}
    for task in plan(grid, backends, stages):
        stage = STAGES[task.stage]
        key = (task.backend, task.stage, task.sweep)
        axis = SWEEP_AXES[task.sweep][0]
        cost = estimate_seconds(stage, task.n, task.d, rates[task.backend], options)
        record = store.point(task.stage, task.backend, task.n, task.d)
        if record is None:
            sweeps = _sweeps_of(grid, stage, task.n, task.d)
            tick(f"{task.backend} {task.stage} n={task.n} d={task.d}", 0.0)
            predicted = _predicted_call(stage, history.get(key, []), task, axis)
            reason = ""
            if unavailable[task.backend]:
                reason = f"backend unavailable: {unavailable[task.backend]}"
            elif key in cut:
                reason = cut[key]
            elif predicted is not None and predicted > options.point_budget:
                reason = f"predicted {predicted:.3g} s per call > per-point budget {options.point_budget:g} s"
            if reason:
                record = {**_base_record(task, sweeps), "status": "skipped", "reason": reason}
            else:
                record = measure_point(task, grid, options, sweeps)
            store.add_point(record)
        history.setdefault(key, []).append(record)
        if key not in cut:
            if record["status"] == "failed":
                cut[key] = f"a smaller size failed ({task.sweep}-sweep, {axis}={getattr(task, axis)})"
            elif record["status"] == "skipped" and record["reason"].startswith("predicted"):
                cut[key] = f"a smaller size was already over the per-point budget ({axis}={getattr(task, axis)})"
            elif record["status"] == "ok" and record["median"] > options.point_budget:
                cut[key] = (f"{axis}={getattr(task, axis)} took {record['median']:.3g} s per call > per-point budget "
                            f"{options.point_budget:g} s")
        tick("", cost)


def measure_gemm(store: Store, backends: list[str], options: Options) -> None:
    """The backend's own square matrix-product rate and ``exp`` rate (the roofline's calibrations),
    measured in this run (once per backend)."""
    from ...backends import get_backend

    for name in backends:
        if name in store.data["gemm"]:
            continue
        try:
            backend = get_backend(name)
            rate = gemm_rate(backend, options.gemm_size)
            entry = GemmEntry(status="ok", size=options.gemm_size, flops_per_s=rate,
                              exp_per_s=exp_rate(backend, options.gemm_size))
        except Exception as exc:  # noqa: BLE001 - unavailable backends are recorded, not fatal
            entry = GemmEntry(status="failed", size=options.gemm_size, reason=describe_exception(exc, brief=True))
        finally:
            gc.collect()
        store.data["gemm"][name] = entry
        store.save()


def run_sparsification(store: Store, grid: Grid, tick: Callable[[str, float], None]) -> None:
    """The attention-sparsification measurements (a failure is recorded, not raised)."""
    previous = store.data.get("sparsification")
    if previous and previous.get("status") == "ok":
        tick("", SPARSIFICATION_ESTIMATE)
        return
    from . import sparsify

    try:
        data = sparsify.measure(grid.name, progress=lambda message: tick(f"sparsification: {message}", 0.0))
        entry = SparsificationRecord(status="ok", grid=grid.name, data=json_safe(data))
        json.dumps(entry, allow_nan=False)
    except Exception as exc:  # noqa: BLE001 - the report records why and continues
        entry = SparsificationRecord(status="failed", reason=describe_exception(exc, brief=True))
    entry["provenance"] = dict(store.provenance)  # type: ignore[typeddict-item]
    store.data["sparsification"] = entry
    store.save()
    tick("", SPARSIFICATION_ESTIMATE)


Tick = Callable[[str, float], None]
#: ``progress(total_seconds)`` -> a context manager yielding ``tick(label, advance_seconds)``.
ProgressFactory = Callable[[float], AbstractContextManager[Tick]]


@contextmanager
def _no_progress(total: float) -> Iterator[Tick]:
    yield lambda label, advance: None


def reproduce(grid: Grid | str = "quick", backends: list[str] | None = None, out_dir: Path | None = None, *,
              resume: bool = False, command: str = "", machine: str | None = None,
              progress: ProgressFactory | None = None, options: Options | None = None,
              stages: list[str] | None = None, solvers: list[str] | None = None, sparsification: bool = True,
              threads: int | None = None, rule: Rule | None = None) -> Path:
    """Run the measurements of the reproduction report; return the path of ``measurements.json``.

    Parameters
    ----------
    grid : Grid or str
        Sizes (``quick``, ``full``, ``gpu`` or a :class:`Grid`).
    backends : list of str, optional
        Default: the grid's backends, less optional ones not installed here (:meth:`Grid.default_backends`).
    out_dir : Path, optional
        Default ``out/reports/<machine>/`` (:data:`DEFAULT_OUT`) under the current directory.
    resume : bool
        Continue ``measurements.json`` in ``out_dir``: points already recorded (same
        stage, backend, n, d) and finished convergence runs are not measured again. Only a
        file measured at this commit with the same settings can be continued.
    command : str
        The command line, recorded with the run.
    machine : str, optional
        Overrides :func:`solvers.harness.measure.environment.machine_name`.
    progress : callable, optional
        Progress display (see :data:`ProgressFactory`); default: none.
    options : Options, optional
        Default :meth:`Options.for_grid`.
    stages, solvers : list of str, optional
        Restrict to these stages / solvers (default: all).
    sparsification : bool
        Include the attention-sparsification study.
    threads : int, optional
        Limit BLAS/OpenMP threads (and torch's) to this many for the whole run, e.g. 1 on a
        machine shared with other jobs; recorded with every point. Default: the libraries' own choice.

    Raises
    ------
    solvers.harness.records.ResumeConflict
        ``resume`` of a file measured at another commit or with other settings.
    rule : Rule, optional
        The verdict rule (δ, confidence), recorded as ``verdict_rule`` for the report.
        Default: the one already recorded on resume, else :class:`Rule`'s defaults.
    """
    from ...registry import list_solvers
    from .environment import collect, machine_name

    grid = get_grid(grid) if isinstance(grid, str) else grid
    backends = list(backends or grid.default_backends())
    options = options or Options.for_grid(grid)
    name = machine_name(machine)
    out_dir = Path(out_dir) if out_dir is not None else DEFAULT_OUT / name
    with thread_limit(threads, backends):
        header = {"schema": SCHEMA, "source": "reproduce", "machine": name, "command": command,
                  "grid": asdict(grid), "backends": backends, "options": asdict(options), "threads": threads,
                  "environment": collect()}
        store = Store.open(out_dir / "measurements.json", header, resume,
                           measured_under(threads=threads, grid=grid.name, options=asdict(options)))
        store.data["verdict_rule"] = asdict(rule or Rule.from_record(store.data))
        started = time.perf_counter()
        run: RunEntry = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "resumed": resume,
                         "command": command, "threads": threads}
        store.data["runs"].append(run)
        store.save()
        try:
            measure_gemm(store, backends, options)
            rates = {b: (store.data["gemm"][b].get("flops_per_s") or 1e10) for b in backends}
            run_sets = [
                RunSet("convergence", solvers or reference_first(list_solvers()), grid.convergence_sizes, (0,),
                       options.conv_eps, options.conv_max_iter, options.conv_max_time, study=False,
                       estimate=options.conv_max_time / 2),
                RunSet("convergence study", [s for s in STUDY_SOLVERS if s in list_solvers()], grid.study_sizes,
                       grid.study_seeds, STUDY_EPS, options.study_max_iter, options.study_max_time, study=True,
                       estimate=STUDY_ESTIMATE)]
            total = (sum(estimate_seconds(STAGES[t.stage], t.n, t.d, rates[t.backend], options)
                         for t in plan(grid, backends, stages))
                     + sum(len(r.sizes) * len(r.seeds) * len(r.solvers) * r.estimate for r in run_sets)
                     + (SPARSIFICATION_ESTIMATE if sparsification and grid.sparsification else 0.0))
            with (progress or _no_progress)(total) as tick:
                run_stage_timings(store, grid, backends, options, tick, stages)
                for runs in run_sets:
                    run_convergence(store, runs, backends[0], tick)
                if sparsification and grid.sparsification:
                    run_sparsification(store, grid, tick)
            run["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        finally:  # an interrupted run still accounts for the time it spent
            run["wall_s"] = time.perf_counter() - started
            store.save()
    return store.path

"""The record types: what ``measurements.json`` and the race files hold, declared once.

Every record the harness writes is a :class:`~typing.TypedDict` (plain JSON on disk, typed
in the code): a stage timing (:class:`StagePoint`), a convergence run (:class:`ConvergenceRun`),
the matrix-product rate (:class:`GemmEntry`), the sparsification measurements
(:class:`SparsificationRecord`), one invocation (:class:`RunEntry`), the whole
``measurements.json`` (:class:`Measurements`), and one method of a race
(:class:`RaceEntry`, in a :class:`RaceFile`). Each stage point, convergence run, race entry
and sparsification record carries the :class:`Provenance` it was measured under: the
commit and every setting that changes its numbers.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypedDict

#: Version of the record layout. 1: the first layout (no per-point provenance); 2: every stage
#: point and convergence run carries the ``provenance`` it was measured under; 3: that
#: provenance names the commit, and the grid, options and dtype of the measurement.
SCHEMA = 3

PointStatus = Literal["ok", "skipped", "failed"]


class Provenance(TypedDict, total=False):
    """How a point was measured: settings that change timings, recorded with each point."""

    threads: int | None        # native thread limit of the run (None: the libraries' own choice)
    allocator: str | None      # allocator policy (solvers.harness.measure.allocator)


class StagePoint(TypedDict, total=False):
    """One stage at one size on one backend: a timing, or why there is none."""

    stage: str
    backend: str
    n: int
    d: int
    status: PointStatus
    reason: str                 # why skipped or failed ("" when ok)
    sweeps: list[str]           # grid sweeps the point belongs to (absent in asv imports)
    flops: float | None         # classical flop count of one call (docs/maths.md §7)
    times: list[float]          # every timed call, seconds
    median: float
    q25: float
    q75: float
    iqr: float
    min: float
    repeats: int
    flops_per_s: float | None
    prepare_s: float
    cpu_times: list[float]      # the calling thread's CPU seconds of each timed call (absent before)
    disturbed: bool             # no attempt at this point got a whole core (absent before: not checked)
    disturbance: str            # why it is disturbed (measure/interference.py; only when disturbed)
    attempts: int               # times the point was timed (a disturbed attempt is retried)
    benchmark: str              # asv benchmark name (asv imports only)
    provenance: Provenance


class GemmEntry(TypedDict, total=False):
    """The backend's square matrix-product rate and ``exp`` rate (entries/s, the roofline's two
    calibrations), measured in the same run (older records have no ``exp_per_s``)."""

    status: Literal["ok", "failed"]
    size: int
    flops_per_s: float
    exp_per_s: float
    reason: str


class ConvergenceRun(TypedDict, total=False):
    """One solve of a planted problem: :meth:`SolveResult.to_dict` plus what was asked."""

    solver: str
    requested_backend: str
    backend: str
    dtype: str
    n: int
    d: int
    seed: int
    start: str
    eps: float
    max_iter: int
    max_time: float
    status: str
    message: str
    loss: float | None
    iterations: int
    time: float
    history: list[dict[str, float]]
    info: dict[str, Any]
    iterations_to_eps: dict[float, int | None]   # asv imports: ε -> iterations (no history)
    history_thinned: bool       # convergence study: only the rows of thin_history were kept
    provenance: Provenance


class SparsificationRecord(TypedDict, total=False):
    """The attention-sparsification measurements of a run, or why there are none."""

    status: Literal["ok", "failed"]
    grid: str
    data: dict[str, Any]        # solvers.harness.measure.sparsify.measure's error, timing and solve studies
    reason: str
    provenance: Provenance


class RunEntry(TypedDict, total=False):
    """One invocation of ``attnreg reproduce`` on this file (a resume adds one)."""

    started: str
    finished: str
    resumed: bool
    command: str
    wall_s: float
    threads: int | None


class Measurements(TypedDict, total=False):
    """The whole ``measurements.json``."""

    schema: int
    source: Literal["reproduce", "asv"]
    machine: str
    command: str
    grid: dict[str, Any]
    backends: list[str]
    options: dict[str, Any]
    threads: int | None
    environment: dict[str, Any]
    points: list[StagePoint]
    gemm: dict[str, GemmEntry]
    convergence: list[ConvergenceRun]
    runs: list[RunEntry]
    sparsification: SparsificationRecord
    convergence_study: list[ConvergenceRun]   # several sizes and seeds (absent before: no study)
    asv_not_run: int
    verdict_rule: dict[str, float]   # δ and confidence of the verdicts (absent before: the defaults)




class RaceEntry(TypedDict, total=False):
    """One method on one problem of a race: wall time to the target (``None``: not reached)."""

    method: str
    project: bool               # one of the project's methods (else a peer)
    n: int
    d: int
    seed: int
    wall: float | None
    solver_time: float
    iterations: int
    loss: float
    status: str
    message: str
    budget: float | None        # solver-time limit it ran under (None: the race's own max_time)
    provenance: Provenance
    # The benchmark matrix's case (records/cases.py); absent in races before it: planted, near-0.5, loss 1e-10.
    case: str                   # Case.key: kind/start/NxD/seed
    kind: str                   # planted, noisy-1%, noisy-10%, random
    start: str                  # near-0.5, near-1.5, near-3, zero, small
    noise: float                # noise added to B, a fraction of ‖B‖_F
    target: str                 # "loss" (L ≤ target_value) or "stationary" (‖∇L‖/‖∇L(start)‖ ≤ target_value)
    target_value: float
    grad_ratio: float           # ‖∇L‖/‖∇L(start)‖ at the method's last iterate


class RaceFile(TypedDict, total=False):
    """A race or benchmark-matrix file (``attnreg compare --race --json``, ``attnreg compare --matrix --json``)."""

    schema: int
    race: list[RaceEntry]
    environment: dict[str, Any]
    settings: dict[str, Any]    # the matrix's settings (absent in race files): default method, caps, ...


def thin_history(history: list[dict[str, float]], keep: int = 60) -> list[dict[str, float]]:
    """A long history cut to what the analysis reads: the first row below each power of ten of
    the loss (exact iterations and times to every decade of ε), and the first and last
    ``keep`` rows (consecutive iterations for the order of convergence). Short ones are kept whole."""
    if len(history) <= 2 * keep:
        return history
    kept, decade = [], None
    for index, row in enumerate(history):
        level = math.ceil(math.log10(row["loss"])) if row["loss"] and row["loss"] > 0 else None
        if index < keep or index >= len(history) - keep or level != decade:
            kept.append(row)
        decade = level
    return kept

"""The result schema: what ``measurements.json`` holds, how it is written and how old files are read.

Every record the harness writes is declared here once, as a :class:`~typing.TypedDict`
(plain JSON on disk, typed in the code): a stage timing (:class:`StagePoint`), a
convergence run (:class:`ConvergenceRun`), the matrix-product rate (:class:`GemmEntry`),
one invocation (:class:`RunEntry`) and the whole file (:class:`Measurements`). Files are
written atomically (:func:`write_atomic`: temporary file in the same folder, then
``os.replace``), so an interrupted run never leaves half a file. :func:`load_measurements`
reads every layout this project has written (schema 1 and the current :data:`SCHEMA`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np

#: Version of the ``measurements.json`` layout. 1: the first layout (no per-point provenance);
#: 2: every stage point and convergence run carries the ``provenance`` it was measured under.
SCHEMA = 2

PointStatus = Literal["ok", "skipped", "failed"]


class Provenance(TypedDict, total=False):
    """How a point was measured: settings that change timings, recorded with each point."""

    threads: int | None        # native thread limit of the run (None: the libraries' own choice)
    allocator: str | None      # allocator policy (solvers.harness.measure.allocator)
    backend_policy: dict[str, Any] | None  # Backend.describe() of the backend measured


class StagePoint(TypedDict, total=False):
    """One stage at one size on one backend: a timing, or why there is none."""

    stage: str
    backend: str
    n: int
    d: int
    status: PointStatus
    reason: str                 # why skipped or failed ("" when ok)
    sweeps: list[str]           # grid sweeps the point belongs to (absent in asv imports)
    flops: float | None         # classical flop count of one call (SPEC §7)
    times: list[float]          # every timed call, seconds
    median: float
    q25: float
    q75: float
    iqr: float
    min: float
    repeats: int
    flops_per_s: float | None
    prepare_s: float
    benchmark: str              # asv benchmark name (asv imports only)
    provenance: Provenance


class GemmEntry(TypedDict, total=False):
    """The backend's square matrix-product rate, measured in the same run."""

    status: Literal["ok", "failed"]
    size: int
    flops_per_s: float
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
    sparsification: dict[str, Any]
    convergence_study: list[ConvergenceRun]   # several sizes and seeds (absent before: no study)
    asv_not_run: int
    verdict_rule: dict[str, float]   # δ and confidence of the verdicts (absent before: the defaults)


def empty_measurements() -> Measurements:
    """A record with no measurements yet, at the current schema."""
    return Measurements(schema=SCHEMA, points=[], gemm={}, convergence=[], runs=[])


def load_measurements(source: Path | str | dict[str, Any]) -> Measurements:
    """Read a ``measurements.json`` (path or parsed dict) of any schema, upgraded to :data:`SCHEMA`.

    Schema 1 files recorded the thread limit once for the whole file; each of their points
    and runs gets it as its ``provenance``, which is what it was measured under.

    Raises
    ------
    ValueError
        The file is not a measurements record, or comes from a newer version of attnreg.
    """
    data = json.loads(Path(source).read_text()) if isinstance(source, (str, Path)) else dict(source)
    if not isinstance(data, dict) or "points" not in data:
        raise ValueError(f"{source if isinstance(source, (str, Path)) else 'record'} is not a measurements.json "
                         "written by attnreg (no 'points')")
    schema = int(data.get("schema", 1))
    if schema > SCHEMA:
        raise ValueError(f"measurements.json has schema {schema}; this attnreg reads up to {SCHEMA}: upgrade attnreg")
    data.setdefault("gemm", {})
    data.setdefault("convergence", [])
    data.setdefault("runs", [])
    if schema < 2:
        legacy: Provenance = {"threads": data.get("threads"),
                              "allocator": (data.get("environment") or {}).get("allocator")}
        for record in (*data["points"], *data["convergence"]):
            record.setdefault("provenance", dict(legacy))
        data["schema"] = SCHEMA
    for point in data["points"]:
        point.setdefault("reason", "")
    return data  # type: ignore[return-value]


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


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and NumPy scalars/arrays as Python values (strict JSON)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be read by everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, record: Any) -> None:
    """``record`` as strict, indented JSON (non-finite floats as null), written atomically."""
    write_atomic(Path(path), json.dumps(json_safe(record), indent=1, allow_nan=False, default=str) + "\n")


class Store:
    """A :class:`Measurements` record in memory, saved atomically after every change."""

    def __init__(self, path: Path, data: Measurements) -> None:
        self.path = Path(path)
        self.data = data
        #: Stamped on every point and run added from now on (the settings they are measured under).
        self.provenance: Provenance = {}

    @classmethod
    def open(cls, path: Path, header: dict[str, Any], resume: bool) -> "Store":
        """Start a fresh file, or with ``resume`` continue the one at ``path`` (any schema)."""
        data = load_measurements(path) if resume and Path(path).exists() else empty_measurements()
        data.update(header)  # type: ignore[typeddict-item]
        store = cls(path, data)
        store.save()
        return store

    def save(self) -> None:
        """Write the whole record."""
        write_json(self.path, self.data)

    def point(self, stage: str, backend: str, n: int, d: int) -> StagePoint | None:
        """The recorded point with this key, if any."""
        return next((p for p in self.data["points"] if (p["stage"], p["backend"], p["n"], p["d"]) ==
                     (stage, backend, n, d)), None)

    def add_point(self, record: StagePoint) -> None:
        """Record one measured (or skipped, or failed) point, with :attr:`provenance`, and save."""
        record.setdefault("provenance", dict(self.provenance))
        self.data["points"].append(record)
        self.save()

    def convergence(self, solver: str, backend: str, n: int, d: int) -> ConvergenceRun | None:
        """The recorded convergence run with this key, if any."""
        return next((c for c in self.data["convergence"] if (c["solver"], c["requested_backend"], c["n"], c["d"]) ==
                     (solver, backend, n, d)), None)

    def add_convergence(self, run: ConvergenceRun, study: bool = False) -> None:
        """Record one convergence run (with ``study``: of the convergence study), with :attr:`provenance`, and save."""
        run.setdefault("provenance", dict(self.provenance))
        target = self.data.setdefault("convergence_study", []) if study else self.data["convergence"]
        target.append(run)
        self.save()

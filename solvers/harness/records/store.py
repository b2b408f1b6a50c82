"""The measurements file of a run, in memory and on disk: :class:`Store`.

A resumed file never mixes commits or settings: every record already in it must have been
measured under the same commit (and dirty flag), thread limit, allocator policy, dtype,
grid and options (:data:`RESUME_KEYS` of its provenance) as the run that continues it, or
:meth:`Store.open` refuses with :class:`ResumeConflict` (one line, naming the first
difference). A resume keeps the file's header as it was started (its environment, and so
its commit); each record names its own commit in its provenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import write_json
from .reader import empty_measurements, load_measurements, measured_records
from .schema import ConvergenceRun, Measurements, Provenance, StagePoint

#: The provenance entries that change a record's numbers: a resume must match every one of them.
RESUME_KEYS = ("commit", "dirty", "threads", "allocator", "dtype", "grid", "options")


class ResumeConflict(ValueError):
    """Continuing a file would put records of another commit, or other settings, under one label."""


def resume_conflict(data: Measurements, provenance: Provenance) -> str | None:
    """Why records measured under ``provenance`` cannot join ``data`` (None: they can).

    Only entries a record states are compared (files older than schema 3 state no dtype).
    """
    for record in measured_records(data):
        stated = record.get("provenance") or {}
        for key in RESUME_KEYS:
            if key in stated and key in provenance and stated[key] != provenance[key]:
                if key == "commit":
                    return (f"its records were measured at commit {str(stated[key])[:12]}, this checkout is at "
                            f"{str(provenance[key])[:12]}")
                return f"its records were measured with {key} = {stated[key]!r}, this run has {provenance[key]!r}"
    return None


class Store:
    """A :class:`Measurements` record in memory, saved atomically after every change.

    Parameters
    ----------
    path : Path
    data : Measurements
    provenance : Provenance
        Stamped on every point and run added from now on (what they are measured under).
    """

    def __init__(self, path: Path, data: Measurements, provenance: Provenance) -> None:
        self.path = Path(path)
        self.data = data
        self.provenance = provenance

    @classmethod
    def open(cls, path: Path, header: dict[str, Any], resume: bool, provenance: Provenance) -> "Store":
        """Start a fresh file, or with ``resume`` continue the one at ``path`` (any schema).

        A continued file keeps its header; backends it did not list yet are added.

        Raises
        ------
        ResumeConflict
            ``resume`` of a file measured under another commit or other settings.
        """
        if resume and Path(path).exists():
            data = load_measurements(path)
            why = resume_conflict(data, provenance)
            if why:
                raise ResumeConflict(f"cannot resume {path}: {why}; resuming would mix their numbers under one label")
            for key, value in header.items():
                data.setdefault(key, value)  # type: ignore[misc]
            data["backends"] = list(dict.fromkeys([*data.get("backends", []), *header.get("backends", [])]))
        else:
            data = empty_measurements()
            data.update(header)  # type: ignore[typeddict-item]
        store = cls(path, data, provenance)
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

    def add_convergence(self, run: ConvergenceRun, study: bool = False) -> None:
        """Record one convergence run (with ``study``: of the convergence study), with :attr:`provenance`, and save."""
        run.setdefault("provenance", dict(self.provenance))
        target = self.data.setdefault("convergence_study", []) if study else self.data["convergence"]
        target.append(run)
        self.save()

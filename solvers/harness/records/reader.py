"""Reading records of every layout this project has written, upgraded to the current one.

Old files are read as they were measured: a ``measurements.json`` of schema 1 recorded the
thread limit once for the whole file, one of schema 1 or 2 its commit once (in its
environment); each of their points and runs gets those as its provenance. Race files
written before they had a schema get the commit of their environment the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .schema import SCHEMA, Measurements, Provenance, RaceEntry, RaceFile


def empty_measurements() -> Measurements:
    """A record with no measurements yet, at the current schema."""
    return Measurements(schema=SCHEMA, points=[], gemm={}, convergence=[], runs=[])


def load_measurements(source: Path | str | dict[str, Any]) -> Measurements:
    """Read a ``measurements.json`` (path or parsed dict) of any schema, upgraded to :data:`SCHEMA`.

    Schema 1 files recorded the thread limit once for the whole file, schema 1 and 2 files
    the commit, grid and options; each of their points and runs gets those in its
    ``provenance``, which is what it was measured under (a point's own provenance wins).

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
    if schema < 3:
        recorded = {**_file_commit(data), **_file_settings(data)}
        for record in measured_records(data):  # type: ignore[arg-type]
            record["provenance"] = {**recorded, **(record.get("provenance") or {})}
    data["schema"] = SCHEMA
    for index, point in enumerate(data["points"]):
        where = f" ({point.get('stage', '?')} n={point.get('n')} d={point.get('d')})" if isinstance(point, dict) else ""
        _check_record(f"point {index}{where}", point, POINT_FIELDS, POINT_NUMBERS)
        point.setdefault("reason", "")
    return data  # type: ignore[return-value]


#: The fields of a stage point the analysis reads, and the types it reads them as …
POINT_FIELDS: dict[str, tuple[type, ...]] = {"stage": (str,), "backend": (str,), "n": (int,), "d": (int,),
                                             "status": (str,)}
#: … and its timings: numbers ≥ 0, or missing.
POINT_NUMBERS = ("median", "q25", "q75", "min", "iqr", "flops", "flops_per_s")
#: The same for a race or matrix entry.
ENTRY_FIELDS: dict[str, tuple[type, ...]] = {"method": (str,), "status": (str,), "n": (int,), "d": (int,)}
ENTRY_NUMBERS = ("wall", "solver_time", "iterations")


def _check_record(what: str, record: Any, fields: dict[str, tuple[type, ...]], numbers: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming ``what`` and the field where a (hand-edited) record does not hold what the
    analysis reads: ``fields`` of their types, and ``numbers`` ≥ 0 (or nothing); a point's ``times`` too."""
    if not isinstance(record, dict):
        raise ValueError(f"{what} is a {type(record).__name__}, not a record")
    for name, kinds in fields.items():
        value = record.get(name)
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise ValueError(f"{what}: {name!r} must be {' or '.join(kind.__name__ for kind in kinds)}, got {value!r}")
    for name in numbers:
        value = record.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0):
            raise ValueError(f"{what}: {name!r} must be a number ≥ 0, got {value!r}")
    times = record.get("times") or []
    if not isinstance(times, list) or any(isinstance(t, bool) or not isinstance(t, (int, float)) for t in times):
        raise ValueError(f"{what}: 'times' must be a list of seconds")


def measured_records(data: Measurements) -> list[dict[str, Any]]:
    """Every record of ``data`` that carries a provenance: stage points, convergence runs (and
    those of the study), and the sparsification measurements."""
    sparsification = data.get("sparsification")
    return [*data["points"], *data["convergence"], *data.get("convergence_study", []),
            *([sparsification] if isinstance(sparsification, dict) else [])]


def _file_settings(data: dict[str, Any]) -> Provenance:
    """The grid and options a file recorded once for the whole run (none in asv imports)."""
    settings = Provenance()
    if isinstance(data.get("grid"), dict) and data["grid"].get("name"):
        settings["grid"] = data["grid"]["name"]
    if isinstance(data.get("options"), dict):
        settings["options"] = data["options"]
    return settings



def load_race(source: Path | str | dict[str, Any]) -> RaceFile:
    """Read a race file (path or parsed dict) of any schema, every entry with its provenance.

    Raises
    ------
    ValueError
        The file is not a race file, or comes from a newer version of attnreg.
    """
    data = json.loads(Path(source).read_text()) if isinstance(source, (str, Path)) else dict(source)
    if not isinstance(data, dict) or not isinstance(data.get("race"), list):
        raise ValueError("not a race file written by `attnreg compare --race --json` (no 'race' list)")
    schema = int(data.get("schema", 1))
    if schema > SCHEMA:
        raise ValueError(f"race file has schema {schema}; this attnreg reads up to {SCHEMA}: upgrade attnreg")
    legacy = _file_commit(data)
    entries: list[RaceEntry] = []
    for index, record in enumerate(data["race"]):
        where = f" ({record.get('case', '')} {record.get('method', '?')})" if isinstance(record, dict) else ""
        _check_record(f"entry {index}{where}", record, ENTRY_FIELDS, ENTRY_NUMBERS)
        entry = RaceEntry(**record)  # type: ignore[typeddict-item]
        entry["provenance"] = {**legacy, **(record.get("provenance") or {})}
        entries.append(entry)
    race = RaceFile(schema=SCHEMA, race=entries, environment=data.get("environment") or {})
    if isinstance(data.get("settings"), dict):
        race["settings"] = data["settings"]
    return race


def _file_commit(data: dict[str, Any]) -> Provenance:
    """The commit a file recorded once, in its environment (what its older records were measured at)."""
    git = (data.get("environment") or {}).get("git") or {}
    return Provenance(commit=git.get("commit"), dirty=git.get("dirty"))

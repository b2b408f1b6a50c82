"""Writing records: strict JSON (non-finite floats as null), always atomically."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .schema import SCHEMA, RaceEntry, RaceFile


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


def write_race(path: Path, entries: list[RaceEntry], environment: dict[str, Any],
               settings: dict[str, Any] | None = None) -> None:
    """A race file (:class:`~solvers.harness.records.schema.RaceFile`): the entries, the environment and
    (a matrix) its settings, atomically."""
    record = RaceFile(schema=SCHEMA, race=entries, environment=environment)
    if settings is not None:
        record["settings"] = settings
    write_json(path, record)

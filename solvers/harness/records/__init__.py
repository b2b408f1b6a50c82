"""The one schema of the harness: every record measuring writes and analysing reads.

:mod:`.schema` declares the record types, :mod:`.files` writes them (strict JSON,
atomically), :mod:`.reader` reads every layout this project has written, and :mod:`.store`
keeps a run's ``measurements.json`` and refuses a resume that would mix commits or settings.
"""

from .files import json_safe, write_atomic, write_json, write_race
from .reader import empty_measurements, load_measurements, load_race, measured_records
from .schema import (SCHEMA, ConvergenceRun, GemmEntry, Measurements, PointStatus, Provenance, RaceEntry, RaceFile,
                     RunEntry, SparsificationRecord, StagePoint, thin_history)
from .store import RESUME_KEYS, ResumeConflict, Store, resume_conflict

__all__ = ["RESUME_KEYS", "SCHEMA", "ConvergenceRun", "GemmEntry", "Measurements", "PointStatus", "Provenance",
           "RaceEntry", "RaceFile", "ResumeConflict", "RunEntry", "SparsificationRecord", "StagePoint", "Store",
           "empty_measurements", "json_safe", "load_measurements", "load_race", "measured_records",
           "resume_conflict", "thin_history", "write_atomic", "write_json", "write_race"]

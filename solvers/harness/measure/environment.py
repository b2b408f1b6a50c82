"""The environment every result carries: versions, BLAS, threads, CPU/GPU, dtype policy, commit.

Library versions come from package metadata, so collecting them imports neither torch
nor CuPy; GPU facts are read from ``nvidia-smi`` and, only for a GPU backend that is
already constructed, from the backend itself.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from ...backends import Backend
from ..records import Provenance
from .allocator import allocator_policy

_PACKAGES = ("attnreg", "numpy", "scipy", "array-api-compat", "torch", "cupy-cuda12x", "cupy", "asv", "matplotlib")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _run(command: list[str], cwd: Path | None = None) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        import cpuinfo

        return cpuinfo.get_cpu_info().get("brand_raw") or platform.processor()
    except Exception:  # noqa: BLE001 - py-cpuinfo can fail on exotic machines
        return platform.processor() or "unknown"


def git_commit(path: Path | None = None) -> dict[str, Any]:
    """The commit of the checkout holding ``path`` (default: this package), and whether its
    code differs from it (changes under ``reports/`` do not count)."""
    where = path or Path(__file__).resolve().parent
    commit = _run(["git", "rev-parse", "HEAD"], cwd=where)
    if commit is None:
        return {"commit": None, "dirty": None}
    # reports/ is where runs write their own results: it does not make the code dirty
    status = _run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)reports"], cwd=where)
    return {"commit": commit, "dirty": bool(status)}


def measured_under(*, threads: int | None, grid: str, options: dict[str, Any], dtype: str = "float64") -> Provenance:
    """The provenance of what this process measures now: this checkout's commit, the allocator
    policy, and the settings of the run (thread limit, grid, options, dtype)."""
    git = git_commit()
    return Provenance(commit=git["commit"], dirty=git["dirty"], threads=threads, allocator=allocator_policy(),
                      dtype=dtype, grid=grid, options=options)


def collect(backend: Backend | None = None) -> dict[str, Any]:
    """Everything needed to reproduce or interpret a timing, as a JSON-ready dict."""
    from threadpoolctl import threadpool_info

    gpus = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    blas = [{key: info.get(key) for key in ("internal_api", "version", "num_threads", "threading_layer", "architecture")}
            for info in threadpool_info() if info.get("user_api") == "blas"]
    record: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.node(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "versions": {name: _version(name) for name in _PACKAGES if _version(name)},
        "blas": blas,
        "gpus": gpus.splitlines() if gpus else [],
        "git": git_commit(),
        "allocator": allocator_policy(),
        "env_vars": {key: os.environ[key] for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "CUDA_VISIBLE_DEVICES") if key in os.environ},
    }
    if backend is not None:
        record["backend"] = backend.describe()
    return record


def format_lines(record: dict[str, Any]) -> list[str]:
    """Human-readable ``key: value`` lines for ``attnreg env``."""
    lines = [f"python: {record['python']} ({record['platform']})",
             f"cpu: {record['cpu']} ({record['cpu_count']} logical cores)"]
    lines += [f"{name}: {version}" for name, version in record["versions"].items()]
    for info in record["blas"]:
        lines.append(f"blas: {info['internal_api']} {info['version']} ({info['threading_layer']}, "
                     f"{info['num_threads']} threads, {info['architecture']})")
    lines += [f"gpu: {line}" for line in record["gpus"]] or ["gpu: none found (nvidia-smi absent or no device)"]
    git = record["git"]
    lines.append(f"commit: {git['commit'] or 'not a git checkout'}{' (dirty)' if git['dirty'] else ''}")
    allocator = record.get("allocator", {})
    lines.append(f"allocator: {allocator.get('policy')} " + (f"(mmap threshold {allocator['mmap_threshold']})"
                 if allocator.get("policy") == "retain" else f"({allocator.get('reason', '')})"))
    for key, value in record.get("backend", {}).items():
        lines.append(f"backend.{key}: {value}")
    lines += [f"env {key}={value}" for key, value in record["env_vars"].items()]
    return lines


def machine_name(override: str | None = None) -> str:
    """Name of this machine for ``reports/<name>/``: ``override``, asv's machine name, or the host name."""
    name = override
    if name is None:
        path = Path.home() / ".asv-machine.json"
        try:
            name = next((key for key in json.loads(path.read_text()) if key != "version"), None)
        except (OSError, ValueError):
            name = None
    name = name or platform.node() or "unknown"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "unknown"


@contextmanager
def thread_limit(threads: int | None, backends: list[str]) -> Iterator[None]:
    """Limit native thread pools (BLAS, OpenMP, torch's intra-op pool) to ``threads`` while inside."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch_threads = None
    if any(name.startswith("torch") for name in backends):
        import torch

        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)

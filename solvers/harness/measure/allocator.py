"""Allocator policy for timing runs: keep freed memory inside the process.

glibc serves every allocation above 128 KiB with a fresh ``mmap`` and hands it back to
the kernel on ``free``. Array code allocates new temporaries on every call, so each call
then pays one page fault per 4 KiB it touches; below the 4 MiB where NumPy asks for huge
pages this dominates small sizes (measured here: the forward pass at n=256, d=32 takes
1.5 ms with glibc's defaults and 0.4 ms without the faults), which bends every fitted
exponent. Timing commands therefore raise glibc's mmap and trim thresholds, so freed
blocks are reused; the policy applies to NumPy and torch alike, is recorded with every
result, and ``ATTNREG_MALLOC=system`` turns it off. Importing :mod:`solvers` never
changes it: only the ``attnreg`` commands and the benchmark suites call
:func:`retain_freed_memory`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from typing import Any

ENV_VAR = "ATTNREG_MALLOC"
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 30
_TRIM_THRESHOLD = (1 << 31) - 1

_policy: dict[str, Any] = {"policy": "system", "reason": "retain_freed_memory() not called"}


def retain_freed_memory() -> dict[str, Any]:
    """Raise glibc's mmap/trim thresholds (once per process) unless ``$ATTNREG_MALLOC=system``.

    Returns
    -------
    dict
        The policy in force, as :func:`allocator_policy` reports it.
    """
    global _policy
    if _policy["policy"] == "retain":
        return dict(_policy)
    if os.environ.get(ENV_VAR, "retain") == "system":
        _policy = {"policy": "system", "reason": f"{ENV_VAR}=system"}
    elif platform.libc_ver()[0] != "glibc":
        _policy = {"policy": "system", "reason": f"not glibc ({platform.libc_ver()[0] or 'unknown libc'})"}
    else:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
        _policy = ({"policy": "retain", "mmap_threshold": _MMAP_THRESHOLD, "trim_threshold": _TRIM_THRESHOLD}
                   if ok else {"policy": "system", "reason": "mallopt refused the thresholds"})
    return dict(_policy)


def allocator_policy() -> dict[str, Any]:
    """The allocator policy of this process, for the environment record."""
    return dict(_policy)

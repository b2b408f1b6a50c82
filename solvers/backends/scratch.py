"""Per-thread scratch arrays for the row-blocked oracles' n-wide temporaries (the host backends' ``product_into``).

A block's logits and products live for one block: reusing their memory, call after call,
spares the fresh pages (a page fault per 4 KiB, whatever the allocator keeps) and finds them
in cache. Each thread keeps its own arrays, so blocks that run concurrently never share one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

#: Largest scratch array kept per slot and thread (larger products are allocated as usual).
SCRATCH_BYTES = 2**25

_local = threading.local()


def scratch(key: Hashable, size: int, allocate: Callable[[int], Any]) -> Any:
    """This thread's flat array under ``key`` with at least ``size`` entries (``allocate(size)`` makes a new one)."""
    buffers: dict[Hashable, tuple[int, Any]] = _local.__dict__.setdefault("buffers", {})
    held = buffers.get(key)
    if held is None or held[0] < size:
        held = buffers[key] = (size, allocate(size))
    return held[1]

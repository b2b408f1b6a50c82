"""pytest-benchmark: the main stages on small sizes, on every backend that runs here.

CI writes the numbers with ``--benchmark-json=out/benchmarks.json``; nothing here asserts
on a timing (shared runners vary by 0.6–1.5× run to run). ``--benchmark-disable`` runs
each body once, as a plain test. Stages are defined once, in :mod:`solvers.harness.measure.stages`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from array_api_compat import is_array_api_obj

from solvers.harness.measure.allocator import retain_freed_memory
from solvers.harness.measure.stages import STAGES, prepare_stage, run_synchronized

from .conftest import ALL_BACKENDS

#: Small sizes: products at n ≫ d, d²×d² stages at a d whose Hessian is 64×64.
SIZES = {"forward": (256, 16), "gradient": (256, 16), "y_solve": (256, 16), "hvp": (256, 16),
         "hessian_assembly": (64, 8), "hessian_solve": (64, 8)}
ROUNDS = 5


@pytest.fixture(scope="module", autouse=True)
def allocator_policy() -> dict:
    """Time under the allocator policy of every attnreg measurement (solvers/allocator.py)."""
    return retain_freed_memory()


def arrays_in(out: Any) -> Iterator[Any]:
    """The arrays a stage body returned: inside tuples (named ones too), and a Y step's Y."""
    if isinstance(out, tuple):
        for item in out:
            yield from arrays_in(item)
    elif is_array_api_obj(out):
        yield out
    elif hasattr(out, "Y") and is_array_api_obj(out.Y):
        yield out.Y


@pytest.mark.parametrize("stage", list(SIZES))
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_stage(benchmark, stage: str, backend: str) -> None:
    n, d = SIZES[stage]
    body, device = prepare_stage(stage, backend, n, d)
    flops = STAGES[stage].flops(n, d)
    benchmark.group = stage
    benchmark.extra_info.update(stage=stage, backend=backend, n=n, d=d, flops=flops)
    out = benchmark.pedantic(run_synchronized, args=(body, device), rounds=ROUNDS, iterations=1)
    found = list(arrays_in(out))  # what the timed body computed is there and finite: it did the work
    assert found and all(np.all(np.isfinite(device.to_numpy(array))) for array in found), stage
    stats = benchmark.stats
    if stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["gflops_median"] = flops / stats.stats.median / 1e9
        assert math.isfinite(benchmark.extra_info["gflops_median"])

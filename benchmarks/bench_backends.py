"""Each backend's oracles against NumPy's (:mod:`solvers.harness.measure.versus_backends`, issue #24).

``track_time_over_numpy``: the other backend's time over NumPy's for the loss, the value and
gradient, ``hvp_x``, the joint ``hvp`` and the Y step at (1024, 32) and (4096, 64), each library
with its own threads, interleaved, best of seven after three untimed calls (as ``python
scripts/backend_ratios.py --repeat 7``; best of three moved the loss at (4096, 64) by ±0.07) (< 1: faster than
NumPy; the target on the CPU is ≤ 1.1). n/a where the backend is not installed or has no device
here. Runs on every grid: ten points per backend.
"""

from __future__ import annotations

from solvers.backends import BACKEND_NAMES, backend_unavailable_reason
from solvers.harness.measure import versus_backends

from . import _common  # noqa: F401 - importing it applies the allocator policy of every suite


#: Interleaved timed calls of each backend per point (the best counts).
REPEAT = 7


class OraclesVersusNumpy:
    """Other backend's time over NumPy's, per oracle and size."""

    param_names = ["backend", "size", "oracle"]
    params = [[name for name in BACKEND_NAMES if name != "numpy"], [f"{n}x{d}" for n, d in versus_backends.SIZES],
              list(versus_backends.ORACLES)]
    timeout = 600.0

    def setup(self, backend: str, size: str, oracle: str) -> None:
        reason = backend_unavailable_reason(backend)
        if reason is not None:
            raise NotImplementedError(reason)

    def track_time_over_numpy(self, backend: str, size: str, oracle: str) -> float:
        n, d = (int(v) for v in size.split("x"))
        (row,) = versus_backends.versus_numpy(n, d, backend, (oracle,), repeat=REPEAT)
        return row["ratio"]

    track_time_over_numpy.unit = "ratio"

"""Whether other work on the machine disturbed a timed point: the CPU share of its calls and of a calibration kernel.

On a shared machine the scheduler takes the cores away from a timed call: its wall-clock
time grows while the CPU time of the process that runs it does not. Each timed call records
both (:func:`solvers.harness.measure.stages.time_body`, ``cpu=``), the CPU time summed over
the process's threads: the row-blocked oracles run their blocks on worker threads while the
calling thread waits (its own CPU time read those calls as 0–10 % of a core on the idle
machine, and every NumPy product point from n = 1024 on as disturbed). On an idle machine a
call gets at least one core (a multi-threaded LAPACK call's threads doze a little: 0.75–0.9
measured for the Cholesky of a 2304² matrix on two idle cores), so a CPU share (process CPU
time / wall time) well below that means it was waiting for a core; a call on two threads
that lost one core to other work still reads about one core, which the calibration kernel
below is there to catch. The fits read the fastest call; a point is
**disturbed** when even that call got less than :data:`MIN_CALL_SHARE` of a core, or a small
single-threaded calibration kernel timed just before and after the point (1.0 on an idle
machine) got less than :data:`MIN_CALIBRATION_SHARE`. What a disturbed point means for the
verdicts is decided in :mod:`solvers.harness.analyse.disturbance`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: A timed call whose process got less of a core than this waited for one (two busy processes
#: beside a two-threaded call on two cores leave it about half).
MIN_CALL_SHARE = 0.6
#: The single-threaded calibration kernel gets a whole core on an idle machine; less than this: a busy one.
MIN_CALIBRATION_SHARE = 0.8
#: Elements of the calibration kernel's array (single-threaded NumPy work, ≈ 1 ms).
CALIBRATION_SIZE = 1 << 14


@dataclass(frozen=True)
class Calibration:
    """One run of the calibration kernel: wall and thread CPU seconds."""

    wall: float
    cpu: float

    @property
    def share(self) -> float:
        """The share of a core the kernel got."""
        return self.cpu / self.wall if self.wall > 0 else 1.0


def calibrate(repeat: int = 3) -> Calibration:
    """Time a fixed single-threaded kernel ``repeat`` times; the run that got the most of a core."""
    x = np.linspace(0.0, 1.0, CALIBRATION_SIZE)
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(4):
            np.exp(np.sin(x))
        runs.append(Calibration(time.perf_counter() - wall, time.thread_time() - cpu))
    return max(runs, key=lambda run: run.share)


def verdict(walls: Sequence[float], cpus: Sequence[float] | None, before: Calibration, after: Calibration,
            on_cpu: bool) -> str:
    """Why the point is disturbed ("" when it is not).

    ``walls``/``cpus``: wall and process CPU seconds of each timed call (``cpus`` None: not
    recorded); ``before``/``after``: the calibration kernel around the point; ``on_cpu``:
    whether the calls ran on the CPU (a GPU call waits for its device, not for a core, so
    only the calibration kernel speaks for it).
    """
    reasons = []
    if on_cpu and cpus:
        fastest = int(np.argmin(walls))
        share = cpus[fastest] / walls[fastest] if walls[fastest] > 0 else 1.0
        if share < MIN_CALL_SHARE:
            reasons.append(f"its fastest call got {share:.0%} of a core")
    worst = min(before, after, key=lambda run: run.share)
    if worst.share < MIN_CALIBRATION_SHARE:
        reasons.append(f"the calibration kernel beside it got {worst.share:.0%} of a core")
    return "; ".join(reasons)

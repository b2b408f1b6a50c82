"""One full iteration of each second-order solver (``iteration:<solver>`` stages), against d."""

from __future__ import annotations

from solvers.backends import BACKEND_NAMES
from solvers.harness.claims import ITERATION_SOLVERS
from solvers.harness.measure.stages import STAGES, prepare_stage, run_synchronized

from ._common import StageSuite, check_point, peak_memory, sweep_values


class Iteration:
    """``solver.step`` from a fixed state near the planted solution, at the grid's fixed n.

    Solvers that are not registered (yet) are n/a. Claim: ∝ d^(2ω) at large d for the
    methods that solve with a d²×d² (joint: 2d²×2d²) matrix; matrix-multiplication time
    per CG step for ``newton-cg``.
    """

    param_names = ["solver", "backend", "n", "d"]
    params = [list(ITERATION_SOLVERS), list(BACKEND_NAMES), *sweep_values("solve_d")]
    number = StageSuite.number
    repeat = StageSuite.repeat
    warmup_time = StageSuite.warmup_time
    timeout = StageSuite.timeout

    def setup(self, solver: str, backend: str, n: int, d: int) -> None:
        stage = STAGES[f"iteration:{solver}"]
        grid = check_point(backend, n, d, stage.claim.sweeps, stage.name)
        self.body, self.backend = prepare_stage(stage, backend, n, d, memory_limit=grid.memory_limit)

    def time_iteration(self, solver: str, backend: str, n: int, d: int) -> None:
        """Wall-clock time of one step, the device synchronised before the clock stops."""
        run_synchronized(self.body, self.backend)

    def track_peak_memory(self, solver: str, backend: str, n: int, d: int) -> float:
        """Peak device memory one step allocates beyond its state (see :func:`peak_memory`)."""
        return peak_memory(self.body, self.backend)

    track_peak_memory.unit = "bytes"


class IterationAlternatingAcross(StageSuite):
    """One iteration of the paper's method against n at the grid's d values, across n = d²."""

    stage = "iteration:alternating"
    sweep = "cross_n"

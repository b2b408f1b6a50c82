"""The race (:mod:`solvers.harness.measure.race`): the project's methods against the peers a user would pick.

Planted problems, start X* + 0.5·G, wall time to L ≤ 1e-10. The race runs once per asv run
(``setup_cache``). On the default ``quick`` grid it races one small problem, (128, 16) seed 0,
with every method capped at :data:`QUICK_MAX_TIME` seconds (a minute or two on two cores),
so ``asv run --quick`` stays quick; any other grid (``ATTNREG_GRID=full``) runs the whole race,
(128, 16), (512, 32) and (1024, 64) with seeds 0–2 (10–30 minutes). The tracks report, per
problem, the best project time, the best peer time and their ratio (peer / project: > 1
means the project wins); problems the active grid does not race are n/a. An overhead
check rides along: the project's ``lbfgs`` against raw SciPy L-BFGS-B for the same
iterations (the oracles against ``jax.jit``: :mod:`benchmarks.bench_versus_jax`).
"""

from __future__ import annotations

from typing import Any

from asv_runner.benchmarks.mark import SkipNotImplemented

from solvers.harness.analyse.race import summarise
from solvers.harness.measure import race

from ._common import active_grid  # importing _common applies the allocator policy of every suite

SIZES = [f"{n}x{d}" for n, d in race.SIZES]
#: What the quick grid races, and each method's solver-time cap there.
QUICK_SIZES, QUICK_SEEDS, QUICK_MAX_TIME = ((128, 16),), (0,), 20.0


def _size(text: str) -> tuple[int, int]:
    n, d = text.split("x")
    return int(n), int(d)


class Race:
    """Wall time to L ≤ 1e-10: best peer over best project method, per problem."""

    param_names = ["size", "seed"]
    params = [SIZES, list(race.SEEDS)]
    timeout = 7200.0

    def setup_cache(self) -> dict[str, Any]:
        quick = active_grid().name == "quick"
        entries = (race.run_race(QUICK_SIZES, QUICK_SEEDS, max_time=QUICK_MAX_TIME) if quick else race.run_race())
        return {f"{row.n}x{row.d}/{row.seed}": row for row in summarise(entries)}

    setup_cache.timeout = 7200.0

    def _row(self, rows: dict[str, Any], size: str, seed: int) -> Any:
        row = rows.get(f"{size}/{seed}")
        if row is None:  # SkipNotImplemented: n/a from a benchmark's body (a NotImplementedError there is a failure)
            raise SkipNotImplemented(f"{size} seed {seed} is not raced on the {active_grid().name} grid")
        if row.project_wall is None:
            raise SkipNotImplemented(f"{size} seed {seed}: no project method reached the target")
        return row

    def track_peer_over_project(self, rows: dict[str, Any], size: str, seed: int) -> float:
        """Best peer wall time / best project wall time; n/a (saying why) where no peer reached the target, for
        the ratio is then only bounded below by the peers' budget (``budget_factor``), whatever the project did."""
        row = self._row(rows, size, seed)
        if row.lower:
            raise SkipNotImplemented(f"{size} seed {seed}: no peer reached the target; the ratio is ≥ {row.ratio:.3g}, "
                                     "the peers' budget, not a measurement")
        return row.ratio

    track_peer_over_project.unit = "ratio"

    def track_project_wall(self, rows: dict[str, Any], size: str, seed: int) -> float:
        """Wall seconds of the project's fastest method."""
        return self._row(rows, size, seed).project_wall

    track_project_wall.unit = "seconds"


class LbfgsOverhead:
    """The project's ``lbfgs`` wall time over raw SciPy L-BFGS-B's for the same iterations (target ≤ 1.2)."""

    timeout = 1800.0

    def track_lbfgs_over_raw_scipy(self) -> float:
        """200 iterations at (512, 32), best of three each, side by side."""
        return race.lbfgs_overhead()["ratio"]

    track_lbfgs_over_raw_scipy.unit = "ratio"

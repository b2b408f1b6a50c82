"""The benchmark matrix (:mod:`solvers.harness.measure.matrix`): performance-profile shares of the default method.

Every method on every case (problem kind × start × size × seed), wall time to the case's
target (L ≤ 1e-10 where min L = 0, else ‖∇L‖/‖∇L(start)‖ ≤ 1e-8). The matrix runs once per asv
run (``setup_cache``, into a temporary file). On the default ``quick`` grid it runs the quick
matrix (5 cases at (48, 6), the default method, newton-cg and L-BFGS-B: seconds); on any other
grid (``ATTNREG_GRID=full``) the full matrix (104 cases, every method not hopeless, two
single-threaded workers: about an hour, estimated from a subset). The tracks are the default
method's shares of the cases some method solved: solved, fastest, within 2× of the fastest
(the issue's bars: 95 %, 60 %, 90 %), and the strongest peer's share solved.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from solvers.harness.analyse.profile import analyse_matrix
from solvers.harness.measure import matrix

from ._common import active_grid  # importing _common applies the allocator policy of every suite


class Matrix:
    """Shares of the performance profile (the default method's; the best peer's share solved)."""

    timeout = 7200.0

    def setup_cache(self) -> dict[str, float]:
        quick = active_grid().name == "quick"
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "matrix.json"
            if quick:
                race, _ = matrix.run_matrix(matrix.quick_cases(), path, methods=matrix.QUICK_METHODS, pause=0.05,
                                              max_time=matrix.QUICK_MAX_TIME)
            else:
                race, _ = matrix.run_matrix(matrix.full_cases(), path, workers=2)
        analysis = analyse_matrix(race["race"], matrix.DEFAULT_METHOD)
        peers = [m for m in analysis.methods if not analysis.project.get(m)]
        shares = {what: analysis.share(matrix.DEFAULT_METHOD, what) for what in ("solved", "fastest", "within2")}
        peer_shares = [share for share in (analysis.share(m, "solved") for m in peers) if share is not None]
        shares["best_peer_solved"] = max(peer_shares, default=None)
        # NaN, which asv shows as n/a, where no case was solved (asv records a None as a failure)
        return {key: math.nan if value is None else value for key, value in shares.items()}

    setup_cache.timeout = 7200.0

    def track_default_solved(self, shares: dict[str, Any]) -> float:
        """Share of the cases some method solved that the default method solved."""
        return shares["solved"]

    track_default_solved.unit = "fraction"

    def track_default_fastest(self, shares: dict[str, Any]) -> float:
        """Share of those cases where the default method was the fastest."""
        return shares["fastest"]

    track_default_fastest.unit = "fraction"

    def track_default_within_2x(self, shares: dict[str, Any]) -> float:
        """Share of those cases where the default method was within 2× of the fastest."""
        return shares["within2"]

    track_default_within_2x.unit = "fraction"

    def track_best_peer_solved(self, shares: dict[str, Any]) -> float:
        """The largest share of those cases any peer solved."""
        return shares["best_peer_solved"]

    track_best_peer_solved.unit = "fraction"

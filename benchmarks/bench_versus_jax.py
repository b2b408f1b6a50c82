"""The project's oracles against ``jax.jit`` of the same formula (:mod:`solvers.harness.measure.versus_jax`).

``track_jax_over_project``: JAX time / project time for the loss, the value and gradient,
``hvp_x`` and the joint ``hvp`` at (512, 32), (2048, 64) and (4096, 64), one thread each,
interleaved, best of five (> 1: the project is faster). n/a where JAX is not installed
(``pip install -e ".[jax]"``). Each point runs in its own process (asv's forkserver), so
XLA's one-thread flags take effect. Runs on every grid: a handful of points.
"""

from __future__ import annotations

from solvers.harness.measure import versus_jax

from . import _common  # noqa: F401 - importing it applies the allocator policy of every suite


class OraclesVersusJax:
    """JAX time over project time per oracle and size (target ≥ 1)."""

    param_names = ["size", "oracle"]
    params = [[f"{n}x{d}" for n, d in versus_jax.SIZES], list(versus_jax.ORACLES)]
    timeout = 600.0

    def setup(self, size: str, oracle: str) -> None:
        from solvers.methods.jax_peers import jax_unavailable_reason

        reason = jax_unavailable_reason()
        if reason is not None:
            raise NotImplementedError(reason)

    def track_jax_over_project(self, size: str, oracle: str) -> float:
        n, d = (int(v) for v in size.split("x"))
        return versus_jax.versus_jax(n, d, oracle)["ratio"]

    track_jax_over_project.unit = "ratio"

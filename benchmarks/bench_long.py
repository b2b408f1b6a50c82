"""Long sequences: peak process memory of the row-blocked path along the ``long`` grid's n-sweep.

Runs only under ``ATTNREG_GRID=long`` (n/a elsewhere). asv's ``peakmem_`` is the peak
resident set size of the benchmark's process, the problem's generation included, which is
what decides whether a size fits on a machine; the time of each stage at these sizes comes
from the ordinary stage suites (``bench_hvp.HvpN`` …) run on the same grid.
"""

from __future__ import annotations

from typing import Any

from solvers import Problem, get_solver, oracles

from ._common import check_point, sweep_values


class LongSequence:
    """Peak RSS of generating a planted problem, one Hessian–vector product and one newton-cg iteration."""

    param_names = ["n", "d"]
    params = list(sweep_values("n"))
    number = 1
    repeat = 1
    timeout = 3600.0

    def setup(self, n: int, d: int) -> None:
        grid = check_point("numpy", n, d, ("n",))
        if grid.name != "long":
            raise NotImplementedError(f"long-sequence memory runs on the long grid only (ATTNREG_GRID=long), "
                                      f"not {grid.name!r}")

    def peakmem_planted(self, n: int, d: int) -> None:
        """Problem.planted(n, d): B is generated in row blocks, never through the n×n softmax."""
        Problem.planted(n, d)

    def peakmem_hvp(self, n: int, d: int) -> Any:
        """One joint Hessian–vector product at a point near the solution, its forward pass included."""
        problem = Problem.planted(n, d)
        X = problem.start_near_solution()
        return oracles.hvp(problem, X, problem.Y_star, X, problem.Y_star)

    def peakmem_newton_cg_iteration(self, n: int, d: int) -> Any:
        """One newton-cg iteration (its start's least-squares Y step and records included)."""
        problem = Problem.planted(n, d)
        return get_solver("newton-cg").solve(problem, problem.start_near_solution(), eps=0.0, max_iter=1)


class HvpXImplementations:
    """``hvp_x`` at (4096, 64) three ways: the full-S kernels, the row-blocked ones, ``jax.jit`` of jvp∘grad.

    Compare the three within one run (they share the machine's state); jax is n/a where it is
    not installed. Runs on every grid: it is one point.
    """

    param_names = ["implementation"]
    params = [["full-S", "row-blocked", "jax.jit"]]
    number = 1
    repeat = (3, 10, 20.0)
    timeout = 600.0

    def setup(self, implementation: str) -> None:
        n, d = 4096, 64
        problem = Problem.planted(n, d, seed=1, blocked=implementation == "row-blocked")
        X, Y, D = (problem.start_near_solution(0.5, seed) for seed in (1, 2, 3))
        if implementation != "jax.jit":
            self.call = lambda: problem.oracle(X, Y).hvp_x(D)
            return
        try:
            import jax
            import jax.numpy as jnp
        except ImportError as exc:
            raise NotImplementedError(f"jax is not installed ({exc})") from exc
        jax.config.update("jax_enable_x64", True)
        A1, A2, A3, B = (jnp.asarray(problem.host[key]) for key in ("A1", "A2", "A3", "B"))

        def loss(x: Any, y: Any) -> Any:
            R = jax.nn.softmax((A1 @ x) @ A2.T, axis=1) @ (A3 @ y) - B
            return jnp.sum(R * R)

        gradient = jax.grad(loss)
        hvp = jax.jit(lambda x, y, v: jax.jvp(lambda z: gradient(z, y), (x,), (v,))[1])
        args = tuple(jnp.asarray(a) for a in (X, Y, D))
        hvp(*args).block_until_ready()  # compile off the clock
        self.call = lambda: hvp(*args).block_until_ready()

    def time_hvp_x(self, implementation: str) -> None:
        self.call()

"""The project's oracles against ``jax.jit`` of the same formula, side by side.

For each oracle — the loss, the value and gradient, the X-block Hessian–vector product
``hvp_x`` and the joint ``hvp`` — the project's call (a fresh oracle of the iterate, in the
problem's default layout, so every call pays its own forward pass) and the jitted JAX
function of L as docs/maths.md §1 writes it are timed in turn, one thread each, best of
``repeat`` (default :data:`REPEAT`) interleaved calls after one untimed call each (compilation off the clock),
float64, on ``Problem.planted(n, d)`` at X* + 0.5·G with Y the exact step. The ratio JAX
time / project time is > 1 where the project is faster.

One thread each: BLAS through threadpoolctl, and the whole process pinned to one core
before JAX starts (:func:`one_core`), because XLA's flags alone do not hold it to one
thread (measured: a jitted 2048² product used 2.0 s of CPU per 1.0 s of wall time with
``--xla_cpu_multi_thread_eigen=false``). JAX must not have started its backend before the
first call in the process (its thread pools inherit the pinning when they start); the asv
suite runs each in a fresh process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ...problem import Problem
from .race import _side_by_side

#: What is compared, and at which sizes (n, d).
ORACLES = ("loss", "value_and_grad", "hvp_x", "hvp")
SIZES = ((512, 32), (2048, 64), (4096, 64))
#: Interleaved calls per contender by default: the fewest after which the best of them is trusted against a peer
#: (best of 3 put the loss at (512, 32) anywhere from 0.96 to 1.05 of JAX's speed from one run to the next).
REPEAT = 5
#: XLA on one thread, as the project's BLAS is limited to one.
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


@contextmanager
def one_core() -> Iterator[None]:
    """Pin this thread, and every thread it starts meanwhile (XLA's pools), to one core of those allowed."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def _jax_functions(problem: Problem) -> tuple[Any, dict[str, Callable[..., Any]]]:
    """``jax`` and the jitted oracles of L(X, Y) for ``problem``'s data (one thread)."""
    os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)
    from ...methods.jax_peers import _jax

    jax = _jax()
    jnp = jax.numpy
    A1, A2, A3, B = (jnp.asarray(problem.host[key]) for key in ("A1", "A2", "A3", "B"))

    def loss(X: Any, Y: Any) -> Any:
        R = jax.nn.softmax((A1 @ X) @ A2.T, axis=1) @ (A3 @ Y) - B
        return jnp.sum(R * R)

    grad = jax.grad(loss, argnums=(0, 1))
    return jax, {
        "loss": jax.jit(loss),
        "value_and_grad": jax.jit(jax.value_and_grad(loss, argnums=(0, 1))),
        "hvp_x": jax.jit(lambda X, Y, D: jax.jvp(lambda X: grad(X, Y)[0], (X,), (D,))[1]),
        "hvp": jax.jit(lambda X, Y, D: jax.jvp(grad, (X, Y), (D, D))[1]),
    }


def versus_jax(n: int, d: int, oracle: str, *, seed: int = 0, repeat: int = REPEAT) -> dict[str, float]:
    """Seconds of the project's ``oracle`` and of its ``jax.jit`` twin at (n, d), and ``ratio`` = JAX / project.

    Raises
    ------
    ImportError
        JAX is not installed.
    ValueError
        ``oracle`` is not one of :data:`ORACLES`.
    """
    from threadpoolctl import threadpool_limits

    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {ORACLES}, got {oracle!r}")
    problem = Problem.planted(n, d, seed=seed)
    X = problem.start_near_solution()
    Y = np.asarray(problem.oracle(X).least_squares()[1].Y)
    D = np.random.default_rng(seed + 1).standard_normal((d, d))
    project: dict[str, Callable[[], Any]] = {
        "loss": lambda: problem.oracle(X, Y).loss,
        "value_and_grad": lambda: problem.oracle(X, Y).value_and_grad(),
        "hvp_x": lambda: problem.oracle(X, Y).hvp_x(D),
        "hvp": lambda: problem.oracle(X, Y).hvp(D, D),
    }
    with one_core(), threadpool_limits(1):
        jax, jitted = _jax_functions(problem)
        Xj, Yj, Dj = (jax.numpy.asarray(a) for a in (X, Y, D))
        args = (Xj, Yj) if oracle in ("loss", "value_and_grad") else (Xj, Yj, Dj)
        ours, theirs = _side_by_side(repeat, project[oracle],
                                     lambda: jax.block_until_ready(jitted[oracle](*args)))
    return {"project": ours, "jax": theirs, "ratio": theirs / ours}

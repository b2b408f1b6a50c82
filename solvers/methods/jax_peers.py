"""JAX autodiff peers (the optional extra ``pip install -e ".[jax]"``): what a JAX user would write.

* ``jax-newton``: ``jax.jit(jax.hessian(L))`` for the dense 2d²×2d² Hessian in
  (x, y) and the same Levenberg–Marquardt steps as ``joint-newton``
  (:func:`solvers.methods.damping.damped_newton_step`);
* ``jax-newton-cg`` and ``jax-trust-krylov``: SciPy ``trust-ncg`` / ``trust-krylov`` with
  ``jax.jit`` of ``value_and_grad`` and of the forward-over-reverse product ``jvp(grad(L))``
  as its Hessian–vector product;
* ``jax-lbfgs``: SciPy L-BFGS-B with ``jax.jit`` of ``value_and_grad``.

L is written with ``jax.numpy`` exactly as docs/maths.md §1 states it (``jax.nn.softmax`` over rows),
in the problem's dtype (``jax_enable_x64`` on, so that float64 stays float64; SciPy's iterate is float64
and is rounded to that dtype inside each function, as the project's oracles round it). Every function is
compiled once, off the clock, before the solve starts. JAX is imported only when one of these methods
runs; without it, they end ``skipped`` with the reason (:meth:`IterativeSolver.skip`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .. import check
from ..backends import Backend
from ..loop import IterativeSolver, Run, State
from ..problem import Problem
from .damping import Damping, damped_newton_step
from .scipy_peers import LBFGS, CachedOracles, ScipyPeer, _Point


def jax_unavailable_reason() -> str | None:
    """Why JAX cannot be used here, or ``None``."""
    try:
        import jax  # noqa: F401
    except ImportError as exc:
        return f"JAX is not installed ({exc}); pip install -e '.[jax]'"
    return None


@lru_cache(maxsize=1)
def _jax() -> Any:
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


class JaxFunctions:
    """L, its gradient, Hessian–vector product and Hessian in z = (vec X, vec Y), compiled by ``jax.jit``."""

    def __init__(self, problem: Problem, z0: np.ndarray) -> None:
        jax = _jax()
        self.z0 = z0
        jnp = jax.numpy
        dtype = jnp.dtype(problem.dtype)
        A1, A2, A3, B = (jnp.asarray(problem.host[key], dtype=dtype) for key in ("A1", "A2", "A3", "B"))
        d = problem.d

        def loss(z: Any) -> Any:
            z = z.astype(dtype)
            X, Y = z[: d * d].reshape(d, d), z[d * d:].reshape(d, d)
            R = jax.nn.softmax((A1 @ X) @ A2.T, axis=1) @ (A3 @ Y) - B
            return jnp.sum(R * R)

        self.value = jax.jit(loss)
        self.value_and_grad = jax.jit(jax.value_and_grad(loss))
        self.hvp = jax.jit(lambda z, v: jax.jvp(jax.grad(loss), (z,), (v,))[1])
        self.hessian = jax.jit(jax.hessian(loss))
        self._compiled: set[str] = set()

    def compile(self, *names: str) -> None:
        """Compile (by calling once) the named functions, off the clock."""
        for name in names:
            if name in self._compiled:
                continue
            function = getattr(self, name)
            args = (self.z0, self.z0) if name == "hvp" else (self.z0,)
            _jax().block_until_ready(function(*args))
            self._compiled.add(name)


class _JaxPeer:
    """Mixin: refuse construction without JAX, with the reason; compile once per problem.

    :meth:`warm_up` compiles the functions the method uses for ``problem`` (a harness calls
    it before its clock starts); a solve of the same problem reuses them.
    """

    name = ""
    layouts = frozenset({"dense", "blocked"})
    layout_reason = "JAX builds the n×n softmax itself, which the shards do not allow"

    @classmethod
    def skip(cls, problem: Problem) -> str | None:
        """As :meth:`IterativeSolver.skip`, and skipped where the n×n arrays exceed the problem's memory budget."""
        reason = super().skip(problem)  # type: ignore[misc]
        if reason is None and not problem.full_s_fits:
            return (f"{cls.name} cannot run within the problem's memory budget ({problem.memory_budget / 2**30:.3g} GiB): "
                    "JAX builds the n×n softmax itself")
        return reason
    #: The :class:`JaxFunctions` methods this peer calls.
    compiled: tuple[str, ...] = ()

    @classmethod
    def missing_library(cls) -> str | None:
        return jax_unavailable_reason()

    def warm_up(self, problem: Problem, z0: np.ndarray | None = None) -> JaxFunctions:
        """The compiled functions for ``problem`` (compiled now, on first use)."""
        import scipy.optimize  # noqa: F401 - jax-newton-cg runs in it; imported off the clock too

        cached = getattr(self, "_functions", None)
        if cached is None or cached[0] is not problem:
            z = np.zeros(2 * problem.d ** 2) if z0 is None else z0
            cached = (problem, JaxFunctions(problem, z))
            self._functions = cached
        cached[1].compile(*self.compiled)
        return cached[1]


class JaxOracles(CachedOracles):
    """:class:`~solvers.methods.scipy_peers.CachedOracles` whose values come from JAX autodiff."""

    def __init__(self, problem: Problem, functions: JaxFunctions) -> None:
        super().__init__(problem)
        self.functions = functions

    def evaluate(self, z: np.ndarray) -> _Point:
        value, gradient = self.functions.value_and_grad(z)
        d = self.problem.d
        point = _Point(z[: d * d].reshape(d, d).copy(), z[d * d:].reshape(d, d).copy(), None, float(value))
        point.gradient = np.asarray(gradient, dtype=np.float64)
        return point

    def hessp(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.asarray(self.functions.hvp(z, v), dtype=np.float64)

    def hess(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self.functions.hessian(z), dtype=np.float64)


class _JaxScipy(_JaxPeer):
    """Mixin for a SciPy minimiser on ``jax.jit`` oracles: needs JAX, compiles once off the clock."""

    def make_oracles(self, problem: Problem, z0: np.ndarray) -> CachedOracles:
        return JaxOracles(problem, self.warm_up(problem, z0))


class JaxNewtonCG(_JaxScipy, ScipyPeer):
    """SciPy ``trust-ncg`` with ``jax.jit`` of value_and_grad and of jvp∘grad (forward-over-reverse)."""

    name = "jax-newton-cg"
    method = "trust-ncg"
    second_order = "hessp"
    compiled = ("value_and_grad", "hvp")


class JaxTrustKrylov(_JaxScipy, ScipyPeer):
    """SciPy ``trust-krylov`` (GLTR) with ``jax.jit`` of value_and_grad and of jvp∘grad."""

    name = "jax-trust-krylov"
    method = "trust-krylov"
    second_order = "hessp"
    compiled = ("value_and_grad", "hvp")


class JaxLBFGS(_JaxScipy, LBFGS):
    """SciPy L-BFGS-B with ``jax.jit`` of value_and_grad: the first-order peer a JAX user would write.

    Parameters
    ----------
    memory : int
        Number of correction pairs kept (``maxcor``).
    """

    name = "jax-lbfgs"
    compiled = ("value_and_grad",)


@dataclass
class JaxNewtonState(State):
    """The iterate as one host vector z, the damping, and the compiled functions."""

    z: Any = None
    gradient: Any = None
    damping: Damping | None = None
    functions: JaxFunctions | None = None


class JaxNewton(_JaxPeer, IterativeSolver):
    """Damped Newton on (x, y) with ``jax.jit(jax.hessian(L))``, the damping rule of ``joint-newton``.

    Parameters
    ----------
    mu0 : float
        Initial relative damping.
    """

    name = "jax-newton"
    backends = ("numpy",)
    compiled = ("value", "value_and_grad", "hessian")

    @staticmethod
    def memory_bytes(n: int, d: int) -> float:
        """Peak memory of ``jax.hessian`` (2d² tangents of the n×n intermediates at once; measured
        17 GB at n = 512, d = 32, where the process was killed for memory)."""
        return 4.0 * 8.0 * (2 * d * d) * n * n

    def __init__(self, backend: str | Backend | None = None, *, mu0: float = 1e-3, **common: Any) -> None:
        super().__init__(backend, **common)
        self.mu0 = check.number("mu0", mu0, at_least=0.0)

    def drive(self, problem: Problem, state: State, run: Run) -> tuple[State, int, str, str]:
        z0 = np.concatenate([np.asarray(state.X).ravel(), np.asarray(state.Y).ravel()]).astype(np.float64)
        self._jit = self.warm_up(problem, z0)
        return super().drive(problem, state, run)

    def init_state(self, problem: Problem, X: Any, Y: Any) -> JaxNewtonState:
        z = np.concatenate([np.asarray(X).ravel(), np.asarray(Y).ravel()]).astype(np.float64)
        return self._at(problem, z, Damping(self.mu0))

    def _at(self, problem: Problem, z: np.ndarray, damping: Damping) -> JaxNewtonState:
        value, gradient = self._jit.value_and_grad(z)
        gradient = np.asarray(gradient, dtype=np.float64)
        d = problem.d
        return JaxNewtonState(z[: d * d].reshape(d, d), z[d * d:].reshape(d, d), z=z, gradient=gradient,
                              damping=damping, loss=float(value), grad_norm=math.sqrt(float(gradient @ gradient)))

    def step(self, problem: Problem, state: JaxNewtonState) -> JaxNewtonState:
        H = np.asarray(self._jit.hessian(state.z), dtype=np.float64)
        outcome = damped_newton_step(problem.backend, H, state.gradient,
                                     lambda p: float(self._jit.value(state.z - p)), state.loss, state.damping)
        return self._at(problem, state.z - outcome.p, outcome.damping)

    def info(self, state: State) -> dict[str, Any]:
        damping = getattr(state, "damping", None)
        return {"final_damping": damping.mu if damping else self.mu0}

"""SciPy's minimisers driven by the project's exact oracles: the peers a user would reach for.

``scipy.optimize.minimize`` with ``L-BFGS-B`` (``lbfgs``), ``trust-ncg``, ``trust-krylov``,
``Newton-CG`` (all with the exact gradient and Hessian–vector product) and ``trust-exact``
(with the dense joint Hessian), on (x, y) = (vec X, vec Y), through the problem's
per-iterate oracle (:mod:`solvers.oracle`, so they honour the memory budget). They get the
best oracles they could have: loss and gradient from one forward pass (``jac=True``), and
Hessian–vector products that reuse that forward pass (:class:`CachedOracles`). SciPy runs
in one process: they do not run sharded.

SciPy owns the loop; each of its iterations is reported through its callback, where the
shared stopping rules are applied (a rule that fires stops SciPy) and the solver clock is
stopped. The loss and gradient recorded are those SciPy's own evaluation produced, so
monitoring costs nothing extra. SciPy's own tolerances are set to zero: it stops by itself
only when it finds no step that decreases the loss, which the loop reports with SciPy's
message (:meth:`solvers.loop.Run.no_further_decrease`).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import check
from ..backends import Backend
from ..backends.numpy import single_threaded_scipy_blas
from ..loop import IterativeSolver, Run, State, describe_exception
from ..oracle import Oracle
from ..problem import Problem
from ..rowterms import join, split


@dataclass
class _Point:
    """One point z of the (x, y) space: its split iterate, its oracle (``None`` for foreign
    oracles), its loss and (once asked) its gradient on the host."""

    X: Any
    Y: Any
    oracle: Oracle | None
    loss: float
    gradient: np.ndarray | None = field(default=None)


class CachedOracles:
    """L, ∇L, H·v and H in z = (vec X, vec Y), as SciPy calls them, sharing one forward pass per point.

    The last two points are kept (a trust-region method evaluates a trial point and may then
    return to the current one), compared by value.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self._points: list[tuple[np.ndarray, _Point]] = []

    def at(self, z: np.ndarray) -> _Point:
        """The cached point z, evaluated (one forward pass) on first use."""
        for key, point in self._points:
            if np.array_equal(key, z):
                return point
        point = self.evaluate(z)
        self._points = [(z.copy(), point), *self._points[:1]]
        return point

    def evaluate(self, z: np.ndarray) -> _Point:
        """A new point: the split iterate (a copy: SciPy may reuse z's memory), its oracle, loss and gradient."""
        problem = self.problem
        oracle = problem.oracle(*split(problem, z.astype(problem.dtype)))
        loss, _ = oracle.value_and_grad()  # SciPy asks for both (jac=True): one pass over the data
        return _Point(oracle.X, oracle.Y, oracle, loss)

    def fun_and_grad(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        """(L(z), ∇L(z)) from one forward pass."""
        point = self.at(z)
        return point.loss, self.gradient(z)

    def gradient(self, z: np.ndarray) -> np.ndarray:
        """∇L(z) as a float64 host vector (computed once per point)."""
        point = self.at(z)
        if point.gradient is None:
            point.gradient = np.asarray(point.oracle.joint_grad, dtype=np.float64)
        return point.gradient

    def hessp(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        """H(z) v by the oracle at z (its forward pass and per-iterate cache reused)."""
        problem = self.problem
        dX, dY = split(problem, v.astype(problem.dtype, copy=False))
        return np.asarray(join(problem, *self.at(z).oracle.hvp(dX, dY)), dtype=np.float64)

    def hess(self, z: np.ndarray) -> np.ndarray:
        """The dense 2d²×2d² joint Hessian at z."""
        return np.asarray(self.at(z).oracle.hessian_joint(), dtype=np.float64)


class ScipyPeer(IterativeSolver):
    """``scipy.optimize.minimize(method=...)`` on (x, y) with :class:`CachedOracles`, on NumPy
    (a problem elsewhere is moved there off the clock).

    Subclasses set :attr:`method`, the oracles it takes (:attr:`second_order`) and its options.
    """

    backends = ("numpy",)
    layouts = frozenset({"dense", "blocked"})
    layout_reason = "SciPy iterates in one process on NumPy, where the shards' sums cannot be finished"
    #: SciPy's method name.
    method: ClassVar[str] = ""
    #: ``"hessp"``, ``"hess"`` or ``""``: the second-order oracle passed to SciPy.
    second_order: ClassVar[str] = ""
    #: Hold SciPy's own BLAS pool to one thread while the method runs: its work between oracle
    #: calls is on vectors, and a second idle pool spinning beside NumPy's costs every call.
    single_threaded_driver: ClassVar[bool] = False

    def scipy_options(self, run: Run) -> dict[str, Any]:
        """Options for ``minimize``: SciPy's own tolerances off, its iteration limit past ours."""
        return {"maxiter": run.max_iter + 1, "gtol": 0.0}

    def warm_up(self, problem: Problem) -> None:
        """Import ``scipy.optimize`` (about a second the first time in a process) before a harness's clock starts."""
        import scipy.optimize  # noqa: F401

    def make_oracles(self, problem: Problem, z0: np.ndarray) -> CachedOracles:
        """The oracles SciPy calls (the project's own here; any one-time set-up runs off the clock)."""
        return CachedOracles(problem)

    def drive(self, problem: Problem, state: State, run: Run) -> tuple[State, int, str, str]:
        import scipy.optimize

        status, message = run.limits(0, 0.0)
        if status:
            return state, 0, status, message
        z0 = np.asarray(join(problem, state.X, state.Y), dtype=np.float64)
        oracles = self.make_oracles(problem, z0)
        progress: dict[str, Any] = {"state": state, "iteration": 0, "elapsed": 0.0, "status": ("", "")}

        def callback(intermediate_result: Any) -> None:
            progress["elapsed"] += time.perf_counter() - progress["resumed"]
            progress["iteration"] += 1
            z = intermediate_result.x
            point = oracles.at(z)
            gnorm = float(np.linalg.norm(oracles.gradient(z)))
            progress["state"] = State(point.X, point.Y, loss=point.loss, grad_norm=gnorm)
            row = run.record(progress["iteration"], progress["elapsed"], progress["state"])
            verdict = run.verdict(row)
            progress["status"] = verdict if verdict[0] else run.limits(progress["iteration"], progress["elapsed"])
            if progress["status"][0]:
                raise StopIteration
            progress["resumed"] = time.perf_counter()

        extra = {self.second_order: getattr(oracles, self.second_order)} if self.second_order else {}
        progress["resumed"] = time.perf_counter()
        try:
            with single_threaded_scipy_blas() if self.single_threaded_driver else nullcontext():
                result = scipy.optimize.minimize(oracles.fun_and_grad, z0, jac=True, method=self.method,
                                                 callback=callback, options=self.scipy_options(run), **extra)
        except Exception as exc:  # noqa: BLE001 - a failing run is a result, not a crash
            return progress["state"], progress["iteration"], "error", describe_exception(exc)
        status, message = progress["status"]
        if not status:  # SciPy's tolerances are zero: a rule of its own stopped it (a failed line search or model)
            status, message = run.no_further_decrease(result.message, f"SciPy {self.method} stopped by its own rule")
        return progress["state"], progress["iteration"], status, message


class LBFGS(ScipyPeer):
    """SciPy's L-BFGS-B on (x, y) with the analytic gradient.

    Parameters
    ----------
    memory : int
        Number of correction pairs kept (``maxcor``).
    """

    name = "lbfgs"
    method = "L-BFGS-B"
    # L-BFGS-B's two-loop recursion is O(m·d²) vector work: with SciPy's pool on two threads beside
    # NumPy's, an iteration at (512, 32) took 9.3 ms, on one 4.6 ms (jax-lbfgs, which inherits this, 3.6 ms)
    single_threaded_driver = True

    def __init__(self, backend: str | Backend | None = None, *, memory: int = 10, **common: Any) -> None:
        super().__init__(backend, **common)
        self.memory = check.integer("memory", memory)

    def scipy_options(self, run: Run) -> dict[str, Any]:
        return {"maxcor": self.memory, "maxiter": run.max_iter + 1, "maxfun": 50 * (run.max_iter + 1),
                "ftol": 0.0, "gtol": 0.0}


class ScipyTrustNCG(ScipyPeer):
    """SciPy ``trust-ncg`` (Steihaug CG trust region) with the exact Hessian–vector product."""

    name = "scipy-trust-ncg"
    method = "trust-ncg"
    second_order = "hessp"


class ScipyTrustKrylov(ScipyPeer):
    """SciPy ``trust-krylov`` (GLTR, nearly exact trust-region subproblem) with the exact Hessian–vector product."""

    name = "scipy-trust-krylov"
    method = "trust-krylov"
    second_order = "hessp"


class ScipyTrustExact(ScipyPeer):
    """SciPy ``trust-exact`` (Moré–Sorensen on the dense joint Hessian)."""

    name = "scipy-trust-exact"
    method = "trust-exact"
    second_order = "hess"


class ScipyNewtonCG(ScipyPeer):
    """SciPy ``Newton-CG`` (line-search truncated Newton) with the exact Hessian–vector product."""

    name = "scipy-newton-cg"
    method = "Newton-CG"
    second_order = "hessp"

    def scipy_options(self, run: Run) -> dict[str, Any]:
        return {"maxiter": run.max_iter + 1, "xtol": 0.0}


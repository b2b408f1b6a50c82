"""The Solver protocol and the loop every solver shares: stopping rules, statuses, timing."""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from . import check
from .backends import Backend
from .problem import Problem
from .result import HistoryRow, SolveResult


class StepFailed(RuntimeError):
    """No step from the current iterate decreases the loss in this precision.

    A method raises it only after its globalisation has shrunk the step to the rounding level of the loss, or
    names a rule of its own in ``ending``; the loop reports it as ``stalled`` ("no further decrease possible in
    <dtype>", or ``ending``) with the relative gradient norm reached (:meth:`Run.no_further_decrease`).
    ``error`` is kept for exceptions.
    """

    def __init__(self, why: str, ending: str | None = None) -> None:
        super().__init__(why)
        self.ending = ending


def machine_eps(dtype: str) -> float:
    """The unit roundoff spacing eps of ``"float64"`` (2⁻⁵²) or ``"float32"`` (2⁻²³)."""
    return {"float64": 2.0 ** -52, "float32": 2.0 ** -23}[dtype]


def default_gtol(dtype: str) -> float:
    """The relative gradient tolerance for ``dtype``: eps^(2/3) (about 3.7e-11 in float64).

    A gradient is computed to a relative accuracy of roughly eps·‖terms‖, so at a
    stationary point of a problem with min L > 0 the achievable ‖∇L‖/‖∇L₀‖ sits a few
    orders above eps; eps^(2/3) is reachable there and still far below any useful step.
    """
    return machine_eps(dtype) ** (2.0 / 3.0)


class Solver(Protocol):
    """Anything with ``solve(problem, X0, Y0, *, eps, max_iter, max_time, callback)``."""

    name: str

    def solve(self, problem: Problem, X0: Any = None, Y0: Any = None, *, eps: float = 1e-10,
              max_iter: int = 100, max_time: float | None = None,
              callback: Callable[[HistoryRow], None] | None = None) -> SolveResult:
        ...


@dataclass
class State:
    """The iterate: backend arrays X and Y. Methods that keep more between steps subclass it.

    ``loss`` and ``grad_norm`` are L and ‖∇L‖ at (X, Y) when the method computed them
    anyway (the loop records them instead of evaluating the iterate again); ``None``
    means the loop evaluates them itself, off the solver clock.
    """

    X: Any
    Y: Any
    loss: float | None = field(default=None, kw_only=True)
    grad_norm: float | None = field(default=None, kw_only=True)


class IterativeSolver:
    """Base class: subclasses implement :meth:`step` (and optionally :meth:`init_state`).

    The shared loop (:meth:`solve`) owns everything else, identically for every method:

    * only ``init_state`` and ``step`` are timed, with the device synchronised at both
      ends; the loss and gradient norm recorded after each step are those the method
      computed (:class:`State`), or are evaluated off the clock; each history row also
      carries the wall time since the solve began (what a user waits, monitoring included);
    * ``converged`` only when L ≤ eps ("loss ≤ eps") or ‖∇L‖ ≤ gtol·‖∇L(start)‖
      ("stationary"); ``stalled`` when the method finds no step that decreases the loss in
      the problem's precision before either (:class:`StepFailed`; the message states the
      ‖∇L‖/‖∇L₀‖ reached); ``max_iter``; ``timeout`` when the solver time passes
      ``max_time``; ``diverged`` when the loss is NaN/inf or exceeds ``divergence_factor`` ×
      the starting loss; ``error`` only when something raises (the message keeps the
      reason); ``skipped`` when the method cannot run on the problem's layout (:meth:`skip`)
      — in every case the partial history is returned. ``KeyboardInterrupt`` is no ending of the
      method but the user stopping the whole run: it propagates (the callback has seen every row).

    Parameters
    ----------
    backend : str or Backend, optional
        Move the problem to this backend before solving (off the clock). ``None`` keeps the problem's own
        backend, unless the method cannot run there (see :attr:`backends`): then it runs on
        :meth:`natural_backend`, and the result says so (``info["moved_from"]``, the message, and ``result.backend``).
    gtol : float, optional
        Relative gradient-norm tolerance; default :func:`default_gtol` of the problem's dtype.
    divergence_factor : float
        Loss growth, relative to the start, that counts as divergence.
    """

    name: ClassVar[str] = ""
    #: Backends the method can run on; ``None`` means all of them.
    backends: ClassVar[tuple[str, ...] | None] = None
    #: Problem layouts (:attr:`Problem.layout`) the method runs on correctly: a method that
    #: works through the problem's oracle (:meth:`Problem.oracle`) honours all three; one that
    #: builds its own n×n arrays or differentiates through them runs on ``"dense"`` only.
    layouts: ClassVar[frozenset[str]] = frozenset({"dense", "blocked", "sharded"})
    #: Why the method cannot run on the layouts it lacks (shown in the ``skipped`` status).
    layout_reason: ClassVar[str] = ""

    def __init__(self, backend: str | Backend | None = None, *, gtol: float | None = None,
                 divergence_factor: float = 1e8) -> None:
        if backend is not None and not isinstance(backend, (str, Backend)):
            raise TypeError(f"backend must be a backend name or a Backend, got {type(backend).__name__}")
        name = backend.name if isinstance(backend, Backend) else backend
        if name is not None and self.backends is not None and name not in self.backends:
            raise ValueError(f"{self.name} runs on {', '.join(self.backends)} only, not on {name!r}; "
                             f"leave backend unset to run it on its natural backend")
        self.backend = backend
        self.gtol = None if gtol is None else check.number("gtol", gtol, at_least=0.0)
        self.divergence_factor = check.number("divergence_factor", divergence_factor, above=1.0, infinite=True)

    @classmethod
    def skip(cls, problem: Problem) -> str | None:
        """Why this method cannot run on ``problem``, or ``None`` when it can (benchopt's ``skip`` hook).

        Read by :meth:`solve` (status ``skipped``), the command line, the race and the stages alike.
        A method whose optional library is absent (:meth:`missing_library`) is skipped too,
        with the extra that brings it.
        """
        missing = cls.missing_library()
        if missing:
            return f"{cls.name} needs an optional library: {missing}"
        if problem.layout in cls.layouts:
            return None
        needs = " or ".join(sorted(cls.layouts))
        return (f"{cls.name} cannot run on a {problem.layout} problem ({needs} only"
                f"{': ' + cls.layout_reason if cls.layout_reason else ''})")

    @classmethod
    def missing_library(cls) -> str | None:
        """Why an optional library the method needs cannot be used here (with the install hint), or ``None``."""
        return None

    def options(self) -> dict[str, Any]:
        """The solver's options, for result records (a Backend is recorded by its name)."""
        return {key: value.name if isinstance(value, Backend) else value
                for key, value in vars(self).items() if not key.startswith("_")}

    def init_state(self, problem: Problem, X: Any, Y: Any) -> State:
        """Prepare the first state (timed). Default: nothing beyond the iterate."""
        return State(X, Y)

    def step(self, problem: Problem, state: State) -> State:
        """Perform one iteration and return the new state."""
        raise NotImplementedError

    def solve(self, problem: Problem, X0: Any = None, Y0: Any = None, *, eps: float = 1e-10,
              max_iter: int = 100, max_time: float | None = None,
              callback: Callable[[HistoryRow], None] | None = None) -> SolveResult:
        """Minimise L from (X0, Y0); see the class docstring for the stopping rules (and Ctrl-C).

        Parameters
        ----------
        problem : Problem
        X0, Y0 : array, optional
            Start. Defaults: X0 = 0 and Y0 = the exact least-squares minimiser for X0.
        eps : float
            Target loss.
        max_iter : int
            Iteration limit.
        max_time : float, optional
            Solver-time limit in seconds.
        callback : callable, optional
            Called with each :class:`HistoryRow` (iteration 0 included).
        """
        check_limits(eps=eps, max_iter=max_iter, max_time=max_time)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable (called with each HistoryRow), got {type(callback).__name__}")
        reason = self.skip(problem)
        if reason:
            return SolveResult(status="skipped", X=np.full((problem.d, problem.d), np.nan),
                               Y=np.full((problem.d, problem.d), np.nan), loss=math.nan, iterations=0, history=[],
                               message=reason, solver=self.name, backend=problem.backend.name, dtype=problem.dtype)
        original = problem
        problem, moved = self._place(problem)
        if problem is not original:  # a start on the backend the problem left crosses via the host
            X0, Y0 = (original.backend.to_numpy(a) if a is not None and original.backend.owns(a) else a
                      for a in (X0, Y0))
        X = problem.as_variable(np.zeros((problem.d, problem.d)) if X0 is None else X0, "X0")
        Y = None if Y0 is None else problem.as_variable(Y0, "Y0")
        run = Run(self, problem, eps=eps, max_iter=max_iter, max_time=max_time, callback=callback)
        state = State(X, Y)
        iteration = 0
        try:  # from here on every ending is a status: the inputs were valid
            if Y is None:
                state = State(X, problem.oracle(X).least_squares()[1].Y)
            first = run.record(0, 0.0, state)
        except Exception as exc:  # noqa: BLE001 - e.g. PᵀP not factorisable at an overflowing start
            status, message = "error", f"cannot evaluate the starting point: {describe_exception(exc)}"
        else:
            if first.loss <= eps:
                status, message = "converged", f"loss {first.loss:.3e} ≤ eps at the start"
            elif not math.isfinite(first.loss):
                status, message = "error", f"the loss at the starting point is not finite ({first.loss})"
            elif first.grad_norm == 0.0:  # no relative rule can judge a point where ∇L vanishes exactly
                status, message = "converged", f"stationary at the start: ∇L = 0 (loss {first.loss:.3e})"
            else:
                state, iteration, status, message = self.drive(problem, state, run)
        info = self.info(state)
        if moved:
            info["moved_from"] = moved
            message += f" (ran on {problem.backend.name}: {self.name} does not run on {moved}; moved off the clock)"
        backend = problem.backend
        host = {key: np.full((problem.d, problem.d), np.nan) if value is None else backend.to_numpy(value)
                for key, value in (("X", state.X), ("Y", state.Y))}
        return SolveResult(status=status, X=host["X"], Y=host["Y"],
                           loss=run.history[-1].loss if run.history else math.nan, iterations=iteration,
                           history=run.history, message=message, solver=self.name, backend=backend.name,
                           dtype=problem.dtype, info=info)

    def natural_backend(self, problem: Problem) -> str:
        """Where to run when the problem lives on a backend outside :attr:`backends`."""
        assert self.backends is not None
        return self.backends[0]

    def _place(self, problem: Problem) -> tuple[Problem, str | None]:
        """The problem on the backend this solver runs on, and the backend it left (if moved)."""
        target = self.backend
        if target is None and self.backends is not None and problem.backend.name not in self.backends:
            target = self.natural_backend(problem)
        if target is None or target is problem.backend or target == problem.backend.name:
            return problem, None
        if isinstance(target, Backend) and (target.name, target.dtype) == (problem.backend.name, problem.dtype):
            return problem, None
        moved = problem.backend.name if self.backend is None else None
        return problem.on(target), moved

    def drive(self, problem: Problem, state: State, run: "Run") -> tuple[State, int, str, str]:
        """Iterate from ``state`` until ``run`` says stop; return (state, iterations, status, message).

        The default calls :meth:`init_state` once and then :meth:`step`, timing only those
        calls (device synchronised at both ends). A solver that owns its loop (a SciPy
        minimiser, say) overrides this and reports each iterate through ``run``.
        """
        backend = problem.backend
        elapsed, iteration = 0.0, 0
        try:
            backend.synchronize()
            started = time.perf_counter()
            state = self.init_state(problem, state.X, state.Y)
            backend.synchronize()
            elapsed = time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - reported as the run's status
            return state, 0, "error", describe_exception(exc)
        while True:
            status, message = run.limits(iteration, elapsed)
            if status:
                return state, iteration, status, message
            try:
                backend.synchronize()
                started = time.perf_counter()
                new_state = self.step(problem, state)
                backend.synchronize()
                elapsed += time.perf_counter() - started
            except StepFailed as exc:
                return state, iteration, *run.no_further_decrease(str(exc), exc.ending)
            except Exception as exc:  # noqa: BLE001 - a failing step is a result, not a crash
                return state, iteration, "error", describe_exception(exc)
            iteration += 1
            state = new_state
            try:
                row = run.record(iteration, elapsed, state)
            except Exception as exc:  # noqa: BLE001 - the iterate cannot be evaluated: a result
                return state, iteration, "error", f"cannot evaluate iterate {iteration}: {describe_exception(exc)}"
            status, message = run.verdict(row)
            if status:
                return state, iteration, status, message

    def monitor(self, problem: Problem, state: State) -> None:
        """Off-the-clock measurements on a new iterate, before it is recorded (default: none)."""

    def info(self, state: State) -> dict[str, Any]:
        """Solver-specific extras for the result (default: none)."""
        return {}


def describe_exception(exc: BaseException, *, brief: bool = False) -> str:
    """``"Type: message at file:line"`` for an exception, as recorded in result messages.

    With ``brief``, the first line of the message only, without the location and at most
    300 characters: the reason shown in a report table.
    """
    if brief:
        lines = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
    return f"{type(exc).__name__}: {exc}{place}"


def check_limits(*, eps: float, max_iter: int, max_time: float | None) -> None:
    """Raise ``ValueError`` (naming the argument, its value and what is allowed) for invalid stopping limits
    (``max_time``: seconds, ``inf`` or ``None`` for no limit)."""
    check.number("eps", eps, at_least=0.0)
    check.integer("max_iter", max_iter, at_least=0)
    if max_time is not None:
        check.number("max_time", max_time, above=0.0, infinite=True)


class Run:
    """The monitoring and stopping rules of one solve, shared by every way of iterating.

    Parameters
    ----------
    solver : IterativeSolver
        Supplies ``gtol``, ``divergence_factor`` and the :meth:`~IterativeSolver.monitor` hook.
    problem : Problem
    eps, max_iter, max_time, callback
        As in :meth:`IterativeSolver.solve`.

    Attributes
    ----------
    history : list of HistoryRow
        Every recorded iterate, iteration 0 first.
    """

    def __init__(self, solver: IterativeSolver, problem: Problem, *, eps: float, max_iter: int,
                 max_time: float | None, callback: Callable[[HistoryRow], None] | None) -> None:
        self.solver = solver
        self.problem = problem
        self.eps = eps
        self.max_iter = max_iter
        self.max_time = max_time
        self.callback = callback
        self.gtol = default_gtol(problem.dtype) if solver.gtol is None else solver.gtol
        self.history: list[HistoryRow] = []
        self.started = time.perf_counter()

    def record(self, iteration: int, elapsed: float, state: State) -> HistoryRow:
        """Loss and gradient norm at ``state``, appended to the history.

        Uses ``state.loss``/``state.grad_norm`` when the method computed them; otherwise
        evaluates them here, off the solver clock.
        """
        problem = self.problem
        if iteration:
            self.solver.monitor(problem, state)
        value, gnorm = state.loss, state.grad_norm
        if value is None or gnorm is None:
            value, gnorm = problem.oracle(state.X, state.Y).summary()
        row = HistoryRow(iteration, elapsed, value, gnorm, time.perf_counter() - self.started)
        self.history.append(row)
        if self.callback is not None:
            self.callback(row)
        return row

    def limits(self, iteration: int, elapsed: float) -> tuple[str, str]:
        """``("max_iter" | "timeout", why)`` when no further iteration may start, else ``("", "")``."""
        if iteration >= self.max_iter:
            return "max_iter", f"reached max_iter={self.max_iter}"
        if self.max_time is not None and elapsed >= self.max_time:
            return "timeout", f"solver time {elapsed:.3g} s passed max_time={self.max_time:g} s"
        return "", ""

    def verdict(self, row: HistoryRow) -> tuple[str, str]:
        """``("diverged" | "converged", why)`` for a new row, else ``("", "")``."""
        first = self.history[0]
        if not math.isfinite(row.loss) or row.loss > self.solver.divergence_factor * max(first.loss, 1e-300):
            return "diverged", f"loss {row.loss:.3e} (start {first.loss:.3e})"
        if row.loss <= self.eps:
            return "converged", f"loss ≤ eps: {row.loss:.3e} ≤ {self.eps:g}"
        if row.grad_norm <= self.gtol * first.grad_norm:
            return "converged", (f"stationary: |g|/|g0| = {self.relative_gradient(row):.2e} ≤ gtol={self.gtol:.2g}; "
                                 f"loss {row.loss:.3e} > eps")
        return "", ""

    def relative_gradient(self, row: HistoryRow | None = None) -> float:
        """‖∇L‖/‖∇L₀‖ at ``row`` (default: the last recorded one)."""
        row = self.history[-1] if row is None else row
        return row.grad_norm / self.history[0].grad_norm if self.history[0].grad_norm else 0.0

    def no_further_decrease(self, why: str, ending: str | None = None) -> tuple[str, str]:
        """Status and message for a method that found no decreasing step (:class:`StepFailed`), or for
        a minimiser that stopped by a rule of its own (``ending`` says which, instead of the precision).

        ``stalled``: no step the method can take changes the loss in this precision, yet the
        point is not stationary by ``gtol`` (the loop would have said ``converged`` at the
        iterate before otherwise). The message gives the ‖∇L‖/‖∇L₀‖ reached against gtol, so a
        stall at 1e-9 (rounding-limited, near a minimum) reads differently from one at 0.8
        (an iterate too badly scaled for the precision, as a sampled Hessian can make it).
        """
        row, ending = self.history[-1], ending or f"no further decrease possible in {self.problem.dtype}"
        return "stalled", (f"{ending} at |g|/|g0| = {self.relative_gradient(row):.2e} > gtol = {self.gtol:.2g}, "
                           f"loss {row.loss:.3e} ({why})")

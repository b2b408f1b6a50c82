"""The Solver protocol and the loop every solver shares: stopping rules, statuses, timing."""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import numpy as np

from . import oracles
from .damping import StepFailed
from .problem import Problem
from .result import HistoryRow, SolveResult


class Solver(Protocol):
    """Anything with ``solve(problem, X0, Y0, *, eps, max_iter, max_time, callback)``."""

    name: str

    def solve(self, problem: Problem, X0: Any = None, Y0: Any = None, *, eps: float = 1e-10,
              max_iter: int = 100, max_time: float | None = None,
              callback: Callable[[HistoryRow], None] | None = None) -> SolveResult:
        ...


class State:
    """The iterate (backend arrays X, Y) and whatever a solver keeps between steps."""

    def __init__(self, X: Any, Y: Any, **extra: Any) -> None:
        self.X = X
        self.Y = Y
        self.__dict__.update(extra)


class IterativeSolver:
    """Base class: subclasses implement :meth:`step` (and optionally :meth:`init_state`).

    The shared loop (:meth:`solve`) owns everything else, identically for every method:

    * only ``init_state`` and ``step`` are timed, with the device synchronised at both
      ends; the loss and gradient norm recorded after each step are computed off the clock;
    * ``converged`` when L ≤ eps or ‖∇L‖ ≤ gtol·‖∇L(start)‖; ``max_iter``; ``timeout``
      when the solver time passes ``max_time``; ``diverged`` when the loss is NaN/inf or
      exceeds ``divergence_factor`` × the starting loss; ``error`` when a step raises
      (the message keeps the reason) — in every case the partial history is returned.

    Parameters
    ----------
    backend : str, optional
        Move the problem to this backend before solving (off the clock). ``None`` keeps
        the problem's own backend.
    gtol : float
        Relative gradient-norm tolerance.
    divergence_factor : float
        Loss growth, relative to the start, that counts as divergence.
    """

    name: ClassVar[str] = ""
    #: Backends the method can run on; ``None`` means all of them.
    backends: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, backend: str | None = None, *, gtol: float = 1e-13,
                 divergence_factor: float = 1e8) -> None:
        if backend is not None and self.backends is not None and backend not in self.backends:
            raise ValueError(f"{self.name} runs on {', '.join(self.backends)} only; asked for {backend!r}")
        self.backend = backend
        self.gtol = gtol
        self.divergence_factor = divergence_factor

    def options(self) -> dict[str, Any]:
        """The solver's options, for result records."""
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    def init_state(self, problem: Problem, X: Any, Y: Any) -> State:
        """Prepare the first state (timed). Default: nothing beyond the iterate."""
        return State(X, Y)

    def step(self, problem: Problem, state: State) -> State:
        """Perform one iteration and return the new state."""
        raise NotImplementedError

    def solve(self, problem: Problem, X0: Any = None, Y0: Any = None, *, eps: float = 1e-10,
              max_iter: int = 100, max_time: float | None = None,
              callback: Callable[[HistoryRow], None] | None = None) -> SolveResult:
        """Minimise L from (X0, Y0); see the class docstring for the stopping rules.

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
        if max_iter < 0:
            raise ValueError(f"max_iter must be non-negative, got {max_iter}")
        if self.backends is not None and problem.backend.name not in self.backends and self.backend is None:
            raise ValueError(f"{self.name} runs on {', '.join(self.backends)} only; the problem is on "
                             f"{problem.backend.name!r} (pass backend=... or move it with problem.on(...))")
        if self.backend is not None and self.backend != problem.backend.name:
            problem = problem.on(self.backend)
        backend = problem.backend
        X = problem.as_variable(np.zeros((problem.d, problem.d)) if X0 is None else X0, "X0")
        Y = oracles.y_solve(problem, X) if Y0 is None else problem.as_variable(Y0, "Y0")

        history: list[HistoryRow] = []

        def record(iteration: int, elapsed: float, state: State) -> HistoryRow:
            fw = oracles.forward(problem, state.X, state.Y)
            gX, gY = oracles.grad_from(problem, fw)
            xp = problem.xp
            gnorm = math.sqrt(float(xp.sum(gX * gX)) + float(xp.sum(gY * gY)))
            row = HistoryRow(iteration, elapsed, oracles.loss_from(problem, fw), gnorm)
            history.append(row)
            if callback is not None:
                callback(row)
            return row

        state = State(X, Y)
        first = record(0, 0.0, state)
        status, message, elapsed, iteration = "", "", 0.0, 0
        if first.loss <= eps:
            status, message = "converged", f"loss {first.loss:.3e} ≤ eps at the start"
        elif not math.isfinite(first.loss):
            status, message = "error", "the loss at the starting point is not finite"
        else:
            try:
                backend.synchronize()
                started = time.perf_counter()
                state = self.init_state(problem, state.X, state.Y)
                backend.synchronize()
                elapsed = time.perf_counter() - started
            except Exception as exc:  # noqa: BLE001 - reported as the run's status
                status, message = "error", _describe(exc)
        while not status:
            if iteration >= max_iter:
                status, message = "max_iter", f"reached max_iter={max_iter}"
                break
            if max_time is not None and elapsed >= max_time:
                status, message = "timeout", f"solver time {elapsed:.3g} s passed max_time={max_time:g} s"
                break
            try:
                backend.synchronize()
                started = time.perf_counter()
                new_state = self.step(problem, state)
                backend.synchronize()
                elapsed += time.perf_counter() - started
            except StepFailed as exc:
                status, message = "error", f"stalled: {exc}"
                break
            except Exception as exc:  # noqa: BLE001 - a failing step is a result, not a crash
                status, message = "error", _describe(exc)
                break
            except KeyboardInterrupt:
                status, message = "error", "interrupted by the user"
                break
            iteration += 1
            state = new_state
            row = record(iteration, elapsed, state)
            if not math.isfinite(row.loss) or row.loss > self.divergence_factor * max(first.loss, 1e-300):
                status, message = "diverged", f"loss {row.loss:.3e} (start {first.loss:.3e})"
            elif row.loss <= eps:
                status, message = "converged", f"loss {row.loss:.3e} ≤ eps={eps:g}"
            elif row.grad_norm <= self.gtol * first.grad_norm:
                status, message = "converged", (f"gradient norm {row.grad_norm:.3e} ≤ gtol·‖∇L₀‖ "
                                                 f"(gtol={self.gtol:g}); loss {row.loss:.3e} > eps")
        last = history[-1]
        return SolveResult(status=status, X=backend.to_numpy(state.X), Y=backend.to_numpy(state.Y),
                           loss=last.loss, iterations=iteration, history=history, message=message,
                           solver=self.name, backend=backend.name, dtype=problem.dtype,
                           info=self.info(state))

    def info(self, state: State) -> dict[str, Any]:
        """Solver-specific extras for the result (default: none)."""
        return {}


def _describe(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
    return f"{type(exc).__name__}: {exc}{place}"

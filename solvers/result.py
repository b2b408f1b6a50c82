"""What a solve returns: a status from a fixed vocabulary, the iterate and its history."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

#: How a solve ended (:class:`solvers.loop.IterativeSolver`): ``converged`` (loss ≤ eps or
#: stationary by gtol), ``stalled`` (no step decreases the loss in the precision, not yet
#: stationary), ``max_iter``, ``timeout``, ``diverged``, ``error`` (an exception), ``skipped``
#: (the method cannot run on this problem's layout; nothing ran, the message says why).
STATUSES = ("converged", "stalled", "max_iter", "timeout", "diverged", "error", "skipped")
#: The endings of a run that did what was asked of it (a command's exit status 0).
FINISHED = ("converged", "stalled", "max_iter", "timeout")


class HistoryRow(NamedTuple):
    """One monitored iterate.

    ``time`` is solver time (monitoring excluded, taken after synchronising); ``wall`` is
    the wall-clock time since the solve began, monitoring included (NaN in old records).
    """

    iteration: int
    time: float
    loss: float
    grad_norm: float
    wall: float = math.nan


@dataclass
class SolveResult:
    """Outcome of :meth:`Solver.solve`.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`. Failed and diverged runs keep their partial history.
    X, Y : numpy.ndarray
        The last iterate the method took, on the host (for ``diverged``, the one whose loss diverged; NaN for
        ``skipped``); never the caller's start arrays themselves.
    loss : float
        L(X, Y) at that iterate (the last row of ``history``).
    iterations : int
        Iterations performed.
    history : list of HistoryRow
        Iteration 0 is the starting point.
    message : str
        Why the run stopped, in words.
    solver, backend, dtype : str
        What ran.
    info : dict
        Solver-specific extras (final damping, CG iterations, ...).
    """

    status: str
    X: np.ndarray
    Y: np.ndarray
    loss: float
    iterations: int
    history: list[HistoryRow]
    message: str = ""
    solver: str = ""
    backend: str = ""
    dtype: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def time(self) -> float:
        """Solver time in seconds up to the last iterate."""
        return self.history[-1].time if self.history else 0.0

    @property
    def wall_time(self) -> float:
        """Wall-clock seconds from the start of the solve to the last iterate (monitoring included)."""
        return self.history[-1].wall if self.history else math.nan

    @property
    def grad_norm(self) -> float:
        """‖∇L‖ at the last recorded iterate (NaN without history)."""
        return self.history[-1].grad_norm if self.history else math.nan

    def time_to_reach(self, eps: float, *, wall: bool = False) -> float | None:
        """Solver time (or, with ``wall``, wall time) at which the loss first fell to ``eps`` or below, or ``None``."""
        for row in self.history:
            if row.loss <= eps:
                return row.wall if wall else row.time
        return None

    def iterations_to_reach(self, eps: float) -> int | None:
        """First iteration whose loss is ``eps`` or below, or ``None``."""
        for row in self.history:
            if row.loss <= eps:
                return row.iteration
        return None

    def time_per_iteration(self) -> float:
        """Mean solver time per iteration (NaN when no iteration ran)."""
        return self.time / self.iterations if self.iterations else math.nan

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (the iterate itself is left out)."""
        return {"solver": self.solver, "backend": self.backend, "dtype": self.dtype, "status": self.status,
                "message": self.message, "loss": self.loss, "iterations": self.iterations, "time": self.time,
                "wall_time": self.wall_time, "grad_norm": self.grad_norm,
                "history": [row._asdict() for row in self.history], "info": self.info}

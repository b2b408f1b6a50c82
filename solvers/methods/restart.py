"""A second attempt from the start when a method stops at a stationary point above the target loss.

Where min L = 0 (a planted problem, ``eps`` > 0 asked for), a stationary point with L > eps is a
spurious minimum of the nonconvex L: no local step leaves it, and the iterate that reached it is
no better place to go on from than the start. The same holds where the method stalls above eps (no
step lowers the loss in the precision: at such a minimum, float64 can leave |g|/|g0| just above
gtol). :func:`restart_from_start` runs another method from the start, in the same solve: its iterations and solver time continue the first attempt's
history under the same ``max_iter`` and ``max_time`` (:class:`ContinuedRun`), and the lower of the
two endings is returned.
"""

from __future__ import annotations

from typing import Any

from ..loop import IterativeSolver, Run, State
from ..problem import Problem
from ..result import HistoryRow


class ContinuedRun:
    """``run`` as a second drive sees it: its iterations and solver time go on from the first drive's.

    Parameters
    ----------
    run : Run
        The solve's monitoring and stopping rules (its history keeps growing).
    iterations : int
        Iterations the first drive took.
    elapsed : float
        Solver time the first drive used, in seconds.
    """

    def __init__(self, run: Run, iterations: int, elapsed: float) -> None:
        self.run = run
        self.iterations = iterations
        self.elapsed = elapsed

    def limits(self, iteration: int, elapsed: float) -> tuple[str, str]:
        return self.run.limits(self.iterations + iteration, self.elapsed + elapsed)

    def record(self, iteration: int, elapsed: float, state: State) -> HistoryRow:
        return self.run.record(self.iterations + iteration, self.elapsed + elapsed, state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.run, name)


def stopped_above_target(run: Run, status: str) -> bool:
    """Whether a drive stopped by itself with its loss above ``eps`` > 0: ``converged`` at a stationary point,
    or ``stalled`` where no step of the method lowers the loss in the precision (at a stationary point whose
    |g|/|g0| float64 leaves just above gtol, or where the method cannot go on); the limits are not reached
    then, and no further step of the first method would help."""
    return status in ("converged", "stalled") and run.history[-1].loss > run.eps > 0.0


def restart_from_start(problem: Problem, start: State, run: Run, first: tuple[State, int, str, str],
                       second: IterativeSolver) -> tuple[State, int, str, str, dict[str, Any]]:
    """Run ``second`` from ``start`` after the first drive's ending ``first`` (state, iterations, status,
    message) stopped above the target (:func:`stopped_above_target`).

    Returns the ending with the lower loss as (state, total iterations, status, message) and a record
    of the restart for the result's ``info``. Where the first ending is kept, its point is recorded once
    more at the end of the history (same iteration count, the solver time of both attempts), so that
    the result's loss and iterate agree.
    """
    state, iterations, status, message = first
    stopped = "stopped at a stationary point" if status == "converged" else f"ended {status}"
    stop = run.history[-1]
    continued = ContinuedRun(run, iterations, stop.time)
    recorded = len(run.history)
    other, more, other_status, other_message = second.drive(problem, start, continued)
    last, stepped = run.history[-1], len(run.history) > recorded
    record = {"method": second.name, "after_iterations": iterations, "first_loss": stop.loss,
              "second_status": other_status, "second_loss": last.loss if stepped else None}
    total = iterations + more
    if stepped and last.loss < stop.loss:
        record["kept"] = "second"
        return other, total, other_status, (f"{other_message} (by {second.name} from the start, after "
                                            f"{run.solver.name} {stopped}, loss "
                                            f"{stop.loss:.3e} > eps)"), record
    record["kept"] = "first"
    if not stepped:  # the second attempt took no step
        return state, total, status, f"{message}; {second.name} from the start: {other_status} ({other_message})", record
    continued.record(more, last.time - stop.time, state)
    return state, total, status, (f"{message}; {second.name} from the start ended {other_status} "
                                  f"at loss {last.loss:.3e}, so the first point is kept"), record

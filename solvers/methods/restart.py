"""A second attempt from the start when a method stops at a stationary point above the target loss,
or has taken many iterations without reaching it.

Where min L = 0 (a planted problem, ``eps`` > 0 asked for), a stationary point with L > eps is a
spurious minimum of the nonconvex L: no local step leaves it, and the iterate that reached it is
no better place to go on from than the start. The same holds where the method stalls above eps (no
step lowers the loss in the precision: at such a minimum, float64 can leave |g|/|g0| just above
gtol). A first attempt that is still above eps after many iterations is most likely on its way to such a
point, and may be handed over early (:data:`HANDED_OVER`, ``until`` of :class:`ContinuedRun`).
:func:`restart_from_start` runs another method from the start, in the same solve: its iterations and
solver time continue the first attempt's history under the same ``max_iter`` and ``max_time``
(:class:`ContinuedRun`), and the lower of the two endings is returned. Given ``until``, the second attempt
may itself be handed over, and the caller runs the next method after it in the same way.
"""

from __future__ import annotations

from typing import Any

from ..loop import IterativeSolver, Run, State
from ..problem import Problem
from ..result import HistoryRow

#: The status a first attempt ends with when ``until`` of its :class:`ContinuedRun` stops it: never a
#: result's status (:func:`restart_from_start` follows it, and the caller goes on where it is returned).
HANDED_OVER = "handed over"


class ContinuedRun:
    """``run`` as a later drive sees it: its iterations and solver time go on from the earlier drives'.

    Parameters
    ----------
    run : Run
        The solve's monitoring and stopping rules (its history keeps growing).
    iterations : int
        Iterations the earlier drives took.
    elapsed : float
        Solver time the earlier drives used, in seconds.
    until : int, optional
        Stop this drive with :data:`HANDED_OVER` once it has taken ``until`` iterations (``run``'s own
        limits first); default: ``run``'s limits only.
    """

    def __init__(self, run: Run, iterations: int = 0, elapsed: float = 0.0, until: int | None = None) -> None:
        self.run = run
        self.iterations = iterations
        self.elapsed = elapsed
        self.until = until

    def limits(self, iteration: int, elapsed: float) -> tuple[str, str]:
        status, message = self.run.limits(self.iterations + iteration, self.elapsed + elapsed)
        if not status and self.until is not None and iteration >= self.until:
            return HANDED_OVER, f"{iteration} iterations without reaching eps = {self.run.eps:g}"
        return status, message

    def record(self, iteration: int, elapsed: float, state: State) -> HistoryRow:
        return self.run.record(self.iterations + iteration, self.elapsed + elapsed, state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.run, name)


def stopped_above_target(run: Run, status: str) -> bool:
    """Whether a drive stopped by itself with the loss last recorded above ``eps`` > 0: ``converged`` at a stationary
    point, ``stalled`` where no step of the method lowers the loss in the precision (at a stationary point whose
    |g|/|g0| float64 leaves just above gtol, or where the method cannot go on), or :data:`HANDED_OVER`; the limits
    are not reached then, and the next method from the start may run."""
    return status in ("converged", "stalled", HANDED_OVER) and run.history[-1].loss > run.eps > 0.0


def restart_from_start(problem: Problem, start: State, run: Run, first: tuple[State, int, str, str],
                       second: IterativeSolver, *, after: str | None = None,
                       until: int | None = None) -> tuple[State, int, str, str, dict[str, Any]]:
    """Run ``second`` from ``start`` after the first drive's ending ``first`` (state, iterations, status,
    message) stopped above the target (:func:`stopped_above_target`) or was :data:`HANDED_OVER`.

    ``after`` names the method that gave ``first`` (default: the solve's); ``until`` hands ``second`` over in turn
    after that many of its iterations (:class:`ContinuedRun`).

    Returns the ending with the lower loss as (state, total iterations, status, message) and a record
    of the restart for the result's ``info``. Where the first ending is kept, its point is recorded once
    more at the end of the history (same iteration count, the solver time of both attempts), so that
    the result's loss and iterate agree. A handed-over first ending kept after the second attempt reached
    ``max_iter`` or ``timeout`` takes that status; kept after the second stopped by itself, it stays
    :data:`HANDED_OVER`, for the caller to go on from.
    """
    state, iterations, status, message = first
    after = run.solver.name if after is None else after
    stopped = {"converged": "stopped at a stationary point",
               HANDED_OVER: "was handed over"}.get(status, f"ended {status}")
    stop = run.history[-1]
    continued = ContinuedRun(run, iterations, stop.time, until=until)
    recorded = len(run.history)
    other, more, other_status, other_message = second.drive(problem, start, continued)
    last, stepped = run.history[-1], len(run.history) > recorded
    record = {"method": second.name, "after_iterations": iterations, "first_status": status, "first_loss": stop.loss,
              "second_status": other_status, "second_loss": last.loss if stepped else None}
    total = iterations + more
    if stepped and last.loss < stop.loss:
        record["kept"] = "second"
        return other, total, other_status, (f"{other_message} (by {second.name} from the start, after "
                                            f"{after} {stopped}, loss {stop.loss:.3e} > eps)"), record
    record["kept"] = "first"
    if status == HANDED_OVER and other_status in ("max_iter", "timeout"):
        status, message = other_status, f"{other_message}, {after} {stopped} at loss {stop.loss:.3e}"
    if not stepped:  # the second attempt took no step
        return state, total, status, f"{message}; {second.name} from the start: {other_status} ({other_message})", record
    continued.record(more, last.time - stop.time, state)
    return state, total, status, (f"{message}; {second.name} from the start ended {other_status} "
                                  f"at loss {last.loss:.3e}, so the first point is kept"), record


def run_in_turn(problem: Problem, start: State, run: Run, attempts: list[tuple[IterativeSolver, int | None]],
                resume: IterativeSolver) -> tuple[State, int, str, str, list[dict[str, Any]]]:
    """Run ``attempts`` (method, ``until``: iterations after which the next takes over, ``None``: only after a stop)
    from ``start`` in turn while each stops by itself above eps or is handed over (:func:`restart_from_start`).

    Returns the lowest ending as (state, total iterations, status, message) and one record per attempt after the
    first. Where the lowest is a handed-over point and nothing followed it to a limit, ``resume`` goes on from there
    to the end (its record says ``resumed``).
    """
    (first, until), *rest = attempts
    ending, iterations, status, message = first.drive(problem, start, ContinuedRun(run, until=until))
    records: list[dict[str, Any]] = []
    after = first.name
    if not stopped_above_target(run, status):
        return ending, iterations, status, message, records
    for second, until in rest:
        ending, iterations, status, message, record = restart_from_start(
            problem, start, run, (ending, iterations, status, message), second, after=after, until=until)
        records.append(record)
        after = second.name if record["kept"] == "second" else after
        if not stopped_above_target(run, record["second_status"]):  # the lowest loss is the last recorded
            break
    if status == HANDED_OVER:
        ending, more, status, message = resume.drive(problem, ending, ContinuedRun(run, iterations,
                                                                                   run.history[-1].time))
        iterations += more
        records[-1]["resumed"] = True
    return ending, iterations, status, message, records

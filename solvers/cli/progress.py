"""Progress displays of the command line: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..loop import IterativeSolver
from ..problem import Problem
from ..result import HistoryRow, SolveResult


def solve_with_progress(solver: IterativeSolver, problem: Problem, X0: Any = None, Y0: Any = None,
                        *, console: Console | None = None, **solve_options: Any) -> SolveResult:
    """Run ``solver.solve`` showing iteration, loss and solver time as it goes.

    The bar fills towards whichever limit is nearer: ``max_iter`` iterations or ``max_time`` seconds. A dense
    method whose one iteration is out of reach at this d (:func:`solvers.harness.measure.matrix.dense_cost`) is
    named first, since ``max_time`` is checked between iterations.
    """
    from ..harness.measure.matrix import dense_cost

    console = console or Console(stderr=True)
    cost = dense_cost(solver.name, problem.d)
    if cost is not None:
        console.print(f"note: {solver.name} at d = {problem.d}: {cost}; --max-time is checked between iterations",
                      highlight=False, markup=False, soft_wrap=True)
    max_iter, max_time = solve_options.get("max_iter", 100), solve_options.get("max_time")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[iteration]} it"),
               TextColumn("loss {task.fields[loss]:.3e}  t={task.fields[t]:.3f}s"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{solver.name} [{problem.backend.name}]", total=1.0, iteration=0,
                                 loss=float("nan"), t=0.0)

        def show(row: HistoryRow) -> None:
            done = max(row.iteration / max_iter if max_iter else 1.0, row.time / max_time if max_time else 0.0)
            progress.update(task, completed=min(done, 1.0), iteration=row.iteration, loss=row.loss, t=row.time)

        return solver.solve(problem, X0, Y0, callback=show, **solve_options)


#: Without a terminal, at most one plain progress line per this many seconds.
PLAIN_INTERVAL = 10.0


@contextmanager
def work_progress(total: float, title: str = "reproduce") -> Iterator[Callable[[str, float], None]]:
    """Progress over ``total`` units of work (estimated seconds, say), with the time left: ``tick(label, advance)``.

    On a terminal, a rich bar on standard error; otherwise plain lines on standard error
    (the label, the elapsed time, the share done and the time left at the rate so far), at
    most one per :data:`PLAIN_INTERVAL` seconds, so a log of a long run shows that it is alive.
    """
    console = Console(stderr=True)
    if not console.is_terminal:
        started = time.perf_counter()
        state = {"done": 0.0, "printed": -PLAIN_INTERVAL}

        def plain(label: str, advance: float) -> None:
            state["done"] += advance
            now = time.perf_counter() - started
            if label and now - state["printed"] >= PLAIN_INTERVAL:
                state["printed"] = now
                share = min(state["done"] / total, 1.0) if total > 0 else 0.0
                left = f", ~{now * (1.0 - share) / share:.0f} s left" if share >= 0.02 else ""
                print(f"[{now:6.0f} s, ~{share:.0%}{left}] {label}", file=sys.stderr, flush=True)

        yield plain
        return
    from rich.progress import TimeRemainingColumn

    columns = (TextColumn(f"[bold]{title}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=console, speed_estimate_period=120) as progress:
        task = progress.add_task("", total=total)

        def tick(label: str, advance: float) -> None:
            progress.update(task, advance=advance, **({"description": label} if label else {}))

        yield tick

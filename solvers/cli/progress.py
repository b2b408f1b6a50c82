"""Live progress for long solves (rich), quiet when output is not a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..loop import IterativeSolver
from ..problem import Problem
from ..result import HistoryRow, SolveResult


def solve_with_progress(solver: IterativeSolver, problem: Problem, X0: Any = None, Y0: Any = None,
                        *, console: Console | None = None, **solve_options: Any) -> SolveResult:
    """Run ``solver.solve`` showing iteration, loss and solver time as it goes."""
    console = console or Console(stderr=True)
    total = solve_options.get("max_iter", 100)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.3e}  t={task.fields[t]:.3f}s"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{solver.name} [{problem.backend.name}]", total=total, loss=float("nan"), t=0.0)

        def show(row: HistoryRow) -> None:
            progress.update(task, completed=row.iteration, loss=row.loss, t=row.time)

        return solver.solve(problem, X0, Y0, callback=show, **solve_options)

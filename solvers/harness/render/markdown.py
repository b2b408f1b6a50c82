"""Markdown building blocks of the reports: number formats that print "–" for what is missing (and "n/a" for
a share that is undefined), and tables."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def fmt(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals."""
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def fmt_loss(loss: float | None) -> str:
    """A loss in scientific notation."""
    return "–" if loss is None or not math.isfinite(loss) else f"{loss:.2e}"


def fmt_count(count: int | None) -> str:
    """An iteration count."""
    return "–" if count is None else str(count)


def fmt_time(seconds: float | None) -> str:
    """A duration in ms below a second, else in s."""
    if seconds is None:
        return "–"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def fmt_share(share: float | None) -> str:
    """A share as a percentage; "n/a" where it is undefined (a share of no cases)."""
    return "n/a" if share is None else f"{share:.0%}"


def table(header: list[str], rows: Iterable[list[Any]]) -> str:
    """A Markdown table (``|`` inside cells escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def brief(message: str, limit: int = 90) -> str:
    """The first line of a result message, cut to ``limit`` characters."""
    line = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def fit_ci(fit: Any) -> str:
    """A fitted slope with its confidence interval, "(no CI)" without one, "–" without a fit."""
    if fit is None:
        return "–"
    if not math.isfinite(fit.stderr):
        return f"{fit.slope:.2f} (no CI)"
    return f"{fit.slope:.2f} [{fit.ci_low:.2f}, {fit.ci_high:.2f}]"

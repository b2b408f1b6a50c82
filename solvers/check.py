"""Checks of the solvers' options, made when a solver is built (``get_solver``).

Each returns the value it was given (a ``float`` for numbers) or raises ``ValueError`` naming the
option and what it must be, so that ``solve`` never meets an option it cannot use: a NaN step
size, a negative memory or a string where a flag belongs would otherwise end a run in ``error``
(or in a status that reads as the method's own ending) long after the mistake was made.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def number(name: str, value: Any, *, above: float | None = None, at_least: float | None = None,
           below: float | None = None, infinite: bool = False) -> float:
    """``value`` as a float: a real number (finite unless ``infinite``) within the bounds given.

    Raises
    ------
    ValueError
        ``value`` is not a real number (booleans included), is NaN, infinite without ``infinite``,
        or outside the bounds.
    """
    bounds = [f"> {above:g}" if above is not None else "", f"≥ {at_least:g}" if at_least is not None else "",
              f"< {below:g}" if below is not None else ""]
    wanted = " and ".join(bound for bound in bounds if bound)
    what = f"a {'' if infinite else 'finite '}number{' ' + wanted if wanted else ''}"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    ok = ok and (infinite or math.isfinite(value))
    ok = ok and (above is None or value > above) and (at_least is None or value >= at_least)
    ok = ok and (below is None or value < below)
    if not ok:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


def integer(name: str, value: Any, *, at_least: int = 1, optional: bool = False) -> int | None:
    """``value`` as an int ≥ ``at_least`` (``None`` passes where ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < at_least:
        raise ValueError(f"{name} must be an integer ≥ {at_least}{' (or None)' if optional else ''}, got {value!r}")
    return int(value)


def flag(name: str, value: Any, *, optional: bool = False) -> bool | None:
    """``value``, which must be ``True`` or ``False`` (or ``None`` where ``optional``): a string such as
    ``"no"`` is not taken for true."""
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False{' (or None)' if optional else ''}, got {value!r}")
    return bool(value)

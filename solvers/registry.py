"""Solver registry: ``get_solver(name, backend=..., **options)``.

Solver modules are imported on first use, so ``import solvers`` stays light and never
imports torch; a module registers its classes with :func:`register`.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, TypeVar

from .backends import Backend
from .loop import IterativeSolver

#: Modules that define solvers, imported the first time the registry is consulted.
SOLVER_MODULES = ("solvers.methods.alternating", "solvers.methods.sketched", "solvers.methods.newton",
                  "solvers.methods.newton_cg", "solvers.methods.varpro", "solvers.methods.peers",
                  "solvers.methods.scipy_peers", "solvers.methods.jax_peers")

_REGISTRY: dict[str, type[IterativeSolver]] = {}
T = TypeVar("T", bound=type[IterativeSolver])


def register(cls: T) -> T:
    """Class decorator adding a solver under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    for module in SOLVER_MODULES:
        importlib.import_module(module)


def list_solvers() -> list[str]:
    """Names of every registered solver, in registration order."""
    _load()
    return list(_REGISTRY)


def get_solver(name: str, backend: str | Backend | None = None, **options: Any) -> IterativeSolver:
    """Instantiate the solver called ``name``.

    Parameters
    ----------
    name : str
        See :func:`list_solvers`.
    backend : str or Backend, optional
        Run on this backend (the problem is moved before the clock starts).
    **options
        Solver-specific options, passed to its constructor.

    Raises
    ------
    ValueError
        Unknown name or option (the message lists the valid ones), or a backend the
        method cannot run on.
    """
    _load()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(_REGISTRY)}") from None
    accepted = _options_of(cls)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"{name} has no option(s) {', '.join(unknown)}; its options are: {', '.join(sorted(accepted))}")
    return cls(backend=backend, **options)


def _options_of(cls: type[IterativeSolver]) -> set[str]:
    """Keyword options of a solver class's constructor, its bases' included (``**common`` is passed up)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        names |= {p.name for p in inspect.signature(init).parameters.values()
                  if p.kind == p.KEYWORD_ONLY}
    return names

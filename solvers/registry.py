"""Solver registry: ``get_solver(name, backend=..., **options)``.

The project's methods are the data :data:`solvers.methods.METHODS`, read the first time the
registry is consulted (so ``import solvers`` stays light and never imports torch); the
methods never import the registry back. :func:`register` adds a user's own solver class.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any, TypeVar

from .backends import Backend
from .loop import IterativeSolver

_REGISTRY: dict[str, type[IterativeSolver]] = {}
T = TypeVar("T", bound=type[IterativeSolver])


def register(cls: T) -> T:
    """Class decorator adding a solver (an :class:`IterativeSolver` subclass) under ``cls.name``.

    Raises
    ------
    TypeError
        ``cls`` is not an :class:`IterativeSolver` subclass.
    ValueError
        It has no name, or another class is registered under it (a built-in method is never replaced
        silently; the same class defined again, as a module reload does, is).
    """
    if not (isinstance(cls, type) and issubclass(cls, IterativeSolver)):
        raise TypeError(f"register takes an IterativeSolver subclass, got {cls!r}")
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _load()
    held = _REGISTRY.get(cls.name)
    if held is not None and (held.__module__, held.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"a solver named {cls.name!r} is already registered ({held.__module__}.{held.__qualname__}); "
                         f"give {cls.__qualname__} another name")
    _REGISTRY[cls.name] = cls
    return cls


@cache
def _load() -> None:
    """Register the project's methods, once, before any user's (so theirs come after)."""
    from .methods import METHODS

    for method in METHODS:
        _REGISTRY.setdefault(method.name, method)


def list_solvers() -> list[str]:
    """Names of every registered solver, in registration order."""
    _load()
    return list(_REGISTRY)


def solver_class(name: str) -> type[IterativeSolver]:
    """The class registered as ``name`` (its capabilities, e.g. :meth:`IterativeSolver.skip`, without constructing it).

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones).
    """
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(_REGISTRY)}") from None


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
    cls = solver_class(name)
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

"""Array backends: thin adapters that give the numerical core a device and a few operations.

The maths in :mod:`solvers.oracles` is written once against the array API. A backend
supplies only what that code cannot express portably: where arrays live (``asarray``,
``to_numpy``), how to wait for the device (``synchronize``), the dtype policy, and a
Cholesky solve that reports failure instead of raising or returning NaN.

Importing this module imports neither torch nor CuPy; each adapter imports its library
the first time it is constructed.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

BACKEND_NAMES = ("numpy", "torch", "torch-cuda", "cupy")
DTYPES = ("float64", "float32")


class BackendUnavailable(RuntimeError):
    """The library or the device a backend needs is not present on this machine."""


@runtime_checkable
class Backend(Protocol):
    """What the numerical core needs from an array library.

    Attributes
    ----------
    name : str
        One of :data:`BACKEND_NAMES`.
    device : str
        Where arrays live, e.g. ``"cpu"`` or ``"cuda:0"``.
    dtype : str
        ``"float64"`` or ``"float32"``; every array this backend makes has it.
    xp : module
        The array-API namespace (from ``array_api_compat``).
    """

    name: str
    device: str
    dtype: str
    xp: Any

    def asarray(self, host: Any) -> Any:
        """Copy a host (NumPy) array to the device, in the backend's dtype."""

    def to_numpy(self, array: Any) -> np.ndarray:
        """Copy a backend array to a host NumPy array."""

    def owns(self, array: Any) -> bool:
        """Whether ``array`` is an array of this backend's library on its device."""

    def synchronize(self) -> None:
        """Block until all work queued on the device has finished."""

    def cho_solve(self, H: Any, b: Any) -> tuple[Any, bool]:
        """Solve ``H x = b`` for symmetric positive definite ``H``.

        Returns ``(x, True)`` on success and ``(None, False)`` when the factorisation
        fails or produces non-finite values; never raises for a non-SPD matrix.
        """

    def describe(self) -> dict[str, Any]:
        """The backend's policy (library version, device, dtype, TF32) for result records."""


def get_backend(name: str | Backend = "numpy", dtype: str = "float64", *, tf32: bool = False) -> Backend:
    """Construct the backend adapter called ``name``.

    Parameters
    ----------
    name : str or Backend
        ``"numpy"``, ``"torch"`` (CPU), ``"torch-cuda"`` or ``"cupy"``. A Backend instance
        is returned unchanged.
    dtype : {"float64", "float32"}
        Floating-point precision of every array the backend creates.
    tf32 : bool
        torch-cuda only: allow TensorFloat-32 in float32 matrix products. Off by default
        so that float32 means float32.

    Raises
    ------
    ValueError
        Unknown backend name or dtype, or a torch backend whose ``tf32`` differs from that
        of a torch backend still alive (torch's setting is process-wide).
    BackendUnavailable
        The library or device is missing here.
    """
    if not isinstance(name, str):
        if isinstance(name, Backend):
            return name
        raise TypeError(f"backend must be a name or a Backend, got {type(name).__name__}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if tf32 and name != "torch-cuda":
        raise ValueError("tf32=True only applies to the 'torch-cuda' backend")
    if name == "numpy":
        from .numpy import NumpyBackend

        return NumpyBackend(dtype)
    if name in ("torch", "torch-cuda"):
        from .torch import TorchBackend

        return TorchBackend(dtype, cuda=name == "torch-cuda", tf32=tf32)
    if name == "cupy":
        from .cupy import CupyBackend

        return CupyBackend(dtype)
    raise ValueError(f"unknown backend {name!r}; choose one of {BACKEND_NAMES}")


def backend_unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or ``None`` if it can.

    Probes the library and the device (a CuPy import succeeds without a driver and fails
    only on first use, so this asks the runtime for a device count).
    """
    try:
        get_backend(name)
    except BackendUnavailable as exc:
        return str(exc)
    return None


def available_backends() -> list[str]:
    """Names of the backends that can run on this machine."""
    return [name for name in BACKEND_NAMES if backend_unavailable_reason(name) is None]


__all__ = [
    "BACKEND_NAMES",
    "DTYPES",
    "Backend",
    "BackendUnavailable",
    "available_backends",
    "backend_unavailable_reason",
    "get_backend",
]

"""Array backends: thin adapters that give the numerical core a device and a few operations.

The maths in :mod:`solvers.kernels` is written once against the array API. A backend
supplies only what that code cannot express portably: where arrays live (``asarray``,
``to_numpy``), how to wait for the device (``synchronize``), the dtype policy, and a
Cholesky solve that reports failure instead of raising or returning NaN.

Importing this module imports neither torch nor CuPy; each adapter imports its library
the first time it is constructed.
"""

from __future__ import annotations

from typing import Any

from .base import Backend, BackendUnavailable

BACKEND_NAMES = ("numpy", "torch", "torch-cuda", "cupy")
DTYPES = ("float64", "float32")


def device_of(array: Any) -> Any:
    """The device ``array`` lives on, in its library's own terms (for ``device=`` arguments)."""
    from array_api_compat import device

    return device(array)


def host_floats(backend: Backend, *values: Any) -> tuple[float, ...]:
    """Several 0-d backend arrays as Python floats, with one transfer (one synchronisation).

    The solvers' control flow needs a few scalars per step (a curvature, a residual norm, a
    loss); fetching them one ``float()`` at a time costs one device round trip each.
    """
    xp = backend.xp
    return tuple(float(v) for v in backend.to_numpy(xp.stack([xp.asarray(v) for v in values])))


def get_backend(name: str | Backend = "numpy", dtype: str = "float64", *, tf32: bool = False,
                distributed: bool = False) -> Backend:
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
    distributed : bool
        torch backends only: one process of a row-sharded run, whose ``all_reduce`` sums over
        torch.distributed's default process group (initialised by the caller).

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
    if distributed and name not in ("torch", "torch-cuda"):
        raise ValueError(f"distributed runs use torch.distributed: backend 'torch' or 'torch-cuda', not {name!r}")
    if name == "numpy":
        from .numpy import NumpyBackend

        return NumpyBackend(dtype)
    if name in ("torch", "torch-cuda"):
        from .torch import TorchBackend

        return TorchBackend(dtype, cuda=name == "torch-cuda", tf32=tf32, distributed=distributed)
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
    "device_of",
    "get_backend",
]

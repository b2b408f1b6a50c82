"""A Backend on ``array_api_strict`` for the tests: the array-API standard and nothing more.

Its arrays live on array-api-strict's non-default device ``"device1"``, a stand-in for a
GPU: an array created without ``device=`` lands on the CPU device and cannot be combined
with them, and none converts to NumPy implicitly. Code that runs here uses only the
standard plus what the Backend protocol supplies, so it also runs on CuPy and torch-cuda.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_strict
import numpy as np

from solvers.backends import DTYPES
from solvers.backends.numpy import NumpyBackend

#: The array type of array_api_strict (not exported under a public name).
_ARRAY_TYPE = type(array_api_strict.asarray(0.0))
_HOST = array_api_strict.Device("CPU_DEVICE")


class StrictBackend:
    """array_api_strict arrays on a non-default device; Cholesky on host copies.

    Parameters
    ----------
    dtype : {"float64", "float32"}
        Precision of every array the backend makes.
    device : str
        An array_api_strict device name; the default ``"device1"`` is not the CPU device.
    """

    name = "array-api-strict"
    xp = array_api_strict

    def __init__(self, dtype: str = "float64", device: str = "device1") -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.dtype = dtype
        self.device = device
        self._device = array_api_strict.Device(device)
        self._host = NumpyBackend(dtype)

    def asarray(self, host: Any) -> Any:
        return array_api_strict.asarray(self._host.asarray(host), device=self._device)

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array.to_device(_HOST))

    def owns(self, array: Any) -> bool:
        return isinstance(array, _ARRAY_TYPE) and array.device == self._device

    def synchronize(self) -> None:
        return None

    def cho_solve(self, H: Any, b: Any, shift: float = 0.0) -> tuple[Any, bool]:
        """The standard has no triangular solve: factorise host copies with SciPy (NumPy backend)."""
        x, ok = self._host.cho_solve(self.to_numpy(H), self.to_numpy(b), shift)
        return (self.asarray(x), True) if ok else (None, False)

    def map_blocks(self, work: Callable[[Any], Any], blocks: list[Any]) -> list[Any]:
        return [work(block) for block in blocks]

    def all_reduce(self, partial: Any) -> Any:
        return partial

    def describe(self) -> dict[str, Any]:
        flags = array_api_strict.get_array_api_strict_flags()
        return {"backend": self.name, "library": "array_api_strict", "version": array_api_strict.__version__,
                "device": self.device, "dtype": self.dtype, "api_version": flags["api_version"]}

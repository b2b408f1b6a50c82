"""CuPy backend, on the CUDA device that is current when it is constructed.

CuPy ignores cuSOLVER's error codes by default: a failed Cholesky factorisation comes back
as a partial factor, finite or NaN, without a word. The solve therefore factorises under
``cupyx.errstate(linalg="raise")``, where CuPy reads cuSOLVER's ``devInfo`` and raises
``LinAlgError`` when it is non-zero, and also checks that the solution is finite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .base import BackendUnavailable


class CupyBackend:
    """CuPy arrays on the current CUDA device."""

    name = "cupy"

    def __init__(self, dtype: str = "float64") -> None:
        try:
            import cupy
            import array_api_compat.cupy as xp
        except ImportError as exc:
            raise BackendUnavailable(f"CuPy is not installed ({exc}); pip install 'attnreg[cupy]'") from exc
        try:  # CuPy imports without a driver and fails on first use: probe the runtime.
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # noqa: BLE001 - any CUDA runtime failure means "no GPU"
            raise BackendUnavailable(f"cupy: no usable CUDA device ({type(exc).__name__}: {exc})") from exc
        if count < 1:
            raise BackendUnavailable("cupy: the CUDA runtime reports no device")
        import cupyx
        from cupyx.scipy.linalg import solve_triangular

        self._cupy = cupy
        self._errstate = cupyx.errstate
        self._solve_triangular = solve_triangular
        self.xp = xp
        self._device = cupy.cuda.Device()
        self.device = f"cuda:{self._device.id}"
        self.dtype = dtype
        self._dtype = np.dtype(dtype)

    def asarray(self, host: Any) -> Any:
        with self._device:
            return self._cupy.array(np.ascontiguousarray(host), dtype=self._dtype)

    def to_numpy(self, array: Any) -> np.ndarray:
        return self._cupy.asnumpy(array)

    def owns(self, array: Any) -> bool:
        return isinstance(array, self._cupy.ndarray) and array.device.id == self._device.id

    def synchronize(self) -> None:
        self._cupy.cuda.get_current_stream().synchronize()

    def cho_solve(self, H: Any, b: Any, shift: float = 0.0) -> tuple[Any, bool]:
        cp = self._cupy
        if shift:
            H = H.copy()
            H.ravel()[::H.shape[0] + 1] += shift
        try:
            with self._errstate(linalg="raise"):  # a non-zero devInfo raises instead of passing
                L = cp.linalg.cholesky(H)
            z = self._solve_triangular(L, b, lower=True)
            x = self._solve_triangular(L, z, lower=True, trans="T")
        except cp.linalg.LinAlgError:
            return None, False
        if not bool(cp.isfinite(x).all()):
            return None, False
        return x, True

    def map_blocks(self, work: Callable[[Any], Any], blocks: list[Any]) -> list[Any]:
        return [work(block) for block in blocks]

    def all_reduce(self, partial: Any) -> Any:
        return partial

    def describe(self) -> dict[str, Any]:
        cp = self._cupy
        props = cp.cuda.runtime.getDeviceProperties(self._device.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return {"backend": self.name, "library": "cupy", "version": cp.__version__,
                "device": self.device, "dtype": self.dtype, "gpu": name,
                "cuda_runtime": cp.cuda.runtime.runtimeGetVersion()}

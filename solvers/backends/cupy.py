"""CuPy backend. cuSOLVER errors are ignored by CuPy by default (NaN comes back), so the
Cholesky solve checks finiteness instead of trusting the call."""

from __future__ import annotations

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
        from cupyx.scipy.linalg import solve_triangular

        self._cupy = cupy
        self._solve_triangular = solve_triangular
        self.xp = xp
        self.device = f"cuda:{cupy.cuda.Device().id}"
        self.dtype = dtype
        self._dtype = np.dtype(dtype)

    def asarray(self, host: Any) -> Any:
        return self._cupy.array(np.ascontiguousarray(host), dtype=self._dtype)

    def to_numpy(self, array: Any) -> np.ndarray:
        return self._cupy.asnumpy(array)

    def owns(self, array: Any) -> bool:
        return isinstance(array, self._cupy.ndarray)

    def synchronize(self) -> None:
        self._cupy.cuda.get_current_stream().synchronize()

    def cho_solve(self, H: Any, b: Any) -> tuple[Any, bool]:
        cp = self._cupy
        try:
            L = cp.linalg.cholesky(H)
            z = self._solve_triangular(L, b, lower=True)
            x = self._solve_triangular(L, z, lower=True, trans="T")
        except cp.linalg.LinAlgError:
            return None, False
        if not bool(cp.isfinite(x).all()):
            return None, False
        return x, True

    def describe(self) -> dict[str, Any]:
        cp = self._cupy
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return {"backend": self.name, "library": "cupy", "version": cp.__version__,
                "device": self.device, "dtype": self.dtype, "gpu": name,
                "cuda_runtime": cp.cuda.runtime.runtimeGetVersion()}

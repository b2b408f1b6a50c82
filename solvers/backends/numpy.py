"""NumPy (CPU) backend: SciPy's Cholesky, no device to wait for."""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp
import numpy as np
import scipy.linalg


class NumpyBackend:
    """NumPy arrays on the host; BLAS threads are whatever threadpoolctl reports."""

    name = "numpy"
    device = "cpu"
    xp = xp

    def __init__(self, dtype: str = "float64") -> None:
        self.dtype = dtype
        self._np_dtype = np.dtype(dtype)

    def asarray(self, host: Any) -> np.ndarray:
        return np.array(host, dtype=self._np_dtype, copy=True, order="C")

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def owns(self, array: Any) -> bool:
        return isinstance(array, np.ndarray)

    def synchronize(self) -> None:
        return None

    def cho_solve(self, H: Any, b: Any) -> tuple[Any, bool]:
        try:
            factor = scipy.linalg.cho_factor(H, lower=True, check_finite=True)
            x = scipy.linalg.cho_solve(factor, b, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return None, False
        if not np.all(np.isfinite(x)):
            return None, False
        return x, True

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "library": "numpy", "version": np.__version__,
                "device": self.device, "dtype": self.dtype}

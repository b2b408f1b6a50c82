"""Attention sparsification (docs/maths.md §8): selection time against d, n and nnz(X); error against m.

X = ``solvers.sparsify.attention_instance(n, d, r=0.05, seed)`` (‖XXᵀ‖∞ = 0.045). Each method
uses its default m (⌈8 n ln n⌉ draws for ``norm``/``leverage``, 4n steps for ``bss``, 0 for
``zero``, n for ``exact-factor``). Backends follow ``$ATTNREG_BACKENDS`` / the active grid
like every other suite; nothing touches a GPU at import time.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from solvers.backends import BACKEND_NAMES, backend_unavailable_reason, get_backend
from solvers.sparsify import METHODS, RANDOMIZED, attention_error, attention_instance, sparsify

from ._common import whole_run_backends

R = 0.05


def _backend(name: str):
    if name not in whole_run_backends():
        raise NotImplementedError(f"{name} is not selected (set ATTNREG_BACKENDS; the grid may time only some stages on it)")
    reason = backend_unavailable_reason(name)
    if reason is not None:
        raise NotImplementedError(reason)
    return get_backend(name)


class _TimeSuite:
    """Wall time of one ``sparsify`` call on X already resident on the backend."""

    number = 1
    repeat = (1, 5, 2.0)
    warmup_time = 0.0
    timeout = 300.0

    def _prepare(self, backend: str, method: str, n: int, d: int) -> None:
        self.be = _backend(backend)
        self.method = method
        self.X = self.be.asarray(attention_instance(n, d, R, seed=0))
        sparsify(self.X, None, method, backend=self.be)  # warm-up: the timed method's first use off the clock
        self.be.synchronize()

    def time_sparsify(self, *params) -> None:
        sparsify(self.X, None, self.method, backend=self.be)
        self.be.synchronize()


class SparsifyTimeD(_TimeSuite):
    """Time against d at n = 64 (claims: O(nnz(X) + n^ω) randomized, O(d n^{ω−1} + …) deterministic)."""

    params = [list(BACKEND_NAMES), list(METHODS), [1024, 2048, 4096, 8192]]
    param_names = ["backend", "method", "d"]

    def setup(self, backend: str, method: str, d: int) -> None:
        self._prepare(backend, method, 64, d)


class SparsifyTimeN(_TimeSuite):
    """Time against n at d = 4096."""

    params = [list(BACKEND_NAMES), list(METHODS), [16, 32, 64, 128]]
    param_names = ["backend", "method", "n"]

    def setup(self, backend: str, method: str, n: int) -> None:
        self._prepare(backend, method, n, 4096)


class SparsifyTimeNnz(_TimeSuite):
    """Randomized methods on a ``scipy.sparse`` X (n = 64, d = 4096): time against nnz(X)."""

    params = [list(RANDOMIZED), [0.01, 0.1, 1.0]]
    param_names = ["method", "density"]

    def setup(self, method: str, density: float) -> None:
        self.be = _backend("numpy")
        self.method = method
        self.X = scipy.sparse.csr_matrix(attention_instance(64, 4096, R, seed=0, density=density))
        sparsify(self.X, None, method)

    def track_nnz(self, method: str, density: float) -> int:
        """nnz(X), the x axis of this suite."""
        return int(self.X.nnz)


class SparsifyError:
    """Attention error at n = 64, d = 4096 against m, mean over 3 seeds (NumPy float64).

    ``m`` is the number of draws (randomized) or barrier steps (``bss``, needs m > n); the
    baselines have fixed m (``zero``: 0, ``exact-factor``: n) and run at the first m only.
    """

    params = [list(METHODS), [64, 256, 2130]]
    param_names = ["method", "m"]
    number = 1
    timeout = 300.0

    def setup(self, method: str, m: int) -> None:
        if method in ("zero", "exact-factor") and m != self.params[1][0]:
            raise NotImplementedError(f"{method} has a fixed m; reported at m={self.params[1][0]} only")
        if method == "bss" and not 64 < m <= 4 * 64:
            raise NotImplementedError("bss is run with n < m ≤ 4n")
        draws = {"zero": 0, "exact-factor": 64}.get(method, m)
        errors = []
        for seed in range(3):
            X = attention_instance(64, 4096, R, seed)
            result = sparsify(X, draws, method, seed=seed)
            errors.append(attention_error(X @ X.T, result.Y))
        self.absolute, self.relative = np.mean(errors, axis=0)

    def track_relative_error(self, method: str, m: int) -> float:
        """‖A(Y) − A(X)‖∞ / ‖A(X) − 1/n‖∞ (1 for the zero baseline)."""
        return float(self.relative)

    track_relative_error.unit = "relative"

    def track_absolute_error(self, method: str, m: int) -> float:
        """‖A(Y) − A(X)‖∞ (the paper's O(r) quantity)."""
        return float(self.absolute)

    track_absolute_error.unit = "max-abs"

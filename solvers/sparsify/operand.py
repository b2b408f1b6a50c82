"""The matrix X being sparsified, as the selection sees it: a backend array, or a host
``scipy.sparse`` matrix whose products run in SciPy (O(nnz(X)) per pass) with only the n×n
and n×m results moved to the backend. :func:`as_operand` validates X and wraps it."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from ..backends import Backend, device_of

Array = Any


class DenseOperand:
    """X as a backend array."""

    def __init__(self, X: Array, backend: Backend) -> None:
        self.X, self.xp, self.shape = X, backend.xp, tuple(X.shape)

    def gram(self) -> Array:
        return self.X @ self.X.T

    def sq_norms(self) -> Array:
        return self.xp.sum(self.X * self.X, axis=0)

    def left(self, M: Array) -> Array:
        """M @ X."""
        return M @ self.X

    def take(self, columns: np.ndarray, scales: Array) -> Array:
        index = self.xp.asarray(columns, device=device_of(self.X))
        return self.xp.take(self.X, index, axis=1) * scales[None, :]


class SparseOperand:
    """X as a host ``scipy.sparse`` CSC matrix; results are moved to the backend."""

    def __init__(self, X: Any, backend: Backend) -> None:
        self.X, self.be, self.shape = scipy.sparse.csc_matrix(X, dtype=np.float64), backend, X.shape

    def gram(self) -> Array:
        return self.be.asarray((self.X @ self.X.T).toarray())

    def sq_norms(self) -> Array:
        return self.be.asarray(np.asarray(self.X.multiply(self.X).sum(axis=0)).ravel())

    def left(self, M: Array) -> Array:
        return self.be.asarray((self.X.T @ self.be.to_numpy(M).T).T)

    def take(self, columns: np.ndarray, scales: Array) -> Array:
        return self.be.asarray(self.X[:, columns].toarray()) * scales[None, :]


Operand = DenseOperand | SparseOperand


def as_operand(X: Any, be: Backend) -> Operand:
    """Validate X and wrap it for the backend: a dense array on ``be``, or a ``scipy.sparse`` matrix on the host."""
    if scipy.sparse.issparse(X):
        if X.ndim != 2 or X.dtype.kind != "f":
            raise ValueError(f"X must be a real floating 2-D matrix, got {X.dtype} with shape {X.shape}")
        if not np.all(np.isfinite(X.data)):
            raise ValueError(f"X has {int(np.sum(~np.isfinite(X.data)))} non-finite entries (NaN or inf)")
        return SparseOperand(X, be)
    if not be.owns(X):
        library = type(X).__module__.split(".")[0]
        if library in ("torch", "cupy"):
            raise TypeError(f"X is a {library} array that does not belong to backend {be.name!r}; "
                            "pass a host NumPy array or an array of that backend")
        X = np.asarray(X)
        if X.dtype.kind != "f":
            raise ValueError(f"X must have a real floating dtype, got {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n×d), got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"X has {int(np.size(X) - np.count_nonzero(np.isfinite(X)))} non-finite "
                             "entries (NaN or inf)")
        X = be.asarray(X)
    elif X.ndim != 2:
        raise ValueError(f"X must be 2-D (n×d), got shape {tuple(X.shape)}")
    elif not bool(be.xp.all(be.xp.isfinite(X))):
        raise ValueError("X has non-finite entries (NaN or inf)")
    return DenseOperand(X, be)

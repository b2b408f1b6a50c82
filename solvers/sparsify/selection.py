"""Attention sparsification: shrink the feature dimension of X ∈ R^{n×d}, d ≫ n (docs/maths.md §8).

Given X with ``‖XXᵀ‖∞ < r`` (entrywise max-abs norm), find Y ∈ R^{n×m}, m ≪ d, made of
reweighted columns of X, with ``‖D(Y)^{-1}exp(YYᵀ) − D(X)^{-1}exp(XXᵀ)‖∞ = O(r)``, where
``D(Z)^{-1}exp(ZZᵀ) = softmax_rows(ZZᵀ)`` is the attention matrix.

Methods (:data:`METHODS`):

``norm`` (randomized)
    m i.i.d. column draws with probability p_i = ‖X_i‖² / ‖X‖²_F, each drawn column scaled
    by 1/√(m p_i); repeated draws are merged (their weights add), so Y has at most m
    columns and E[YYᵀ] = XXᵀ. Cost O(nnz(X) + n m).
``leverage`` (randomized)
    The same with p_i = ℓ_i / n, ℓ_i = X_iᵀ(XXᵀ)^{-1}X_i the leverage scores. With
    m = O(n log(n/δ)/ε²) draws, (1−ε)XXᵀ ⪯ YYᵀ ⪯ (1+ε)XXᵀ with probability 1−δ, hence
    |YYᵀ − XXᵀ|_ij ≤ ε √(K_ii K_jj) ≤ ε r entrywise. Cost O(nnz(X)·n + n³).
``bss`` (deterministic)
    Batson–Spielman–Srivastava barrier sparsification ("Twice-Ramanujan sparsifiers",
    SIAM J. Comput. 2012, Thm 3.1) on the whitened columns v_i = Λ^{-1/2}Uᵀ X_i
    (XXᵀ = UΛUᵀ, so Σ v_i v_iᵀ = I). With b = m/n > 1 it runs m barrier steps; each adds
    one column (maximising L_A(v) − U_A(v), the slack between the lower and upper barrier
    conditions) and the result satisfies I ⪯ Σ s_i v_i v_iᵀ ⪯ κ I with
    κ = ((√b+1)/(√b−1))², using at most m distinct columns. Weights are finally scaled so
    the spectrum is centred on 1, i.e. (1−ε)XXᵀ ⪯ YYᵀ ⪯ (1+ε)XXᵀ with
    ε = (λ_max−λ_min)/(λ_max+λ_min) ≤ (κ−1)/(κ+1) (reported as ``info["spectral_eps"]``).
    Cost O(m (n²d + n³)) = O(b n³ d): m products of an n×n eigenbasis with the n×d
    whitened matrix.
``zero`` (baseline)
    Y = 0 (m = 0): the uniform attention matrix. Its error is the whole deviation of the
    attention matrix from uniform, so its relative error is exactly 1.
``exact-factor`` (baseline)
    Y = UΛ^{1/2} (m = n), an exact factor of XXᵀ; equivalently Y = XQ for the orthonormal
    basis Q = XᵀUΛ^{-1/2} of X's row space. Error at rounding level.

Because ‖XXᵀ‖∞ < r < 0.1 keeps every attention entry within e^{±2r}/n of 1/n, the
absolute O(r) bound is met by the trivial ``zero`` baseline; the meaningful measure is the
**relative error** ``‖A(Y) − A(X)‖∞ / ‖A(X) − 1/n‖∞`` (:func:`attention_error`).

The maths is written once against the array-API namespace of a backend
(:func:`solvers.get_backend`). Random column draws are made on the host with
``numpy.random.default_rng(seed)`` so that every backend selects the same columns.
A ``scipy.sparse`` X is kept on the host: column norms, Gram matrix, whitening and column
gathering use SciPy's sparse products (O(nnz(X)) per pass); only the n×n and n×m results
move to the backend (:mod:`solvers.sparsify.operand`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse
from array_api_compat import array_namespace

from ..backends import Backend, device_of, get_backend
from ..oracles import softmax_rows
from .operand import Operand, as_operand

Array = Any

METHODS = ("norm", "leverage", "bss", "zero", "exact-factor")
RANDOMIZED = ("norm", "leverage")
DETERMINISTIC = ("bss",)
BASELINES = ("zero", "exact-factor")


class SparsificationWarning(UserWarning):
    """The input is outside the regime where the O(r) guarantee is stated."""


def default_m(method: str, n: int) -> int:
    """The number of columns each method uses unless told otherwise.

    ``⌈8 n ln n⌉`` draws for the randomized methods (m = O(n log n)), ``4n`` for ``bss``,
    0 for ``zero`` and ``n`` for ``exact-factor``.
    """
    _check_method(method)
    if method in RANDOMIZED:
        return math.ceil(8 * n * math.log(n))
    return {"bss": 4 * n, "zero": 0, "exact-factor": n}[method]


def attention_instance(n: int, d: int, r: float = 0.05, seed: int = 0, *, density: float = 1.0,
                       fill: float = 0.9) -> np.ndarray | scipy.sparse.csr_matrix:
    """The reference input: X ∈ R^{n×d} with ``‖XXᵀ‖∞ = fill·r`` exactly.

    With ``rng = numpy.random.default_rng(seed)``, draw G ∈ R^{n×d} with i.i.d. N(0, 1)
    entries (when ``density < 1``: a CSR matrix whose nonzero pattern is drawn first, each
    entry present with probability ``density``, then N(0, 1) values, by
    ``scipy.sparse.random(..., random_state=rng, data_rvs=rng.standard_normal)``), and
    return X = G·√(fill·r / ‖GGᵀ‖∞). Diagonal entries ‖X_i‖² ≈ fill·r dominate XXᵀ; the
    off-diagonal ones are about fill·r/√d.

    Parameters
    ----------
    n, d : int
        Rows (sequence length) and columns (feature dimension).
    r : float
        The bound in ``‖XXᵀ‖∞ < r``.
    seed : int
        Seed of the host generator.
    density : float
        Fraction of nonzero entries; below 1 a ``scipy.sparse.csr_matrix`` is returned.
    fill : float
        ``‖XXᵀ‖∞ / r``, in (0, 1].
    """
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    if not 0.0 < fill <= 1.0:
        raise ValueError(f"fill must be in (0, 1], got {fill}")
    rng = np.random.default_rng(seed)
    if density < 1.0:
        G = scipy.sparse.random(n, d, density=density, format="csr", random_state=rng,
                                data_rvs=rng.standard_normal)
        peak = float(np.abs((G @ G.T).toarray()).max())
    else:
        G = rng.standard_normal((n, d))
        peak = float(np.abs(G @ G.T).max())
    return G * math.sqrt(fill * r / peak)


@dataclass
class Sparsification:
    """A reduced Y = XΠ and the reduction Π ∈ R^{d×m} that produced it.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    Y : backend array, (n, m)
        The reduced matrix.
    columns : numpy.ndarray or None
        Distinct kept column indices (host), for column methods; ``None`` for
        ``exact-factor``.
    scales : numpy.ndarray or None
        Y[:, k] = scales[k] · X[:, columns[k]] (host), for column methods.
    basis : backend array or None
        ``exact-factor`` only: the d×n orthonormal Π with Y = XΠ.
    draws : int
        Columns requested (draws for the randomized methods, barrier steps for ``bss``).
    gram_norm : float
        ‖XXᵀ‖∞.
    absolute_error, relative_error : float or None
        Filled in when :func:`sparsify` is called with ``errors=True``.
    info : dict
        Method extras (``spectral_eps`` for ``bss``).
    """

    method: str
    Y: Array
    columns: np.ndarray | None
    scales: np.ndarray | None
    basis: Array | None
    draws: int
    gram_norm: float
    absolute_error: float | None = None
    relative_error: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def m(self) -> int:
        """The reduced dimension (number of columns of Y)."""
        return int(self.Y.shape[1])

    def projection(self, backend: Backend, d: int) -> Array:
        """Π as a dense d×m array of ``backend`` (so that Y = XΠ)."""
        if self.basis is not None:
            return self.basis
        host = np.zeros((d, self.m))
        if self.m:
            host[self.columns, np.arange(self.m)] = self.scales
        return backend.asarray(host)


def sparsify(X: Any, m: int | None = None, method: str = "leverage", *, seed: int = 0,
             r: float | None = None, backend: str | Backend = "numpy", dtype: str = "float64",
             errors: bool = False) -> Sparsification:
    """Reduce X ∈ R^{n×d} (d > n) to Y ∈ R^{n×m} with a similar attention matrix.

    Parameters
    ----------
    X : numpy.ndarray, scipy.sparse matrix or backend array
        Finite real n×d input with d > n. Host arrays are copied to ``backend``; sparse
        matrices stay on the host for the O(nnz) passes.
    m : int, optional
        Draws (randomized), barrier steps = maximum number of columns (``bss``, needs
        n < m ≤ d); must be 0 for ``zero`` and n for ``exact-factor``. Default
        :func:`default_m`, capped at d.
    method : str
        One of :data:`METHODS` (see the module docstring).
    seed : int
        Host generator seed for the randomized methods.
    r : float, optional
        The assumed bound ``‖XXᵀ‖∞ < r``; a :class:`SparsificationWarning` is issued when X
        violates it (or when r ≥ 0.1, outside the paper's range).
    backend, dtype
        Where the computation runs.
    errors : bool
        Also compute :func:`attention_error` (absolute and relative) into the result.

    Raises
    ------
    ValueError
        Unknown method, d ≤ n, non-finite X, m out of range, or (``leverage``, ``bss``,
        ``exact-factor``) XXᵀ numerically singular.
    """
    _check_method(method)
    be = get_backend(backend, dtype)
    operand = as_operand(X, be)
    n, d = operand.shape
    if d <= n:
        raise ValueError(f"nothing to sparsify: X is {n}×{d} with d ≤ n; X itself is already an "
                         "exact n×d factor (the method assumes d ≫ n)")
    m = min(default_m(method, n), d) if m is None else int(m)
    _check_m(method, m, n, d)
    K = operand.gram()
    gram_norm = float(be.xp.max(be.xp.abs(K)))
    if r is not None:
        _check_r(r, gram_norm)
    if method == "zero":
        result = Sparsification(method, be.xp.zeros((n, 0), dtype=K.dtype, device=device_of(K)),
                                np.zeros(0, dtype=np.int64), np.zeros(0), None, 0, gram_norm)
    elif method == "norm":
        result = _sampled(operand, be, be.to_numpy(operand.sq_norms()), m, seed, method, gram_norm)
    else:
        lam, U, V = _whiten(operand, K, be)
        if method == "leverage":
            result = _sampled(operand, be, be.to_numpy(be.xp.sum(V * V, axis=0)), m, seed, method, gram_norm)
        elif method == "bss":
            result = _bss(operand, V, be, m, gram_norm)
        else:
            result = Sparsification(method, U * be.xp.sqrt(lam)[None, :], None, None, V.T, n, gram_norm)
    if errors:
        result.absolute_error, result.relative_error = attention_error(K, result.Y)
    return result


def attention(xp: Any, gram: Array) -> Array:
    """D^{-1}exp(G) = softmax_rows(G) for a Gram matrix G = ZZᵀ (row maximum subtracted)."""
    return softmax_rows(xp, gram)


def attention_error(gram: Array, Y: Array) -> tuple[float, float]:
    """Absolute and relative max-norm error of Y's attention matrix against XXᵀ's.

    Parameters
    ----------
    gram : backend array, (n, n)
        K = XXᵀ.
    Y : backend array, (n, m)
        The reduced matrix (m may be 0).

    Returns
    -------
    absolute, relative : float
        ``‖A(Y) − A(X)‖∞`` and that divided by ``‖A(X) − 1/n‖∞`` (the deviation of the
        exact attention matrix from uniform; ``inf`` when it is exactly uniform).
    """
    xp = array_namespace(gram, Y)
    n = gram.shape[0]
    exact = attention(xp, gram)
    absolute = float(xp.max(xp.abs(attention(xp, Y @ Y.T) - exact)))
    deviation = float(xp.max(xp.abs(exact - 1.0 / n)))
    return absolute, absolute / deviation if deviation > 0 else math.inf


def sample_sizes(n: int, d: int, count: int = 7) -> list[int]:
    """A geometric grid of m from n/2 to min(d, ⌈8 n ln n⌉), for error-against-m studies."""
    top = min(d, math.ceil(8 * n * math.log(n)))
    return sorted({int(round(v)) for v in np.geomspace(max(1, n // 2), top, count)})


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _check_m(method: str, m: int, n: int, d: int) -> None:
    if method == "zero" and m != 0:
        raise ValueError(f"the zero baseline has m = 0, got m={m}")
    if method == "exact-factor" and m != n:
        raise ValueError(f"the exact-factor baseline has m = n = {n}, got m={m}")
    if m > d:
        raise ValueError(f"m={m} > d={d}: a sparsification cannot keep more columns than X has")
    if method in RANDOMIZED and m < 1:
        raise ValueError(f"m must be at least 1, got {m}")
    if method == "bss" and m <= n:
        raise ValueError(f"bss needs n < m ≤ d (b = m/n > 1); got m={m}, n={n}")


def _check_r(r: float, gram_norm: float) -> None:
    if r <= 0:
        raise ValueError(f"r must be positive, got {r}")
    if gram_norm >= r:
        warnings.warn(f"‖XXᵀ‖∞ = {gram_norm:.4g} ≥ r = {r:g}: the O(r) guarantee does not apply "
                      "(rescale X or raise r)", SparsificationWarning, stacklevel=3)
    if r >= 0.1:
        warnings.warn(f"r = {r:g} ≥ 0.1 is outside the range r ∈ (0, 0.1) of the stated guarantee",
                      SparsificationWarning, stacklevel=3)


def _whiten(operand: Operand, K: Array, be: Backend) -> tuple[Array, Array, Array]:
    """Eigen-decomposition K = UΛUᵀ and the whitened columns V = Λ^{-1/2}UᵀX (Σ v_i v_iᵀ = I)."""
    xp = be.xp
    lam, U = xp.linalg.eigh(K)
    smallest, largest = float(lam[0]), float(lam[-1])
    if smallest <= K.shape[0] * float(xp.finfo(K.dtype).eps) * largest:
        raise ValueError(f"XXᵀ is numerically singular (eigenvalues {smallest:.3g} … {largest:.3g}): X has "
                         "rank < n, so leverage scores and whitening are undefined; use method='norm'")
    return lam, U, operand.left(U.T / xp.sqrt(lam)[:, None])


def _sampled(operand: Operand, be: Backend, scores: np.ndarray, m: int, seed: int, method: str,
             gram_norm: float) -> Sparsification:
    """m i.i.d. draws from p ∝ scores, merged: column i kept with weight count_i / (m p_i)."""
    total = float(scores.sum())
    if not total > 0:
        raise ValueError("X is zero: there is nothing to sample (the zero baseline is exact)")
    p = scores / total
    draws = np.random.default_rng(seed).choice(p.size, size=m, p=p)
    columns, counts = np.unique(draws, return_counts=True)
    scales = np.sqrt(counts / (m * p[columns]))
    Y = operand.take(columns, be.asarray(scales))
    return Sparsification(method, Y, columns, scales, None, m, gram_norm)


def _bss(operand: Operand, V: Array, be: Backend, steps: int, gram_norm: float) -> Sparsification:
    """Batson–Spielman–Srivastava barrier steps on the whitened columns V (n×d)."""
    xp = be.xp
    n, d = V.shape
    b = steps / n
    root = math.sqrt(b)
    delta_l, delta_u = 1.0, (root + 1.0) / (root - 1.0)
    lower, upper = -n * root, n * (b + root) / (root - 1.0)
    A = xp.zeros((n, n), dtype=V.dtype, device=device_of(V))
    weights = np.zeros(d)
    for _ in range(steps):
        lam, Q = xp.linalg.eigh(A)
        next_upper, next_lower = upper + delta_u, lower + delta_l
        to_upper, to_next_upper = 1.0 / (upper - lam), 1.0 / (next_upper - lam)
        to_lower, to_next_lower = 1.0 / (lam - lower), 1.0 / (lam - next_lower)
        coef_u = to_next_upper**2 / (xp.sum(to_upper) - xp.sum(to_next_upper)) + to_next_upper
        coef_l = to_next_lower**2 / (xp.sum(to_next_lower) - xp.sum(to_lower)) - to_next_lower
        u_cost, l_gain = xp.stack([coef_u, coef_l]) @ (Q.T @ V) ** 2
        best = int(xp.argmax(l_gain - u_cost))
        t = 2.0 / float(u_cost[best] + l_gain[best])
        v = V[:, best]
        A = A + t * (v[:, None] * v[None, :])
        weights[best] += t
        upper, lower = next_upper, next_lower
    lam = xp.linalg.eigvalsh(A)
    low, high = float(lam[0]), float(lam[-1])
    columns = np.flatnonzero(weights)
    scales = np.sqrt(weights[columns] * 2.0 / (low + high))
    Y = operand.take(columns, be.asarray(scales))
    return Sparsification("bss", Y, columns, scales, None, steps, gram_norm,
                          info={"spectral_eps": (high - low) / (high + low),
                                "kappa_bound": ((root + 1.0) / (root - 1.0)) ** 2})

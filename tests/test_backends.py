"""Each backend agrees with NumPy; failures are reported, never raised or silently NaN."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from solvers import Problem, get_backend, oracles
from solvers.backends import BackendUnavailable

from .conftest import ALL_BACKENDS, NON_NUMPY_BACKENDS

TOLERANCE = {"float64": 1e-10, "float32": 2e-4}


def _rel(a, b) -> float:
    return float(np.abs(np.asarray(a) - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("backend_name", NON_NUMPY_BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backend_agrees_with_numpy(backend_name, dtype, rng):
    n, d = 24, 5
    reference = Problem.planted(n, d, seed=int(rng.integers(1000)))
    other = reference.on(backend_name, dtype)
    to_np = other.backend.to_numpy
    X, Y = rng.normal(scale=0.5, size=(d, d)), rng.normal(size=(d, d))
    dX, dY = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    tol = TOLERANCE[dtype]
    assert oracles.loss(other, X, Y) == pytest.approx(oracles.loss(reference, X, Y), rel=tol)
    for got, want in zip(oracles.grad(other, X, Y), oracles.grad(reference, X, Y)):
        assert _rel(to_np(got), want) < tol
    assert _rel(to_np(oracles.y_solve(other, X)), oracles.y_solve(reference, X)) < tol * 100
    assert _rel(to_np(oracles.hessian_x(other, X, Y)), oracles.hessian_x(reference, X, Y)) < tol
    assert _rel(to_np(oracles.hessian_joint(other, X, Y)), oracles.hessian_joint(reference, X, Y)) < tol
    for got, want in zip(oracles.hvp(other, X, Y, dX, dY), oracles.hvp(reference, X, Y, dX, dY)):
        assert _rel(to_np(got), want) < tol


@pytest.mark.parametrize("backend_name", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_arrays_take_the_backend_dtype_and_device(backend_name, dtype):
    problem = Problem.random(6, 3, backend=backend_name, dtype=dtype)
    backend = problem.backend
    for array in (problem.A1, problem.B, oracles.grad(problem, np.eye(3), np.eye(3))[0]):
        assert backend.owns(array)
        assert str(array.dtype).endswith(dtype)


@pytest.mark.parametrize("backend_name", ALL_BACKENDS)
def test_cho_solve_reports_failure(backend_name, rng):
    backend = get_backend(backend_name)
    A = rng.normal(size=(6, 6))
    spd = backend.asarray(A @ A.T + 6 * np.eye(6))
    b = backend.asarray(rng.normal(size=6))
    x, ok = backend.cho_solve(spd, b)
    assert ok
    np.testing.assert_allclose(backend.to_numpy(spd) @ backend.to_numpy(x), backend.to_numpy(b), rtol=1e-10)
    indefinite = backend.asarray(np.diag([1.0, -1.0, 2.0, 3.0, 1.0, 1.0]))
    assert backend.cho_solve(indefinite, b) == (None, False)
    with_nan = backend.asarray(np.where(np.eye(6) == 1, np.nan, 0.0))
    assert backend.cho_solve(with_nan, b) == (None, False)
    x_matrix, ok = backend.cho_solve(spd, backend.asarray(rng.normal(size=(6, 2))))
    assert ok and tuple(x_matrix.shape) == (6, 2)


@pytest.mark.parametrize("backend_name", ALL_BACKENDS)
def test_cho_solve_shifts_without_touching_h(backend_name, rng):
    """(H + σI) x = b for an indefinite H that the shift makes definite, H unchanged (a damping step tries many σ)."""
    backend = get_backend(backend_name)
    H_host = np.diag([1.0, -1.0, 2.0, 3.0, 1.0, 0.5]) + 0.1 * np.ones((6, 6))
    H = backend.asarray(H_host)
    b = backend.asarray(rng.normal(size=6))
    assert backend.cho_solve(H, b) == (None, False)
    x, ok = backend.cho_solve(H, b, 2.5)
    assert ok
    np.testing.assert_allclose((H_host + 2.5 * np.eye(6)) @ backend.to_numpy(x), backend.to_numpy(b), rtol=1e-10)
    np.testing.assert_array_equal(backend.to_numpy(H), H_host)


def test_cholesky_lower_factorises_in_place_only_when_asked():
    from solvers.backends.numpy import cholesky_lower

    A = np.random.default_rng(3).normal(size=(40, 40))
    H = A @ A.T + 40 * np.eye(40)
    kept = H.copy()
    L = cholesky_lower(H)
    np.testing.assert_array_equal(H, kept)
    np.testing.assert_allclose(L @ L.T, kept, rtol=1e-12)
    L_inplace = cholesky_lower(H, overwrite=True)
    np.testing.assert_allclose(L_inplace, L, rtol=1e-12, atol=1e-12)
    assert np.allclose(np.triu(L_inplace, 1), 0.0)


def test_unknown_backend_and_dtype():
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("jax")
    with pytest.raises(ValueError, match="dtype"):
        get_backend("numpy", "float16")
    with pytest.raises(ValueError, match="tf32"):
        get_backend("numpy", tf32=True)


def test_gpu_backends_skip_or_work():
    """Without a GPU, the GPU backends say why; with one, they construct."""
    for name in ("torch-cuda", "cupy"):
        try:
            backend = get_backend(name)
        except BackendUnavailable as exc:
            assert str(exc)
        else:
            assert backend.device.startswith("cuda")


def test_torch_float32_matmul_precision_is_highest_unless_tf32():
    torch = pytest.importorskip("torch")
    torch.set_float32_matmul_precision("medium")
    backend = get_backend("torch", "float32")
    assert torch.get_float32_matmul_precision() == "highest"
    assert backend.describe()["float32_matmul_precision"] == "highest"


def test_import_touches_neither_torch_nor_cupy():
    code = "import sys, solvers, solvers.oracles, solvers.registry; solvers.list_solvers(); " \
           "print(sorted(m for m in ('torch', 'cupy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

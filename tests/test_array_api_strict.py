"""Every oracle and second-order solver runs on array-api-strict and agrees with NumPy.

array-api-strict is the standard and nothing more, on a device that is not the host's
(see :mod:`tests.strict_backend`): what passes here uses no NumPy-only construct and
creates no array off the problem's device, the two ways code written on NumPy breaks on
CuPy and torch-cuda.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

array_api_strict = pytest.importorskip(
    "array_api_strict", minversion="2.2",
    reason="array-api-strict>=2.2 is not installed (pip install -e '.[test]')")

from solvers import Problem, get_backend, get_solver, oracles  # noqa: E402

from .strict_backend import StrictBackend  # noqa: E402
from .test_backends import TOLERANCE, _rel  # noqa: E402
from .test_solvers_second_order import losses, planted_start  # noqa: E402

#: The standard version array-api-compat 1.9 (our minimum) implements for torch and CuPy: assume nothing newer.
API_VERSION = "2023.12"
SOLVERS = ("alternating", "sketched", "joint-newton", "gauss-newton", "newton-cg")


@pytest.fixture(autouse=True)
def _strict_flags() -> Iterator[None]:
    with array_api_strict.ArrayAPIStrictFlags(api_version=API_VERSION):
        yield


ORACLES = {
    "loss": lambda p, X, Y, D: oracles.loss(p, X, Y),
    "grad": lambda p, X, Y, D: oracles.grad(p, X, Y),
    "y_solve": lambda p, X, Y, D: oracles.y_solve(p, X),
    "y_solve-reg": lambda p, X, Y, D: oracles.y_solve(p, X, reg=0.1),
    "hessian_x": lambda p, X, Y, D: oracles.hessian_x(p, X, Y),
    "hessian_x-gauss_newton": lambda p, X, Y, D: oracles.hessian_x(p, X, Y, gauss_newton=True),
    "hessian_x-rows": lambda p, X, Y, D: oracles.hessian_x(p, X, Y, rows=[0, 3, 7, 11]),
    "hessian_x-rows-weights": lambda p, X, Y, D: oracles.hessian_x(p, X, Y, rows=[1, 5, 6],
                                                                   weights=[0.5, 2.0, 3.0]),
    "hessian_x-gauss_newton-rows-weights": lambda p, X, Y, D: oracles.hessian_x(
        p, X, Y, gauss_newton=True, rows=[2, 4], weights=[1.5, 0.25]),
    "hessian_joint": lambda p, X, Y, D: oracles.hessian_joint(p, X, Y),
    "hessian_joint-gauss_newton": lambda p, X, Y, D: oracles.hessian_joint(p, X, Y, gauss_newton=True),
    "hvp": lambda p, X, Y, D: oracles.hvp(p, X, Y, D, 2.0 * D),
    "hvp-dY_only": lambda p, X, Y, D: oracles.hvp(p, X, Y, None, D),
    "hvp_x": lambda p, X, Y, D: oracles.hvp_x(p, X, Y, D),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("oracle", list(ORACLES))
def test_oracle_agrees_with_numpy(oracle, dtype, rng):
    n, d = 16, 4
    reference = Problem.planted(n, d, seed=int(rng.integers(1000)))
    strict = reference.on(StrictBackend(dtype))
    X, Y, D = 0.5 * rng.standard_normal((d, d)), rng.standard_normal((d, d)), rng.standard_normal((d, d))
    want, got = (ORACLES[oracle](problem, X, Y, D) for problem in (reference, strict))
    if oracle == "loss":
        assert got == pytest.approx(want, rel=TOLERANCE[dtype])
        return
    tol = TOLERANCE[dtype] * (100 if oracle.startswith("y_solve") else 1)  # as in test_backends
    for w, g in zip(_arrays(want), _arrays(got), strict=True):
        assert strict.backend.owns(g), f"{oracle} left the strict backend's device: {type(g)}"
        assert g.dtype == getattr(array_api_strict, dtype)
        assert _rel(strict.backend.to_numpy(g), w) < tol


def _arrays(result: Any) -> list[Any]:
    """An oracle's array or tuple of arrays as a list, without the ``None`` of an unwanted part."""
    return [a for a in (result if isinstance(result, tuple) else (result,)) if a is not None]

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("method", SOLVERS)
def test_solver_agrees_with_numpy(method, dtype):
    reference, X0 = planted_start(n=24, d=3)
    reference = reference.on("numpy", dtype)
    strict = reference.on(StrictBackend(dtype))
    want = get_solver(method).solve(reference, X0, eps=0.0, max_iter=3)
    got = get_solver(method).solve(strict, X0, eps=0.0, max_iter=3)
    assert want.status == "max_iter" and want.loss < want.history[0].loss, want.message
    assert (got.status, got.iterations, got.backend, got.dtype) == ("max_iter", 3, "array-api-strict", dtype)
    rel = 1e-10 if dtype == "float64" else TOLERANCE[dtype]
    assert losses(got) == pytest.approx(losses(want), rel=rel, abs=1e-300)
    np.testing.assert_allclose(got.X, want.X, rtol=rel * 100, atol=rel * np.abs(want.X).max())


def test_as_variable_keeps_own_arrays_and_refuses_other_devices():
    problem = Problem.random(6, 2, backend=StrictBackend("float32"))
    own = problem.backend.asarray(np.eye(2))
    assert problem.as_variable(own, "X") is own
    for host in (np.eye(2), [[1.0, 0.0], [0.0, 1.0]]):
        converted = problem.as_variable(host, "X")
        assert problem.backend.owns(converted) and converted.dtype == array_api_strict.float32
    as_float64 = problem.as_variable(StrictBackend("float64").asarray(np.eye(2)), "X")
    assert problem.backend.owns(as_float64) and as_float64.dtype == array_api_strict.float32
    on_host_device = StrictBackend("float32", device="CPU_DEVICE").asarray(np.eye(2))
    with pytest.raises(TypeError, match="array_api_strict array on .*CPU_DEVICE.*'array-api-strict'"):
        problem.as_variable(on_host_device, "X")
    with pytest.raises(TypeError, match="array_api_strict array"):
        Problem.random(6, 2).as_variable(own, "X")
    with pytest.raises(ValueError, match="d×d"):
        problem.as_variable(problem.backend.asarray(np.eye(3)), "X")


def test_strict_backend_is_a_backend_that_reports_failure(rng):
    backend = StrictBackend()
    assert get_backend(backend) is backend
    A = rng.standard_normal((5, 5))
    spd, b = backend.asarray(A @ A.T + 5 * np.eye(5)), backend.asarray(rng.standard_normal(5))
    x, ok = backend.cho_solve(spd, b)
    assert ok and backend.owns(x)
    np.testing.assert_allclose(backend.to_numpy(spd @ x), backend.to_numpy(b), rtol=1e-12)
    assert backend.cho_solve(backend.asarray(np.diag([1.0, -1.0, 2.0, 3.0, 1.0])), b) == (None, False)
    assert backend.cho_solve(backend.asarray(np.full((5, 5), np.nan)), b) == (None, False)
    assert not backend.owns(np.eye(2))
    with pytest.raises(RuntimeError, match="device"):  # no silent trip to the host
        np.asarray(backend.asarray(np.eye(2)))

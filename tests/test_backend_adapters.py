"""The GPU adapters' own logic, checked without a GPU: CuPy through a stand-in module, torch-cuda
through torch's process-wide settings (which exist in its CPU build too)."""

from __future__ import annotations

import contextlib
import gc
import sys
import types
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import scipy.linalg

from solvers import get_backend


class _FakeDevice:
    """``cupy.cuda.Device``: an id, and a ``with`` block that makes it the current device."""

    current = 0

    def __init__(self, device_id: int | None = None) -> None:
        self.id = _FakeDevice.current if device_id is None else device_id
        self._previous: list[int] = []

    def __enter__(self) -> _FakeDevice:
        self._previous.append(_FakeDevice.current)
        _FakeDevice.current = self.id
        return self

    def __exit__(self, *exc: object) -> None:
        _FakeDevice.current = self._previous.pop()


class _FakeArray(np.ndarray):
    """A NumPy array that knows the device it was made on, like ``cupy.ndarray``."""

    device_id: int

    def __array_finalize__(self, obj: Any) -> None:
        self.device_id = getattr(obj, "device_id", _FakeDevice.current)

    @property
    def device(self) -> _FakeDevice:
        return _FakeDevice(self.device_id)


def _fake_cupy() -> dict[str, types.SimpleNamespace]:
    """The parts of CuPy the adapter uses, by module name, with CuPy's error policy: a failed
    Cholesky factorisation returns a finite wrong factor unless ``cupyx.errstate(linalg="raise")``."""
    config = {"linalg": "ignore"}

    def cholesky(H: np.ndarray) -> np.ndarray:
        try:
            return np.linalg.cholesky(H).view(_FakeArray)
        except np.linalg.LinAlgError:
            if config["linalg"] == "raise":  # CuPy's check of cuSOLVER's devInfo
                raise np.linalg.LinAlgError("Error reported by potrf in cuSOLVER. devInfo = [2]") from None
            return np.tril(np.ones_like(H)).view(_FakeArray)  # partial factor, finite, info ignored

    @contextlib.contextmanager
    def errstate(*, linalg: str) -> Iterator[None]:
        previous, config["linalg"] = config["linalg"], linalg
        try:
            yield
        finally:
            config["linalg"] = previous

    def solve_triangular(*args: Any, **kwargs: Any) -> np.ndarray:  # CuPy's does not check for NaN
        return scipy.linalg.solve_triangular(*args, **kwargs, check_finite=False).view(_FakeArray)

    cuda = types.SimpleNamespace(Device=_FakeDevice, runtime=types.SimpleNamespace(getDeviceCount=lambda: 2))
    cupy = types.SimpleNamespace(
        ndarray=_FakeArray, cuda=cuda, isfinite=np.isfinite, asnumpy=np.asarray, __version__="fake",
        array=lambda host, dtype: np.array(host, dtype=dtype).view(_FakeArray),
        linalg=types.SimpleNamespace(cholesky=cholesky, LinAlgError=np.linalg.LinAlgError))
    return {"cupy": cupy, "cupyx": types.SimpleNamespace(errstate=errstate),
            "cupyx.scipy.linalg": types.SimpleNamespace(solve_triangular=solve_triangular),
            "array_api_compat.cupy": types.SimpleNamespace()}


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A stand-in ``cupy`` (with ``cupyx`` and ``array_api_compat.cupy``) in ``sys.modules``."""
    import array_api_compat

    modules = _fake_cupy()
    monkeypatch.setattr(_FakeDevice, "current", 0)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(array_api_compat, "cupy", modules["array_api_compat.cupy"], raising=False)
    return modules["cupy"]


def test_cupy_cho_solve_reports_the_failure_cupy_ignores_by_default(fake_cupy, rng):
    backend = get_backend("cupy")
    indefinite = backend.asarray(np.diag([1.0, -1.0, 2.0]))
    b = backend.asarray(rng.standard_normal(3))
    assert np.all(np.isfinite(fake_cupy.linalg.cholesky(indefinite)))  # no NaN to give it away
    x, ok = backend.cho_solve(indefinite, b)
    assert not ok and x is None
    A = rng.standard_normal((3, 3))
    spd = backend.asarray(A @ A.T + 3 * np.eye(3))
    x, ok = backend.cho_solve(spd, b)
    assert ok
    np.testing.assert_allclose(spd @ x, b, rtol=1e-12)
    x, ok = backend.cho_solve(backend.asarray(np.full((3, 3), np.nan)), b)
    assert not ok and x is None


def test_cupy_owns_only_arrays_on_its_own_device(fake_cupy):
    backend = get_backend("cupy")
    assert backend.device == "cuda:0" and backend.owns(backend.asarray(np.eye(2)))
    with fake_cupy.cuda.Device(1):
        assert not backend.owns(fake_cupy.array(np.eye(2), dtype=np.float64))
        assert backend.owns(backend.asarray(np.eye(2)))  # made on its device, whichever is current
    assert not backend.owns(np.eye(2))


def test_torch_backends_with_different_tf32_policies_cannot_coexist(monkeypatch):
    torch = pytest.importorskip("torch")
    from solvers.backends import torch as torch_adapter

    monkeypatch.setattr(torch_adapter, "_LIVE", weakref.WeakSet())  # only this test's backends
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # construction makes no tensor
    cpu = get_backend("torch", "float32")
    with pytest.raises(ValueError, match="torch-cuda with tf32=True: a torch backend with tf32=False"):
        get_backend("torch-cuda", "float32", tf32=True)
    assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cuda.matmul.allow_tf32
    same_policy = get_backend("torch-cuda", "float32")
    del cpu, same_policy
    gc.collect()
    fast = get_backend("torch-cuda", "float32", tf32=True)
    assert torch.backends.cuda.matmul.allow_tf32 and torch.get_float32_matmul_precision() == "high"
    with pytest.raises(ValueError, match="process-wide"):
        get_backend("torch", "float32")
    assert fast.tf32 and torch.get_float32_matmul_precision() == "high"  # the refusal changed nothing


def test_torch_describe_records_the_policy():
    pytest.importorskip("torch")
    record = get_backend("torch", "float32").describe()
    assert (record["tf32"], record["float32_matmul_precision"]) == (False, "highest")


def test_numpy_blocked_cholesky_matches_lapack_and_reports_indefinite(monkeypatch, rng):
    """The 2×2-block factorisation (the way round OpenBLAS's threaded potrf crash) is the Cholesky factor."""
    from solvers.backends import numpy as numpy_backend

    monkeypatch.setattr(numpy_backend, "BLOCKED_CHOLESKY_MIN", 7)  # 37 → 18 + 19 → blocks of 9 and 10
    A = rng.standard_normal((37, 40))
    H = A @ A.T + 0.1 * np.eye(37)
    L = numpy_backend.cholesky_lower(H)
    np.testing.assert_allclose(L, np.linalg.cholesky(H), rtol=1e-10, atol=1e-12)
    backend = numpy_backend.NumpyBackend()
    b = rng.standard_normal(37)
    x, ok = backend.cho_solve(H, b)
    assert ok
    np.testing.assert_allclose(H @ x, b, rtol=1e-9, atol=1e-10)
    H[30, 30] = -5.0  # indefinite only in the trailing block's Schur complement
    assert backend.cho_solve(H, b) == (None, False)


@pytest.mark.parametrize("scale", [1.0, 300.0], ids=["unshifted", "by-column-maxima"])
def test_numpy_panel_products_equal_the_block_at_once(scale, monkeypatch, rng):
    """M exp(right leftᵀ − top), made in base 2 panel by panel (forced at this size: 16 columns, the last one
    6) or at once (where panels would not pay), is the block's in base e; logits of hundreds take the column
    maxima and stay finite. Blocks in cache and operands too wide for base 2 to pay are left to the caller."""
    from solvers.backends import numpy as numpy_backend

    backend = numpy_backend.NumpyBackend()
    right, left, M = rng.standard_normal((40, 6)), scale * rng.standard_normal((38, 6)), rng.standard_normal((7, 40))
    Z = right @ left.T
    top = Z.max(axis=0, keepdims=True) if scale > 1 else None
    want = M @ np.exp(Z if top is None else Z - top)
    widths: list[int] = []
    panels_of = numpy_backend._panels_of_transpose
    monkeypatch.setattr(numpy_backend, "_panels_of_transpose", lambda left, width, *rest: widths.append(width) or
                        panels_of(left, width, *rest))

    def made_in(width: int, on_worker: bool = False) -> None:
        """Products as wanted, made in panels of ``width`` columns (38: the block at once)."""
        args = (right, left, M, scale > 1)
        products, got_top = (numpy_backend._workers(2).submit(backend.exp_products, *args).result() if on_worker
                             else backend.exp_products(*args))
        assert widths.pop() == width
        assert np.all(np.isfinite(products)) and float(np.max(np.abs(products - want) / np.abs(want).max())) < 1e-13
        if top is None:
            assert got_top is None
        else:
            np.testing.assert_allclose(got_top, top, rtol=1e-15)

    monkeypatch.setattr(numpy_backend, "_blas_threads", lambda: 1)  # the panels run on one thread
    assert backend.exp_products(right, left, M, False) is None  # 40×38 is in cache: nothing to gain, left to the caller
    monkeypatch.setattr(numpy_backend, "IN_CACHE_BYTES", 0)  # as if it were not
    monkeypatch.setattr(numpy_backend, "panel_columns", lambda n, k, m, itemsize: 16)
    made_in(16)
    monkeypatch.setattr(numpy_backend, "_blas_threads", lambda: 2)
    made_in(38)  # the block at once on every thread instead, in base 2
    wide = numpy_backend.AT_ONCE_MAX_THIN + 1  # operands too wide for base 2 to pay at once: left to the caller
    assert backend.exp_products(rng.standard_normal((40, wide)), rng.standard_normal((38, wide)), M, False) is None
    monkeypatch.setattr(numpy_backend, "_blas_threads", lambda: 1)
    counters = numpy_backend._openblas_thread_counters
    monkeypatch.setattr(numpy_backend, "_openblas_thread_counters", lambda: None)
    made_in(38)  # the panels are sized for OpenBLAS's kernels
    monkeypatch.setattr(numpy_backend, "_openblas_thread_counters", counters)
    made_in(38, on_worker=True)  # a block worker shares the cores with the others: no panels there


def test_numpy_panel_rows_only_where_the_panels_run_alone_on_one_thread(monkeypatch):
    """Panels of rows as wide as the rule gives on one BLAS thread; none on two, on a block worker, nor in a
    call whose blocks go to the workers (those share the cores already)."""
    from solvers.backends import numpy as numpy_backend

    backend = numpy_backend.NumpyBackend()
    monkeypatch.setattr(numpy_backend, "_blas_threads", lambda: 1)
    assert backend.panel_rows(512, 33, 512) == numpy_backend.panel_columns(512, 33, 512, 8) == 48
    assert backend.panel_rows(256, 33, 256) is None  # in cache
    assert numpy_backend.NumpyBackend("float32").panel_rows(1024, 33, 1024) is None
    assert numpy_backend._workers(2).submit(backend.panel_rows, 512, 33, 512).result() is None
    monkeypatch.setattr(numpy_backend._call, "workers", 2, raising=False)
    assert backend.panel_rows(512, 33, 512) is None
    monkeypatch.setattr(numpy_backend._call, "workers", None)
    monkeypatch.setattr(numpy_backend, "_blas_threads", lambda: 2)
    assert backend.panel_rows(512, 33, 512) is None


def test_numpy_asks_openblas_for_its_threads_as_threadpoolctl_does():
    from threadpoolctl import threadpool_limits

    from solvers.backends import numpy as numpy_backend

    def threadpoolctl_says() -> int:
        return max(lib.num_threads for lib in numpy_backend._blas_controller().lib_controllers)

    assert numpy_backend._blas_threads() == threadpoolctl_says()
    with threadpool_limits(1):
        assert numpy_backend._blas_threads() == threadpoolctl_says() == 1


def test_numpy_panels_are_chosen_for_the_small_matrix_kernels():
    """Panels only for float64 blocks past the cache with thin operands of up to 48 columns, as wide as
    OpenBLAS's small-matrix kernels take (M·N·K ≤ 100³), a multiple of 16 and at most 64 columns; none where
    even 16 columns would leave them."""
    from solvers.backends.numpy import IN_CACHE_BYTES, MAX_PANEL, MAX_THIN, PANEL_STEP, SMALL_PRODUCT, panel_columns

    assert panel_columns(256, 25, 256, 8) is None  # 512 KiB: in cache
    assert panel_columns(1024, 33, 1024, 4) is None  # float32: SGEMM's small-matrix kernels take other shapes
    assert panel_columns(512, 33, 512, 8) == 48 and panel_columns(512, 17, 512, 8) == MAX_PANEL
    assert panel_columns(2048, 17, 512, 8) == PANEL_STEP and panel_columns(2048, 33, 512, 8) is None
    assert panel_columns(512, MAX_THIN, 512, 8) == 32 and panel_columns(512, MAX_THIN + 1, 512, 8) is None
    for n, k in [(512, 33), (768, 33), (1024, 17), (1024, 33), (512, 48), (4096, 9)]:
        width = panel_columns(n, k, 1024, 8)
        assert width % PANEL_STEP == 0 and PANEL_STEP <= width <= MAX_PANEL and n * k * width <= SMALL_PRODUCT
        assert n * 1024 * 8 > IN_CACHE_BYTES


def test_torch_fused_kernels_agree_with_the_array_api_expressions(rng):
    pytest.importorskip("torch")
    from solvers.rowterms import softmax_backward, softmax_rows

    backend = get_backend("torch")
    Z, G = rng.standard_normal((7, 5)) * 30, rng.standard_normal((7, 5))
    S = softmax_rows(np, Z)
    np.testing.assert_allclose(backend.to_numpy(backend.softmax_rows(backend.asarray(Z))), S, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(backend.to_numpy(backend.softmax_backward(backend.asarray(S), backend.asarray(G))),
                               softmax_backward(np, S, G), rtol=1e-13, atol=1e-15)


def test_torch_blocks_run_in_order_on_single_threaded_workers():
    torch = pytest.importorskip("torch")
    import threading

    if torch.get_num_threads() < 2:
        pytest.skip("torch has one intra-op thread here: the blocks run in turn")
    backend = get_backend("torch")
    seen = backend.map_blocks(lambda block: (block, torch.get_num_threads(), threading.current_thread().name),
                              list(range(5)))
    assert [block for block, _, _ in seen] == list(range(5))
    assert all(threads == 1 and name.startswith("attnreg-torch-blocks") for _, threads, name in seen)
    assert torch.get_num_threads() >= 2  # the caller's own threads are left alone


def test_torch_host_kernels_agree_with_torch_and_leave_traced_arrays_alone(rng):
    torch = pytest.importorskip("torch")
    backend = get_backend("torch")
    Z = torch.linspace(-700.0, 700.0, 20_001, dtype=torch.float64).reshape(-1, 1)
    want = torch.exp(Z)
    got = backend.exp_inplace(Z.clone())
    assert float(((got - want).abs() / want).max()) < 1e-13  # 2^(z·log₂e): the scaled argument's rounding
    logits, shift = torch.from_numpy(rng.standard_normal((6, 4))), torch.from_numpy(rng.standard_normal((1, 4)))
    block = logits.clone()
    assert backend.exp_inplace(block, shift) is block  # overwritten, as NumPy's
    np.testing.assert_allclose(block.numpy(), np.exp(logits.numpy() - shift.numpy()), rtol=1e-14)
    a, b = torch.from_numpy(rng.standard_normal((6, 3))), torch.from_numpy(rng.standard_normal((3, 4)))
    first = backend.product_into(0, a, b)
    np.testing.assert_allclose(first.numpy(), a.numpy() @ b.numpy(), rtol=1e-14)
    assert backend.product_into(0, a, b).data_ptr() == first.data_ptr()  # the thread's scratch array, reused
    traced = logits.clone().requires_grad_(True)
    fresh = backend.exp_inplace(traced, shift)
    assert fresh is not traced and fresh.requires_grad and not traced.grad_fn
    assert backend.product_into(0, traced, traced.T).data_ptr() != first.data_ptr()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_multi_block_call_keeps_its_own_thread_on_one_thread(monkeypatch, backend):
    """While the blocks of an oracle call run on worker threads, the calling thread's own products run
    on one thread (an idle OpenBLAS worker spins ~0.1 s after a two-thread call, GNU OpenMP's team
    threads a few ms, on the workers' cores); the blocks still go to the workers, and the caller's
    threads come back afterwards."""
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    from solvers import Problem, fusedblocks

    if backend == "torch":
        torch = pytest.importorskip("torch")
        from solvers.backends.torch import intra_op_threads

        limit, threads, prefix = intra_op_threads, torch.get_num_threads, "attnreg-torch-blocks"
    else:
        limit, prefix = (lambda count: threadpool_limits(count, user_api="blas")), "attnreg-blocks"

        def threads() -> int:
            return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")

    seen: dict[str, Any] = {"workers": set()}
    operands, work = fusedblocks.operands, fusedblocks.row_block

    def spy(problem, *args, **kwargs):
        seen["caller"] = threads()
        return operands(problem, *args, **kwargs)

    def on_worker(*args, **kwargs):
        seen["workers"].add(threading.current_thread().name)
        return work(*args, **kwargs)

    monkeypatch.setattr("solvers.rowblocks.operands", spy)
    monkeypatch.setattr("solvers.rowblocks.row_block", on_worker)
    with limit(2):
        problem = Problem.planted(64, 4, backend=backend)
        problem.block_rows = 16
        X = problem.as_variable(problem.start_near_solution(), "X")
        problem.oracle(X, X).value_and_grad()
        assert seen["caller"] == 1
        assert seen["workers"] and all(name.startswith(prefix) for name in seen["workers"])
        assert threads() == 2
        problem.block_rows = 64  # one block: it runs on the caller's thread, with every thread
        problem.oracle(X, X).value_and_grad()
        assert seen["caller"] == 2


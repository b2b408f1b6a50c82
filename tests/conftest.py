"""Shared fixtures: backends that skip with a reason where their library or GPU is missing."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from solvers.backends import BACKEND_NAMES, backend_unavailable_reason

GPU_BACKENDS = ("torch-cuda", "cupy")


def backend_param(name: str):
    """A pytest param for backend ``name`` that skips, saying why, when it cannot run here."""
    marks = [pytest.mark.gpu] if name in GPU_BACKENDS else []
    reason = backend_unavailable_reason(name)
    if reason is not None:
        marks.append(pytest.mark.skip(reason=f"{name} unavailable: {reason}"))
    return pytest.param(name, marks=marks, id=name)


ALL_BACKENDS = [backend_param(name) for name in BACKEND_NAMES]
NON_NUMPY_BACKENDS = [backend_param(name) for name in BACKEND_NAMES if name != "numpy"]


@pytest.fixture(params=ALL_BACKENDS)
def backend_name(request) -> str:
    return request.param


@pytest.fixture
def rng(request) -> np.random.Generator:
    """Fresh random numbers per test, reproducible from the test's name."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def _restore_torch_defaults():
    """Tests must not leak torch's global dtype, matmul-precision or TF32 settings."""
    try:
        import torch
    except ImportError:
        yield
        return
    dtype, precision = torch.get_default_dtype(), torch.get_float32_matmul_precision()
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.set_default_dtype(dtype)
    torch.set_float32_matmul_precision(precision)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32

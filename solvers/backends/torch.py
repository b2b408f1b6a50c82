"""PyTorch backend, on the CPU or a CUDA device.

float32 matrix products run at full float32 precision (``"highest"``) unless the user
opts into TF32; the choice is recorded by :meth:`TorchBackend.describe`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import BackendUnavailable


class TorchBackend:
    """torch tensors on ``cpu`` or ``cuda:0``; Cholesky via ``torch.linalg.cholesky_ex``."""

    def __init__(self, dtype: str = "float64", *, cuda: bool = False, tf32: bool = False) -> None:
        try:
            import torch
            import array_api_compat.torch as xp
        except ImportError as exc:
            raise BackendUnavailable(f"torch is not installed ({exc}); pip install 'attnreg[torch]'") from exc
        if cuda and not torch.cuda.is_available():
            raise BackendUnavailable("torch-cuda: torch reports no CUDA device on this machine")
        self._torch = torch
        self.xp = xp
        self.name = "torch-cuda" if cuda else "torch"
        self.device = "cuda:0" if cuda else "cpu"
        self.dtype = dtype
        self._dtype = getattr(torch, dtype)
        self.tf32 = tf32
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        torch.set_float32_matmul_precision("high" if tf32 else "highest")

    def asarray(self, host: Any) -> Any:
        return self._torch.as_tensor(np.ascontiguousarray(host), dtype=self._dtype, device=self.device).clone()

    def to_numpy(self, array: Any) -> np.ndarray:
        return array.detach().cpu().numpy()

    def owns(self, array: Any) -> bool:
        return isinstance(array, self._torch.Tensor) and array.device == self._torch.device(self.device)

    def synchronize(self) -> None:
        if self.device != "cpu":
            self._torch.cuda.synchronize()

    def cho_solve(self, H: Any, b: Any) -> tuple[Any, bool]:
        L, info = self._torch.linalg.cholesky_ex(H)
        vector = b.ndim == 1
        x = self._torch.cholesky_solve(b[:, None] if vector else b, L)
        x = x[:, 0] if vector else x
        ok = bool(info.item() == 0) and bool(self._torch.isfinite(x).all())
        return (x, True) if ok else (None, False)

    def describe(self) -> dict[str, Any]:
        torch = self._torch
        record = {"backend": self.name, "library": "torch", "version": torch.__version__,
                  "device": self.device, "dtype": self.dtype,
                  "float32_matmul_precision": torch.get_float32_matmul_precision(),
                  "torch_threads": torch.get_num_threads()}
        if self.device != "cpu":
            record.update(tf32=self.tf32, gpu=torch.cuda.get_device_name(0), cuda_runtime=torch.version.cuda)
        return record

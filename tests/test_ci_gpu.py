"""``.ci/gpu`` on a machine without a usable GPU: one line saying why, exit status 1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from solvers.backends import backend_unavailable_reason

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "gpu"


def test_ci_gpu_says_in_one_line_that_it_needs_a_gpu():
    if not any(backend_unavailable_reason(name) for name in ("torch-cuda", "cupy")):
        pytest.skip("torch-cuda and cupy both run here: .ci/gpu would start the GPU suite")
    assert os.access(SCRIPT, os.X_OK), f"{SCRIPT} is not executable"
    run = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=120, cwd=SCRIPT.parent)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert len(output.splitlines()) == 1 and "Traceback" not in output, output
    assert ".ci/gpu needs" in output and ("torch-cuda" in output or "cupy" in output.lower())

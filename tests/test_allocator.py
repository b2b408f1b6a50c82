"""The allocator policy is opt-in per process, recorded, and can be switched off."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the policy only exists on glibc")


def _run(code: str, **env: str) -> str:
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=environment).stdout


def test_importing_solvers_leaves_the_allocator_alone():
    out = _run("import solvers, solvers.oracles; from solvers.harness.measure.allocator import allocator_policy; "
               "print(allocator_policy()['policy'])")
    assert out.strip() == "system"


@glibc
def test_attnreg_commands_retain_freed_memory_and_record_it():
    record = json.loads(_run("from solvers.cli import main; main(['env', '--json'])"))
    assert record["allocator"]["policy"] == "retain"
    assert record["allocator"]["mmap_threshold"] >= 2**20


def test_environment_variable_turns_it_off():
    record = json.loads(_run("from solvers.cli import main; main(['env', '--json'])", ATTNREG_MALLOC="system"))
    assert record["allocator"] == {"policy": "system", "reason": "ATTNREG_MALLOC=system"}


@glibc
@pytest.mark.parametrize("retained", [True, False])
def test_matrix_workers_keep_the_allocator_policy_of_the_process_that_records_the_environment(retained):
    code = ("from solvers.harness.measure.allocator import allocator_policy, retain_freed_memory\n"
            "from solvers.harness.measure.matrix import _pool\n"
            f"if {retained}: retain_freed_memory()\n"
            "with _pool(1) as pool: print(pool.submit(allocator_policy).result()['policy'])")
    assert _run(code).strip() == ("retain" if retained else "system")

"""The benchopt benchmark in ``benchopt_benchmark/``: a tiny run, the README's add-a-solver example, and
``import solvers`` staying free of benchopt.

The runs need the ``benchopt`` extra (``pip install -e ".[benchopt]"``, which ``.ci/run`` installs)
and skip, saying so, without it.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from solvers import list_solvers

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = ROOT / "benchopt_benchmark"
README = (ROOT / "README.md").read_text()
NO_BENCHOPT = importlib.util.find_spec("benchopt") is None
needs_benchopt = pytest.mark.skipif(NO_BENCHOPT, reason='benchopt is not installed: pip install -e ".[benchopt]"')


def _readme_solver() -> tuple[str, str]:
    """The README's add-a-solver example: (path inside the repository, file text)."""
    match = re.search(r"```python\n# (benchopt_benchmark/solvers/\w+\.py)\n(.*?)```", README, re.S)
    assert match is not None, "README has no add-a-solver example"
    return match.group(1), match.group(2)


def _solver_name(text: str) -> str:
    """The ``name`` a benchopt Solver file gives its class."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["name"]:
            return ast.literal_eval(node.value)
    raise AssertionError("no name = ... in the solver file")


def test_import_solvers_and_the_cli_do_not_import_benchopt():
    code = ("import sys, solvers, solvers.cli; solvers.cli.build_parser(); "
            "print('benchopt' in sys.modules, 'benchmark_utils' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_every_solver_file_and_the_readme_example_name_a_registered_method():
    texts = [path.read_text() for path in sorted((BENCHMARK / "solvers").glob("*.py"))]
    names = [_solver_name(text) for text in [*texts, _readme_solver()[1]]]
    assert {"varpro", "newton-cg", "gauss-newton", "alternating", "lbfgs", "scipy-trust-ncg"} <= set(names)
    assert set(names) <= set(list_solvers()), sorted(set(names) - set(list_solvers()))
    assert not (ROOT / _readme_solver()[0]).exists(), "the README's example must add a solver the benchmark lacks"


@needs_benchopt
def test_tiny_run_holds_both_curves_and_the_readme_solver(tmp_path):
    import pandas as pd

    copy = tmp_path / "benchopt_benchmark"
    shutil.copytree(BENCHMARK, copy, ignore=shutil.ignore_patterns("outputs", "__cache__", "__pycache__"))
    path, text = _readme_solver()
    (copy / Path(path).relative_to("benchopt_benchmark")).write_text(text)
    added = _solver_name(text)
    results = tmp_path / "results.parquet"
    # seed 1: from this start varpro's full Gauss–Newton steps reach a spurious local minimum of seed 0's instance
    # (L = 2e-3); which basin a start ends in is not what this test is about
    command = [sys.executable, "-m", "benchopt", "run", str(copy), "-s", "varpro", "-s", added,
               "-d", "planted[n=32,d=8,seed=1]", "-o", "attention-regression[start=near]", "-r", "2",
               "--no-plot", "--no-cache", "--output", str(results)]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    frame = pd.read_parquet(results)
    assert set(frame["solver_name"]) == {"varpro", added}
    for solver, curve in frame.groupby("solver_name"):
        assert set(curve["idx_rep"]) == {0, 1}
        first = curve[curve["idx_rep"] == 0].sort_values("stop_val")
        assert len(first) >= 3, f"{solver}: a curve needs several points, got {len(first)}"
        assert first["objective_value"].iloc[-1] < 1e-12 * first["objective_value"].iloc[0], solver
        assert (first["objective_suboptimality"] == first["objective_value"]).all(), "planted: min L = 0"
        assert first["objective_iterations"].iloc[-1] < first["stop_val"].iloc[-1], "stopped by its own rule"


@needs_benchopt
def test_benchmark_utils_imports_the_project_when_the_solver_folder_shadows_it():
    # `python -m benchopt run .` from inside the benchmark puts its folder first on sys.path, where
    # `import solvers` finds the folder of solver files (a namespace package) unless the project is on
    # the path itself; simulate that and check that benchmark_utils still gets the project.
    code = f"""
import importlib.util, sys, types
sys.path.insert(0, {str(BENCHMARK)!r})
shadow = types.ModuleType("solvers")
shadow.__path__ = [{str(BENCHMARK / "solvers")!r}]
sys.modules["solvers"] = shadow
spec = importlib.util.spec_from_file_location("benchmark_utils", {str(BENCHMARK / "benchmark_utils" / "__init__.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(module.attnreg.__file__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert Path(out.stdout.strip()) == ROOT / "solvers" / "__init__.py"


def test_ci_installs_the_benchopt_extra():
    assert 'pip install -e ".[benchopt]"' in (ROOT / ".ci" / "run").read_text()

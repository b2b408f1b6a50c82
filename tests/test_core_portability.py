"""The numerical core calls no array library by name: the standard through ``xp``, the rest
through the backend adapters.

A NumPy, SciPy, torch or CuPy call on a backend array works on one backend and breaks on
the others (``np.einsum`` on a CuPy array fails; on a torch-cuda tensor it copies to the
host, if it works at all). The oracle and solver modules may name those libraries only for
host-side work listed in :data:`ALLOWED`, each entry with its reason; anything else fails
here. Modules are found by file name anywhere in the package (they may move), and every
module that registers a solver is checked too.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path
from typing import NamedTuple

import solvers

PACKAGE = Path(solvers.__file__).parent
#: Libraries the core must not call on backend arrays (the adapters in solvers/backends/ may).
LIBRARIES = ("numpy", "scipy", "torch", "cupy", "cupyx")
#: The array-maths modules, by file name, wherever the package keeps them.
CORE_MODULES = ("rowterms.py", "kernels.py", "rowblocks.py", "oracle.py", "oracles.py", "damping.py", "loop.py", "alternating.py", "newton.py", "newton_cg.py",
                "sketched.py", "varpro.py")
#: Modules that register solvers yet are library-specific by design.
NOT_CORE = {"peers.py": "the peers are SciPy's minimisers and torch autograd themselves",
            "scipy_peers.py": "SciPy's minimisers themselves, on NumPy host arrays",
            "jax_peers.py": "JAX autodiff itself, on host arrays"}

#: (file name, function) -> (library names used there, why that is host-side work).
#: Names are fnmatch patterns; ``<module>`` is module level (imports).
ALLOWED: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("*", "<module>"): (("numpy",), "the import: NumPy serves host-side work (below)"),
    ("kernels.py", "hessian_x"): (("numpy.asarray", "numpy.int64"),
                                  "rows and weights arrive as host sequences and are moved with xp.asarray"),
    ("rowterms.py", "kron_sum_symmetric"): (
        ("numpy.triu_indices", "numpy.empty", "numpy.int64", "numpy.arange", "numpy.reshape"),
        "index arrays are built on the host, then moved with xp.asarray"),
    ("rowblocks.py", "hessian_x"): (("numpy.asarray", "numpy.int64"),
                                    "rows and weights arrive as host sequences and are moved with xp.asarray"),
    ("oracles.py", "_check_sample"): (("numpy.asarray", "numpy.all", "numpy.isfinite"),
                                      "sampled rows and weights are checked on the host, where hessian_x takes them"),
    ("loop.py", "IterativeSolver.solve"): (("numpy.zeros", "numpy.full", "numpy.nan"),
                                           "the default start X0 = 0 and a NaN iterate for a start that failed, on the host"),
    ("sketched.py", "<module>"): (("scipy.linalg",), "the import, for spectral_factor"),
    ("sketched.py", "row_probabilities"): (("numpy.full", "numpy.linalg.qr", "numpy.sum"),
                                           "leverage scores of the host copy problem.host['A1']"),
    ("sketched.py", "sample_rows"): (("numpy.flatnonzero",), "rows are drawn on the host, identical on every backend"),
    ("sketched.py", "Sketched.init_state"): (("numpy.random.default_rng",), "the host RNG that draws the rows"),
    ("sketched.py", "spectral_factor"): (
        ("numpy.linalg.*", "numpy.max", "numpy.abs", "scipy.linalg.solve_triangular"),
        "ε0 is measured off the clock, on host copies (Sketched.monitor)"),
    ("sketched.py", "Sketched.monitor"): (("numpy.float64",), "the host copies are promoted for spectral_factor"),
}


class Use(NamedTuple):
    """One mention of a library name in code (not in annotations, strings or comments)."""

    line: int
    scope: str
    name: str


class _LibraryUses(ast.NodeVisitor):
    """Dotted library names (``numpy.linalg.qr``), resolved through import aliases, by scope."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.scopes: list[str] = []
        self.uses: list[Use] = []

    def _record(self, node: ast.AST, name: str) -> None:
        self.uses.append(Use(node.lineno, ".".join(self.scopes) or "<module>", name))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            root = alias.name.split(".")[0]
            if root in LIBRARIES:  # ``import a.b`` binds ``a``; ``import a.b as c`` binds ``c`` to a.b
                self.aliases[alias.asname or root] = alias.name if alias.asname else root
                self._record(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0 and node.module.split(".")[0] in LIBRARIES:
            for alias in node.names:
                self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                self._record(node, f"{node.module}.{alias.name}")

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scopes.append(node.name)
        for child in ast.iter_child_nodes(node):
            if child is not getattr(node, "returns", None):
                self.visit(child)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_arg(self, node: ast.arg) -> None:  # annotations name types, they compute nothing
        return None

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        for child in (node.target, node.value):
            if child is not None:
                self.visit(child)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts, root = [], node
        while isinstance(root, ast.Attribute):
            parts.append(root.attr)
            root = root.value
        if isinstance(root, ast.Name) and root.id in self.aliases:
            self._record(node, ".".join([self.aliases[root.id], *reversed(parts)]))
        else:
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases:
            self._record(node, self.aliases[node.id])


def library_uses(source: str) -> list[Use]:
    """Every use of a library of :data:`LIBRARIES` in ``source``."""
    visitor = _LibraryUses()
    visitor.visit(ast.parse(source))
    return visitor.uses


def allowance(file_name: str, use: Use) -> tuple[str, str] | None:
    """The :data:`ALLOWED` key that permits ``use`` in ``file_name``, or ``None``."""
    for (file_pattern, scope), (names, _) in ALLOWED.items():
        if (fnmatch.fnmatchcase(file_name, file_pattern) and use.scope == scope
                and any(fnmatch.fnmatchcase(use.name, name) for name in names)):
            return file_pattern, scope
    return None


def _registers_a_solver(path: Path) -> bool:
    return any(isinstance(node, ast.ClassDef) and any(
        (decorator.id if isinstance(decorator, ast.Name) else getattr(decorator, "attr", None)) == "register"
        for decorator in node.decorator_list) for node in ast.walk(ast.parse(path.read_text())))


def core_files() -> list[Path]:
    """The modules of :data:`CORE_MODULES` and every solver module, outside the backend adapters."""
    files = [path for path in PACKAGE.rglob("*.py") if "backends" not in path.relative_to(PACKAGE).parts]
    return sorted(path for path in files if path.name not in NOT_CORE
                  and (path.name in CORE_MODULES or _registers_a_solver(path)))


def test_every_core_module_is_found_once():
    names = [path.name for path in core_files()]
    for name in CORE_MODULES:
        assert names.count(name) == 1, f"{name} found {names.count(name)} times under {PACKAGE}; update CORE_MODULES"


def test_core_calls_no_array_library_outside_the_allowed_host_work():
    offences = [f"{path.relative_to(PACKAGE.parent)}:{use.line} in {use.scope}: {use.name}"
                for path in core_files() for use in library_uses(path.read_text())
                if allowance(path.name, use) is None]
    assert not offences, ("library calls in the numerical core; use the standard through xp, or add the "
                          "operation to the Backend adapters (solvers/backends/) with a reason:\n"
                          + "\n".join(offences))


def test_every_allowance_is_still_needed():
    used = {allowance(path.name, use) for path in core_files() for use in library_uses(path.read_text())}
    assert not set(ALLOWED) - used, f"ALLOWED entries that match nothing: {sorted(set(ALLOWED) - used)}"


def test_the_check_catches_library_calls_but_not_host_work_or_annotations():
    source = '''
import numpy as np
import torch
from scipy.linalg import solve as host_solve


def hessian_x(problem, X: np.ndarray, rows) -> np.ndarray:
    index: np.ndarray = np.asarray(rows, dtype=np.int64)
    return np.einsum("ij->i", X)[index]


class Method:
    def step(self, H):
        import cupy
        return host_solve(H, torch.linalg.cholesky_ex(H)), cupy.asnumpy(H)
'''
    uses = library_uses(source)
    flagged = {(use.scope, use.name) for use in uses if allowance("kernels.py", use) is None}
    assert flagged == {("<module>", "torch"), ("<module>", "scipy.linalg.solve"), ("hessian_x", "numpy.einsum"),
                       ("Method.step", "cupy"), ("Method.step", "scipy.linalg.solve"),
                       ("Method.step", "torch.linalg.cholesky_ex"), ("Method.step", "cupy.asnumpy")}
    assert {(use.scope, use.name) for use in uses} - flagged == {
        ("<module>", "numpy"), ("hessian_x", "numpy.asarray"), ("hessian_x", "numpy.int64")}

"""The package's import graph: the harness flows one way, and nothing imports in a circle.

Every module under ``solvers/`` is parsed with :mod:`ast` (nothing is imported); its edges
are every ``import`` and ``from … import`` anywhere in it (inside functions too) and every
import by name: a string literal passed to ``importlib.import_module``, and in a module that
calls ``import_module`` any string literal naming a module of the package (a table of
modules loaded later, as the registry keeps). The harness is a pipeline,

    measure → records ← analyse ← render      (claims: shared by every stage)

so measuring never imports analysing or rendering, analysing never imports measuring or
rendering, rendering never imports measuring, the records and the claims import no stage,
and the library below the harness imports none of it. The command line may import anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "solvers"
HARNESS = "solvers.harness"

MAX_LINES = 400

#: Harness stage -> the harness stages it may import (besides itself).
ALLOWED = {
    "claims": set(),
    "records": {"claims"},
    "measure": {"records", "claims"},
    "analyse": {"records", "claims"},
    "render": {"analyse", "records", "claims"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of ``solvers``."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of a (possibly relative) ``from`` import."""
    if level == 0:
        return name or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _is_import_module(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or \
           (isinstance(func, ast.Name) and func.id == "import_module")


def imports_of(name: str, source: str, is_package: bool, known: Iterable[str]) -> set[str]:
    """The modules of the package that the module ``name`` imports, statically or by name."""
    known = set(known)
    tree = ast.parse(source)
    found: set[str] = set()

    def add(target: str) -> None:
        while target and target not in known:  # ``from x import y`` of a name y in module x
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    by_name = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        elif isinstance(node, ast.Call) and _is_import_module(node):
            by_name = True
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                literal = node.args[0].value
                add(_resolve(name, is_package, len(literal) - len(literal.lstrip(".")), literal.lstrip(".") or None)
                    if literal.startswith(".") else literal)
    if by_name:  # a table of module names handed to import_module later
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
                add(node.value)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports_of(name, path.read_text(), path.name == "__init__.py", modules)
            for name, path in modules.items()}


def stage_of(module: str) -> str | None:
    """The harness stage a module belongs to (None outside the harness)."""
    if module == HARNESS:
        return None
    if not module.startswith(HARNESS + "."):
        return None
    return module[len(HARNESS) + 1:].split(".")[0]


def direction_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every edge that runs against the pipeline's flow."""
    wrong = []
    for importer, targets in graph.items():
        mine = stage_of(importer)
        for target in sorted(targets):
            theirs = stage_of(target)
            if theirs is None or theirs == mine or importer.startswith("solvers.cli") or \
                    importer == HARNESS:
                continue
            if mine is None:
                wrong.append(f"{importer} (library, below the harness) imports {target}")
            elif theirs not in ALLOWED.get(mine, set()):
                wrong.append(f"{importer} ({mine}) imports {target} ({theirs})")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    edges = {a: {b for b in targets if b in graph} for a, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_harness_flows_one_way():
    wrong = direction_violations(import_graph())
    assert not wrong, "imports against measure → records ← analyse ← render:\n" + "\n".join(wrong)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def test_the_checks_see_cycles_by_name_and_inside_functions():
    known = {"p", "p.a", "p.b", "p.harness", "p.c"}
    a = imports_of("p.a", "def f():\n    from . import b\n", False, known)
    b = imports_of("p.b", "import importlib\nimportlib.import_module('p.a')\n", False, known)
    c = imports_of("p.c", "import importlib\nMODULES = ('p.a',)\nfor m in MODULES:\n    importlib.import_module(m)\n",
                   False, known)
    assert a == {"p.b"} and b == {"p.a"} and c == {"p.a"}
    assert cycles({"p.a": a, "p.b": b, "p.c": c}) == [["p.a", "p.b"]]


def test_the_direction_check_sees_a_backwards_import():
    graph = {"solvers.harness.measure.x": {"solvers.harness.analyse.y"},
             "solvers.harness.render.z": {"solvers.harness.analyse.y", "solvers.harness.measure.x"},
             "solvers.harness.analyse.y": {"solvers.harness.records", "solvers.harness.claims"}}
    assert direction_violations(graph) == [
        "solvers.harness.measure.x (measure) imports solvers.harness.analyse.y (analyse)",
        "solvers.harness.render.z (render) imports solvers.harness.measure.x (measure)"]


def test_no_module_over_400_lines():
    long = {str(path.relative_to(ROOT)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"

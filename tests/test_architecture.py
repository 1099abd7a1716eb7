"""The package's shape (docs/architecture.md): no import circle, no import of the package root, no huge file.

The import graph is read with ``ast`` from the source (nothing is imported): an edge ``a -> b`` for every
``import`` / ``from ... import`` in module ``a`` that names a module ``b`` of the package, at module level or
inside a function (a lazy import still closes a circle as soon as both functions run), except under
``if TYPE_CHECKING:``. ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
``pkg`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "sknmtune"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
MAX_LINES = 600

# Files over MAX_LINES that are being split by work still in progress: name -> why it is allowed for now.
# Empty when nothing remains; add an entry only with the issue that removes it.
OVER_LIMIT_ALLOWED: dict[str, str] = {}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` imports."""
    is_package = path.name == "__init__.py"
    edges: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names if alias.name in modules)
            continue
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target not in modules:
            continue
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            edges.add(sub if sub in modules else target)
    edges.discard(name)
    return edges


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``{module: the package's modules it imports}`` for the package in directory ``root``."""
    modules = _modules(root)
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def test_the_graph_reader_sees_relative_lazy_and_root_imports(tmp_path):
    # a tiny package with a circle through a lazy import and a root import, read like the real one
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("__version__ = '1'\n")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n    from .. import __version__\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n")
    graph = _graph(pkg)
    assert graph["toy.a"] == {"toy.sub.b"}
    assert graph["toy.sub.b"] == {"toy.a", "toy"}  # a lazy import, and the root
    assert graph["toy.c"] == set()  # TYPE_CHECKING imports do not run
    assert _cycles(graph) == [["toy.a", "toy.sub.b"]]


def test_no_import_circle():
    cycles = _cycles(_graph())
    assert not cycles, "import circles (modules that import each other, directly or through others): " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_no_module_imports_the_package_root():
    # the root only re-exports (lazily); a module importing it sits above everything it re-exports
    offenders = sorted(name for name, edges in _graph().items() if name != PACKAGE and PACKAGE in edges)
    assert not offenders, (
        f"modules importing the package root {PACKAGE}/__init__.py (e.g. 'from . import __version__'; "
        f"use {PACKAGE}._version or the defining module): {offenders}"
    )


def test_no_file_over_the_line_limit():
    sizes = {str(path.relative_to(ROOT.parent)): len(path.read_text(encoding="utf-8").splitlines())
             for path in ROOT.rglob("*.py")}
    over = {name: n for name, n in sizes.items() if n > MAX_LINES and name not in OVER_LIMIT_ALLOWED}
    assert not over, f"files over {MAX_LINES} lines (split them by concern): {over}"
    fixed = [name for name in OVER_LIMIT_ALLOWED if sizes.get(name, 0) <= MAX_LINES]
    assert not fixed, f"these files are within {MAX_LINES} lines now; remove them from OVER_LIMIT_ALLOWED: {fixed}"


# --------------------------------------------------------------------------- benchmarks/

BENCHMARKS = ROOT.parent / "benchmarks"


def _private_uses(root: Path) -> list[str]:
    """``file:line: name`` for each use of another benchmarks module's leading-underscore name.

    A module is bound by ``from benchmarks import x [as y]``, ``from benchmarks.pkg import x`` or
    ``import benchmarks.x as y``; a use is ``y._name`` (dunders aside) or ``from benchmarks.x import _name``.
    Private *modules* (``benchmarks._io``) are the package's own plumbing and may be imported.
    """
    package = root.name
    modules = {_module_name(p, root) for p in root.rglob("*.py")}
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}
        for node in _import_nodes(tree):
            if isinstance(node, ast.Import):
                bound.update({a.asname: a.name for a in node.names if a.asname and a.name in modules})
            elif node.module and node.module.split(".")[0] == package and not node.level:
                for a in node.names:
                    if f"{node.module}.{a.name}" in modules:
                        bound[a.asname or a.name] = f"{node.module}.{a.name}"
                    elif a.name.startswith("_"):
                        found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {node.module}.{a.name}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {bound[node.value.id]}.{node.attr}")
    return found


def test_the_private_use_reader_sees_aliases_and_imports(tmp_path):
    pkg = tmp_path / "benchmarks"
    (pkg / "harness").mkdir(parents=True)
    (pkg / "harness" / "__init__.py").write_text("")
    (pkg / "harness" / "io.py").write_text("def _x(): pass\ndef log(): pass\n")
    (pkg / "a.py").write_text("from benchmarks.harness import io\nfrom benchmarks.harness.io import log, _x\n"
                              "import benchmarks.harness.io as hio\nio._x(); hio._x(); io.log(); io.__name__\n")
    assert _private_uses(pkg) == ["benchmarks/a.py:2: benchmarks.harness.io._x", "benchmarks/a.py:4: benchmarks.harness.io._x",
                                  "benchmarks/a.py:4: benchmarks.harness.io._x"]


def test_no_benchmark_uses_another_modules_private_names():
    found = _private_uses(BENCHMARKS)
    assert not found, "benchmarks use other modules' private names (make them public in their module): " + "; ".join(found)

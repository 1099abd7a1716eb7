"""The shape of the package and of the benchmarks (docs/architecture.md), read from the source with ``ast``.

Nothing is imported. An *import* is every ``import`` / ``from ... import`` (at module level or inside a function: a
lazy import still runs), except under ``if TYPE_CHECKING:``, and every call ``importlib.import_module("...")`` /
``__import__("...")`` with a literal name (a string import is an import the graph must see). ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg`` itself. The rules:

1. **Layers** -- every top-level module or subpackage of ``sknmtune`` is placed in one layer of the drawing in
   docs/architecture.md (the drawing is parsed, so the doc and the test cannot drift), and no module imports one of
   a higher layer; no import circle; no module imports the package root; no library file over 600 lines.
2. **Leaves** -- ``benchmarks/<name>.py`` are scripts: no script imports another, and the shared benchmark code
   (``benchmarks/harness``, ``benchmarks/datasets``) imports no script.
3. **Private names** -- a name starting with ``_`` belongs to the package that holds it (a private module or package
   attribute to that package, a private function, class or constant of a module to the module's package): any module
   inside that package may use it, nothing outside may, in the library or in the benchmarks (``from pkg._mod import
   x``, ``from pkg.mod import _x`` and ``alias._x`` of an imported module ``alias`` all count).
4. **No duplicated helper** -- no module-level function's signature and body (docstring aside, at least
   :data:`MIN_HELPER_NODES` syntax nodes) are written twice in the library or the benchmarks.

Each rule's reader is tested on a tiny synthetic tree (``tmp_path``) with a violation of its kind, so each can fail.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = "sknmtune"
PROJECT = Path(__file__).resolve().parent.parent
ROOT = PROJECT / PACKAGE
BENCHMARKS = PROJECT / "benchmarks"
ARCHITECTURE_DOC = PROJECT / "docs" / "architecture.md"
MAX_LINES = 600
#: the benchmarks' shared code; every other top-level module or package of benchmarks/ is a script
SHARED_BENCHMARK_CODE = ("harness", "datasets")
MIN_HELPER_NODES = 12

# Files over MAX_LINES that are being split by work still in progress: name -> why it is allowed for now.
# Empty when nothing remains; add an entry only with the issue that removes it.
OVER_LIMIT_ALLOWED: dict[str, str] = {}

# Private names used outside their package by work still in progress: "importer: name" -> why it is allowed for now.
# Empty when nothing remains; add an entry only with the issue that removes it (a stale entry fails the test).
PRIVATE_USE_ALLOWED: dict[str, str] = {}


# --------------------------------------------------------------------------- reading imports


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


def _import_nodes(tree: ast.AST) -> list[ast.AST]:
    """``Import`` / ``ImportFrom`` nodes and ``import_module(...)`` / ``__import__(...)`` calls, TYPE_CHECKING aside."""
    found: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)) or _string_import(node) is not None:
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _string_import(node: ast.AST) -> tuple[str, ast.AST | None] | None:
    """``(name, package argument)`` of ``importlib.import_module("name"[, package])`` or ``__import__("name")``."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if called not in ("import_module", "__import__"):
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None  # a computed name (e.g. a user's class in a model file): not a static edge
    package = node.args[1] if called == "import_module" and len(node.args) > 1 else None
    package = next((k.value for k in node.keywords if k.arg == "package"), package)
    return first.value, package


def _import_targets(name: str, path: Path) -> list[tuple[int, str]]:
    """``(line, dotted target)`` of every import of module ``name``: ``a.b`` for ``import a.b``, ``a.b.c`` for
    ``from a.b import c`` (relative imports resolved), the module named by a string import."""
    is_package = path.name == "__init__.py"
    package = name.split(".") if is_package else name.split(".")[:-1]
    out: list[tuple[int, str]] = []
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*"]
        else:
            target, anchor = _string_import(node)
            if target.startswith("."):
                if not (isinstance(anchor, ast.Name) and anchor.id in ("__name__", "__package__")):
                    continue
                level = len(target) - len(target.lstrip("."))
                base = (name.split(".") if anchor.id == "__name__" else package)[: None if level == 1 else 1 - level]
                target = ".".join(base + [target.lstrip(".")])
            out.append((node.lineno, target))
    return out


def _known_prefix(target: str, modules: dict[str, Path] | set[str]) -> str | None:
    """The longest prefix of ``target`` that names one of ``modules``."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        if ".".join(parts[:cut]) in modules:
            return ".".join(parts[:cut])
    return None


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``{module: the modules of the package in directory root it imports}``."""
    modules = _modules(root)
    graph = {}
    for name, path in modules.items():
        edges = {_known_prefix(t, modules) for _, t in _import_targets(name, path)}
        graph[name] = {e for e in edges if e is not None and e != name}
    return graph


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


# --------------------------------------------------------------------------- 1. layers


def _drawn_layers(doc: str) -> dict[str, int]:
    """``{entry: layer}`` from the first code block after ``## Layers``: a line starting with a number opens a layer,
    the lines after it continue it; its entries are the words ending in ``.py`` (a module) or ``/`` (a subpackage),
    parenthesized comments aside."""
    section = doc.split("\n## Layers", 1)[1]
    block = section.split("```", 2)[1]
    layers: dict[str, int] = {}
    layer = None
    for line in block.splitlines():
        line = re.sub(r"\([^)]*\)", "", line)
        opened = re.match(r"\s*(\d+)\s", line)
        if opened:
            layer = int(opened.group(1))
        for entry in re.findall(r"(?<![\w./])([A-Za-z_]\w*(?:\.py|/))(?!\w)", line):
            if layer is not None:
                layers[entry.removesuffix(".py").removesuffix("/")] = layer
    return layers


def _layer_violations(root: Path, layers: dict[str, int]) -> list[str]:
    """Modules in no layer, drawn entries that do not exist, and imports of a higher layer."""
    package = root.name
    graph = _graph(root)

    def entry(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else None  # None: the package root

    entries = {entry(m) for m in graph} - {None}
    found = [f"{e}: in no layer of the drawing" for e in sorted(entries - set(layers))]
    found += [f"{e}: drawn, but no module {package}.{e}" for e in sorted(set(layers) - entries)]
    for a, edges in sorted(graph.items()):
        for b in sorted(edges):
            ea, eb = entry(a), entry(b)
            if None in (ea, eb) or ea == eb or ea not in layers or eb not in layers:
                continue
            if layers[eb] > layers[ea]:
                found.append(f"{a} (layer {layers[ea]}) imports {b} (layer {layers[eb]})")
    return found


def test_the_layer_reader_parses_the_drawing_and_sees_upward_and_string_imports(tmp_path):
    doc = ("# x\n## Layers\n\n```\n 2  top        b.py   sub/ (a comment: c.py)\n"
           "                 shim.py\n 1  bottom     a.py\n```\n\n## Later\n```\n 9  nothing.py\n```\n")
    layers = _drawn_layers(doc)
    assert layers == {"b": 2, "sub": 2, "shim": 2, "a": 1}
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "sub/__init__.py", "b.py", "shim.py"):
        (pkg / f).write_text("")
    (pkg / "sub" / "m.py").write_text("from ... import b\n")  # same layer: allowed
    (pkg / "a.py").write_text("import importlib\ndef f():\n    importlib.import_module('toy.b')\n")
    assert _layer_violations(pkg, layers) == ["toy.a (layer 1) imports toy.b (layer 2)"]
    (pkg / "a.py").write_text("def f():\n    __import__('toy.sub.m')\n")
    assert _layer_violations(pkg, layers) == ["toy.a (layer 1) imports toy.sub.m (layer 2)"]
    (pkg / "a.py").write_text("import importlib\nimportlib.import_module('.shim', __package__)\n")
    assert _layer_violations(pkg, layers) == ["toy.a (layer 1) imports toy.shim (layer 2)"]
    (pkg / "c.py").write_text("")
    (pkg / "shim.py").unlink()
    assert _layer_violations(pkg, layers)[:2] == ["c: in no layer of the drawing", "shim: drawn, but no module toy.shim"]


def test_every_module_sits_in_a_drawn_layer_and_imports_only_its_layer_or_below():
    layers = _drawn_layers(ARCHITECTURE_DOC.read_text(encoding="utf-8"))
    found = _layer_violations(ROOT, layers)
    assert not found, "the layer drawing of docs/architecture.md and the imports disagree: " + "; ".join(found)


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


# --------------------------------------------------------------------------- 2. leaves


def _script_imports(root: Path) -> list[str]:
    """``importer:line: imported`` for every import of a benchmark script by another module of ``root`` (a script
    is a top-level module or package of ``root`` other than :data:`SHARED_BENCHMARK_CODE`)."""
    modules = _modules(root)

    def script(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 and parts[1] not in SHARED_BENCHMARK_CODE else None

    found = []
    for name, path in modules.items():
        for line, target in _import_targets(name, path):
            imported = _known_prefix(target, modules)
            if imported is None and target.split(".")[0] == root.name:  # `from benchmarks import x` (namespace root)
                imported = target if script(target) else None
            if imported is not None and script(imported) and script(imported) != script(name):
                found.append(f"{name}:{line}: {imported}")
    return found


def test_the_leaf_reader_sees_script_imports_lazy_and_by_string(tmp_path):
    pkg = tmp_path / "benchmarks"
    (pkg / "harness").mkdir(parents=True)
    (pkg / "harness" / "__init__.py").write_text("")
    (pkg / "harness" / "io.py").write_text("def log(): pass\n")
    (pkg / "harness" / "bad.py").write_text("def f():\n    from benchmarks.b import run\n")  # the shared code too
    (pkg / "a.py").write_text("from benchmarks.harness import io\nfrom benchmarks import b\n"
                              "def f():\n    import importlib\n    importlib.import_module('benchmarks.c')\n")
    (pkg / "b.py").write_text("def run(): pass\n")
    (pkg / "c.py").write_text("from .b import run\n")
    assert _script_imports(pkg) == ["benchmarks.a:2: benchmarks.b", "benchmarks.a:5: benchmarks.c",
                                    "benchmarks.c:1: benchmarks.b", "benchmarks.harness.bad:2: benchmarks.b"]


def test_no_benchmark_script_imports_another():
    found = _script_imports(BENCHMARKS)
    assert not found, ("benchmark scripts are leaves: move what they share into benchmarks/harness: " + "; ".join(found))


# --------------------------------------------------------------------------- 3. private names


def _packages(*roots: Path) -> set[str]:
    """The dotted names of the packages (folders with an ``__init__.py``, and the namespace folders) under ``roots``."""
    found = set()
    for root in roots:
        found |= {_module_name(p.parent / "__init__.py", root) for p in root.rglob("*.py")}
    return found


def _private_owner(dotted: str, packages: set[str]) -> str | None:
    """The package a private name belongs to: the one holding its first ``_x`` component (dunders aside) -- the
    package itself when ``_x`` is a module or an attribute of the package, the module's package when ``_x`` is a
    function, class or constant of a module. ``None`` for a public name."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            holder = ".".join(parts[:i])
            return holder if holder in packages else holder.rpartition(".")[0]
    return None


def _private_uses(root: Path, packages: set[str]) -> list[str]:
    """``importer: private name`` for every private name used outside the package that holds it (``packages``:
    the project's packages, :func:`_packages`): imported (``from a._b import c``, ``from a.b import _c``) or read as
    ``alias._c`` of an imported module. Inside its package a private name is free: a package's modules share them."""
    projects = {p.split(".")[0] for p in packages}
    found = []
    for name, path in _modules(root).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        uses = [target for _, target in _import_targets(name, path)]
        bound = {}  # local name -> what it names, for the imports that bind a name
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in _import_nodes(tree):
            if isinstance(node, ast.Import):
                bound.update({a.asname: a.name for a in node.names if a.asname})
                bound.update({a.name.split(".")[0]: a.name.split(".")[0] for a in node.names if not a.asname})
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
                bound.update({(a.asname or a.name): f"{base}.{a.name}" for a in node.names})
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
                uses.append(f"{bound[node.value.id]}.{node.attr}")
        for target in dict.fromkeys(uses):
            if target.split(".")[0] not in projects:
                continue
            owner = _private_owner(target, packages)
            if owner is not None and not (name == owner or name.startswith(owner + ".") or owner == ""):
                found.append(f"{name}: {target}")
    return found


def test_the_private_name_reader_allows_a_package_its_own_and_nothing_else(tmp_path):
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "_util.py").write_text("def helper(): pass\n")  # a private module of toy: all of toy may use it
    (pkg / "mod.py").write_text("def _check(): pass\n")  # a private function of a module of toy: likewise
    (pkg / "sub" / "__init__.py").write_text("from ._impl import _Base, Public\n_CONSTANT = 1\n")
    (pkg / "sub" / "_impl.py").write_text("class _Base: pass\nclass Public(_Base): pass\n")
    (pkg / "sub" / "user.py").write_text("from toy._util import helper\nfrom . import _impl\n_impl._Base\n"
                                         "from ..mod import _check\n")
    (pkg / "other.py").write_text("from .mod import _check\nfrom .sub._impl import Public\nfrom . import sub as s\n"
                                  "s._impl._Base\nfrom .sub import _CONSTANT\nimport toy.sub\ntoy.sub.__name__\n")
    packages = _packages(pkg)
    assert _private_uses(pkg, packages) == [
        "toy.other: toy.sub._impl.Public", "toy.other: toy.sub._CONSTANT", "toy.other: toy.sub._impl"]
    outside = tmp_path / "bench"
    outside.mkdir()
    (outside / "script.py").write_text("from toy._util import helper\nimport numpy as np\nnp._NoValue\n"
                                       "import toy.mod as m\nm._check()\n")
    assert _private_uses(outside, packages) == ["bench.script: toy._util.helper", "bench.script: toy.mod._check"]


def test_no_private_name_crosses_its_boundary_in_the_library():
    found = _private_uses(ROOT, _packages(ROOT))
    new = [f for f in found if f not in PRIVATE_USE_ALLOWED]
    assert not new, "private names used outside the module or package that holds them (make them public there): " + \
        "; ".join(new)
    stale = [f for f in PRIVATE_USE_ALLOWED if f not in found]
    assert not stale, f"no longer used; remove from PRIVATE_USE_ALLOWED: {stale}"


def test_no_private_name_crosses_its_boundary_in_the_benchmarks():
    found = _private_uses(BENCHMARKS, _packages(ROOT, BENCHMARKS))
    assert not found, "the benchmarks use private names of the library or of another benchmark module (make them " \
        "public in their module): " + "; ".join(found)


# --------------------------------------------------------------------------- 4. duplicated helpers


def _helpers(root: Path) -> dict[str, list[str]]:
    """``{signature and body: ["file:line name", ...]}`` of the module-level functions of at least
    :data:`MIN_HELPER_NODES` syntax nodes (docstring aside) under ``root``."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]
            if sum(1 for statement in body for _ in ast.walk(statement)) < MIN_HELPER_NODES:
                continue
            key = ast.dump(node.args) + "".join(ast.dump(statement) for statement in body)
            found[key].append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name}")
    return found


def _duplicated_helpers(*roots: Path) -> list[list[str]]:
    merged: dict[str, list[str]] = defaultdict(list)
    for root in roots:
        for key, places in _helpers(root).items():
            merged[key] += places
    return [places for places in merged.values() if len(places) > 1]


def test_the_duplicate_reader_finds_a_helper_written_twice(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    log = 'def log(msg):\n    """Print it."""\n    print(f"[{time.strftime(\'%H:%M:%S\')}] {msg}", flush=True)\n'
    (a / "one.py").write_text("import time\n" + log + "def tiny():\n    return 1\n")
    (b / "two.py").write_text("import time\n\n" + log.replace('"""Print it."""', '"""Log it."""')
                              + "def tiny():\n    return 1\nclass K:\n" + "\n".join("    " + x for x in log.splitlines()) + "\n")
    assert _duplicated_helpers(a, b) == [["a/one.py:2 log", "b/two.py:3 log"]]  # methods and one-liners aside


def test_no_helper_is_written_twice():
    duplicated = _duplicated_helpers(ROOT, BENCHMARKS)
    assert not duplicated, "functions written twice (keep one, import it): " + "; ".join(" = ".join(d) for d in duplicated)

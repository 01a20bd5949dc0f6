"""The layout holds: no import cycle between modules, and no domain package imports the HTTP layer.

The imports are read from the source with `ast` (nothing is imported), function-level imports
included: a lazy import that closes a cycle is still a cycle. Imports under `if TYPE_CHECKING:`
are left out (they never run). `from pkg import name` depends on the module `pkg.name` when
there is one, else on `pkg` itself; a module does not depend on its parent packages by being
inside them. docs/layout.md says which package holds what.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "factory_commons"
#: the HTTP layer: thin routers and pages over the domain packages
HTTP = f"{PACKAGE}.server"
#: modules that compose the whole program and may import every layer (the main command line)
COMPOSITION_ROOTS = {f"{PACKAGE}.cli"}


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in its code)."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    modules = {name for name, _ in files}
    raw: dict[str, set[tuple[str, str]]] = {}
    for (name, is_init), path in files.items():
        pkg = name.split(".") if is_init else name.split(".")[:-1]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _type_checking_lines(tree)
        wanted: set[tuple[str, str]] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.Import):
                wanted |= {(a.name, a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg[: len(pkg) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                wanted |= {(mod, f"{mod}.{a.name}") for a in node.names}
        raw[name] = wanted
    graph: dict[str, set[str]] = {}
    for name, wanted in raw.items():
        deps = set()
        for mod, sub in wanted:
            if sub in modules:
                deps.add(sub)
            elif mod in modules:
                deps.add(mod)
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def domain_imports_of_http(
    graph: dict[str, set[str]], http: str = HTTP, roots: set[str] = COMPOSITION_ROOTS
) -> list[tuple[str, str]]:
    """(module, imported HTTP module) for every module outside the HTTP layer and the
    composition roots that imports the HTTP layer."""
    bad = []
    for name, deps in sorted(graph.items()):
        if name == http or name.startswith(http + ".") or name in roots:
            continue
        bad += [(name, d) for d in sorted(deps) if d == http or d.startswith(http + ".")]
    return bad


def test_no_import_cycle_between_modules():
    found = cycles(import_graph(SRC, PACKAGE))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_domain_package_imports_the_http_layer():
    bad = domain_imports_of_http(import_graph(SRC, PACKAGE))
    assert not bad, "domain modules importing server/: " + ", ".join(f"{a} -> {b}" for a, b in bad)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def test_the_checks_find_a_lazy_cycle_and_a_domain_importing_the_server(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from . import b\n",
            "pkg/b.py": "def f():\n    from .a import x  # lazy, still a cycle\n",
            "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import y\n",
            "pkg/d.py": "from .c import z\n",
            "pkg/kpi/__init__.py": "from .oee import k\n",
            "pkg/kpi/oee.py": "from ..server.app import create\n",
            "pkg/server/__init__.py": "",
            "pkg/server/app.py": "from ..kpi import oee\n",
        },
    )
    graph = import_graph(tmp_path, "pkg")
    found = cycles(graph)
    assert ["pkg.a", "pkg.b"] in found
    assert not any("pkg.c" in c for c in found)  # the TYPE_CHECKING import does not count
    assert ["pkg.kpi.oee", "pkg.server.app"] in found
    assert graph["pkg.kpi"] == {"pkg.kpi.oee"}  # `from .oee import k` is the submodule, not the package
    assert domain_imports_of_http(graph, "pkg.server", set()) == [("pkg.kpi.oee", "pkg.server.app")]


@pytest.mark.parametrize("module", sorted(COMPOSITION_ROOTS))
def test_the_composition_roots_exist(module):
    assert module in import_graph(SRC, PACKAGE)

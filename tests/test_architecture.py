"""The package's structure: every module imports, imports flow one way (no cycles among harness modules), and the
store depends only on itself and the lowest shared modules.

The import graph is read from the source with `ast`. Imports at module level run when a module is imported; imports
inside a function run when it is called (often to keep a heavy dependency out of startup). Both kinds are listed:
module-level cycles fail the test, function-level ones are reported. Imports under `if TYPE_CHECKING:` never run and
are left out.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "harness"

# What harness/store/ may import from harness outside harness/store/: the lowest shared modules, which import
# nothing from harness beyond one another (checked below).
STORE_ALLOWED = {"harness", "harness.errors", "harness.cache", "harness.records", "harness.text"}


def _module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


MODULES = _module_names()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The harness modules an import statement loads (a submodule named in `from pkg import sub` counts as sub)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in MODULES]
    if node.level:  # relative: from the module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in MODULES:
            out.append(sub)
        elif base in MODULES:
            out.append(base)
    return out


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level edges, function-level edges) between harness modules."""
    top: dict[str, set[str]] = {name: set() for name in MODULES}
    inner: dict[str, set[str]] = {name: set() for name in MODULES}

    for name, path in MODULES.items():
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    for other in child.orelse:
                        visit(other, in_function)
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    edges = inner if in_function else top
                    edges[name].update(t for t in _targets(child, name, is_package) if t != name)
                nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                visit(child, nested)

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return top, inner


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return sorted(found)


def _without_package_inits(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges to a package's own __init__ from its submodules are how Python imports them, not a dependency."""
    return {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in edges.items()}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "harness.__main__"))
def test_every_module_imports(name: str) -> None:
    pytest.importorskip("vllm") if name == "harness.clients.vllm_offline" else None
    importlib.import_module(name)


def test_no_import_cycles_at_module_level() -> None:
    top, _ = import_graph()
    assert cycles(_without_package_inits(top)) == []


def test_import_cycles_through_function_level_imports_are_reported() -> None:
    top, inner = import_graph()
    merged = {m: top[m] | inner[m] for m in top}
    found = cycles(_without_package_inits(merged))
    for component in found:
        print("import cycle through function-level imports:", " <-> ".join(component))
    # The two cycles this test was written against stay gone.
    assert not any({"harness.run_spec", "harness.scenarios.custom"} <= set(c) for c in found)
    assert not any({"harness.clients.base", "harness.clients.deployment"} <= set(c) for c in found)


def test_the_graph_sees_both_kinds_of_import() -> None:
    top, inner = import_graph()
    assert "harness.errors" in top["harness.clients.deployment"]
    assert "harness.clients.openai_compatible" in inner["harness.clients"]  # the lazy loaders
    assert "harness.clients.deployment" not in top["harness.clients.base"]  # under TYPE_CHECKING
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _store_imports_outside_store() -> dict[str, set[str]]:
    top, inner = import_graph()
    return {m: {t for t in top[m] | inner[m] if not t.startswith("harness.store")}
            for m in MODULES if m.startswith("harness.store")}


def test_store_imports_only_the_lowest_shared_modules() -> None:
    bad = {m: sorted(ts - STORE_ALLOWED) for m, ts in _store_imports_outside_store().items()}
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_the_modules_the_store_may_import_are_the_lowest() -> None:
    top, inner = import_graph()
    assert {m: sorted((top[m] | inner[m]) - STORE_ALLOWED) for m in STORE_ALLOWED} == {m: [] for m in STORE_ALLOWED}

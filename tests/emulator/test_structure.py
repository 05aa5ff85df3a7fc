"""The emulator's import graph: acyclic, and the core knows no vendor (read from the source with ``ast``).

Imports inside functions count. Imports under ``if TYPE_CHECKING:`` do not: they are never executed, and
the handler contract and the facade name each other there for their annotations only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudflows_emulator

PACKAGE = "cloudflows_emulator"
ROOT = Path(cloudflows_emulator.__file__).parent
VENDORS = ("tencent", "alibaba", "huawei")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node``, function bodies included, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if _is_type_checking_block(child):
            assert isinstance(child, ast.If)
            for orelse in child.orelse:
                yield orelse
                yield from _runtime_nodes(orelse)
            continue
        yield child
        yield from _runtime_nodes(child)


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str, *, runtime_only: bool = True) -> set[str]:
    """The package's modules that ``module`` imports (``from pkg import submodule`` names the submodule)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes = _runtime_nodes(tree) if runtime_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path of module names, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_graph_reader_sees_imports_inside_functions_and_skips_type_checking_blocks() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import cloudflows_emulator.server\n"
        "def f():\n    from cloudflows_emulator.core import faults\n"
    )
    tree = ast.parse(source)
    imported = {
        f"{node.module}.{alias.name}"
        for node in _runtime_nodes(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    direct = {alias.name for node in _runtime_nodes(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "cloudflows_emulator.core.faults" in imported
    assert "cloudflows_emulator.server" not in direct


def test_the_cycle_finder_reports_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_emulator_import_graph_has_no_cycle() -> None:
    graph = {module: imports_of(module) for module in MODULES}
    assert _cycle(graph) is None


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name.startswith(f"{PACKAGE}.core")))
def test_the_core_imports_only_the_core(module: str) -> None:
    outside = {
        name
        for name in imports_of(module, runtime_only=False)
        if name != f"{PACKAGE}.core" and not name.startswith(f"{PACKAGE}.core.")
    }
    assert outside == set(), f"{module} imports {sorted(outside)}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_vendor_package_imports_no_other_vendor(vendor: str) -> None:
    others = tuple(f"{PACKAGE}.{other}" for other in VENDORS if other != vendor)
    for module in (name for name in MODULES if name.startswith(f"{PACKAGE}.{vendor}")):
        assert not {name for name in imports_of(module, runtime_only=False) if name.startswith(others)}, module


def test_no_module_imports_a_private_name_of_another() -> None:
    private = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                private += [f"{module}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert private == []

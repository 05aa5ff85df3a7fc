"""A package's import graph read from its source with ``ast``, for the structure tests of the provider and
the emulator.

Imports inside functions count. Imports under ``if TYPE_CHECKING:`` do not: they are never executed (a
contract and its implementation may name each other there for annotations only).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package whose directory is ``root``, by dotted name."""

    def name(path: Path) -> str:
        parts = path.relative_to(root.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    return {name(path): path for path in sorted(root.rglob("*.py"))}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's runtime imports of the package's modules."""
    return {module: imports_of(modules, module) for module in modules}


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node``, function bodies included, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if is_type_checking_block(child):
            assert isinstance(child, ast.If)
            for orelse in child.orelse:
                yield orelse
                yield from runtime_nodes(orelse)
            continue
        yield child
        yield from runtime_nodes(child)


def _resolve(modules: dict[str, Path], importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = modules[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(modules: dict[str, Path], module: str, *, runtime_only: bool = True) -> set[str]:
    """The package's modules that ``module`` imports (``from pkg import submodule`` names the submodule)."""
    tree = ast.parse(modules[module].read_text(encoding="utf-8"))
    nodes = runtime_nodes(tree) if runtime_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(modules, module, node)
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules and name != module}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
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

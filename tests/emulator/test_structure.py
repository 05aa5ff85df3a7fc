"""The emulator's import graph: acyclic, and the core knows no vendor (read from the source with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cloudflows_emulator
from tests.import_graph import find_cycle, import_graph, imports_of, package_modules, runtime_nodes

PACKAGE = "cloudflows_emulator"
MODULES = package_modules(Path(cloudflows_emulator.__file__).parent)
VENDORS = ("tencent", "alibaba", "huawei")


def test_the_graph_reader_sees_imports_inside_functions_and_skips_type_checking_blocks() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import cloudflows_emulator.server\n"
        "def f():\n    from cloudflows_emulator.core import faults\n"
    )
    tree = ast.parse(source)
    imported = {
        f"{node.module}.{alias.name}"
        for node in runtime_nodes(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    direct = {alias.name for node in runtime_nodes(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "cloudflows_emulator.core.faults" in imported
    assert "cloudflows_emulator.server" not in direct


def test_the_cycle_finder_reports_afind_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_emulator_import_graph_has_nofind_cycle() -> None:
    assert find_cycle(import_graph(MODULES)) is None


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name.startswith(f"{PACKAGE}.core")))
def test_the_core_imports_only_the_core(module: str) -> None:
    outside = {
        name
        for name in imports_of(MODULES, module, runtime_only=False)
        if name != f"{PACKAGE}.core" and not name.startswith(f"{PACKAGE}.core.")
    }
    assert outside == set(), f"{module} imports {sorted(outside)}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_vendor_package_imports_no_other_vendor(vendor: str) -> None:
    others = tuple(f"{PACKAGE}.{other}" for other in VENDORS if other != vendor)
    for module in (name for name in MODULES if name.startswith(f"{PACKAGE}.{vendor}")):
        assert not {name for name in imports_of(MODULES, module, runtime_only=False) if name.startswith(others)}, module


def test_no_module_imports_a_private_name_of_another() -> None:
    private = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                private += [f"{module}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert private == []

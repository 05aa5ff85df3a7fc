"""The provider wheel holds only the provider (no emulator, no pytest plugin); neither wheel imports an
undeclared distribution.

Built the way a user's installer builds them (``uv build``, else ``pip wheel``) from this checkout, then read as
zips: what a ``pip install`` brings is exactly these files and their declared dependencies.
"""

from __future__ import annotations

import ast
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
DECLARED = {"airflow", "httpx", "httpcore", "tenacity", "asgiref"}


def _builder() -> list[str]:
    for candidate in (shutil.which("uv"), os.path.expanduser("~/.local/bin/uv")):
        if candidate and os.access(candidate, os.X_OK):
            return [candidate, "build", "-q", "--wheel", "--out-dir"]
    return [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w"]


def _build(source: pathlib.Path, out: pathlib.Path) -> zipfile.ZipFile:
    subprocess.run([*_builder(), str(out), str(source)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("*.whl")
    return zipfile.ZipFile(built)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return _build(ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def emulator_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return _build(ROOT / "emulator", tmp_path_factory.mktemp("emulator_wheel"))


def _metadata(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


def test_the_wheel_holds_only_the_provider_package(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"airflow_provider_cloudflows"}
    assert not [n for n in wheel.namelist() if "emulator" in n]


def test_the_wheel_registers_the_airflow_provider_and_no_pytest_plugin(wheel: zipfile.ZipFile) -> None:
    entry_points = _metadata(wheel, "entry_points.txt")
    groups = re.findall(r"^\[(.+)\]$", entry_points, re.MULTILINE)
    assert groups == ["apache_airflow_provider"]


def _requirements(wheel: zipfile.ZipFile, *, extras: bool) -> set[str]:
    return {
        re.split(r"[<>=!~; \[]", line.removeprefix("Requires-Dist: "))[0].lower()
        for line in _metadata(wheel, "METADATA").splitlines()
        if line.startswith("Requires-Dist: ") and (extras or "extra ==" not in line)
    }


def test_the_wheel_requires_only_airflow_httpx_and_tenacity_and_what_they_bring(wheel: zipfile.ZipFile) -> None:
    assert _requirements(wheel, extras=False) == {"apache-airflow", "httpx", "httpcore", "tenacity", "asgiref"}


def _required_imports(tree: ast.AST) -> set[str]:
    """Top-level names of the modules a source imports, except inside ``try: ... except ImportError``."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in {"ImportError", "ModuleNotFoundError"} for h in node.handlers
        ):
            optional.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_module_of_the_wheel_imports_only_declared_distributions(wheel: zipfile.ZipFile) -> None:
    undeclared: dict[str, set[str]] = {}
    for name in wheel.namelist():
        if name.endswith(".py"):
            imported = _required_imports(ast.parse(wheel.read(name)))
            extra = imported - DECLARED - set(sys.stdlib_module_names) - {"airflow_provider_cloudflows"}
            if extra:
                undeclared[name] = extra
    assert undeclared == {}


# The import names of the distributions the emulator may declare.
IMPORT_NAMES = {
    "airflow-provider-cloudflows": {"airflow_provider_cloudflows"},
    "apache-airflow": {"airflow"},
    "starlette": {"starlette"},
    "uvicorn": {"uvicorn"},
    "httpx": {"httpx"},
    "pytest": {"pytest", "_pytest"},
}


def test_the_emulator_wheel_is_its_own_package_importing_only_what_it_declares(
    emulator_wheel: zipfile.ZipFile,
) -> None:
    tops = {name.split("/")[0] for name in emulator_wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"cloudflows_emulator"}
    entry_points = [n for n in emulator_wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert all("pytest11" not in emulator_wheel.read(n).decode() for n in entry_points)  # fixtures are opt-in
    declared = set().union(*(IMPORT_NAMES[r] for r in _requirements(emulator_wheel, extras=True)))
    undeclared: dict[str, set[str]] = {}
    for name in emulator_wheel.namelist():
        if name.endswith(".py"):
            imported = _required_imports(ast.parse(emulator_wheel.read(name)))
            extra = imported - declared - set(sys.stdlib_module_names) - {"cloudflows_emulator"}
            if extra:
                undeclared[name] = extra
    assert undeclared == {}


def test_the_airflow_31_form_widgets_need_no_wtforms_where_no_form_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cloudflows import compat

    assert compat.connection_form_widgets("tencentcloud")  # WTForms installed (test extra): the form's fields
    monkeypatch.setitem(sys.modules, "wtforms", None)  # an import of wtforms now raises ImportError
    assert compat.connection_form_widgets("tencentcloud") == {}

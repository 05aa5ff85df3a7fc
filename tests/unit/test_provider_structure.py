"""The provider's import graph: acyclic, and each layer imports only the layers below it.

signing -> transport -> services -> actions -> hooks -> triggers -> wait_engine -> sensors, operators. Sensors
and operators are one layer (the sensors show the operators' console links); modules at the package's top
(errors, status, credentials, compat...) are shared by every layer and not ranked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import airflow_provider_cloudflows
from tests.import_graph import find_cycle, import_graph, imports_of, package_modules

PACKAGE = "airflow_provider_cloudflows"
MODULES = package_modules(Path(airflow_provider_cloudflows.__file__).parent)
RANK = {
    "signing": 0,
    "transport": 1,
    "services": 2,
    "actions": 3,
    "hooks": 4,
    "triggers": 5,
    "wait_engine": 6,
    "sensors": 7,
    "operators": 7,
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def test_the_provider_import_graph_has_no_cycle() -> None:
    assert find_cycle(import_graph(MODULES)) is None


@pytest.mark.parametrize("module", sorted(name for name in MODULES if _layer(name)))
def test_a_layer_imports_no_layer_above_it(module: str) -> None:
    layer = _layer(module)
    assert layer is not None
    above = {
        name
        for name in imports_of(MODULES, module, runtime_only=False)
        if (other := _layer(name)) is not None and RANK[other] > RANK[layer]
    }
    assert above == set(), f"{module} ({layer}) imports {sorted(above)}"


def test_the_layer_reader_sees_imports_across_layers() -> None:
    assert _layer(f"{PACKAGE}.triggers.run") == "triggers"
    assert RANK["wait_engine"] > RANK["triggers"]
    upward = {n for n in imports_of(MODULES, f"{PACKAGE}.sensors.base") if _layer(n) in {"hooks", "triggers"}}
    assert upward  # the sensors do import lower layers: the reader sees cross-layer imports at all

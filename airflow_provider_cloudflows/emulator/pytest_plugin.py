"""pytest fixtures serving the cloud emulator (registered as the ``cloudflows_emulator`` pytest11 plugin).

- ``cloud_emulator_server`` (session): one :class:`EmulatorServer` on a free loopback port.
- ``cloud_emulator`` (function): its :class:`CloudEmulator`, fully reset (settings too) before each test.
- ``cloud_emulator_connections`` (function): ``AIRFLOW_CONN_*`` variables set (via monkeypatch) so that
  the ``tencentcloud_default``, ``alibabacloud_default`` and ``huaweicloud_default`` connections point at
  the emulator; returns the variables.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_cloudflows.emulator.core import CloudEmulator
    from airflow_provider_cloudflows.emulator.server import EmulatorServer

__all__ = ["cloud_emulator", "cloud_emulator_connections", "cloud_emulator_server"]


def import_provider_modules() -> None:
    """Import every module of the provider now, in the calling thread.

    pytest rewrites the asserts of every module of a distribution that ships a pytest11 plugin (this one), so
    each first import of a provider module runs ``ast.parse``. CPython 3.11 keeps the AST converter's recursion
    counter per interpreter, not per thread: a first import in one thread while another thread parses (the
    emulator's server thread, hypothesis describing a strategy) can fail with "SystemError: AST constructor
    recursion depth mismatch" (seen under pytest-xdist). With everything imported before any server thread
    starts, later imports are cache hits.
    """
    import airflow_provider_cloudflows

    for module in pkgutil.walk_packages(airflow_provider_cloudflows.__path__, "airflow_provider_cloudflows."):
        importlib.import_module(module.name)


@pytest.fixture(scope="session")
def cloud_emulator_server() -> Iterator[EmulatorServer]:
    """One emulator server for the whole test session."""
    # Imported here, not at plugin load, so that merely having the plugin installed costs nothing at pytest
    # start-up.
    import_provider_modules()
    from airflow_provider_cloudflows.emulator.server import EmulatorServer

    with EmulatorServer() as server:
        yield server


@pytest.fixture
def cloud_emulator(cloud_emulator_server: EmulatorServer) -> CloudEmulator:
    """The session server's emulator, reset (executions, faults, log, credentials, limits) for this test."""
    emulator = cloud_emulator_server.emulator
    emulator.reset(settings=True)
    return emulator


@pytest.fixture
def cloud_emulator_connections(
    cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point the default Airflow connections of every vendor at the emulator for this test."""
    env = cloud_emulator.airflow_connections(cloud_emulator_server.url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env

"""pytest fixtures serving the cloud emulator (opt-in: ``pytest_plugins = ["cloudflows_emulator.pytest_plugin"]``).

- ``cloud_emulator_server`` (session): one :class:`EmulatorServer` on a free loopback port.
- ``cloud_emulator`` (function): its :class:`CloudEmulator`, fully reset (settings too) before each test.
- ``cloud_emulator_connections`` (function): ``AIRFLOW_CONN_*`` variables set (via monkeypatch) so that
  the ``tencentcloud_default``, ``alibabacloud_default`` and ``huaweicloud_default`` connections point at
  the emulator; returns the variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cloudflows_emulator import CloudEmulator
    from cloudflows_emulator.server import EmulatorServer

__all__ = ["cloud_emulator", "cloud_emulator_connections", "cloud_emulator_server"]


@pytest.fixture(scope="session")
def cloud_emulator_server() -> Iterator[EmulatorServer]:
    """One emulator server for the whole test session."""
    # Imported here, not at plugin load: a session that uses no emulator fixture never starts the server stack.
    from cloudflows_emulator.server import EmulatorServer

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

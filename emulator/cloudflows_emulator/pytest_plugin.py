"""pytest fixtures serving the cloud emulator (opt-in: ``pytest_plugins = ["cloudflows_emulator.pytest_plugin"]``).

- ``cloud_emulator_server`` (session): one :class:`EmulatorServer` on a free loopback port.
- ``cloud_emulator`` (function): its :class:`CloudEmulator`, fully reset (settings too) before each test.
- ``cloud_emulator_connections`` (function): ``AIRFLOW_CONN_*`` variables set (via monkeypatch) so that
  the ``tencentcloud_default``, ``alibabacloud_default`` and ``huaweicloud_default`` connections point at
  the emulator; returns the variables.
- ``airflow_db`` (session): a migrated metadata DB in the session's isolated Airflow home, for
  :func:`cloudflows_emulator.testing.dag_test`.

At configuration (after ``conftest.py`` is loaded, before any test module is imported) the plugin gives the
process an isolated Airflow home (:func:`cloudflows_emulator.testing.isolate_airflow_home`), unless Airflow
is already imported; ``airflow_db`` then refuses to migrate a home nobody chose for the tests.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from cloudflows_emulator.testing import isolate_airflow_home, isolated_airflow_home, migrate_airflow_db

if TYPE_CHECKING:
    from cloudflows_emulator.cloud import CloudEmulator
    from cloudflows_emulator.server import EmulatorServer

__all__ = ["airflow_db", "cloud_emulator", "cloud_emulator_connections", "cloud_emulator_server"]


def pytest_configure(config: pytest.Config) -> None:
    """Isolate the Airflow home while no Airflow module is imported yet (each xdist worker its own)."""
    if "airflow" not in sys.modules:
        isolate_airflow_home()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata DB in this session's Airflow home (``dag.test()`` needs one; seconds, once)."""
    if isolated_airflow_home() is None and "AIRFLOW_HOME" not in os.environ:
        pytest.fail(
            "Airflow was imported before cloudflows_emulator.pytest_plugin could isolate its home, and "
            "AIRFLOW_HOME is not set: refusing to migrate the default home. Call "
            "cloudflows_emulator.testing.isolate_airflow_home() at the top of conftest.py, before it imports "
            "Airflow, or set AIRFLOW_HOME there.",
            pytrace=False,
        )
    migrate_airflow_db()


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

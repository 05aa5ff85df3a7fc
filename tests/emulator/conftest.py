"""Fixtures for the emulator tests."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from airflow_provider_cloudflows.emulator import CloudEmulator, EmulatorServer, pytest_plugin

# An installed package registers the fixtures through its pytest11 entry point. Without the install (a bare
# checkout on sys.path), re-export them here: a non-root conftest may not declare pytest_plugins, and
# re-exporting unconditionally would start a second session server beside the plugin's.
if not any(ep.name == "cloudflows_emulator" for ep in entry_points(group="pytest11")):
    cloud_emulator_server = pytest_plugin.cloud_emulator_server
    cloud_emulator = pytest_plugin.cloud_emulator
    cloud_emulator_connections = pytest_plugin.cloud_emulator_connections


@pytest.fixture
def server(cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator) -> EmulatorServer:
    """The session server, with its emulator reset for this test."""
    return cloud_emulator_server

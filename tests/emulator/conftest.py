"""Fixtures for the emulator tests."""

from __future__ import annotations

import pytest

from cloudflows_emulator import CloudEmulator, EmulatorServer


@pytest.fixture
def server(cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator) -> EmulatorServer:
    """The session server, with its emulator reset for this test."""
    return cloud_emulator_server

"""pytest fixtures serving the cloud emulator (registered as the ``cloudflows_emulator`` pytest11 plugin).

- ``cloud_emulator_server`` (session): one :class:`EmulatorServer` on a free loopback port.
- ``cloud_emulator`` (function): its :class:`CloudEmulator`, fully reset (settings too) before each test.
- ``cloud_emulator_connections`` (function): ``AIRFLOW_CONN_*`` variables set (via monkeypatch) so that
  the ``tencentcloud_default``, ``alibabacloud_default`` and ``huaweicloud_default`` connections point at
  the emulator; returns the variables.
"""

from __future__ import annotations

import ast
import functools
import gc
import importlib
import pkgutil
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cloudflows_emulator.cloud import CloudEmulator
    from cloudflows_emulator.server import EmulatorServer

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


_AST_PARSE_LOCK = threading.RLock()


def serialize_ast_parse() -> None:
    """Make ``ast.parse`` safe against CPython 3.11's shared AST recursion counter (before 3.13; idempotent).

    Besides this provider, pytest rewrites every module of ``anyio`` and ``hypothesis`` (they ship pytest11
    plugins too) on their first, often lazy, import, and it parses source again to format a failure. CPython
    3.11 keeps the AST converter's recursion counter per interpreter (gh-106905): a parse fails with "AST
    constructor recursion depth mismatch" when another parse runs inside it — in another thread (the
    emulator's server thread imports anyio's backend lazily), or in the same thread when a garbage collection
    in the converter finalizes a coroutine and the traceback it reports is formatted (3.11 parses the source
    line to place the carets). Both need Python code to run inside the converter, which only a collection
    makes happen: each parse runs with the collector paused, one thread at a time. Parsing is rare after
    start-up, so it costs nothing measurable.
    """
    if sys.version_info >= (3, 13) or getattr(ast.parse, "_cloudflows_serialized", False):
        return
    parse: Callable[..., Any] = ast.parse

    @functools.wraps(parse)
    def serialized_parse(*args: Any, **kwargs: Any) -> Any:
        with _AST_PARSE_LOCK:
            collecting = gc.isenabled()
            gc.disable()
            try:
                return parse(*args, **kwargs)
            finally:
                if collecting:
                    gc.enable()

    serialized_parse._cloudflows_serialized = True  # type: ignore[attr-defined]
    ast.parse = serialized_parse


@pytest.fixture(scope="session")
def cloud_emulator_server() -> Iterator[EmulatorServer]:
    """One emulator server for the whole test session."""
    # Imported here, not at plugin load, so that merely having the plugin installed costs nothing at pytest
    # start-up.
    serialize_ast_parse()
    import_provider_modules()
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

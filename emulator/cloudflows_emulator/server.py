"""Run a :class:`CloudEmulator` as a loopback HTTP server (uvicorn in a daemon thread)."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from cloudflows_emulator.cloud import CloudEmulator
from cloudflows_emulator.core.app import create_app
from cloudflows_emulator.core.responses import dropping_connection

__all__ = ["EmulatorServer"]

_STARTUP_TIMEOUT = 10.0
_INCOMPLETE_RESPONSE = "ASGI callable returned without completing response."

KEEP_ALIVE_SECONDS = 75


class _DropFaultFilter(logging.Filter):
    """Silence uvicorn's error for a reply a ``drop`` fault cuts short on purpose, and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage() == _INCOMPLETE_RESPONSE and dropping_connection.get())


_FILTER = _DropFaultFilter()


class EmulatorServer:
    """Serve ``emulator`` (a new default one if None) on ``host``:``port`` (0: a free port).

    Only loopback addresses are accepted: the emulator accepts well-known credentials and must never be
    reachable from another machine. Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, emulator: CloudEmulator | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator if emulator is not None else CloudEmulator()
        self.host = _loopback_address(host)
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (once started)."""
        if self._socket is None:
            raise RuntimeError("EmulatorServer is not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """``host:port``, the form SDK endpoint settings take."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def airflow_connections(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` values pointing every vendor at this server; see ``CloudEmulator``."""
        return self.emulator.airflow_connections(self.url)

    def start(self) -> EmulatorServer:
        """Bind, start serving in a daemon thread and return once requests are accepted."""
        if self._thread is not None:
            raise RuntimeError("EmulatorServer is already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        # Binding ourselves gives the port before uvicorn runs, and port 0 a free one without races.
        self._socket = sock
        config = uvicorn.Config(
            create_app(self.emulator),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Long polls in flight would otherwise hold a shutdown for up to a minute.
            timeout_graceful_shutdown=1,
            # Idle connections kept longer than clients keep theirs (httpx: 5 s), as vendors' gateways do
            # (60 s and more): at uvicorn's default of 5 s a client could reuse a connection in the instant
            # the server closed it, and a write would fail with an outcome it cannot know.
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        logging.getLogger("uvicorn.error").addFilter(_FILTER)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="cloudflows-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the cloudflows emulator server failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None
        self._socket = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _loopback_address(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"EmulatorServer: {host!r} is not an IP address; use 127.0.0.1 or ::1") from exc
    if not address.is_loopback:
        raise ValueError(f"EmulatorServer: refusing to listen on {host}; the emulator binds loopback only")
    return str(address)

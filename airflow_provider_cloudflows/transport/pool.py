"""Process-wide httpx clients: one per event loop for async callers, one per process for sync callers.

A triggerer runs every trigger on one event loop, so all triggers share one ``AsyncClient`` and its
keep-alive connection pools (httpx keeps a pool per origin inside a client). No client is built per poll,
and the number of clients is bounded by the number of live event loops, so none leaks.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=30.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)


class ClientPool:
    """Hands out shared httpx clients and counts how many it ever built (tests and benchmarks read it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._async: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}
        self._sync: httpx.Client | None = None
        self.clients_built = 0

    def async_client(self) -> httpx.AsyncClient:
        """The shared client of the running event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            # An AsyncClient is bound to the loop it first ran on; forget those of loops that are gone.
            for key in [k for k, (lp, _) in self._async.items() if lp.is_closed()]:
                del self._async[key]
            entry = self._async.get(id(loop))
            if entry is None or entry[0] is not loop or entry[1].is_closed:
                client = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS)
                self._async[id(loop)] = (loop, client)
                self.clients_built += 1
                return client
            return entry[1]

    def sync_client(self) -> httpx.Client:
        """The shared client for synchronous callers (poke mode, hooks)."""
        with self._lock:
            if self._sync is None or self._sync.is_closed:
                self._sync = httpx.Client(timeout=DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS)
                self.clients_built += 1
            return self._sync


POOL = ClientPool()


class _RedactQueryFilter(logging.Filter):
    """httpx logs every request URL at INFO; RPC-style query strings hold signatures and STS tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.copy_with(query=None) if isinstance(arg, httpx.URL) and arg.query else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactQueryFilter())

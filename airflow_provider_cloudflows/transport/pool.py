"""Process-wide httpx clients: two per event loop for async callers, one per process for sync callers.

A triggerer runs every trigger on one event loop. Per loop there are two shared ``AsyncClient`` objects,
each with its own connection pool (httpx keeps one pool per client, split by origin inside it):

- **short polls** (``async_client``): every ordinary request. Such a request holds its connection for
  milliseconds (tens of them in production), so ``SHORT_POLL_CONNECTIONS`` (16) connections serve thousands
  of waits: at 100 ms per request that is 160 requests a second, far above the documented rate limits.
- **long polls** (``long_poll_client``): requests the server may hold open (CloudFlow ``DescribeExecution``
  with ``WaitTimeSeconds`` > 0, i.e. a request with a ``read_timeout`` override). Over HTTP/1.1 every
  long poll in flight owns a connection for up to a minute, so sharing a pool with short polls lets ~100
  long polls starve every other trigger (``PoolTimeout`` failures across every service). In their own pool
  they can never take a short poll's connection. ``LONG_POLL_LIMITS`` allows 1,000
  connections: a trigger holds at most one long poll at a time and 1,000 is the triggerer's default
  ``[triggerer] capacity``, so a triggerer at its default capacity never waits for one. Beyond that (a larger
  configured capacity), a long poll queues for a connection within its wait's deadline rather than letting
  the process run out of file descriptors; it is not unbounded for that reason.

Each client comes with a **gate** (an ``asyncio.Semaphore`` of its connection count) that a request passes
before it reaches httpx, so httpx's own pool never holds a queue. httpcore re-scans its whole pool for every
queued request and, for every idle connection, counts the idle connections again (O(connections²) per
request, with a socket poll per idle connection), which collapses the event loop once hundreds of requests
queue there. The gate queues in FIFO order at O(1), and the pool is small enough that its per-request scan
stays cheap.

Keep-alive equals the connection limit in both pools: an idle kept-alive connection costs one socket, while
closing connections above a small keep-alive cap after every burst of concurrent polls and reopening them on
the next one (a TCP, and in production TLS, handshake each) costs far more than the sockets. Idle
connections still expire after ``KEEPALIVE_EXPIRY`` (5 s, httpx's default), so the pool shrinks back to the
concurrency in use: httpcore checks every idle connection (a socket poll each, and the quadratic idle count
above) on every request, so connections kept long after a start-up burst would tax every later poll.

Waiting at the gate (for a free connection) is bounded per attempt by ``POOL_WAIT`` and by the wait's
deadline (see ``client.py``); a pool timeout is transient and is retried without using up an attempt.

The clients keep **no cookies**: one client serves every account and vendor of the process, so a cookie one
answer set would ride along on another account's requests; none of the five APIs sets one. It also spares
every reply a trip through ``http.cookiejar`` (a urllib request and response built per reply).

The sync client bounds every socket operation by the **deadline** of the request its thread is making
(``SYNC_DEADLINE``, set by ``CloudClient.call``): each connect, TLS handshake, write and read gets the phase
timeout or the time left, whichever is less, so a trickled answer (a byte just before every read timeout) is
cut at the deadline rather than at the next byte. httpcore fixes a response's read timeout once, when it
starts reading; this backend re-checks it before every read. It costs one context variable lookup per read
and no thread. Async callers are bounded by ``asyncio.timeout`` instead (see ``client.py``).

No client is built per poll, and the number of clients is bounded by twice the number of live event loops,
so none leaks. ``clients_built`` counts every client ever built (tests and benchmarks read it).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore import SOCKET_OPTION, NetworkBackend, NetworkStream

# How long one attempt waits for a free connection before it is retried (never past the deadline).
POOL_WAIT = 30.0
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=POOL_WAIT)
KEEPALIVE_EXPIRY = 5.0
SHORT_POLL_CONNECTIONS = 16
LONG_POLL_CONNECTIONS = 1000
SHORT_POLL_LIMITS = httpx.Limits(
    max_connections=SHORT_POLL_CONNECTIONS,
    max_keepalive_connections=SHORT_POLL_CONNECTIONS,
    keepalive_expiry=KEEPALIVE_EXPIRY,
)
LONG_POLL_LIMITS = httpx.Limits(
    max_connections=LONG_POLL_CONNECTIONS,
    max_keepalive_connections=LONG_POLL_CONNECTIONS,
    keepalive_expiry=KEEPALIVE_EXPIRY,
)
# Kept for callers of the old name: the limits of the short-poll (and sync) clients.
DEFAULT_LIMITS = SHORT_POLL_LIMITS


class _NoCookies(httpx.Cookies):
    """A cookie store that stores nothing: replies' cookies are dropped, so requests never carry one."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


_NO_COOKIES = _NoCookies()


class _Cookieless:
    """Mixed into an httpx client: its cookie store is ``_NO_COOKIES`` and cannot be replaced."""

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        pass  # nothing is kept


class CookielessAsyncClient(_Cookieless, httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that never keeps or sends cookies (see the module docstring)."""


class CookielessClient(_Cookieless, httpx.Client):
    """An ``httpx.Client`` that never keeps or sends cookies (see the module docstring)."""


# The deadline (epoch seconds) of the synchronous request the current thread is making; None: unbounded.
SYNC_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("cloudflows_sync_deadline", default=None)


def _bounded_timeout(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` capped by the time left before ``SYNC_DEADLINE``; ``expired`` raised when none is left."""
    deadline = SYNC_DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.time()
    if left <= 0:
        raise expired("the deadline has passed")
    return left if timeout is None or left < timeout else timeout


class _DeadlineStream(NetworkStream):
    """A network stream whose every write and read ends by ``SYNC_DEADLINE``."""

    def __init__(self, stream: NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded_timeout(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded_timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> NetworkStream:
        bounded = _bounded_timeout(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(NetworkBackend):
    """httpcore's network backend with every connection's operations bounded by ``SYNC_DEADLINE``."""

    def __init__(self, backend: NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> NetworkStream:
        bounded = _bounded_timeout(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SOCKET_OPTION] | None = None
    ) -> NetworkStream:
        bounded = _bounded_timeout(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _bound_by_deadline(client: httpx.Client) -> httpx.Client:
    """Install ``_DeadlineBackend`` in every connection pool of ``client`` (its own and any proxy's).

    httpx offers no public way to pass a network backend; a changed internal layout fails loudly here (and
    in tests/integration/transport/test_sync_deadline.py) rather than leaving the deadline unbounded.
    """
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    for transport in transports:
        core = getattr(transport, "_pool", None)
        if not isinstance(core, httpcore.ConnectionPool) or not hasattr(core, "_network_backend"):
            raise RuntimeError(f"cannot bound {type(transport).__name__} by the deadline: unknown httpx layout")
        if not isinstance(core._network_backend, _DeadlineBackend):
            core._network_backend = _DeadlineBackend(core._network_backend)
    return client


class ClientPool:
    """Hands out shared httpx clients and counts how many it ever built (tests and benchmarks read it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (loop id, long poll?) -> (loop, client, gate)
        self._async: dict[tuple[int, bool], tuple[asyncio.AbstractEventLoop, httpx.AsyncClient, asyncio.Semaphore]] = {}
        self._sync: httpx.Client | None = None
        self.clients_built = 0

    def async_client(self) -> httpx.AsyncClient:
        """The running event loop's shared client for ordinary (short) requests."""
        return self.async_lane(long_poll=False)[0]

    def long_poll_client(self) -> httpx.AsyncClient:
        """The running event loop's shared client for long polls, a pool of its own."""
        return self.async_lane(long_poll=True)[0]

    def async_lane(self, *, long_poll: bool) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The running loop's client for short (or long) polls and the gate a request passes before using it."""
        loop = asyncio.get_running_loop()
        key = (id(loop), long_poll)
        entry = self._async.get(key)
        # The lock-free fast path of every request: this loop's client exists and is open.
        if entry is not None and entry[0] is loop and not entry[1].is_closed:
            return entry[1], entry[2]
        with self._lock:
            # An AsyncClient is bound to the loop it first ran on; forget those of loops that are gone.
            for stale in [k for k, (lp, _, _) in self._async.items() if lp.is_closed()]:
                del self._async[stale]
            entry = self._async.get(key)
            if entry is None or entry[0] is not loop or entry[1].is_closed:
                # Read at build time (not import time), so a test can shrink a pool with monkeypatch.
                limits = LONG_POLL_LIMITS if long_poll else SHORT_POLL_LIMITS
                client = CookielessAsyncClient(timeout=DEFAULT_TIMEOUT, limits=limits)
                gate = asyncio.Semaphore(limits.max_connections or SHORT_POLL_CONNECTIONS)
                entry = self._async[key] = (loop, client, gate)
                self.clients_built += 1
            return entry[1], entry[2]

    def sync_client(self) -> httpx.Client:
        """The shared client for synchronous callers (poke mode, hooks); poke mode never long-polls."""
        with self._lock:
            if self._sync is None or self._sync.is_closed:
                client = CookielessClient(timeout=DEFAULT_TIMEOUT, limits=SHORT_POLL_LIMITS)
                self._sync = _bound_by_deadline(client)
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


class _RedactResponseHeadersFilter(logging.Filter):
    """httpcore's DEBUG trace prints each response's headers, where Huawei IAM answers a subject token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("receive_response_headers.complete"):
            record.msg, record.args = "receive_response_headers.complete (headers not logged)", ()
        return True


# Filters of a logger do not see its children's records: each httpcore protocol logger gets its own.
for _name in ("httpcore.http11", "httpcore.http2"):
    logging.getLogger(_name).addFilter(_RedactResponseHeadersFilter())

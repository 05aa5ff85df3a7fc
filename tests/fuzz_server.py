"""A programmable loopback HTTP server for hostile-answer tests: it serves canned replies, byte for byte.

The emulator speaks the vendors' protocols correctly; these tests need the opposite — any status, any headers,
any body the network can deliver (empty, not JSON, nested 3,000 deep, 5 MiB long, a wrong content length) —
and they need it over a real socket, so that every answer goes through the real transport (httpx, the pooled
clients, the body cap, the vendor parsers). Signatures are not verified.

One server runs in a background thread with its own event loop and is reused across thousands of examples:
``program(*replies)`` sets what the next requests get (the n-th request gets ``replies[n]``, the last reply
repeats), ``requests`` records what arrived.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, seed, settings

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.transport.alibaba import AlibabaApi, AlibabaCall
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.huawei import HuaweiApi, HuaweiCall
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from airflow_provider_cloudflows.transport.tencent import TencentApi, TencentCall

# CI: a fixed seed (derandomized) and this many examples; CLOUDFLOWS_FUZZ_SEED=<int> replays one seed,
# CLOUDFLOWS_FUZZ_SEED=random searches anew.
FUZZ_EXAMPLES = int(os.environ.get("CLOUDFLOWS_FUZZ_EXAMPLES", "2000"))
_SEED = os.environ.get("CLOUDFLOWS_FUZZ_SEED", "")


def fuzz_settings(max_examples: int) -> settings:
    """The hypothesis settings of the hostile-answer property tests."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=not _SEED,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def seeded(test: Any) -> Any:
    """Apply ``CLOUDFLOWS_FUZZ_SEED`` when it names one seed."""
    if _SEED and _SEED != "random":
        return seed(int(_SEED))(test)
    return test


_REASONS = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """One canned HTTP answer.

    ``padding`` streams that many spaces before ``body`` (a huge body without building it in the test);
    ``declared_length`` lies about Content-Length (a body cut short); ``close`` ends the connection after it.
    """

    status: int = 200
    body: bytes = b""
    headers: Sequence[tuple[str, str]] = ()
    padding: int = 0
    declared_length: int | None = None
    close: bool = False
    delay: float = 0.0


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class LoopbackServer:
    """Serves :class:`Reply` objects on 127.0.0.1 from a thread of its own."""

    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: list[Reply] = [Reply(500, b"no program")]
        self._served = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fuzz-server", daemon=True)
        self._thread.start()
        self._started.wait(10)

    @property
    def url(self) -> str:
        """The base URL (an endpoint template for the vendor APIs)."""
        return f"http://{self.host}:{self.port}"

    def program(self, *replies: Reply) -> None:
        """The replies for the next requests; the last one repeats. Clears the request log."""
        with self._lock:
            self._replies = list(replies) or [Reply(500, b"no program")]
            self._served = 0
            self.requests = []

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            reply = self._replies[min(self._served, len(self._replies) - 1)]
            self._served += 1
            return reply

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.host, self.port))
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    def close(self) -> None:
        """Stop the loop (the thread is a daemon; this is for tidiness)."""
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                reply = self._next(Seen(method, target, headers, body))
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                await self._write(writer, reply)
                if reply.close or reply.status in (204, 304) or reply.declared_length is not None:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            # A handler still open when its loop stops ends at garbage collection, once the loop is closed:
            # its transport went with the loop.
            if not self._loop.is_closed():
                writer.close()

    async def _write(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        no_body = reply.status in (204, 304)
        size = 0 if no_body else reply.padding + len(reply.body)
        length = reply.declared_length if reply.declared_length is not None else size
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Whatever')}"]
        names = {name.lower() for name, _ in reply.headers}
        head += [f"{name}: {value}" for name, value in reply.headers]
        if "content-type" not in names:
            head.append("Content-Type: application/json")
        if not no_body:
            head.append(f"Content-Length: {length}")
        if reply.close or no_body or reply.declared_length is not None:
            # The server closes after these (see _handle): said, so that no client sends its next request
            # into a connection being closed (a keep-alive race a loaded machine turns into a ReadError).
            head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not no_body:
            left = reply.padding
            while left > 0:
                writer.write(b" " * min(CHUNK, left))
                left -= CHUNK
                await writer.drain()
            writer.write(reply.body)
        await writer.drain()


class _NoLimit:
    """Mixin: the fuzz server has no rate limit, and Batch's documented 3/s would make 2,000 examples take 11 min."""

    def rate_limit(self, call: Any) -> tuple[str, float | None]:
        return "fuzz", None


class FuzzTencentApi(_NoLimit, TencentApi):  # type: ignore[misc]
    """Tencent's real protocol, unthrottled."""


class FuzzAlibabaApi(_NoLimit, AlibabaApi):  # type: ignore[misc]
    """Alibaba's real protocol, unthrottled."""


class FuzzHuaweiApi(_NoLimit, HuaweiApi):  # type: ignore[misc]
    """Huawei's real protocol, unthrottled."""


SECRET = "fuzz/Secret+Key=="
TOKEN = "fuzz-token/with+plus"


def client_for(vendor: str, server: LoopbackServer, *, max_attempts: int = 1) -> CloudClient[Any]:
    """A real client of ``vendor`` pointing at ``server`` (fast retries; ``max_attempts=1``: no retries)."""
    credentials = Credentials("AKIDfuzz", SECRET, TOKEN)
    policy = RetryPolicy(max_attempts=max_attempts, initial_backoff=0.01, max_backoff=0.05, max_retry_after=0.05)
    api: Any
    if vendor == "tencentcloud":
        api = FuzzTencentApi(credentials, region="ap-guangzhou", endpoint=server.url)
    elif vendor == "alibabacloud":
        api = FuzzAlibabaApi(credentials, region="cn-hangzhou", endpoint=server.url)
    else:
        api = FuzzHuaweiApi(credentials, region="cn-north-4", endpoint=server.url, project_id="p1")
    return CloudClient(api, policy)


__all__ = ["AlibabaCall", "HuaweiCall", "LoopbackServer", "Reply", "TencentCall", "client_for"]

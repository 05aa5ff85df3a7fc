"""The replies of transport-level faults: what a broken network or gateway looks like to a client.

They are the same for every vendor, below its protocol, so the core owns them; the handler pipeline picks
one by the fault's kind.
"""

from __future__ import annotations

import asyncio
import contextvars

from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from cloudflows_emulator.core.faults import TRICKLE_CHUNK, Fault, FaultKind

__all__ = [
    "HANG_LIMIT",
    "DropConnection",
    "HangResponse",
    "ResetResponse",
    "TrickleResponse",
    "dropping_connection",
    "transport_fault_reply",
]

# A "hang" fault gives up on a client that never goes away after this long (answering 504).
HANG_LIMIT = 600.0

# Set while a "drop" fault answers, so the server's log filter can silence uvicorn's complaint about the
# response we cut short on purpose (the contextvar is visible to uvicorn code running after the app returns
# in the same task).
dropping_connection: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "cloudflows_emulator_dropping", default=False
)


class DropConnection(Response):
    """Starts a reply announcing more body than it sends, then ends: the client sees the connection die.

    Clients report it as a broken reply (httpx raises ``RemoteProtocolError``), the way a reset connection
    or a crashed proxy looks in production.
    """

    def __init__(self, partial: bytes = b'{"Response": {"RequestId": "') -> None:
        super().__init__(content=partial, status_code=200, media_type="application/json")
        self.partial = partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the start of a reply and stop before its announced end."""
        dropping_connection.set(True)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.partial) + 4096).encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # more_body=True and then returning: the server must close the connection, having promised more.
        await send({"type": "http.response.body", "body": self.partial, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone away (the request body was already read by the handler)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class HangResponse(Response):
    """Never answers: the request was read, no status line follows. Ends when the client goes away (or, if
    it never does, answers 504 after ``limit`` seconds so the server's task does not live forever)."""

    def __init__(self, limit: float = HANG_LIMIT) -> None:
        super().__init__(status_code=0)
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wait for the client to disconnect."""
        try:
            await asyncio.wait_for(_disconnected(receive), self.limit)
        except asyncio.TimeoutError:
            await PlainTextResponse("504 Gateway Timeout (hang fault of the cloudflows emulator)", 504)(
                scope, receive, send
            )


class TrickleResponse(Response):
    """``answer`` sent ``chunk`` bytes at a time, ``interval`` seconds apart, with its full Content-Length:
    a body that keeps arriving, so no per-read timeout ever fires. Stops when the client goes away."""

    def __init__(self, answer: Response, *, interval: float, chunk: int = TRICKLE_CHUNK) -> None:
        super().__init__(content=answer.body, status_code=answer.status_code)
        self.raw_headers = answer.raw_headers
        self.interval = interval
        self.chunk = chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the status line and headers at once, then the body slowly."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            for start in range(0, len(self.body), self.chunk):
                await send(
                    {"type": "http.response.body", "body": self.body[start : start + self.chunk], "more_body": True}
                )
                done, _ = await asyncio.wait({gone}, timeout=self.interval)
                if done:
                    return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()


class ResetResponse(Response):
    """``answer``'s status line, headers and the first half of its body, then the connection closes: a reset
    in the middle of a real answer (clients see a broken reply, e.g. httpx ``RemoteProtocolError``)."""

    def __init__(self, answer: Response) -> None:
        super().__init__(content=answer.body, status_code=answer.status_code)
        self.raw_headers = answer.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Promise the whole body, send half of it and stop."""
        dropping_connection.set(True)
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        half = self.body[: max(1, len(self.body) // 2)]
        await send({"type": "http.response.body", "body": half, "more_body": True})


def transport_fault_reply(fault: Fault, request_id: str) -> Response | None:
    """The reply of a fault below the vendor protocol (the same whoever the vendor is); None for the
    kinds a vendor answers in its own envelope or that spoil the real answer."""
    if fault.kind is FaultKind.SERVER_ERROR:
        return PlainTextResponse("503 Service Unavailable (injected by the cloudflows emulator)", 503)
    if fault.kind is FaultKind.MALFORMED:
        truncated = f'{{"RequestId": "{request_id}", "Sta'.encode()
        return Response(truncated, 200, media_type="application/json")
    if fault.kind is FaultKind.DROP:
        return DropConnection()
    if fault.kind is FaultKind.HANG:
        return HangResponse()
    return None

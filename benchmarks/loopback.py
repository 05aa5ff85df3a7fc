"""A minimal, fast HTTP/1.1 keep-alive server for the benchmarks (not the emulator: no signature checks).

It answers every request with one fixed Tencent Cloud API 3.0 envelope, a CynosDB ``DescribeFlow`` answer
``{"Response": {"Status": 2, "RequestId": ...}}`` (a flow still processing), so a client pays only for its
own side of the exchange. ``GET /_stats`` answers ``{"connections", "requests"}`` (connections accepted and
requests answered since start or the last ``POST /_reset``); those two requests are not counted.

Run: ``python benchmarks/loopback.py [--port 0]``; prints ``port <n>`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

BODY = b'{"Response":{"Status":2,"RequestId":"0b1c2d3e-bench-4f5a-8b9c-loopback00001"}}'
REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class Stats:
    """Counters shared by every connection."""

    connections = 0
    requests = 0


class _Http(asyncio.Protocol):
    """Parses just enough HTTP/1.1: the header block, then ``content-length`` bytes of body."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        Stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(self._answer(head.split(b" ", 2)))

    @staticmethod
    def _answer(request_line: list[bytes]) -> bytes:
        path = request_line[1] if len(request_line) > 1 else b"/"
        if path == b"/_stats":
            body = json.dumps({"connections": Stats.connections, "requests": Stats.requests}).encode()
            return b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        if path == b"/_reset":
            Stats.connections = 1 if Stats.connections else 0  # the control connection itself stays open
            Stats.requests = 0
            return b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
        Stats.requests += 1
        return REPLY


async def serve(port: int) -> None:
    """Listen on 127.0.0.1:``port`` until killed."""
    server = await asyncio.get_running_loop().create_server(_Http, "127.0.0.1", port, backlog=4096)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()

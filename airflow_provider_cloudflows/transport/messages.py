"""The vendor-neutral shapes that cross the transport boundary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpRequest:
    """A fully signed HTTP request, ready to send exactly as it is."""

    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes = b""
    # Long polling needs a read timeout longer than the server-side wait; None keeps the client default.
    read_timeout: float | None = None


@dataclass(frozen=True)
class ApiResponse:
    """A successful API reply: the decoded body and the vendor's request id."""

    body: Mapping[str, Any]
    request_id: str | None
    http_status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)

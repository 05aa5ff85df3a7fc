"""Instance metadata services: unsigned HTTP on the instance's link-local address, one protocol for all.

Apart from the identity sources (:mod:`.identity`) that use it: the sources decide which key to trust,
this module only asks the metadata service and types its answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    NotFoundError,
    ServerError,
    ThrottledError,
    UnexpectedStatusError,
)
from airflow_provider_cloudflows.transport import credential_checks as checks
from airflow_provider_cloudflows.transport.decoding import decode_json_object
from airflow_provider_cloudflows.transport.endpoints import check_metadata_endpoint
from airflow_provider_cloudflows.transport.identity import MAX_TOKEN_FILE
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest
from airflow_provider_cloudflows.transport.vendor_api import VendorApi


@dataclass(frozen=True)
class MetadataCall:
    """One request to an instance metadata service: ``text`` answers are plain text (a role name, a token)."""

    method: str
    path: str
    name: str
    # May carry a metadata session token: kept out of repr.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    text: bool = False


class MetadataApi(VendorApi[MetadataCall]):
    """An instance metadata service: unsigned HTTP on the instance's link-local address (or the
    ``metadata_endpoint`` extra). Subclasses name the vendor."""

    vendor: ClassVar[str]

    def __init__(self, *, endpoint: str) -> None:
        super().__init__(None, region="", endpoint=check_metadata_endpoint(endpoint))

    def check_endpoint(self, endpoint: str, region: str) -> None:
        """Plain http to the metadata address is how every vendor serves it (see ``check_metadata_endpoint``)."""

    def prepare(self, call: MetadataCall, now: float) -> HttpRequest:
        """The path under the endpoint, with the call's own headers only."""
        return HttpRequest(call.method, self.endpoint + call.path, dict(call.headers))

    def parse(self, call: MetadataCall, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """200: the JSON object (or ``{"text": ...}``); 404 no such role; 401/403 refused; else typed."""
        what = self.describe(call)
        if status == 200:
            if call.text:
                try:
                    text = body.decode("ascii").strip()
                except UnicodeDecodeError:
                    text = ""
                if not text or not text.isprintable() or len(text) > MAX_TOKEN_FILE:
                    raise checks.unreadable_credentials(self.vendor, what, "answered no printable text")
                return ApiResponse({"text": text}, None, status)
            return ApiResponse(decode_json_object(body, vendor=self.vendor, what=what), None, status)
        cls: type[CloudApiError] = (
            NotFoundError
            if status == 404
            else AuthError
            if status in (401, 403)
            else ThrottledError
            if status == 429
            else ServerError
            if status >= 500
            else UnexpectedStatusError
        )
        snippet = body[:200].decode("utf-8", "replace").strip()
        raise cls(
            f"{what} answered HTTP {status}" + (f": {snippet}" if snippet and status < 500 else ""),
            vendor=self.vendor,
            code=f"HTTP{status}",
            http_status=status,
        )

    def describe(self, call: MetadataCall) -> str:
        """E.g. ``metadata:security-credentials``."""
        return f"metadata:{call.name}"

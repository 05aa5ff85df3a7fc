"""What the vendors' instance metadata services share, as one :class:`VendorHandler` base.

The CVM and ECS metadata services speak no vendor API protocol: unsigned plain HTTP, a fixed method per path,
text or JSON bodies, plain-text error pages. :class:`MetadataHandler` answers that way once; a vendor's
handler declares its paths (``claims`` / ``identify``), the method of each action and the wording of its
error pages (:class:`MetadataWording`), and overrides ``authenticate`` / ``decode_params`` only where its
service checks a token or reads a header. The wording is declared, not shared, because each vendor's pages
say it in their own words and clients (and tests) see them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.responses import JSONResponse, PlainTextResponse, Response

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.faults import Fault
from cloudflows_emulator.core.handler import ApiCall, ApiError, Operation, VendorHandler

__all__ = ["MetadataHandler", "MetadataWording", "route_role"]


@dataclass(frozen=True)
class MetadataWording:
    """The codes and messages of one metadata service's error pages.

    ``page`` formats an error's body from its ``status`` and ``message``.
    """

    throttled_code: str = "Throttled"
    throttled: str = "Too Many Requests"
    internal_error: str = "Internal Server Error"
    invalid: str = "Bad Request (injected by the emulator)"
    wrong_method: str = "Method Not Allowed"
    page: str = "{status} {message}"


class MetadataHandler(VendorHandler):
    """An instance metadata service: unsigned, one method per action, ``{"text": ...}`` answered as text.

    Subclasses implement ``claims`` and ``identify`` and declare ``methods`` (action to HTTP method, GET for
    the actions not named) and ``wording``.
    """

    methods: ClassVar[Mapping[str, str]] = {}
    wording: ClassVar[MetadataWording] = MetadataWording()

    def method_allowed(self, call: ApiCall) -> bool:
        """Whether the request uses the method its action is served under."""
        return call.request.method == self.methods.get(call.action or "", "GET")

    def wrong_method(self) -> ApiError:
        """HTTP 405."""
        return ApiError("MethodNotAllowed", self.wording.wrong_method, 405)

    def select_operation(self, call: ApiCall) -> Operation:
        """The identified action's operation, under its method only."""
        if not self.method_allowed(call):
            raise self.wrong_method()
        return self.find_operations(service=call.service, action=call.action)[0]

    def authenticate(self, call: ApiCall, emulator: Emulator) -> None:
        """Nothing signed: only the instance reaches its metadata service."""

    def decode_params(self, call: ApiCall) -> None:
        """No parameters."""

    def render_success(self, call: ApiCall, payload: dict[str, Any]) -> Response:
        """Text for a ``{"text": ...}`` answer (a token, a role name), JSON for the rest (credentials)."""
        if "text" in payload:
            return PlainTextResponse(payload["text"])
        return JSONResponse(payload)

    def render_error(self, call: ApiCall, error: ApiError) -> Response:
        """A plain-text error page under the error's status."""
        status = error.status or 400
        return PlainTextResponse(self.wording.page.format(status=status, message=error.message), status_code=status)

    def throttled(self, call: ApiCall, fault: Fault | None) -> ApiError:
        """HTTP 429."""
        return ApiError(self.wording.throttled_code, self.wording.throttled, 429)

    def internal_error(self, call: ApiCall) -> ApiError:
        """HTTP 500."""
        return ApiError("InternalError", self.wording.internal_error, 500)

    def invalid(self, call: ApiCall) -> ApiError:
        """HTTP 400."""
        return ApiError("BadRequest", self.wording.invalid, 400)


def route_role(call: ApiCall, role_path: str) -> bool:
    """Route the role listing at ``role_path`` (action ``role-name``) and one role's credentials, the role
    named by the last path segment (``role-credentials``, the role in ``call.extra["role"]``), as CVM and
    ECS lay them out; False for any other path."""
    path = call.request.url.path
    if path == role_path:
        call.action = "role-name"
        return True
    role = path[len(role_path) :]
    if path.startswith(role_path) and "/" not in role:
        call.action = "role-credentials"
        call.extra["role"] = role
        return True
    return False

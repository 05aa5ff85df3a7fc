"""The contract between the vendor-neutral emulator and one vendor's wire protocol.

A vendor module subclasses :class:`VendorHandler` (how requests are recognised, authenticated and answered)
and each emulated API is an :class:`Operation` grouped in an :class:`EmulatedService` (how the control API
addresses its executions, which builders it offers). :meth:`VendorHandler.handle` runs the shared pipeline:
identify, inject faults, find the operation, authenticate, rate-limit, run, render, log.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_cloudflows.credentials import Credentials
from cloudflows_emulator.core.executions import Execution, ExecutionKey
from cloudflows_emulator.core.faults import Fault, FaultKind, signature_skew
from cloudflows_emulator.core.request_log import RequestRecord
from cloudflows_emulator.core.responses import ResetResponse, TrickleResponse, transport_fault_reply

if TYPE_CHECKING:
    from cloudflows_emulator.core.emulator import Emulator

__all__ = [
    "ApiCall",
    "ApiError",
    "ConnectionSpec",
    "EmulatedService",
    "Operation",
    "VendorHandler",
]


class ApiError(Exception):
    """A vendor error answer: ``code`` and ``message`` in the vendor envelope, with an HTTP ``status``.

    ``status`` None lets the vendor pick its usual status (Tencent answers every error with 200).
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.headers = dict(headers or {})


@dataclass
class ApiCall:
    """One vendor API request as it moves through the pipeline; handlers fill the fields they learn."""

    vendor: str
    request: Request
    body: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    service: str | None = None
    action: str | None = None
    version: str | None = None
    key_id: str | None = None
    # Business parameters, as decoded by the vendor handler (JSON object, query parameters, ...).
    params: dict[str, Any] = field(default_factory=dict)
    # Set by the operation once it knows which execution is addressed, for the request log.
    key: ExecutionKey | None = None
    # Vendor-private data parsed during identification (e.g. the Authorization header), reused later.
    extra: dict[str, Any] = field(default_factory=dict)


OperationFunc = Callable[[ApiCall, "Emulator"], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Operation:
    """One emulated API: where it is (service, action, version) and what it does; its quota is in limits.py.

    ``run`` returns the vendor-native success fields (the handler adds the envelope and request id) or
    raises :class:`ApiError`.
    """

    service: str
    action: str
    version: str
    run: OperationFunc

    @property
    def quota_name(self) -> str:
        """The API's name in the quota table (:mod:`airflow_provider_cloudflows.limits`): its action."""
        return self.action


@dataclass(frozen=True)
class EmulatedService:
    """One product's emulated APIs plus what the control API needs to script its executions.

    ``execution_keys`` turns control-API key fields (e.g. ``{"JobId": ..., "TaskName": ...}``) into the
    execution's primary key and aliases, raising ``ValueError`` when fields are missing. ``builders`` are
    the convenience constructors (by name) callable through the control API with JSON arguments.
    """

    vendor: str
    service: str
    operations: tuple[Operation, ...]
    execution_keys: Callable[[Mapping[str, Any]], list[ExecutionKey]]
    builders: Mapping[str, Callable[..., Execution]] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionSpec:
    """The Airflow connection a vendor's users configure; the emulator adds ``endpoint`` to ``extra``."""

    conn_id: str
    conn_type: str
    extra: Mapping[str, str] = field(default_factory=dict)


class VendorHandler(ABC):
    """One vendor's wire protocol: recognise its requests, authenticate them and answer in its envelopes.

    Subclasses set ``vendor``, ``default_credentials`` and ``connection`` and implement the abstract
    methods; the shared :meth:`handle` pipeline does the rest. Operations come from the ``services`` passed
    to the constructor, so adding an API to a vendor means adding a :class:`EmulatedService`.
    """

    vendor: ClassVar[str]
    default_credentials: ClassVar[tuple[Credentials, ...]] = ()
    connection: ClassVar[ConnectionSpec | None] = None

    def __init__(self, services: Sequence[EmulatedService] = ()) -> None:
        self.services: tuple[EmulatedService, ...] = tuple(services)
        for spec in self.services:
            if spec.vendor != self.vendor:
                raise ValueError(f"service {spec.service!r} belongs to {spec.vendor!r}, not {self.vendor!r}")

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Every operation of every service of this vendor."""
        return tuple(op for spec in self.services for op in spec.operations)

    def find_operations(self, *, service: str | None = None, action: str | None = None) -> list[Operation]:
        """Operations matching ``service`` and/or ``action`` (None: any)."""
        return [
            op
            for op in self.operations
            if (service is None or op.service == service) and (action is None or op.action == action)
        ]

    # --- to implement per vendor ------------------------------------------------------------------------

    @abstractmethod
    def claims(self, request: Request) -> bool:
        """Whether ``request`` speaks this vendor's protocol (checked in handler order)."""

    @abstractmethod
    def identify(self, call: ApiCall) -> None:
        """Fill ``call.service`` / ``action`` / ``version`` / ``key_id``; raise ApiError if unroutable."""

    @abstractmethod
    def select_operation(self, call: ApiCall) -> Operation:
        """The operation ``call`` addresses; raise the vendor's unknown-action / bad-version ApiError."""

    @abstractmethod
    def authenticate(self, call: ApiCall, emulator: Emulator) -> None:
        """Verify the request signature, clock skew, nonce and token; raise ApiError on failure."""

    @abstractmethod
    def decode_params(self, call: ApiCall) -> None:
        """Fill ``call.params`` with the business parameters; raise ApiError if they cannot be decoded."""

    @abstractmethod
    def render_success(self, call: ApiCall, payload: dict[str, Any]) -> Response:
        """Wrap an operation's fields in the vendor's success envelope."""

    @abstractmethod
    def render_error(self, call: ApiCall, error: ApiError) -> Response:
        """Render an ApiError in the vendor's error envelope."""

    @abstractmethod
    def throttled(self, call: ApiCall, fault: Fault | None) -> ApiError:
        """The vendor's throttling error (``fault`` is set when injected rather than rate-limited)."""

    @abstractmethod
    def internal_error(self, call: ApiCall) -> ApiError:
        """The vendor's generic internal server error."""

    def nonce_reused(self, call: ApiCall) -> ApiError | None:
        """The vendor's "signature nonce already used" error; None when its signatures carry no nonce."""
        return None

    @abstractmethod
    def invalid(self, call: ApiCall) -> ApiError:
        """The vendor's invalid-parameter error (the request was refused, nothing applied)."""

    # --- shared pipeline --------------------------------------------------------------------------------

    async def handle(self, request: Request, emulator: Emulator) -> Response:
        """Answer one request: the same pipeline for every vendor, then log it."""
        # Taken first: a long poll is answered up to a minute later, but it was *sent* now.
        received = emulator.wall_clock()
        call = ApiCall(vendor=self.vendor, request=request, body=await request.body())
        fault: Fault | None = None
        error: str | None = None
        try:
            unidentified: ApiError | None = None
            try:
                self.identify(call)
            except ApiError as exc:
                # Faults model the network and the gateway, which strike before any protocol check.
                unidentified = exc
            fault = emulator.consume_fault(call.service, call.action)
            if fault is not None:
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
                transport_reply = transport_fault_reply(fault, call.request_id)
                if transport_reply is not None:
                    self._log(emulator, call, transport_reply.status_code, None, fault, received)
                    return transport_reply
                if fault.kind is FaultKind.THROTTLE:
                    raise self.throttled(call, fault)
                if fault.kind is FaultKind.INTERNAL_ERROR:
                    raise self.internal_error(call)
                if fault.kind is FaultKind.NONCE_REUSE and (reused := self.nonce_reused(call)) is not None:
                    raise reused
            if unidentified is not None:
                raise unidentified
            operation = self.select_operation(call)
            # A skewed server clock: each vendor's own timestamp rule then rejects the signature.
            skew = fault.skew if fault is not None and fault.kind is FaultKind.CLOCK_SKEW else 0.0
            token = signature_skew.set(skew)
            try:
                self.authenticate(call, emulator)
            finally:
                signature_skew.reset(token)
            if not emulator.admit(operation.service, operation.action, emulator.account_of(self.vendor, call.key_id)):
                raise self.throttled(call, None)
            if fault is not None and fault.kind is FaultKind.INVALID:
                raise self.invalid(call)
            self.decode_params(call)
            response = self.render_success(call, await operation.run(call, emulator))
        except ApiError as exc:
            error = exc.code
            response = self.render_error(call, exc)
        self._log(emulator, call, response.status_code, error, fault, received)
        # Faults that spoil the delivery of the real answer, whatever it is.
        if fault is not None and fault.kind is FaultKind.TRICKLE:
            return TrickleResponse(response, interval=fault.interval)
        if fault is not None and fault.kind is FaultKind.RESET:
            return ResetResponse(response)
        return response

    def _log(
        self,
        emulator: Emulator,
        call: ApiCall,
        status: int,
        error: str | None,
        fault: Fault | None,
        received: float,
    ) -> None:
        emulator.record(
            RequestRecord(
                vendor=self.vendor,
                service=call.service,
                action=call.action,
                key=call.key,
                status=status,
                error=error,
                time=emulator.wall_clock(),
                fault=None if fault is None else fault.kind.value,
                key_id=call.key_id,
                received=received,
            )
        )

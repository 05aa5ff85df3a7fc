"""Sans-IO start and cancel specs: what a write call asks and how its answer is read, like a service spec.

A start spec is a generator that yields calls and receives their responses, and returns :class:`Started`
(the identifiers of the execution it started, ready for the wait). A cancel spec does the same and returns
:class:`Cancelled`. Neither does I/O, so one spec drives the worker (sync), the trigger's ``on_kill``
(async) and the tests.

Write calls are yielded wrapped in :class:`Write`, which says whether repeating the call is safe: only a call
carrying an idempotency token (Tencent ``ClientToken``, Alibaba ``ExecutionName``) or a call that is
idempotent by nature (terminating a job twice terminates it once) may be retried after an ambiguous failure
(a 5xx, a timeout, a dropped connection). Any other write is retried only when the error proves the call
was not applied (throttled at the gateway). See :mod:`airflow_provider_cloudflows.actions.driver`.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_provider_cloudflows.errors import WriteOutcomeUnknown
from airflow_provider_cloudflows.transport.decoding import text_field
from airflow_provider_cloudflows.transport.messages import ApiResponse


@dataclass(frozen=True)
class Write:
    """A mutating call, with whether it may be sent again after an ambiguous failure."""

    call: Any
    idempotent: bool


@dataclass(frozen=True)
class Started:
    """The execution a start call created (or found again through its idempotency token).

    ``identifiers`` are the wait's identifiers (they go to the trigger and the XCom); ``output`` holds the
    JSON-safe fields of the start reply worth returning to the DAG (``FlowId``, ``TraceId``, ``JobId``...).
    """

    identifiers: Mapping[str, Any]
    request_id: str | None = None
    output: Mapping[str, Any] = field(default_factory=dict)
    # The wait that watches it, when the reply decides (a DWS restore answering a job_id waits on the job
    # API, one without waits on the RESTORING action); None: the spec's ``service``.
    service: str | None = None
    # Options of that wait (e.g. the DWS wait's ``memory`` seeded with the moment before the write).
    wait_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cancelled:
    """The outcome of one cancel attempt.

    ``accepted``: the vendor took the cancel (or the execution had already ended: nothing left to stop).
    When not accepted, ``retry_after`` says the cancel may be accepted later (Batch refuses ``TerminateJob``
    while a job is SUBMITTED) and ``reason`` why it was refused.
    """

    accepted: bool
    reason: str | None = None
    request_id: str | None = None
    retry_after: float | None = None


Action = Generator[Any, ApiResponse, Any]


class StartSpec(abc.ABC):
    """One vendor write that starts a long-running execution, and the wait that watches it."""

    name: ClassVar[str]
    vendor: ClassVar[str]
    # The service spec (services registry name) that waits on what this call starts.
    service: ClassVar[str]
    # The registered cancel spec for what this starts, if the vendor has a cancel API.
    cancel: ClassVar[str | None] = None
    # Whether the call takes an idempotency token (then the operator derives one from the task instance).
    takes_client_token: ClassVar[bool] = False
    # How long the vendor honours a token (seconds; None: no documented expiry). A later try sends an
    # unanswered start again under the same token only within this window.
    client_token_ttl: ClassVar[float | None] = None
    # The request itself names the execution (CloudFlow's ExecutionName, the same on every try): sending it
    # again can never start a second one, whatever an earlier try's outcome.
    idempotent_by_name: ClassVar[bool] = False

    @abc.abstractmethod
    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """Yield the write call(s); return :class:`Started`."""


class CancelSpec(abc.ABC):
    """One vendor call that stops a running execution, addressed by the wait's identifiers."""

    name: ClassVar[str]
    vendor: ClassVar[str]

    @abc.abstractmethod
    def cancel(self, identifiers: Mapping[str, Any]) -> Action:
        """Yield the cancel call(s); return :class:`Cancelled`."""


def outcome_unknown(
    what: str, field: str, value: Any, request_id: str | None, *, vendor: str, expected: str, check: str
) -> WriteOutcomeUnknown:
    """The error of a write answered with a 2xx whose ``field`` is not what the vendor documents.

    ``expected`` describes the documented value, ``check`` what to look at in the console.
    """
    shown = "nothing" if value is None else f"{text_field(value, 80)} ({type(value).__name__})"
    return WriteOutcomeUnknown(
        f"{what} answered {field}={shown}, not {expected}: the write may have been applied, but the answer does "
        f"not say what it started; {check} before retrying the task",
        call=what,
        field=field,
        vendor=vendor,
        code="UndocumentedAnswer",
        request_id=request_id,
    )


# Tencent documents ClientToken as at most 64 ASCII characters.
CLIENT_TOKEN_MAX = 64


def client_token(dag_id: str, task_id: str, run_id: str, map_index: int, try_number: int) -> str:
    """A deterministic idempotency token of one logical start of one task instance.

    ``try_number`` is that of the try that decided to start: a later try whose record shows this start
    unanswered sends it again under the same token (the vendor returns the execution it started, if it
    did), and only a try that knows the previous execution ended and starts anew mints a new one. Hashed:
    run ids can be long and non-ASCII.
    """
    digest = hashlib.sha256(f"{dag_id}\x00{task_id}\x00{run_id}\x00{map_index}".encode()).hexdigest()
    token = f"airflow-{digest[:40]}-try{try_number}"
    return token[:CLIENT_TOKEN_MAX]

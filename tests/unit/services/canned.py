"""Drive a sans-IO spec generator with canned answers, in memory: no client, no HTTP, no clock.

A spec's check yields the calls it needs and reads the answers sent back (or the typed errors thrown in), so
a table of answers pins its decision rule exactly; the transport's own tests cover how answers are read off
the wire.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.transport.messages import ApiResponse

ResultT = TypeVar("ResultT")
# What the transport hands a spec for one call: an answer, or the typed error it raised.
Answer = ApiResponse | CloudApiError


@dataclass(frozen=True)
class Replay(Generic[ResultT]):
    """What a generator returned, and every call it asked for, in order."""

    result: ResultT
    calls: list[Any]


def replay(gen: Generator[Any, ApiResponse, ResultT], answers: Sequence[Answer]) -> Replay[ResultT]:
    """Answer each call ``gen`` yields with the next of ``answers`` (an error is thrown in), to its result.

    A call beyond the answers, or an answer left over, fails the test: the table states exactly the calls
    the rule makes. An error the generator does not handle propagates to the caller.
    """
    left = list(answers)
    calls: list[Any] = []
    try:
        call = next(gen)
        while True:
            calls.append(call)
            assert left, f"call {len(calls)} ({call}) has no canned answer"
            answer = left.pop(0)
            call = gen.throw(answer) if isinstance(answer, CloudApiError) else gen.send(answer)
    except StopIteration as stop:
        assert not left, f"{len(left)} canned answers left unread after {len(calls)} calls"
        result: ResultT = stop.value
        return Replay(result, calls)


def ok(body: dict[str, Any], *, request_id: str = "req-canned", http_status: int = 200) -> ApiResponse:
    """An answer the transport accepted."""
    return ApiResponse(body=body, request_id=request_id, http_status=http_status)

"""Drives a spec's sans-IO check generator with a real client, sync or async."""

from __future__ import annotations

from typing import Any

from airflow_provider_cloudflows.services.base import Check, Snapshot
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.messages import ApiResponse


def run_check(check: Check, client: CloudClient[Any], *, deadline: float | None = None) -> Snapshot:
    """Run one check synchronously (poke mode)."""
    try:
        call = next(check)
        while True:
            try:
                response: ApiResponse = client.call(call, deadline=deadline)
            except Exception as exc:
                call = check.throw(exc)
            else:
                call = check.send(response)
    except StopIteration as stop:
        result: Snapshot = stop.value
        return result


async def arun_check(check: Check, client: CloudClient[Any], *, deadline: float | None = None) -> Snapshot:
    """Run one check on the event loop (trigger)."""
    try:
        call = next(check)
        while True:
            try:
                response: ApiResponse = await client.acall(call, deadline=deadline)
            except Exception as exc:
                call = check.throw(exc)
            else:
                call = check.send(response)
    except StopIteration as stop:
        result: Snapshot = stop.value
        return result

"""Shared reply decoding: JSON bodies that must be objects, or a typed malformed-reply error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.errors import MalformedResponseError


def decode_json_object(body: bytes, *, vendor: str, what: str, request_id: str | None = None) -> Mapping[str, Any]:
    """Decode ``body`` as a JSON object; anything else is a :class:`MalformedResponseError`."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedResponseError(
            f"{what} returned a body that is not JSON ({exc.__class__.__name__} at byte {getattr(exc, 'pos', '?')}, "
            f"{len(body)} bytes)",
            vendor=vendor,
            request_id=request_id,
        ) from None
    if not isinstance(data, Mapping):
        raise MalformedResponseError(
            f"{what} returned JSON {type(data).__name__}, expected an object",
            vendor=vendor,
            request_id=request_id,
        )
    return data

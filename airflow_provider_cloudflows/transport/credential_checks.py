"""Identity answers made credentials: only when every field is exactly what the vendor documents.

A key that is not a printable string, or an expiry that is not a documented timestamp in the future, is an
:class:`UnreadableAnswerError` naming the field (never its value), never a key the next call would sign with.
Shared by the identity sources and the metadata services, which both read such answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.errors import UnreadableAnswerError
from airflow_provider_cloudflows.transport.messages import ApiResponse


def unreadable_credentials(
    vendor: str, what: str, problem: str, answer: ApiResponse | None = None
) -> UnreadableAnswerError:
    """The error of an identity answer (``what``, e.g. ``sts:AssumeRole``) that holds no usable key: ``problem``
    names the field, never its value."""
    return UnreadableAnswerError(
        f"{what} {problem}",
        vendor=vendor,
        code="UnreadableCredentials",
        request_id=None if answer is None else answer.request_id,
        http_status=None if answer is None else answer.http_status,
    )


def expiry_from_iso(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 UTC timestamp as the vendors write expiries (``2026-12-06T10:00:00Z``,
    fractions allowed); None when it is anything else."""
    if not isinstance(value, str) or not value.endswith("Z") or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value[:-1])
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        return None
    return parsed.replace(tzinfo=timezone.utc).timestamp()


def checked_credentials(
    fields: Mapping[str, Any],
    *,
    names: tuple[str, str, str],
    expires_at: float | None,
    expiry_field: str,
    now: float,
    vendor: str,
    what: str,
    answer: ApiResponse | None = None,
) -> Credentials:
    """Credentials from ``fields[names]`` (key id, secret, token), each a printable string, expiring at
    ``expires_at`` (already parsed from ``expiry_field``), which must lie in the future."""
    values = []
    for name in names:
        value = fields.get(name)
        if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
            problem = f"has no usable {name!r} (a non-empty printable string)"
            raise unreadable_credentials(vendor, what, problem, answer)
        values.append(value)
    if expires_at is None:
        problem = f"has no {expiry_field!r} timestamp of the documented form"
        raise unreadable_credentials(vendor, what, problem, answer)
    if expires_at <= now:
        problem = f"answered credentials whose {expiry_field!r} has already passed"
        raise unreadable_credentials(vendor, what, problem, answer)
    key_id, secret, token = values
    return Credentials(key_id, secret, token, expires_at=expires_at)

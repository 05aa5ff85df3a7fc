"""Endpoint templates: ``{service}`` / ``{region}`` substitution and the https-or-loopback rule."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_endpoint(template: str, *, service: str = "", region: str = "") -> str:
    """Fill an endpoint template and check it; returns the base URL without a trailing slash.

    Plain ``http://`` is allowed only for loopback hosts (the local emulator): anything else would send
    signed requests, and with temporary credentials the token, in clear text.
    """
    if "{region}" in template and not region:
        raise ValueError(f"endpoint {template!r} needs a region, but neither the connection nor the task set one")
    try:
        url = template.format(service=service, region=region)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"endpoint {template!r} has an unknown placeholder {exc}; only {{service}} and {{region}} exist"
        ) from None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"endpoint {url!r} must be an absolute https:// URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"endpoint {url!r} uses plain http:// for a non-loopback host; use https:// "
            "(http:// is only accepted for 127.0.0.1/localhost, e.g. the local emulator)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"endpoint {url!r} must not contain a query or fragment")
    return url.rstrip("/")

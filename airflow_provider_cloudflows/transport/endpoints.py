"""Endpoint templates: ``{service}`` / ``{region}`` substitution and the https-or-loopback rule."""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import urlsplit

from airflow_provider_cloudflows.config_errors import ConfigurationError

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# Every region id of the three clouds: lower-case letters, digits and dashes (ap-guangzhou, eu-west-101).
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def check_path_segment(name: str, value: str) -> None:
    """Refuse a value that would change the URL path it is put into, naming the parameter.

    ``/``, ``..``, ``?``, ``#``, ``%`` or a backslash would address another resource than the one named.
    """
    if value in (".", "..") or any(c in value for c in "/\\?#%") or not value.isprintable() or " " in value:
        raise ConfigurationError(
            name, f"{value[:80]!r} cannot be part of a URL path (no /, \\, ?, #, %, spaces or '..')"
        )


def check_region(region: str | None, *, source: str = "region") -> str:
    """A region id, or a :class:`ConfigurationError` naming ``source``; every API this provider calls is regional."""
    if region is None or not str(region).strip():
        raise ConfigurationError(
            source, "is empty; set the connection's region extra or the task's region (every API here is regional)"
        )
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        shown = region if isinstance(region, str) and len(region) <= 40 and region.isprintable() else "<garbled>"
        raise ConfigurationError(source, f"{shown!r} is not a region id (like ap-guangzhou, cn-hangzhou, cn-north-4)")
    return region


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Instance metadata services answer plain http on the instance's link-local address (documented per vendor).
_METADATA_HOSTS = frozenset({"metadata.tencentyun.com", "100.100.100.200", "169.254.169.254"})


def check_metadata_endpoint(url: str, *, setting: str = "metadata_endpoint") -> str:
    """A metadata service's base URL: http:// is allowed for the vendors' metadata hosts, link-local
    addresses and loopback (the emulator), https:// anywhere; no path, query or user information."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(setting, f"{str(url)[:80]!r} must be an absolute http:// or https:// URL")
    host = parts.hostname
    try:
        link_local = ipaddress.ip_address(host.strip("[]")).is_link_local
    except ValueError:
        link_local = False
    if parts.scheme == "http" and not (host in _METADATA_HOSTS or link_local or _is_loopback(host)):
        raise ConfigurationError(
            setting, f"{url!r}: plain http:// only reaches the instance's metadata address or loopback"
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ConfigurationError(setting, "must be a base URL without user information, query or fragment")
    if parts.path not in ("", "/") or not url.isascii() or not url.isprintable() or " " in url:
        raise ConfigurationError(setting, f"{url!r} must be a printable base URL without a path")
    return url.rstrip("/")


def resolve_endpoint(template: str, *, service: str = "", region: str = "") -> str:
    """Fill an endpoint template and check it; returns the base URL without a trailing slash.

    Plain ``http://`` is allowed only for loopback hosts (the local emulator): anything else would send
    signed requests, and with temporary credentials the token, in clear text.
    """
    return endpoint_and_host(template, service=service, region=region)[0]


def endpoint_and_host(template: str, *, service: str = "", region: str = "") -> tuple[str, str]:
    """:func:`resolve_endpoint` and the URL's ``host[:port]`` (the signed ``Host``), checked once per template.

    Every request of every wait resolves its endpoint, from the same few templates, so the answers are
    cached (a bad template raises each time: errors are not cached).
    """
    if not isinstance(template, str) or not template.strip():
        raise ConfigurationError("endpoint", "is empty")
    return _checked_endpoint(template, service, region)


@functools.lru_cache(maxsize=256)
def _checked_endpoint(template: str, service: str, region: str) -> tuple[str, str]:
    if "{region}" in template and not region:
        raise ConfigurationError(
            "region", f"endpoint {template!r} needs a region, but neither the connection nor the task set one"
        )
    try:
        url = template.format(service=service, region=region)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigurationError(
            "endpoint", f"{template!r} has an unknown placeholder ({exc}); only {{service}} and {{region}} exist"
        ) from None
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # Not echoed: the user part of a URL is where a password would be.
        raise ConfigurationError("endpoint", "must not contain user information (user:password@)")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError("endpoint", f"{url!r} must be an absolute https:// URL")
    try:
        parts.port  # noqa: B018 -- parsing the port is the check: urlsplit validates it lazily
    except ValueError:
        raise ConfigurationError("endpoint", f"{url!r} has an invalid port") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            "endpoint",
            f"{url!r} uses plain http:// for a non-loopback host; use https:// "
            "(http:// is only accepted for 127.0.0.1/localhost, e.g. the local emulator)",
        )
    if parts.query or parts.fragment:
        raise ConfigurationError("endpoint", f"{url!r} must not contain a query or fragment")
    if parts.path not in ("", "/"):
        raise ConfigurationError("endpoint", f"{url!r} must be a base URL without a path (got {parts.path!r})")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise ConfigurationError("endpoint", "must be printable ASCII without spaces")
    return url.rstrip("/"), parts.netloc

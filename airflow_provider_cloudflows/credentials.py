"""Cloud credentials as one small value type that never prints its secrets."""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_cloudflows.config_errors import ConfigurationError


def check_secret_text(name: str, value: str | None) -> None:
    """Refuse a credential that would garble a signature or an HTTP header, without ever printing it.

    A trailing space or line break pasted with a key used to reach an HTTP library whose error text printed
    the raw value, retried into several log lines: refuse it here, naming the field only.
    """
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigurationError(name, f"must be a string, not {type(value).__name__}")
    if not value:
        raise ConfigurationError(name, "is empty")
    if value != value.strip():
        raise ConfigurationError(name, "has leading or trailing whitespace (a copy-paste slip?); remove it")
    if not value.isascii() or not value.isprintable():
        raise ConfigurationError(name, "must be printable ASCII: no line breaks, control or non-ASCII characters")


@dataclass(frozen=True)
class Credentials:
    """An access key pair, optionally with a temporary session token.

    ``secret`` and ``token`` are excluded from ``repr`` so that a credentials object that ends up in a log
    line or a traceback shows only the (non-secret) key id.
    """

    key_id: str
    secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_secret_text("login (access key id)", self.key_id)
        check_secret_text("password (secret key)", self.secret)
        check_secret_text("session token extra", self.token)

"""Cloud credentials as one small value type that never prints its secrets."""

from __future__ import annotations

from dataclasses import dataclass, field


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
        if not self.key_id:
            raise ValueError("credentials: the access key id (connection login) is empty")
        if not self.secret:
            raise ValueError("credentials: the secret key (connection password) is empty")

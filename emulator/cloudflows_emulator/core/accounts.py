"""Accounts and credentials: the keys each vendor accepts, the temporary keys its identity services issue,
the account whose quotas a key's requests count against, and the signature nonces already used."""

from __future__ import annotations

import enum
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from airflow_provider_cloudflows.credentials import Credentials
from cloudflows_emulator.core.limits import DEFAULT_ACCOUNT

__all__ = ["Accounts", "CredentialCheck"]


@dataclass
class _KeyEntry:
    secret: str
    # A key registered without a token is a permanent key; one registered only with tokens is a temporary
    # (STS) key and must present one of them.
    permanent: bool = False
    tokens: set[str] = field(default_factory=set)
    # Wall-clock expiry of a temporary key (None: never expires).
    expires_at: float | None = None
    # The account whose quotas the key's requests count against.
    account: str = DEFAULT_ACCOUNT


class CredentialCheck(enum.Enum):
    """Outcome of :meth:`Accounts.check`."""

    OK = "ok"
    UNKNOWN_KEY = "unknown_key"
    BAD_TOKEN = "bad_token"
    EXPIRED = "expired"


class Accounts:
    """Keys per vendor; thread-safe.

    ``vendor_names`` maps every name a vendor may be given by (its own, its Airflow connection type) to its
    canonical name; ``initial`` are the keys restored by :meth:`restore`. ``clock`` (monotonic) ages nonces;
    ``wall_clock`` (unix) stamps the expiry of issued keys.
    """

    def __init__(
        self,
        vendor_names: Mapping[str, str],
        initial: Mapping[str, Iterable[Credentials]],
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self._vendor_names = dict(vendor_names)
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.RLock()
        self._keys: dict[str, dict[str, _KeyEntry]] = {}
        self._initial = {self.vendor_name(vendor): tuple(creds) for vendor, creds in initial.items()}
        self._nonces: dict[tuple[str, str, str], float] = {}
        self._identity_lifetime: float | None = None
        self._issued: dict[str, int] = {}
        self.restore()

    def vendor_name(self, vendor: str) -> str:
        """The canonical vendor name (``tencent``) for a vendor or connection type (``tencentcloud``)."""
        try:
            return self._vendor_names[vendor]
        except KeyError:
            # Credentials stored under a name no handler reads would fail every request obscurely.
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(sorted(self._vendor_names))}") from None

    def _entry(self, vendor: str, key_id: str) -> _KeyEntry | None:
        return self._keys.get(self._vendor_names.get(vendor, vendor), {}).get(key_id)

    def add(self, vendor: str, key_id: str, secret: str, token: str | None = None, *, account: str) -> None:
        """Accept ``key_id`` / ``secret`` (with ``token``: that session token) for ``vendor``."""
        vendor = self.vendor_name(vendor)
        with self._lock:
            keys = self._keys.setdefault(vendor, {})
            entry = keys.get(key_id)
            if entry is None or entry.secret != secret or entry.account != account:
                entry = keys[key_id] = _KeyEntry(secret=secret, account=account)
            if token is None:
                entry.permanent = True
            else:
                entry.tokens.add(token)

    def issue(self, vendor: str, duration: float) -> Credentials:
        """A fresh temporary key for ``vendor``, accepted for ``duration`` seconds (or the identity lifetime
        if shorter)."""
        vendor = self.vendor_name(vendor)
        lifetime = duration if self._identity_lifetime is None else min(duration, self._identity_lifetime)
        expires_at = self._wall_clock() + lifetime
        creds = Credentials(
            f"TMP{secrets.token_hex(10).upper()}", secrets.token_urlsafe(24), secrets.token_urlsafe(48), expires_at
        )
        with self._lock:
            self._keys.setdefault(vendor, {})[creds.key_id] = _KeyEntry(
                secret=creds.secret, tokens={creds.token or ""}, expires_at=expires_at
            )
            self._issued[vendor] = self._issued.get(vendor, 0) + 1
        return creds

    def issued(self, vendor: str) -> int:
        """How many temporary keys were issued for ``vendor`` since the last clear."""
        with self._lock:
            return self._issued.get(self.vendor_name(vendor), 0)

    def set_identity_lifetime(self, seconds: float | None) -> None:
        """Cap the lifetime of issued temporary keys (None: as asked)."""
        if seconds is not None and not seconds > 0:
            raise ValueError(f"identity lifetime must be positive seconds, got {seconds!r}")
        with self._lock:
            self._identity_lifetime = seconds

    def remove(self, vendor: str, key_id: str) -> None:
        """Stop accepting ``key_id`` for ``vendor``."""
        vendor = self.vendor_name(vendor)
        with self._lock:
            self._keys.get(vendor, {}).pop(key_id, None)

    def secret_for(self, vendor: str, key_id: str) -> str | None:
        """The secret of an accepted key, or None if the key is unknown."""
        with self._lock:
            entry = self._entry(vendor, key_id)
            return None if entry is None else entry.secret

    def account_of(self, vendor: str, key_id: str | None) -> str:
        """The account a key's requests count against (the default account for an unknown or no key)."""
        with self._lock:
            entry = self._entry(vendor, key_id or "")
            return DEFAULT_ACCOUNT if entry is None else entry.account

    def check(self, vendor: str, key_id: str, token: str | None, now: float) -> CredentialCheck:
        """Whether ``key_id`` is known and ``token`` (None: none sent) acceptable for it at unix time ``now``."""
        with self._lock:
            entry = self._entry(vendor, key_id)
            if entry is None:
                return CredentialCheck.UNKNOWN_KEY
            if token is None or token == "":
                return CredentialCheck.OK if entry.permanent else CredentialCheck.BAD_TOKEN
            if token not in entry.tokens:
                return CredentialCheck.BAD_TOKEN
            if entry.expires_at is not None and now >= entry.expires_at:
                return CredentialCheck.EXPIRED
            return CredentialCheck.OK

    def permanent(self, vendor: str) -> Credentials:
        """The first permanent key accepted for ``vendor``."""
        vendor = self.vendor_name(vendor)
        with self._lock:
            for key_id, entry in self._keys.get(vendor, {}).items():
                if entry.permanent:
                    return Credentials(key_id, entry.secret)
        raise LookupError(f"no permanent credentials registered for vendor {vendor!r}")

    def use_nonce(self, vendor: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Remember a signature nonce for ``ttl`` seconds; False if it was already used within its window."""
        with self._lock:
            now = self._clock()
            for stale in [k for k, expiry in self._nonces.items() if expiry <= now]:
                del self._nonces[stale]
            slot = (vendor, key_id, nonce)
            if slot in self._nonces:
                return False
            self._nonces[slot] = now + ttl
            return True

    def clear(self) -> None:
        """Forget used nonces and the count of issued keys (the keys stay)."""
        with self._lock:
            self._nonces.clear()
            self._issued.clear()

    def restore(self) -> None:
        """Accept exactly the initial keys again, with no identity lifetime cap."""
        with self._lock:
            self._keys.clear()
            for vendor, creds in self._initial.items():
                for cred in creds:
                    self.add(vendor, cred.key_id, cred.secret, cred.token, account=DEFAULT_ACCOUNT)
            self._identity_lifetime = None

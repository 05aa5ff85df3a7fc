"""One vendor's wire protocol bound to an account: what the client asks of every vendor.

Apart from the client so that a vendor module (signing, reply format) depends only on this contract, never
on how calls are sent, retried or pooled.
"""

from __future__ import annotations

import abc
import base64
from typing import ClassVar, Generic, TypeVar
from urllib.parse import quote, quote_plus

import httpx

from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials, StaticCredentials
from airflow_provider_cloudflows.limits import Quota, quota
from airflow_provider_cloudflows.transport.endpoints import resolve_endpoint
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest

CallT = TypeVar("CallT")


class VendorApi(abc.ABC, Generic[CallT]):
    """One vendor's wire protocol bound to an account: how a call is signed and how a reply is read.

    ``prepare`` runs again for every attempt so that each retry carries a fresh timestamp and nonce. It
    signs with ``credentials``, the provider's current key, which the client makes fresh before each
    attempt; an API whose calls are unsigned (metadata, OIDC exchanges) has no provider.
    """

    vendor: ClassVar[str]

    def __init__(self, credentials: Credentials | CredentialProvider | None, *, region: str, endpoint: str) -> None:
        # Fail at construction, naming the setting, rather than at the first poll.
        self.check_endpoint(endpoint, region)
        self.provider: CredentialProvider | None = (
            StaticCredentials(credentials) if isinstance(credentials, Credentials) else credentials
        )
        self.region = region
        self.endpoint = endpoint

    def check_endpoint(self, endpoint: str, region: str) -> None:
        """Refuse an endpoint that cannot work, naming the setting (https, or http to loopback)."""
        resolve_endpoint(endpoint, service="service", region=region or "region")

    @property
    def credentials(self) -> Credentials:
        """The key to sign with now (no I/O: the client refreshed it before the attempt if it was due)."""
        if self.provider is None:
            raise TypeError(f"{type(self).__name__} sends unsigned calls: it has no credentials")
        return self.provider.cached

    @property
    def account(self) -> str:
        """The identity calls are made as (never a secret): what rate limits and shared waits key on."""
        return "anonymous" if self.provider is None else self.provider.account

    @abc.abstractmethod
    def prepare(self, call: CallT, now: float) -> HttpRequest:
        """Build the signed request for ``call`` at time ``now`` (epoch seconds)."""

    @abc.abstractmethod
    def parse(self, call: CallT, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """Decode a reply, raising a typed :class:`CloudApiError` for every failure envelope."""

    @abc.abstractmethod
    def describe(self, call: CallT) -> str:
        """A short, secret-free name of the call for logs and errors."""

    def redact(self, text: str) -> str:
        """Remove credentials from vendor text before it becomes an error message.

        Alibaba answers a bad signature with the server's string to sign, which holds the STS token.
        """
        for secret in () if self.provider is None else self.provider.secrets():
            if secret:
                for form in sorted(_encoded_forms(secret), key=len, reverse=True):
                    text = text.replace(form, "***")
        return text

    def rate_limit(self, call: CallT) -> tuple[str, Quota | None]:
        """The throttling key (account and action) and the documented quota, if any (a judgment the vendor
        does not publish is the emulator's guard, not a limit to space by)."""
        api = self.describe(call)
        found = quota(self.vendor, api)
        return f"{self.account} {self.region} {self.vendor} {api}", found if found and found.documented else None


def _encoded_forms(secret: str) -> set[str]:
    """The forms a secret takes in vendor text: as is, percent-encoded (once, twice, form-style), base64."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, quote(secret, safe=""), quote(quote(secret, safe=""), safe=""), quote_plus(secret)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.update({text, text.rstrip("=")})
    # A form shorter than 4 characters would redact ordinary text, not the secret.
    return {form for form in forms if len(form) >= 4}

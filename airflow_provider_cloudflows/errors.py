"""Typed errors: every failure of a cloud call carries the vendor, its code, message and request id."""

from __future__ import annotations

from typing import Any

from airflow_provider_cloudflows.compat import AirflowException

# Re-exported: every typed error of the package is importable from here.
from airflow_provider_cloudflows.config_errors import ConfigurationError as ConfigurationError


class CloudApiError(Exception):
    """A cloud API call failed.

    ``retryable`` tells the transport whether another attempt can help; ``retry_after`` (seconds) is the
    server's own hint, when it gave one.
    """

    retryable: bool = False
    # An outage (throttling, 5xx, network, garbled replies) says nothing about the execution: a wait with
    # deadline left keeps polling through it instead of failing once one call's retries are spent.
    outage: bool = False
    # The vendor said the session token expired: the one auth error a refreshable identity may answer by
    # refreshing its key and repeating the call, once.
    credentials_expired: bool = False

    def __init__(
        self,
        message: str,
        *,
        vendor: str,
        code: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.vendor = vendor
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.vendor]
        if self.code:
            parts.append(self.code)
        text = " ".join(parts) + f": {self.message}"
        if self.http_status is not None:
            text += f" (HTTP {self.http_status})"
        text += f" [RequestId: {self.request_id or 'none'}]"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe form for trigger events."""
        return {
            "error_type": type(self).__name__,
            "vendor": self.vendor,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
            "http_status": self.http_status,
        }


class AuthError(CloudApiError):
    """Credentials, signature or permission refused. Never retried (Huawei locks a key after five)."""


class ExpiredCredentialsError(AuthError):
    """The session token expired (Tencent ``AuthFailure.TokenFailure``, Alibaba ``InvalidSecurityToken.Expired``,
    Huawei ``APIG.0307``). A refreshable identity refreshes and repeats the call once; a static one fails."""

    credentials_expired = True


class NotFoundError(CloudApiError):
    """The execution, flow, job or cluster does not exist."""


class InvalidRequestError(CloudApiError):
    """The request was rejected as malformed or invalid; repeating it cannot help."""


class ThrottledError(CloudApiError):
    """The vendor's rate limit was hit."""

    retryable = True
    outage = True


class ServerError(CloudApiError):
    """A 5xx or a vendor-internal error."""

    retryable = True
    outage = True


class TransportError(CloudApiError):
    """No usable HTTP exchange: connect failure, timeout, dropped connection."""

    retryable = True
    outage = True


class MalformedResponseError(CloudApiError):
    """The reply was not the documented envelope (truncated or non-JSON body, say)."""

    retryable = True
    outage = True


class MismatchedAnswerError(CloudApiError):
    """The answer names another execution than the one asked for (or none where the API always names it).

    A protocol error, not an outage: retried ``max_retries`` times (a confused proxy or cache may recover),
    then a clear failure naming the value asked for and the value answered.
    """

    retryable = True
    max_retries = 2


class UnexpectedStatusError(CloudApiError):
    """An HTTP status the vendor does not document for this API (201, 202, 206, a redirect...).

    Never read as an answer, and redirects are never followed (a signed request must not go elsewhere).
    Retried ``max_retries`` times, then a clear failure: it is a misconfigured endpoint or proxy, not an outage.
    """

    retryable = True
    max_retries = 2


class ResponseTooLargeError(CloudApiError):
    """The reply's body exceeded the size any documented answer can have; reading stopped at the cap."""


class UnreadableAnswerError(MalformedResponseError):
    """A service could not read an answer it received (a defect of the reader, surfaced as a typed error).

    The last line of defence of the check driver: whatever an answer holds, the wait ends in a snapshot or a
    typed error, never a crashed trigger. Not retried and not an outage: the same answer would fail again.
    """

    retryable = False
    outage = False


class WriteOutcomeUnknown(CloudApiError):
    """A write may have been applied, and nothing the vendor answered proves what it did.

    The answer was lost (a 5xx, a timeout, a dropped connection after the request left), or it was not
    exactly what the vendor documents (an id of the wrong type or shape, a body over the size cap). Never
    repeated by the transport; the operator fails the task without an Airflow retry unless a record or an
    idempotency key makes a repeat safe. ``call`` names the write; ``field`` the answer's field that proved
    nothing, when one did.
    """

    def __init__(self, message: str, *, call: str, field: str | None = None, **kwargs: Any) -> None:
        self.call = call
        self.field = field
        super().__init__(message, **kwargs)


class CloudExecutionFailed(AirflowException):
    """The awaited execution ended in a failure state (failed, cancelled, timed out or blocked)."""

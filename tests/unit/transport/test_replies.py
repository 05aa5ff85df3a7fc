"""The reply template in memory: each vendor's declared format fed canned replies, no HTTP.

Each row is one reply (status, headers, body) and what reading it must give: the answer with its request
id, or the typed error with its class, code, request id, HTTP status, retry-after and message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    ExpiredCredentialsError,
    InvalidRequestError,
    MalformedResponseError,
    MismatchedAnswerError,
    NotFoundError,
    ServerError,
    ThrottledError,
    UnexpectedStatusError,
)
from airflow_provider_cloudflows.transport import alibaba, huawei, tencent
from airflow_provider_cloudflows.transport.replies import ReplyFormat

WHAT = "api:Call"


@dataclass(frozen=True)
class Answer:
    """A reply read as data."""

    body: dict[str, Any]
    request_id: str | None


@dataclass(frozen=True)
class Raised:
    """A reply read as a typed error."""

    error: type[CloudApiError]
    code: str | None
    request_id: str | None
    http_status: int | None
    message: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Row:
    """One canned reply and what reading it gives."""

    name: str
    status: int
    body: Any
    expected: Answer | Raised
    headers: tuple[tuple[str, str], ...] = ()
    echo: tuple[tuple[str, Any], ...] = ()
    write: bool = False


def read(replies: ReplyFormat, row: Row) -> Answer | Raised:
    """Read ``row`` through ``replies`` with a redaction that hides ``SECRET``."""
    body = row.body if isinstance(row.body, bytes) else json.dumps(row.body).encode()
    try:
        answer = replies.read(
            row.status,
            httpx.Headers(list(row.headers)),
            body,
            what=WHAT,
            echo=dict(row.echo),
            redact=lambda text: text.replace("SECRET", "***"),
            write=row.write,
        )
    except CloudApiError as exc:
        return Raised(type(exc), exc.code, exc.request_id, exc.http_status, exc.message, exc.retry_after)
    return Answer(dict(answer.body), answer.request_id)


def tc(body: dict[str, Any]) -> dict[str, Any]:
    return {"Response": body}


TENCENT = [
    Row("success", 200, tc({"Status": 1, "RequestId": "tc-1"}), Answer({"Status": 1, "RequestId": "tc-1"}, "tc-1")),
    Row("success without a RequestId", 200, tc({"Status": 1}), Answer({"Status": 1}, None)),
    Row("a RequestId of the wrong type is none", 200, tc({"RequestId": ["x"]}), Answer({"RequestId": ["x"]}, None)),
    Row("an integer RequestId is text", 200, tc({"RequestId": 7}), Answer({"RequestId": 7}, "7")),
    Row(
        "the named execution is the one asked for",
        200,
        tc({"FlowId": 3, "RequestId": "tc-2"}),
        Answer({"FlowId": 3, "RequestId": "tc-2"}, "tc-2"),
        echo=(("FlowId", 3),),
    ),
    Row(
        "another execution is a mismatch",
        200,
        tc({"FlowId": 4, "RequestId": "tc-3"}),
        Raised(
            MismatchedAnswerError,
            "MismatchedAnswer",
            "tc-3",
            None,
            "api:Call answered about FlowId='4', not the FlowId=3 asked for",
        ),
        echo=(("FlowId", 3),),
    ),
    Row(
        "an identity of another type is a mismatch",
        200,
        tc({"FlowId": "3"}),
        Raised(
            MismatchedAnswerError,
            "MismatchedAnswer",
            None,
            None,
            "api:Call answered about FlowId='3', not the FlowId=3 asked for",
        ),
        echo=(("FlowId", 3),),
    ),
    *(
        Row(
            f"code {code} in a 200",
            200,
            tc({"Error": {"Code": code, "Message": "no SECRET here"}, "RequestId": "tc-4"}),
            Raised(cls, code, "tc-4", None, "api:Call failed: no *** here"),
        )
        for code, cls in [
            ("RequestLimitExceeded.UinLimitExceeded", ThrottledError),
            ("InternalError.DbFailed", ServerError),
            ("AuthFailure.TokenFailure", ExpiredCredentialsError),
            ("AuthFailure.SignatureFailure", AuthError),
            ("ResourceNotFound.Flow", NotFoundError),
            ("InvalidParameter", InvalidRequestError),
        ]
    ),
    Row(
        "an Error without a Code",
        200,
        tc({"Error": {"Code": 5}, "RequestId": "tc-5"}),
        Raised(MalformedResponseError, None, "tc-5", None, 'api:Call returned an Error without a Code: {"Code":5}'),
    ),
    Row(
        "an Error of null is an error",
        200,
        tc({"Error": None, "Status": 1}),
        Raised(MalformedResponseError, None, None, None, "api:Call returned an Error without a Code: None"),
    ),
    Row(
        "no Response object",
        200,
        {"Status": 1},
        Raised(MalformedResponseError, None, None, None, "api:Call returned no Response object"),
    ),
    Row(
        "a Response of the wrong type",
        200,
        {"Response": [1]},
        Raised(MalformedResponseError, None, None, None, "api:Call returned no Response object"),
    ),
    Row(
        "a body that is not JSON",
        200,
        b"<html>",
        Raised(
            MalformedResponseError,
            None,
            None,
            None,
            "api:Call returned a body that is not JSON (JSONDecodeError at byte 0, 6 bytes)",
        ),
    ),
    Row(
        "a coded error under a gateway status keeps its class",
        401,
        tc({"Error": {"Code": "AuthFailure", "Message": "bad"}, "RequestId": "tc-6"}),
        Raised(AuthError, "AuthFailure", "tc-6", 401, "api:Call answered HTTP 401: bad"),
    ),
    Row(
        "429 without a body is throttled with its hint",
        429,
        b"",
        Raised(ThrottledError, "HTTP429", None, 429, "api:Call answered HTTP 429", retry_after=2.0),
        headers=(("Retry-After", "2"),),
    ),
    Row(
        "a bare 503 is a server error",
        503,
        b"",
        Raised(ServerError, "HTTP503", None, 503, "api:Call answered HTTP 503"),
    ),
    Row(
        "a bare 404 from a proxy is an unexpected status",
        404,
        b"nope",
        Raised(UnexpectedStatusError, "HTTP404", None, 404, "api:Call answered HTTP 404"),
    ),
    Row(
        "a success body under 202 is no answer",
        202,
        tc({"Status": 1}),
        Raised(UnexpectedStatusError, "HTTP202", None, 202, "api:Call answered HTTP 202"),
    ),
]

ALIBABA = [
    Row(
        "success",
        200,
        {"Status": "Running", "RequestId": "a-1"},
        Answer({"Status": "Running", "RequestId": "a-1"}, "a-1"),
    ),
    Row(
        "the header names a reply without a RequestId",
        200,
        {"Status": "Running"},
        Answer({"Status": "Running"}, "h-1"),
        headers=(("x-acs-request-id", "h-1"),),
    ),
    Row("no RequestId anywhere", 200, {"Status": "Running"}, Answer({"Status": "Running"}, None)),
    Row(
        "an empty Code is no error",
        200,
        {"Code": "", "Status": "Running"},
        Answer({"Code": "", "Status": "Running"}, None),
    ),
    Row(
        "another execution is a mismatch",
        200,
        {"Name": "other", "RequestId": "a-2"},
        Raised(
            MismatchedAnswerError,
            "MismatchedAnswer",
            "a-2",
            None,
            "api:Call answered about Name='other', not the Name='exec' asked for",
        ),
        echo=(("Name", "exec"),),
    ),
    Row(
        "a documented code in a 200",
        200,
        {"Code": "ExecutionNotExists", "Message": "gone", "RequestId": "a-3"},
        Raised(
            NotFoundError, "ExecutionNotExists", "a-3", 200, "api:Call answered HTTP 200 with an error envelope: gone"
        ),
    ),
    Row(
        "an invalid-argument code in a 200 stays permanent",
        200,
        {"Code": "InvalidArgument.Name", "Message": "bad"},
        Raised(
            InvalidRequestError,
            "InvalidArgument.Name",
            None,
            200,
            "api:Call answered HTTP 200 with an error envelope: bad",
        ),
    ),
    Row(
        "an unknown code in a 200 is not permanent",
        200,
        {"Code": "Whatever", "message": "hm"},
        Raised(MalformedResponseError, "Whatever", None, 200, "api:Call answered HTTP 200 with an error envelope: hm"),
    ),
    Row(
        "a Code that is not a string",
        200,
        {"Code": 5, "Message": "five"},
        Raised(
            MalformedResponseError, None, None, 200, "api:Call answered HTTP 200 with a Code that is not a string: five"
        ),
    ),
    *(
        Row(
            f"{status} {code}",
            status,
            {"Code": code, "Message": "m SECRET", "RequestId": "a-4"},
            Raised(cls, code, "a-4", status, "api:Call failed: m ***"),
        )
        for status, code, cls in [
            (400, "Throttling.User", ThrottledError),
            (400, "SignatureNonceUsed", ServerError),
            (403, "InvalidSecurityToken.Expired", ExpiredCredentialsError),
            (403, "SignatureDoesNotMatch", AuthError),
            (404, "FlowNotExists", NotFoundError),
            (400, "MissingRequired.Name", InvalidRequestError),
            (403, "Other", AuthError),
            (500, "InternalError", ServerError),
            (400, "Other", InvalidRequestError),
        ]
    ),
    Row(
        "lower camel case fields of a gateway",
        400,
        {"code": "Throttling", "message": "slow", "requestId": "a-5"},
        Raised(ThrottledError, "Throttling", "a-5", 400, "api:Call failed: slow"),
    ),
    Row(
        "an unclassified code with a retry-after hint is throttled, in milliseconds",
        400,
        {"Code": "Busy"},
        Raised(ThrottledError, "Busy", "h-2", 400, "api:Call failed: answered HTTP 400", retry_after=1.5),
        headers=(("x-acs-retry-after", "1500"), ("x-acs-request-id", "h-2")),
    ),
    Row(
        "an auth code ignores the retry-after hint",
        403,
        {"Code": "AccessDenied"},
        Raised(AuthError, "AccessDenied", None, 403, "api:Call failed: answered HTTP 403"),
        headers=(("x-acs-retry-after", "1500"),),
    ),
    Row(
        "a redirect is an unexpected status whatever its code",
        302,
        {"Code": "AccessDenied", "Message": "elsewhere"},
        Raised(UnexpectedStatusError, "AccessDenied", None, 302, "api:Call failed: elsewhere"),
    ),
    Row(
        "a 404 without a body is not found",
        404,
        b"",
        Raised(NotFoundError, "HTTP404", None, 404, "api:Call failed: answered HTTP 404"),
    ),
]

HUAWEI = [
    Row(
        "success",
        200,
        {"status": "SUCCESS"},
        Answer({"status": "SUCCESS"}, "hw-h"),
        headers=(("X-Request-Id", "hw-h"),),
    ),
    Row(
        "the header's request id wins over the body's",
        200,
        {"status": "SUCCESS", "request_id": "hw-b"},
        Answer({"status": "SUCCESS", "request_id": "hw-b"}, "hw-h"),
        headers=(("X-Request-Id", "hw-h"),),
    ),
    Row(
        "IAM's trace id names the reply",
        200,
        {"projects": []},
        Answer({"projects": []}, "iam-1"),
        headers=(("X-IAM-Trace-Id", "iam-1"),),
    ),
    Row("the body's request id without a header", 200, {"request_id": "hw-b"}, Answer({"request_id": "hw-b"}, "hw-b")),
    Row("a request id of the wrong type is none", 200, {"request_id": True}, Answer({"request_id": True}, None)),
    Row(
        "a cluster-unknown code in a 200",
        200,
        {"error_code": "DWS.0047", "error_msg": "no cluster"},
        Raised(NotFoundError, "DWS.0047", None, 200, "api:Call answered HTTP 200 with an error envelope: no cluster"),
    ),
    Row(
        "an undocumented code in a 200 is not permanent",
        200,
        {"errCode": "DWS.0001", "externalMessage": "later"},
        Raised(
            MalformedResponseError, "DWS.0001", None, 200, "api:Call answered HTTP 200 with an error envelope: later"
        ),
    ),
    Row(
        "a throttle code in a 200 waits the default",
        200,
        {"error_code": "APIG.0308", "error_msg": "slow"},
        Raised(ThrottledError, "APIG.0308", None, 200, "api:Call answered HTTP 200 with an error envelope: slow", 3.0),
    ),
    Row(
        "an error code that is not a string",
        200,
        {"error_code": 5, "error_msg": "five"},
        Raised(
            MalformedResponseError,
            "ErrorEnvelope",
            None,
            200,
            "api:Call answered HTTP 200 with an error envelope: five",
        ),
    ),
    *(
        Row(
            f"{status} {code}",
            status,
            {"error_code": code, "error_msg": "m SECRET", "request_id": "hw-2"},
            Raised(cls, code, "hw-2", status, "api:Call failed: m ***", retry_after),
        )
        for status, code, cls, retry_after in [
            (403, "DWS.0015", NotFoundError, None),
            (429, "APIG.0308", ThrottledError, 3.0),
            (503, "DWS.0005", ServerError, None),
            (409, "DWS.0011", ServerError, None),
            (401, "APIG.0307", ExpiredCredentialsError, None),
            (401, "APIG.0301", AuthError, None),
            (400, "APIG.0399", AuthError, None),
            (404, "DWS.0002", NotFoundError, None),
            (400, "DWS.0001", InvalidRequestError, None),
        ]
    ),
    Row(
        "try-later refuses a write",
        409,
        {"error_code": "DWS.0011", "error_msg": "busy"},
        Raised(InvalidRequestError, "DWS.0011", None, 409, "api:Call failed: busy"),
        write=True,
    ),
    Row(
        "a throttled reply honours the header's hint",
        429,
        b"",
        Raised(ThrottledError, "HTTP429", None, 429, "api:Call failed: HTTP 429", retry_after=7.0),
        headers=(("Retry-After", "7"),),
    ),
    Row(
        "Keystone's nested message",
        401,
        {"error": {"message": "token expired", "code": 401, "title": "Unauthorized"}},
        Raised(AuthError, "HTTP401", None, 401, "api:Call failed: token expired"),
    ),
    Row(
        "a redirect is an unexpected status",
        301,
        {"error_code": "DWS.0047"},
        Raised(UnexpectedStatusError, "DWS.0047", None, 301, "api:Call failed: HTTP 301"),
    ),
]


@pytest.mark.parametrize("row", TENCENT, ids=lambda row: row.name)
def test_tencent_replies_read_as_their_table_says(row: Row) -> None:
    assert read(tencent.REPLIES, row) == row.expected


@pytest.mark.parametrize("row", ALIBABA, ids=lambda row: row.name)
def test_alibaba_replies_read_as_their_table_says(row: Row) -> None:
    assert read(alibaba.REPLIES, row) == row.expected


@pytest.mark.parametrize("row", HUAWEI, ids=lambda row: row.name)
def test_huawei_replies_read_as_their_table_says(row: Row) -> None:
    assert read(huawei.REPLIES, row) == row.expected


@pytest.mark.parametrize("replies", [tencent.REPLIES, alibaba.REPLIES, huawei.REPLIES], ids=lambda r: r.vendor)
def test_vendor_text_is_bounded_in_every_error(replies: ReplyFormat) -> None:
    long = "x" * 10_000
    body = (
        {"Response": {"Error": {"Code": "X", "Message": long}}}
        if replies is tencent.REPLIES
        else {"Code": "X", "error_code": "X", "Message": long, "error_msg": long}
    )
    with pytest.raises(CloudApiError) as caught:
        replies.read(400, httpx.Headers(), json.dumps(body).encode(), what=WHAT, echo={}, redact=str)
    assert len(caught.value.message) < 600

"""``test_connection()`` of each hook against the emulator, and error classification tables."""

from __future__ import annotations

import pytest

from airflow_provider_cloudflows.errors import (
    AuthError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
    ThrottledError,
)
from airflow_provider_cloudflows.hooks.alibaba import AlibabaCloudHook
from airflow_provider_cloudflows.hooks.base import CloudHook
from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.transport import alibaba, huawei, tencent
from cloudflows_emulator import CloudEmulator
from cloudflows_emulator.server import EmulatorServer
from tests.helpers import use_connections

HOOKS = [TencentCloudHook, AlibabaCloudHook, HuaweiCloudHook]


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.conn_type)
def test_connection_accepted(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    hook: type[CloudHook],
) -> None:
    use_connections(monkeypatch, cloud_emulator_server)
    ok, message = hook().test_connection()
    assert ok, message
    assert "accepted" in message
    assert cloud_emulator.count() == 1


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.conn_type)
def test_connection_rejected_in_one_request(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    hook: type[CloudHook],
) -> None:
    use_connections(monkeypatch, cloud_emulator_server, secret="definitely-wrong")
    ok, message = hook().test_connection()
    assert not ok
    assert "rejected the credentials" in message
    assert "RequestId" in message
    assert cloud_emulator.count() == 1  # never retried: Huawei would lock the key after five


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("RequestLimitExceeded", ThrottledError),
        ("RequestLimitExceeded.UinLimitExceeded", ThrottledError),
        ("InternalError.DbOperationFailed", ServerError),
        ("ServiceUnavailable", ServerError),
        ("AuthFailure.SignatureExpire", AuthError),
        ("UnauthorizedOperation.PermissionDenied", AuthError),
        ("ResourceNotFound.Task", NotFoundError),
        ("InvalidParameterValue.FlowNotFound", NotFoundError),
        ("FailedOperation.FlowNotFoundError", NotFoundError),
        ("InvalidParameter.JobIdMalformed", InvalidRequestError),
        ("MissingParameter", InvalidRequestError),
        ("SomethingNew", InvalidRequestError),
    ],
)
def test_tencent_codes(code: str, cls: type) -> None:
    assert tencent.classify(code) is cls


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "cls"),
    [
        (429, "ResourceThrottled", None, ThrottledError),
        (400, "Throttling.User", None, ThrottledError),
        (403, "Whatever", 1.5, AuthError),
        (400, "Whatever", 1.5, ThrottledError),
        (400, "SignatureNonceUsed", None, ServerError),
        (500, "InternalServerError", None, ServerError),
        (403, "SignatureDoesNotMatch", None, AuthError),
        (403, "AccessDenied", None, AuthError),
        (404, "InvalidAccessKeyId.NotFound", None, AuthError),
        (404, "ExecutionNotExists", None, NotFoundError),
        (404, "FlowNotExists", None, NotFoundError),
        (400, "InvalidArgument", None, InvalidRequestError),
    ],
)
def test_alibaba_codes(status: int, code: str, retry_after: float | None, cls: type) -> None:
    assert alibaba.classify(status, code, retry_after) is cls
    assert cls.retryable is (cls in (ThrottledError, ServerError))


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "APIG.0301", AuthError),
        (403, "APIG.0302", AuthError),
        (429, "APIG.0308", ThrottledError),
        (401, "DWS.0047", NotFoundError),
        (403, "DWS.0015", NotFoundError),
        (404, "DWS.3027", NotFoundError),
        (503, "DWS.0005", ServerError),
        (400, "DWS.0001", InvalidRequestError),
    ],
)
def test_huawei_codes(status: int, code: str, cls: type) -> None:
    assert huawei.classify(status, code) is cls

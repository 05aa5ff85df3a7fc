"""Deterministic hostile answers over real loopback HTTP: one example per defect class.

Each test serves canned replies from ``tests/fuzz_server`` and runs a real check (or call) through the real
transport. The property tests (``services/test_answer_properties.py``) search the same space at random; these pin
the classes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest

from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    MalformedResponseError,
    MismatchedAnswerError,
    NotFoundError,
    ResponseTooLargeError,
    ThrottledError,
    UnexpectedStatusError,
)
from airflow_provider_cloudflows.services.driver import arun_check, run_check
from airflow_provider_cloudflows.status import ExecutionStatus
from airflow_provider_cloudflows.transport.alibaba import AlibabaCall
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from airflow_provider_cloudflows.waiting import Wait
from tests.fuzz_server import SECRET, TOKEN, LoopbackServer, Reply, client_for

BATCH = {"job_id": "job-97zcl3wt", "task_name": "A"}
FLOW = {"flow_name": "flow", "execution_name": "exec"}
EMR = {"instance_id": "emr-123", "flow_id": "42"}


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    """One loopback server for the module."""
    instance = LoopbackServer()
    yield instance
    instance.close()


def tencent(body: dict[str, Any], status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps({"Response": body}).encode(), headers)


def plain(body: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(body).encode(), headers)


def check(server: LoopbackServer, service: str, ids: dict[str, Any], *replies: Reply, attempts: int = 1) -> Any:
    """Serve ``replies``, run one sync check, return its snapshot or raise its error."""
    server.program(*replies)
    vendor = {"tencent": "tencentcloud", "alibaba": "alibabacloud", "huawei": "huaweicloud"}[service.split("_")[0]]
    return run_check(Wait(service, ids).check(), client_for(vendor, server, max_attempts=attempts))


BATCH_OK = {"TaskState": "SUCCEED", "JobId": "job-97zcl3wt", "TaskName": "A", "RequestId": "r-1"}
FLOW_OK = {"Status": "Succeeded", "FlowName": "flow", "Name": "exec", "RequestId": "r-2"}


# --- an answer about another execution ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "ids", "reply", "asked", "answered"),
    [
        ("tencent_batch_task", BATCH, tencent({**BATCH_OK, "JobId": "job-other"}), "job-97zcl3wt", "job-other"),
        ("tencent_batch_task", BATCH, tencent({**BATCH_OK, "TaskName": "B"}), "'A'", "'B'"),
        ("tencent_batch_task", BATCH, tencent({**BATCH_OK, "TaskName": ["A"]}), "'A'", '["A"]'),
        ("alibaba_cloudflow_execution", FLOW, plain({**FLOW_OK, "FlowName": "flow2"}), "'flow'", "flow2"),
        ("alibaba_cloudflow_execution", FLOW, plain({**FLOW_OK, "Name": "EXEC"}), "'exec'", "EXEC"),
        ("alibaba_cloudflow_execution", FLOW, plain({k: v for k, v in FLOW_OK.items() if k != "Name"}), "exec", ""),
    ],
)
def test_an_answer_about_another_execution_is_retried_twice_then_fails_naming_both(
    server: LoopbackServer, service: str, ids: dict[str, Any], reply: Reply, asked: str, answered: str
) -> None:
    with pytest.raises(MismatchedAnswerError) as caught:
        check(server, service, ids, reply, attempts=5)
    # Retried only twice (three requests), not five times: a protocol error is not an outage.
    assert len(server.requests) == 3
    assert asked in str(caught.value) and answered in str(caught.value)
    assert caught.value.request_id in ("r-1", "r-2")


def test_a_mismatch_that_clears_up_on_retry_is_read(server: LoopbackServer) -> None:
    snapshot = check(
        server, "tencent_batch_task", BATCH, tencent({**BATCH_OK, "JobId": "job-x"}), tencent(BATCH_OK), attempts=5
    )
    assert snapshot.status is ExecutionStatus.SUCCEEDED


# --- success only from the documented status ---------------------------------------------------------------


@pytest.mark.parametrize("status", [201, 202, 203, 206, 300, 301, 302, 307, 308])
@pytest.mark.parametrize(
    ("service", "ids", "reply"),
    [
        ("tencent_emr_flow", EMR, tencent({"FlowTotalStatus": 2})),
        ("tencent_cynosdb_flow", {"flow_id": 1}, tencent({"Status": 0})),
        ("tencent_batch_task", BATCH, tencent(BATCH_OK)),
        ("alibaba_cloudflow_execution", FLOW, plain(FLOW_OK)),
        ("huawei_dws_cluster_task", {"cluster_id": "c1", "action_name": "GROWING"}, plain({"status": "SUCCESS"})),
    ],
)
def test_success_bodies_under_another_status_are_errors(
    server: LoopbackServer, service: str, ids: dict[str, Any], reply: Reply, status: int
) -> None:
    served = Reply(status, reply.body, (("Location", f"{server.url}/elsewhere"),))
    with pytest.raises(CloudApiError) as caught:
        check(server, service, ids, served)
    assert caught.value.http_status == status
    # Redirects are never followed: one request, to the API.
    assert len(server.requests) == 1


def test_undocumented_statuses_are_retried_twice_at_most(server: LoopbackServer) -> None:
    with pytest.raises(UnexpectedStatusError):
        check(server, "tencent_batch_task", BATCH, Reply(202, b"{}"), attempts=5)
    assert len(server.requests) == 3


# --- error envelopes inside a 200 --------------------------------------------------------------------------


def test_cloudflow_200_error_envelope_is_an_error(server: LoopbackServer) -> None:
    body = {**FLOW_OK, "Code": "ExecutionNotExists", "Message": "Execution exec does not exist", "RequestId": "r-9"}
    with pytest.raises(NotFoundError) as caught:
        check(server, "alibaba_cloudflow_execution", FLOW, plain(body))
    assert (caught.value.code, caught.value.request_id, caught.value.http_status) == ("ExecutionNotExists", "r-9", 200)


def test_dws_200_error_envelope_is_an_error_with_the_body_request_id(server: LoopbackServer) -> None:
    server.program(plain({"error_code": "APIG.0301", "error_msg": "bad signature", "request_id": "hw-1"}))
    client = client_for("huaweicloud", server)
    from airflow_provider_cloudflows.transport.huawei import HuaweiCall

    with pytest.raises(AuthError) as caught:
        client.call(HuaweiCall("GET", "/v1/{project_id}/clusters/{cluster_id}", {"cluster_id": "c1"}))
    assert (caught.value.code, caught.value.request_id) == ("APIG.0301", "hw-1")


def test_tencent_error_key_even_null_is_never_an_answer(server: LoopbackServer) -> None:
    with pytest.raises(MalformedResponseError):
        check(server, "tencent_emr_flow", EMR, tencent({"FlowTotalStatus": 2, "Error": None}))


# --- typed errors name the vendor code and RequestId -------------------------------------------------------


def test_non_200_tencent_answer_keeps_code_and_request_id_and_auth_is_not_retried(server: LoopbackServer) -> None:
    body = {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}, "RequestId": "tc-1"}
    with pytest.raises(AuthError) as caught:
        check(server, "tencent_emr_flow", EMR, tencent(body, status=401), attempts=5)
    assert (caught.value.code, caught.value.request_id, caught.value.http_status) == (
        "AuthFailure.SignatureFailure",
        "tc-1",
        401,
    )
    assert len(server.requests) == 1


def test_huawei_error_request_id_from_the_body_when_the_header_is_missing(server: LoopbackServer) -> None:
    with pytest.raises(CloudApiError) as caught:
        check(
            server,
            "huawei_dws_cluster_task",
            {"cluster_id": "c1", "action_name": "GROWING"},
            plain({"error_code": "DWS.0047", "error_msg": "no cluster", "request_id": "hw-2"}, status=404),
        )
    assert (caught.value.code, caught.value.request_id) == ("DWS.0047", "hw-2")


# --- retries: auth never, whatever the headers; Tencent honours Retry-After ---------------------------------


def test_alibaba_403_with_retry_after_is_auth_and_sent_once(server: LoopbackServer) -> None:
    body = {"Code": "SignatureDoesNotMatch", "Message": "no", "RequestId": "ali-1"}
    with pytest.raises(AuthError):
        check(server, "alibaba_cloudflow_execution", FLOW, plain(body, 403, (("x-acs-retry-after", "10"),)), attempts=5)
    assert len(server.requests) == 1


def test_alibaba_retry_after_still_retries_an_unclassified_error(server: LoopbackServer) -> None:
    throttled = plain({"Code": "Busy", "Message": "later"}, 400, (("x-acs-retry-after", "10"),))
    snapshot = check(server, "alibaba_cloudflow_execution", FLOW, throttled, plain(FLOW_OK), attempts=3)
    assert snapshot.status is ExecutionStatus.SUCCEEDED and len(server.requests) == 2


def test_tencent_429_retry_after_is_honoured(server: LoopbackServer) -> None:
    server.program(Reply(429, b"", (("Retry-After", "0.3"),)), tencent({"Status": 0}))
    client = client_for("tencentcloud", server, max_attempts=3)
    # The test client caps retry-after at 0.05 s; a real policy caps it at 60 s. Lift the cap to observe it.
    client.policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.05, max_retry_after=5)
    started = time.monotonic()
    snapshot = run_check(Wait("tencent_cynosdb_flow", {"flow_id": 1}).check(), client)
    assert snapshot.status is ExecutionStatus.SUCCEEDED
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("value", ["soon", "nan", "-5", "inf", "9" * 5000, ""])
def test_garbage_retry_after_is_ignored(server: LoopbackServer, value: str) -> None:
    with pytest.raises(ThrottledError) as caught:
        check(server, "tencent_cynosdb_flow", {"flow_id": 1}, Reply(429, b"", (("Retry-After", value),)))
    assert caught.value.retry_after is None


# --- untyped crashes: every hostile body is a typed error ---------------------------------------------------

HOSTILE = [
    b"",
    b"null",
    b"[1, 2]",
    b"<html>bad gateway</html>",
    b"\xff\xfe",
    b"[" * 5000 + b"]" * 5000,
    b'{"Response": {"Status": ' + b"9" * 5000 + b"}}",
    b'{"Response": {"Status": NaN}}',
    b'{"Response": {"Status": 1e400}}',
    b'{"Response": {"Status": 2, "Status": 0}}',
    b'{"Response": ' + b'{"a":' * 100 + b"1" + b"}" * 100 + b"}",
]


@pytest.mark.parametrize("body", HOSTILE, ids=lambda b: repr(b[:24]))
def test_hostile_bodies_are_typed_errors(server: LoopbackServer, body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        check(server, "tencent_cynosdb_flow", {"flow_id": 1}, Reply(200, body))


@pytest.mark.parametrize(
    ("service", "ids", "body"),
    [
        ("tencent_emr_flow", EMR, {"FlowTotalStatus": True, "StageDetails": {"a": 1}, "FlowTotalProgress": "x"}),
        ("tencent_emr_flow", EMR, {"FlowTotalStatus": 1, "StageDetails": [{"Stage": [1], "Status": {"x": 1}}]}),
        ("tencent_batch_task", BATCH, {**BATCH_OK, "TaskState": "FAILED", "TaskInstanceSet": True}),
        ("tencent_batch_task", BATCH, {**BATCH_OK, "TaskInstanceMetrics": [1], "TaskInstanceTotalCount": "2"}),
        ("tencent_cynosdb_flow", {"flow_id": 1}, {"Status": {"Code": 0}}),
    ],
)
def test_fields_of_the_wrong_type_never_crash(
    server: LoopbackServer, service: str, ids: dict[str, Any], body: dict[str, Any]
) -> None:
    snapshot = check(server, service, ids, tencent(body))
    assert snapshot.status is not ExecutionStatus.SUCCEEDED or snapshot.vendor_status == "SUCCEED"
    wait = Wait(service, ids)
    json.dumps(wait.state(snapshot), allow_nan=False)


def test_cloudflow_output_that_is_unsafe_json_is_kept_as_text(server: LoopbackServer) -> None:
    output = "[" * 3000 + "]" * 3000
    snapshot = check(server, "alibaba_cloudflow_execution", FLOW, plain({**FLOW_OK, "Output": output}))
    assert snapshot.details["OutputIsJson"] is False


def test_cloudflow_history_of_the_wrong_shape_still_fails_the_wait(server: LoopbackServer) -> None:
    failed = plain({**FLOW_OK, "Status": "Failed"})
    history = plain({"Events": [{"Type": "TaskStateFailed", "EventDetail": "9" * 5000, "StepName": ["x"]}]})
    snapshot = check(server, "alibaba_cloudflow_execution", FLOW, failed, history)
    assert snapshot.status is ExecutionStatus.FAILED and "TaskStateFailed" in (snapshot.reason or "")


def test_huge_bodies_stop_at_the_cap(server: LoopbackServer) -> None:
    for reply in (Reply(200, b"{}", padding=5 * 1024 * 1024), Reply(200, b"{}", declared_length=50 * 1024 * 1024)):
        with pytest.raises(ResponseTooLargeError):
            check(server, "tencent_cynosdb_flow", {"flow_id": 1}, reply, attempts=5)
        assert len(server.requests) == 1


async def test_huge_bodies_stop_at_the_cap_in_the_trigger_path(server: LoopbackServer) -> None:
    server.program(Reply(200, b"{}", padding=5 * 1024 * 1024))
    with pytest.raises(ResponseTooLargeError):
        await arun_check(
            Wait("tencent_cynosdb_flow", {"flow_id": 1}).check(), client_for("tencentcloud", server), deadline=None
        )


async def test_trigger_path_reads_mismatches_like_the_poke_path(server: LoopbackServer) -> None:
    server.program(plain({**FLOW_OK, "FlowName": "other"}))
    with pytest.raises(MismatchedAnswerError):
        await asyncio.wait_for(
            arun_check(Wait("alibaba_cloudflow_execution", FLOW).check(), client_for("alibabacloud", server)), 10
        )


# --- redaction ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote_plus(SECRET),
        base64.b64encode(SECRET.encode()).decode(),
        base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("="),
        quote_plus(TOKEN),
    ],
)
def test_vendor_text_is_redacted_in_every_encoding(server: LoopbackServer, form: str) -> None:
    body = {"Code": "SignatureDoesNotMatch", "Message": f"string to sign was GET&%2F&x={form}&y"}
    server.program(plain(body, 400))
    client = client_for("alibabacloud", server)
    with pytest.raises(AuthError) as caught:
        client.call(AlibabaCall("DescribeExecution", "2019-03-15", {"FlowName": "flow", "ExecutionName": "exec"}))
    assert form not in str(caught.value) and "***" in str(caught.value)

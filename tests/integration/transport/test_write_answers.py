"""Start and cancel answers count only when they are exactly what the vendor documents, over real loopback HTTP.

The waits trust the ids a start returns as the execution this task started, so a start answer is read as
strictly as a wait's: an id of another type or shape, a body over the size cap, an answer that cannot be
read, must end in :class:`WriteOutcomeUnknown` (the write may have been applied) and never in a stored guess.
Every registered start and cancel spec is served generated hostile answers (``tests/fuzz_server``) through the
real transport and the real write driver; the properties:

(a) a ``Started`` carries ids of exactly the documented type and shape, equal to the answer's; a
    ``Cancelled`` saying "already ended" comes from an answer about that execution with a documented end state;
(b) everything else is a typed ``CloudApiError`` (a start answered by a 2xx, a 5xx or no answer at all:
    ``WriteOutcomeUnknown``), never ``TypeError``, ``ValueError``, ``KeyError``...;
(c) bounded time.

Examples per spec: a tenth of ``CLOUDFLOWS_FUZZ_EXAMPLES`` (default 2,000, so 200; ten specs keep the file
under ~40 s on two cores), seeded as in ``test_answer_properties`` (``CLOUDFLOWS_FUZZ_SEED``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cloudflows.actions import get_cancel, get_start
from airflow_provider_cloudflows.actions.base import Cancelled, Started, Write
from airflow_provider_cloudflows.actions.driver import arun_action, asend_write, run_action, send_write
from airflow_provider_cloudflows.errors import (
    CloudApiError,
    InvalidRequestError,
    NotFoundError,
    ThrottledError,
    WriteOutcomeUnknown,
)
from airflow_provider_cloudflows.registry import CANCELS as _CANCELS
from airflow_provider_cloudflows.registry import STARTS as _STARTS
from airflow_provider_cloudflows.transport.tencent import TencentCall
from tests.fuzz_server import FUZZ_EXAMPLES, LoopbackServer, Reply, client_for, fuzz_settings, seeded

EXAMPLES = max(20, FUZZ_EXAMPLES // 10)
TIME_BOUND = 5.0
FUZZ = fuzz_settings(EXAMPLES)


# --- the documented shapes (the oracle, written independently of the specs) -------------------------------

JOB_ID = re.compile(r"job-[a-z0-9]{8}")
UUID = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
BATCH_FINAL = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
BATCH_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", *BATCH_FINAL)
FLOW_FINAL = ("Succeeded", "Failed", "Stopped", "TimedOut")
FLOW_STATES = ("Starting", "Running", *FLOW_FINAL)


def is_flow_id(value: Any) -> bool:
    return type(value) is int and 0 < value < 2**63


def is_text_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and value == value.strip() and value.isprintable()


def is_path_id(value: Any) -> bool:
    return (
        is_text_id(value) and value not in (".", "..") and not any(c in value for c in "/\\?#% ") and len(value) <= 128
    )


# --- generated values --------------------------------------------------------------------------------------

MISSING = object()
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(["", " ", "../x", "a/b", "null", "0", "{}"]),
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


def values(good: list[Any], near: list[Any]) -> st.SearchStrategy[Any]:
    """Documented values (often), near misses, any JSON value, or nothing."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(near), json_values, st.just(MISSING))


JOB_IDS = values(
    ["job-97zcl3wt"],
    [12345, "12345", "job-97zcl3w", "job-97zcl3wtx", "JOB-97ZCL3WT", " job-97zcl3wt", "job-97zcl3wt\n", "", True],
)
JOB_IDS = st.one_of(JOB_IDS, st.sampled_from([["job-97zcl3wt"], {"JobId": "job-97zcl3wt"}, "job-../../x"]))
FLOW_IDS = values([5001, 1], [0, -1, True, False, "5001", 5001.0, [5001], {}, 2**63, 2**64, "abc", [], None])
TRACE_IDS = values([UUID], ["", " ", {}, [], 5, True, f" {UUID}", "a\nb", "x" * 200, [UUID]])
PATH_IDS = values([UUID], ["../x", "a/b", "..", ".", "a?b", "a#b", "%2F", "a b", "", 5, [], {}, "x" * 200, "a\\b"])
NAMES = values(["exec"], ["EXEC", "exec ", "", 5, ["exec"], "other", None])
FLOWS = values(["flow"], ["FLOW", "flow ", "", 5, ["flow"], None])
JOB_STATES = values(list(BATCH_STATES), ["succeed", "SUCCEED ", 1, ["SUCCEED"], {"JobState": "FAILED"}, ""])
FLOW_STATUSES = values(list(FLOW_STATES), ["succeeded", "Stopped ", 1, ["Stopped"], {"Status": "Failed"}, ""])

TENCENT_CODES = [
    "InternalError",
    "RequestLimitExceeded",
    "ResourceNotFound.Job",
    "UnsupportedOperation",
    "InvalidParameter",
]
ALIBABA_CODES = ["ExecutionAlreadyExists", "ExecutionNotExists", "InvalidArgument", "Throttling.User", "InternalError"]
HUAWEI_CODES = ["DWS.0001", "DWS.0047", "APIG.0308", "APIG.0301", "DWS.9999"]
STATUSES = [200, 200, 200, 200, 201, 202, 204, 302, 400, 403, 404, 409, 429, 500, 502, 503]
RAW = [b"", b" ", b"null", b"[]", b"0", b"NaN", b"\xff\xfe{", b"<html>502</html>", b"[" * 3000 + b"]" * 3000]
RAW += [b'{"Response": ' + b"9" * 5000 + b"}", b'{"JobId": "job-97zcl3wt", "JobId": 5}']


@dataclass(frozen=True)
class Served:
    """One generated reply and what the oracle needs of it: its status, whether it is an error envelope, and
    the answer body the spec reads (the inside of Tencent's ``Response``), when it is one."""

    reply: Reply
    status: int
    error: bool
    body: Mapping[str, Any] | None


def _set(root: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = root
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            return
        node = child
    if value is MISSING:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@st.composite
def answer(
    draw: st.DrawFn, vendor: str, template: Mapping[str, Any], fields: Mapping[tuple[str, ...], st.SearchStrategy[Any]]
) -> Served:
    """The documented answer with its ids mutated, or an error envelope, another status, a raw body."""
    kind = draw(st.sampled_from(["documented", "documented", "documented", "error", "raw"]))
    status = draw(st.sampled_from(STATUSES))
    body: dict[str, Any] = json.loads(json.dumps(template))
    for path, strategy in fields.items():
        _set(body, path, draw(strategy))
    if draw(st.integers(0, 4)) == 0:
        _set(body, (draw(st.sampled_from(["RequestId", "Extra", "DealNames", "cluster"])),), draw(json_values))
    headers: tuple[tuple[str, str], ...] = (("X-Request-Id", "hw-req-1"),) if vendor == "huaweicloud" else ()
    error = kind == "error"
    if error:
        code = draw(
            st.sampled_from({"tencentcloud": TENCENT_CODES, "alibabacloud": ALIBABA_CODES}.get(vendor, HUAWEI_CODES))
        )
        if vendor == "tencentcloud":
            body = {"Error": {"Code": code, "Message": "boom"}, "RequestId": "req-err"}
        elif vendor == "alibabacloud":
            body = {"Code": code, "Message": "boom", "RequestId": "req-err"}
        else:
            body = {"error_code": code, "error_msg": "boom"}
    top: Any = {"Response": body} if vendor == "tencentcloud" else body
    if kind == "raw":
        raw = draw(st.sampled_from(RAW) | st.binary(max_size=30))
        size = draw(st.integers(0, 40))
        if size == 0:
            # Past the client's 4 MiB cap: announced up front (refused before reading).
            return Served(Reply(status, raw, headers, declared_length=5 * 1024 * 1024), status, False, None)
        if size == 1:
            # A body cut short: Content-Length lies, the connection closes.
            return Served(Reply(status, raw, headers, declared_length=len(raw) + 50), status, False, None)
        return Served(Reply(status, raw, headers), status, False, _raw_body(vendor, raw))
    text = json.dumps(top, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return Served(Reply(status, text, headers), status, error, body)


def _raw_body(vendor: str, raw: bytes) -> Mapping[str, Any] | None:
    """What a raw body holds as an answer, if anything (DWS writes may answer with an empty body)."""
    if vendor == "huaweicloud" and not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if vendor == "tencentcloud" and isinstance(data, dict):
        data = data.get("Response")
    return data if isinstance(data, dict) else None


# --- the specs under test ----------------------------------------------------------------------------------


def tencent_body(**fields: Any) -> dict[str, Any]:
    return {**fields, "RequestId": "req-1"}


@dataclass(frozen=True)
class StartCase:
    """One start spec: its parameters, its documented answer, the ids to mutate, and the oracle of (a)."""

    vendor: str
    params: Mapping[str, Any]
    template: Mapping[str, Any]
    fields: Mapping[tuple[str, ...], st.SearchStrategy[Any]]
    proven: Callable[[Started, Mapping[str, Any]], bool]
    token: str | None = None
    # Replies served after the first (CloudFlow's ExecutionAlreadyExists path).
    after: st.SearchStrategy[tuple[Served, ...]] = field(default_factory=lambda: st.just(()))


def _batch_proven(started: Started, body: Mapping[str, Any]) -> bool:
    job_id = body.get("JobId")
    return (
        isinstance(job_id, str) and bool(JOB_ID.fullmatch(job_id)) and dict(started.identifiers) == {"job_id": job_id}
    )


def _emr_proven(started: Started, body: Mapping[str, Any]) -> bool:
    ids = started.identifiers
    if ids.get("instance_id") != "emr-123":
        return False
    if ids.get("flow_id") is not None:
        return ids.get("trace_id") is None and is_flow_id(body.get("FlowId")) and ids["flow_id"] == str(body["FlowId"])
    # A TraceId only when no flow id was given (missing, null or 0).
    no_flow = body.get("FlowId") is None or (type(body.get("FlowId")) is int and body["FlowId"] == 0)
    return no_flow and is_text_id(body.get("TraceId")) and ids.get("trace_id") == body["TraceId"]


def _cynosdb_proven(started: Started, body: Mapping[str, Any]) -> bool:
    flow_id = body.get("FlowId")
    return (
        is_flow_id(flow_id)
        and dict(started.identifiers) == {"flow_id": flow_id}
        and type(started.identifiers["flow_id"]) is int
    )


def _cloudflow_proven(started: Started, body: Mapping[str, Any]) -> bool:
    # Proven by the first answer only when it is a StartExecution answer naming the execution asked for.
    ids = dict(started.identifiers)
    if ids["flow_name"] != "flow" or ids["execution_name"] not in ("exec", "exec-2"):
        return False
    if started.output.get("StartedBy") == "StartExecution":
        return body.get("FlowName") == "flow" and body.get("Name") == "exec"
    return True


def _snapshot_proven(started: Started, body: Mapping[str, Any]) -> bool:
    snapshot = body.get("snapshot")
    sid = snapshot.get("id") if isinstance(snapshot, Mapping) else None
    return is_path_id(sid) and started.output.get("snapshot_id") == sid and started.identifiers["cluster_id"] == UUID


def _resize_proven(started: Started, body: Mapping[str, Any]) -> bool:
    return dict(started.identifiers) == {"cluster_id": UUID, "action_name": "GROWING"}


def _restore_proven(started: Started, body: Mapping[str, Any]) -> bool:
    job_id = body.get("job_id")
    cluster = body.get("cluster")
    cluster_id = cluster.get("id") if isinstance(cluster, Mapping) else None
    if "job_id" in started.identifiers:
        return (
            is_path_id(job_id)
            and dict(started.identifiers) == {"job_id": job_id}
            and started.service == "huawei_dws_job"
        )
    return (
        job_id in (None, "")
        and is_path_id(cluster_id)
        and dict(started.identifiers) == {"cluster_id": cluster_id, "action_name": "RESTORING"}
    )


FNF_ANSWER = {
    "FlowName": "flow",
    "Name": "exec",
    "Status": "Running",
    "StartedTime": "2019-01-01T01:01:01.001Z",
    "RequestId": "req-1",
}


@st.composite
def cloudflow_after(draw: st.DrawFn) -> tuple[Served, ...]:
    """Sometimes nothing more; else (when the first answer is ExecutionAlreadyExists) a DescribeExecution
    answer, then a StartExecution answer under the retry name."""
    describe = draw(
        answer("alibabacloud", FNF_ANSWER, {("Status",): FLOW_STATUSES, ("Name",): NAMES, ("FlowName",): FLOWS})
    )
    again = draw(answer("alibabacloud", {**FNF_ANSWER, "Name": "exec-2"}, {("Name",): values(["exec-2"], ["exec"])}))
    return (describe, again)


START_CASES: dict[str, StartCase] = {
    "tencent_batch_submit_job": StartCase(
        "tencentcloud",
        {"Placement": {"Zone": "ap-guangzhou-2"}, "Job": {"Tasks": [{"TaskName": "A"}]}},
        tencent_body(JobId="job-97zcl3wt"),
        {("JobId",): JOB_IDS},
        _batch_proven,
        token="airflow-token-try1",
    ),
    "tencent_emr_scale_out_cluster": StartCase(
        "tencentcloud",
        {"InstanceId": "emr-123", "InstanceChargeType": "POSTPAID_BY_HOUR"},
        tencent_body(InstanceId="emr-123", ClientToken="", FlowId=5001, TraceId=UUID, DealNames=[], BillId=""),
        {("FlowId",): FLOW_IDS, ("TraceId",): TRACE_IDS},
        _emr_proven,
        token="airflow-token-try1",
    ),
    "tencent_emr_terminate_cluster_nodes": StartCase(
        "tencentcloud",
        {"InstanceId": "emr-123", "CvmInstanceIds": ["ins-1"], "NodeFlag": "TASK"},
        tencent_body(FlowId=5001),
        {("FlowId",): FLOW_IDS, ("TraceId",): TRACE_IDS},
        _emr_proven,
    ),
    "tencent_cynosdb_flow_action": StartCase(
        "tencentcloud",
        {"action": "PauseServerless", "request": {"ClusterId": "cynosdbmysql-1"}},
        tencent_body(FlowId=7001),
        {("FlowId",): FLOW_IDS},
        _cynosdb_proven,
    ),
    "alibaba_cloudflow_start_execution": StartCase(
        "alibabacloud",
        {"FlowName": "flow", "ExecutionName": "exec", "Input": "{}", "retry_name": "exec-2"},
        FNF_ANSWER,
        {("Name",): NAMES, ("FlowName",): FLOWS},
        _cloudflow_proven,
        after=cloudflow_after(),
    ),
    "huawei_dws_create_snapshot": StartCase(
        "huaweicloud",
        {"cluster_id": UUID, "name": "snap-1"},
        {"snapshot": {"id": UUID}},
        {("snapshot", "id"): PATH_IDS, ("snapshot",): st.just({"id": UUID}) | json_values},
        _snapshot_proven,
    ),
    "huawei_dws_resize_cluster": StartCase(
        "huaweicloud",
        {"cluster_id": UUID, "request": {"scale_out": {"count": 3}}},
        {},
        {},
        _resize_proven,
    ),
    "huawei_dws_restore_cluster": StartCase(
        "huaweicloud",
        {"snapshot_id": UUID, "restore": {"name": "restored"}},
        {"cluster": {"id": UUID}, "job_id": UUID},
        {("cluster", "id"): PATH_IDS, ("job_id",): PATH_IDS},
        _restore_proven,
    ),
}


@dataclass(frozen=True)
class CancelCase:
    """One cancel spec: the identifiers, the documented answers of its write and of its state read."""

    vendor: str
    identifiers: Mapping[str, Any]
    write: Mapping[str, Any]
    write_fields: Mapping[tuple[str, ...], st.SearchStrategy[Any]]
    state: Mapping[str, Any]
    state_fields: Mapping[tuple[str, ...], st.SearchStrategy[Any]]
    # Whether the write's answer is about this execution, and whether the state answer proves it ended.
    about: Callable[[Mapping[str, Any]], bool]
    ended: Callable[[Mapping[str, Any]], bool]


CANCEL_CASES: dict[str, CancelCase] = {
    "tencent_batch_terminate_job": CancelCase(
        "tencentcloud",
        {"job_id": "job-97zcl3wt"},
        tencent_body(),
        {},
        tencent_body(JobId="job-97zcl3wt", JobState="RUNNING"),
        {("JobState",): JOB_STATES, ("JobId",): JOB_IDS},
        lambda body: True,
        lambda body: body.get("JobId") == "job-97zcl3wt" and body.get("JobState") in BATCH_FINAL,
    ),
    "alibaba_cloudflow_stop_execution": CancelCase(
        "alibabacloud",
        {"flow_name": "flow", "execution_name": "exec"},
        {**FNF_ANSWER, "Status": "Stopped"},
        {("Name",): NAMES, ("FlowName",): FLOWS},
        FNF_ANSWER,
        {("Status",): FLOW_STATUSES, ("Name",): NAMES, ("FlowName",): FLOWS},
        lambda body: body.get("FlowName") == "flow" and body.get("Name") == "exec",
        lambda body: (
            body.get("FlowName") == "flow"
            and body.get("Name") == "exec"
            and isinstance(body.get("Status"), str)
            and body["Status"] in FLOW_FINAL
        ),
    ),
}


# --- running one example -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    """One loopback server for every example of the module."""
    instance = LoopbackServer()
    yield instance
    instance.close()


pytestmark = pytest.mark.usefixtures("quiet_provider_logs")


def _run(server: LoopbackServer, vendor: str, action: Any, replies: tuple[Served, ...]) -> Any:
    """Serve ``replies``, run the spec once; its result or its (typed) error, within the time bound."""
    server.program(*(served.reply for served in replies))
    started = time.monotonic()
    try:
        outcome = run_action(action, client_for(vendor, server), deadline=time.time() + TIME_BOUND)
    except CloudApiError as exc:
        # Typed, and renderable as the operator and the trigger render it.
        json.dumps(exc.to_dict(), allow_nan=False)
        outcome = exc
        assert str(outcome)
    elapsed = time.monotonic() - started
    assert elapsed < TIME_BOUND + 3.0, f"one write took {elapsed:.1f}s"
    return outcome


def _start_property(name: str) -> Any:
    case = START_CASES[name]
    first = answer(case.vendor, case.template, case.fields)

    @seeded
    @FUZZ
    @given(served=first, after=case.after)
    def test(server: LoopbackServer, served: Served, after: tuple[Served, ...]) -> None:
        outcome = _run(server, case.vendor, get_start(name).start(case.params, case.token), (served, *after))
        if isinstance(outcome, Started):
            json.dumps([dict(outcome.identifiers), dict(outcome.output)], allow_nan=False)
            if len(server.requests) == 1:
                assert served.status == 200 and not served.error and served.body is not None
                assert case.proven(outcome, served.body), f"{outcome} from {served.reply.body[:300]!r}"
            else:
                # Only CloudFlow asks again: after ExecutionAlreadyExists, a describe (and maybe a second start).
                assert name == "alibaba_cloudflow_start_execution" and served.error
                assert case.proven(outcome, {}), outcome
                describe = after[0]
                assert describe.body is not None and describe.status == 200 and not describe.error
                assert describe.body.get("Name") == "exec" and describe.body.get("FlowName") == "flow"
                assert describe.body.get("Status") in FLOW_STATES
                again = after[1]
                if len(server.requests) == 3 and not again.error and again.status == 200:
                    assert again.body is not None and again.body.get("Name") == "exec-2", outcome
            return
        assert isinstance(outcome, CloudApiError), outcome
        refused = 400 <= served.status < 500 or served.error
        if not refused:
            # A 2xx (or 3xx, 5xx, no answer) that does not prove what started: the write may have been applied.
            assert isinstance(outcome, WriteOutcomeUnknown), f"{outcome!r} from {served.reply!r:.300}"
        if isinstance(outcome, WriteOutcomeUnknown):
            assert outcome.call and not outcome.retryable

    test.__name__ = f"test_{name}_start_answers_prove_the_ids_or_are_typed_errors"
    return test


def _cancel_property(name: str) -> Any:
    case = CANCEL_CASES[name]
    write = answer(case.vendor, case.write, case.write_fields)
    state = answer(case.vendor, case.state, case.state_fields)

    @seeded
    @FUZZ
    @given(first=write, second=state)
    def test(server: LoopbackServer, first: Served, second: Served) -> None:
        outcome = _run(server, case.vendor, get_cancel(name).cancel(case.identifiers), (first, second))
        if isinstance(outcome, CloudApiError):
            return
        assert isinstance(outcome, Cancelled), outcome
        assert isinstance(outcome.accepted, bool) and (outcome.reason is None or isinstance(outcome.reason, str))
        if len(server.requests) == 2 and outcome.accepted:
            # "Already ended" only from a 200 about this execution in a documented end state.
            assert second.status == 200 and not second.error and second.body is not None
            assert case.ended(second.body), f"{outcome} from {second.reply.body[:300]!r}"
        elif outcome.accepted and outcome.reason is None:
            assert first.status == 200 and not first.error and first.body is not None
            assert case.about(first.body), f"{outcome} from {first.reply.body[:300]!r}"
        if not outcome.accepted:
            assert outcome.retry_after is not None and len(server.requests) == 2

    test.__name__ = f"test_{name}_cancel_answers_end_it_only_when_proven"
    return test


def test_every_registered_start_and_cancel_spec_is_searched() -> None:
    assert set(START_CASES) == set(_STARTS)
    assert set(CANCEL_CASES) == set(_CANCELS)


test_batch_submit_job = _start_property("tencent_batch_submit_job")
test_emr_scale_out = _start_property("tencent_emr_scale_out_cluster")
test_emr_terminate_nodes = _start_property("tencent_emr_terminate_cluster_nodes")
test_cynosdb_flow_action = _start_property("tencent_cynosdb_flow_action")
test_cloudflow_start = _start_property("alibaba_cloudflow_start_execution")
test_dws_snapshot = _start_property("huawei_dws_create_snapshot")
test_dws_resize = _start_property("huawei_dws_resize_cluster")
test_dws_restore = _start_property("huawei_dws_restore_cluster")
test_batch_terminate = _cancel_property("tencent_batch_terminate_job")
test_cloudflow_stop = _cancel_property("alibaba_cloudflow_stop_execution")


# --- one example per rule ----------------------------------------------------------------------------------


def tencent(status: int = 200, **fields: Any) -> Reply:
    return Reply(status, json.dumps({"Response": {**fields, "RequestId": "req-1"}}).encode())


def plain(body: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(body).encode(), (("X-Request-Id", "hw-req-1"),))


def start(server: LoopbackServer, name: str, *replies: Reply, attempts: int = 1) -> Any:
    case = START_CASES[name]
    server.program(*replies)
    client = client_for(case.vendor, server, max_attempts=attempts)
    return run_action(get_start(name).start(case.params, case.token), client, deadline=time.time() + TIME_BOUND)


def cancel(server: LoopbackServer, name: str, *replies: Reply) -> Any:
    case = CANCEL_CASES[name]
    server.program(*replies)
    return run_action(get_cancel(name).cancel(case.identifiers), client_for(case.vendor, server))


@pytest.mark.parametrize(
    ("name", "reply", "field_name"),
    [
        ("tencent_batch_submit_job", tencent(JobId=12345), "JobId"),
        ("tencent_batch_submit_job", tencent(JobId="job-97ZCL3WT"), "JobId"),
        ("tencent_batch_submit_job", tencent(), "JobId"),
        ("tencent_emr_scale_out_cluster", tencent(FlowId=[], TraceId=UUID), "FlowId"),
        ("tencent_emr_scale_out_cluster", tencent(FlowId="abc"), "FlowId"),
        ("tencent_emr_scale_out_cluster", tencent(FlowId=True, TraceId=UUID), "FlowId"),
        ("tencent_emr_scale_out_cluster", tencent(FlowId=5001, TraceId={}), "TraceId"),
        ("tencent_emr_scale_out_cluster", tencent(FlowId=0, TraceId=""), "FlowId"),
        ("tencent_emr_terminate_cluster_nodes", tencent(FlowId=-5), "FlowId"),
        ("tencent_cynosdb_flow_action", tencent(FlowId=0), "FlowId"),
        ("tencent_cynosdb_flow_action", tencent(FlowId="7001"), "FlowId"),
        ("huawei_dws_create_snapshot", plain({"snapshot": {"id": "a/b"}}), "snapshot.id"),
        ("huawei_dws_restore_cluster", plain({"cluster": {"id": UUID}, "job_id": "../x"}), "job_id"),
        ("huawei_dws_restore_cluster", plain({"cluster": {"id": 5}}), "cluster.id"),
        ("huawei_dws_restore_cluster", plain({"cluster": {"id": ".."}, "job_id": UUID}), "cluster.id"),
    ],
)
def test_a_start_answered_with_an_undocumented_id_may_have_been_applied_and_names_the_field(
    server: LoopbackServer, name: str, reply: Reply, field_name: str
) -> None:
    with pytest.raises(WriteOutcomeUnknown) as caught:
        start(server, name, reply)
    error = caught.value
    assert error.field == field_name and field_name in str(error)
    assert error.request_id in ("req-1", "hw-req-1") and error.request_id in str(error)
    assert "may have been applied" in str(error) and "console" in str(error)
    assert not error.retryable and len(server.requests) == 1


@pytest.mark.parametrize(
    ("name", "reply", "identifiers"),
    [
        ("tencent_batch_submit_job", tencent(JobId="job-97zcl3wt"), {"job_id": "job-97zcl3wt"}),
        (
            "tencent_emr_scale_out_cluster",
            tencent(FlowId=5001, TraceId=UUID),
            {"instance_id": "emr-123", "flow_id": "5001", "trace_id": None},
        ),
        (
            "tencent_emr_scale_out_cluster",
            tencent(FlowId=0, TraceId=UUID),
            {"instance_id": "emr-123", "flow_id": None, "trace_id": UUID},
        ),
        ("tencent_cynosdb_flow_action", tencent(FlowId=7001), {"flow_id": 7001}),
        ("huawei_dws_restore_cluster", plain({"cluster": {"id": UUID}, "job_id": "j-1"}), {"job_id": "j-1"}),
        (
            "huawei_dws_restore_cluster",
            plain({"cluster": {"id": UUID}}),
            {"cluster_id": UUID, "action_name": "RESTORING"},
        ),
    ],
)
def test_a_start_answered_with_documented_ids_waits_on_exactly_them(
    server: LoopbackServer, name: str, reply: Reply, identifiers: dict[str, Any]
) -> None:
    started = start(server, name, reply)
    assert dict(started.identifiers) == identifiers


def test_an_emr_answer_keeps_only_documented_output_fields(server: LoopbackServer) -> None:
    started = start(
        server, "tencent_emr_scale_out_cluster", tencent(FlowId=5001, TraceId=UUID, DealNames=[{}], BillId=7)
    )
    assert dict(started.output) == {"FlowId": 5001, "TraceId": UUID}


def test_a_batch_cancel_reads_only_a_documented_end_state_as_already_ended(server: LoopbackServer) -> None:
    refused = Reply(
        200, json.dumps({"Response": {"Error": {"Code": "UnsupportedOperation"}, "RequestId": "r"}}).encode()
    )
    for state in (5, "SUCCEED ", ["SUCCEED"], "succeed", None):
        outcome = cancel(server, "tencent_batch_terminate_job", refused, tencent(JobId="job-97zcl3wt", JobState=state))
        assert not outcome.accepted and outcome.retry_after is not None, state
    outcome = cancel(server, "tencent_batch_terminate_job", refused, tencent(JobId="job-97zcl3wt", JobState="FAILED"))
    assert outcome.accepted and "already ended (FAILED)" in (outcome.reason or "")


def test_a_batch_cancel_never_reads_an_answer_about_another_job(server: LoopbackServer) -> None:
    refused = Reply(
        200, json.dumps({"Response": {"Error": {"Code": "UnsupportedOperation"}, "RequestId": "r"}}).encode()
    )
    with pytest.raises(CloudApiError) as caught:
        cancel(server, "tencent_batch_terminate_job", refused, tencent(JobId="job-other000", JobState="SUCCEED"))
    assert "job-other000" in str(caught.value)


def test_a_cloudflow_stop_reads_only_a_documented_end_state_as_already_ended(server: LoopbackServer) -> None:
    refused = plain({"Code": "InvalidArgument", "Message": "not in progress", "RequestId": "r"}, 400)
    for status in (["Stopped"], "stopped", 1):
        outcome = cancel(server, "alibaba_cloudflow_stop_execution", refused, plain({**FNF_ANSWER, "Status": status}))
        assert not outcome.accepted and outcome.retry_after is not None, status
    outcome = cancel(server, "alibaba_cloudflow_stop_execution", refused, plain({**FNF_ANSWER, "Status": "Succeeded"}))
    assert outcome.accepted


def test_a_cloudflow_start_answered_about_another_execution_may_have_been_applied(server: LoopbackServer) -> None:
    with pytest.raises(WriteOutcomeUnknown) as caught:
        start(server, "alibaba_cloudflow_start_execution", plain({**FNF_ANSWER, "Name": "other"}))
    assert "idempotency key" in str(caught.value) and caught.value.request_id == "req-1"


def test_a_cloudflow_start_never_adopts_an_execution_of_undocumented_status(server: LoopbackServer) -> None:
    exists = plain({"Code": "ExecutionAlreadyExists", "Message": "ended", "RequestId": "r"}, 400)
    with pytest.raises(CloudApiError) as caught:
        start(server, "alibaba_cloudflow_start_execution", exists, plain({**FNF_ANSWER, "Status": "succeeded"}))
    assert not isinstance(caught.value, WriteOutcomeUnknown) and "succeeded" in str(caught.value)


# --- the write driver --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"{}", padding=5 * 1024 * 1024),
        Reply(200, b"{}", declared_length=50 * 1024 * 1024),
        Reply(200, b"<html>ok</html>"),
        Reply(200, b'{"Response": {"FlowId": 1'),
    ],
)
@pytest.mark.parametrize("name", ["tencent_cynosdb_flow_action", "tencent_batch_submit_job"])
def test_a_write_answer_too_large_or_unreadable_may_have_been_applied(
    server: LoopbackServer, name: str, reply: Reply
) -> None:
    with pytest.raises(WriteOutcomeUnknown) as caught:
        start(server, name, reply, attempts=1)
    assert caught.value.call.endswith(("PauseServerless", "SubmitJob")) and "applied" in str(caught.value)


def test_an_idempotent_write_whose_retries_all_failed_ambiguously_may_have_been_applied(server: LoopbackServer) -> None:
    with pytest.raises(WriteOutcomeUnknown) as caught:
        start(server, "tencent_batch_submit_job", Reply(500, b"oops"), attempts=3)
    assert len(server.requests) == 3
    assert "idempotency key" in str(caught.value) and caught.value.call == "batch:SubmitJob"
    assert caught.value.http_status == 500


def test_a_dropped_connection_after_an_idempotent_write_may_have_been_applied(server: LoopbackServer) -> None:
    with pytest.raises(WriteOutcomeUnknown) as caught:
        start(server, "tencent_batch_submit_job", Reply(200, b"{", declared_length=500), attempts=2)
    assert len(server.requests) == 2 and "idempotency key" in str(caught.value)


def test_a_non_idempotent_write_is_sent_once_and_a_5xx_may_have_been_applied(server: LoopbackServer) -> None:
    with pytest.raises(WriteOutcomeUnknown) as caught:
        start(server, "tencent_cynosdb_flow_action", Reply(503, b""), attempts=5)
    assert len(server.requests) == 1 and "not idempotent" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("AuthFailure.SignatureFailure", CloudApiError),
        ("InvalidParameter", InvalidRequestError),
        ("ResourceNotFound.Job", NotFoundError),
        ("RequestLimitExceeded", ThrottledError),
    ],
)
def test_a_write_refused_before_processing_keeps_its_own_error(
    server: LoopbackServer, code: str, error: type[CloudApiError]
) -> None:
    refusal = Reply(
        200, json.dumps({"Response": {"Error": {"Code": code, "Message": "no"}, "RequestId": "r"}}).encode()
    )
    with pytest.raises(error) as caught:
        start(server, "tencent_batch_submit_job", refusal)
    assert not isinstance(caught.value, WriteOutcomeUnknown)


def _defective_start() -> Any:
    response = yield Write(TencentCall("batch", "SubmitJob", "2017-03-12", {}), idempotent=False)
    return response.body["missing"]["field"]


def _defective_read() -> Any:
    response = yield TencentCall("batch", "DescribeJob", "2017-03-12", {})
    return response.body["missing"]["field"]


def test_a_spec_tripping_over_a_write_answer_reports_that_the_write_may_have_been_applied(
    server: LoopbackServer,
) -> None:
    server.program(tencent(JobId="job-97zcl3wt"))
    with pytest.raises(WriteOutcomeUnknown) as caught:
        run_action(_defective_start(), client_for("tencentcloud", server))
    assert caught.value.call == "batch:SubmitJob" and caught.value.request_id == "req-1"
    assert "KeyError" in str(caught.value)


def test_a_spec_tripping_over_a_read_answer_stays_an_unreadable_answer(server: LoopbackServer) -> None:
    server.program(tencent(JobId="job-97zcl3wt"))
    with pytest.raises(CloudApiError) as caught:
        run_action(_defective_read(), client_for("tencentcloud", server))
    assert type(caught.value).__name__ == "UnreadableAnswerError"


async def test_the_trigger_path_reads_start_answers_as_strictly(server: LoopbackServer) -> None:
    case = START_CASES["tencent_batch_submit_job"]
    server.program(tencent(JobId=12345))
    with pytest.raises(WriteOutcomeUnknown) as caught:
        await asyncio.wait_for(
            arun_action(
                get_start("tencent_batch_submit_job").start(case.params, case.token), client_for(case.vendor, server)
            ),
            10,
        )
    assert caught.value.field == "JobId"


async def test_the_trigger_path_reports_an_idempotent_write_lost_to_5xx_as_maybe_applied(
    server: LoopbackServer,
) -> None:
    server.program(Reply(502, b""))
    client = client_for("tencentcloud", server, max_attempts=2)
    write = Write(TencentCall("batch", "SubmitJob", "2017-03-12", {}), idempotent=True)
    with pytest.raises(WriteOutcomeUnknown) as caught:
        await asyncio.wait_for(asend_write(client, write), 10)
    assert len(server.requests) == 2 and "idempotency key" in str(caught.value)


def test_a_non_idempotent_write_answered_over_the_size_cap_may_have_been_applied(server: LoopbackServer) -> None:
    server.program(Reply(200, b"{}", declared_length=50 * 1024 * 1024))
    write = Write(TencentCall("cynosdb", "PauseServerless", "2019-01-07", {}), idempotent=False)
    with pytest.raises(WriteOutcomeUnknown) as caught:
        send_write(client_for("tencentcloud", server), write)
    assert caught.value.code == "ResponseTooLarge" and caught.value.call == "cynosdb:PauseServerless"

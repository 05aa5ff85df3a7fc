"""Property tests: every service's answer reader against generated hostile answers, over real loopback HTTP.

Each example serves one or more generated answers from a programmable loopback server (``tests/fuzz_server``)
and runs one real check of the service through the real transport (signing, the shared httpx client, the body
cap, the vendor parser, the spec's reader, the wait's logging and event). Answers start from the documented
example responses (``emulator/examples/*.json``) and are mutated: the state value (documented values, near
misses such as ``"Succeeded\\n"`` or ``2.0``, values of every JSON type), the fields naming the execution,
any other field (wrong types, lists for objects, deep nesting, integers of 5,000 digits, NaN), the envelope
(error objects inside a 200, the envelope replaced), the HTTP status, the headers, and raw bodies (empty, not
JSON, not UTF-8, truncated, 5 MiB long, a lying Content-Length).

The properties:

(a) no SUCCEEDED verdict unless the answer is an HTTP 200 carrying, in the documented envelope with no error
    object, exactly a documented success value of the documented type, for the very execution asked (where
    the answer names it);
(b) the outcome is a :class:`Snapshot` whose event is strict JSON, or a typed ``CloudApiError`` — never
    anything else (``TypeError``, ``ValueError``, ``RecursionError``, ``KeyError``...);
(c) bounded time: one check ends within a few seconds whatever the answer.

CI runs a fixed seed (``derandomize=True``) and ``CLOUDFLOWS_FUZZ_EXAMPLES`` examples per service (default
2,000; about 60-90 s for the five services on two cores). For a longer local search with fresh randomness::

    CLOUDFLOWS_FUZZ_EXAMPLES=50000 CLOUDFLOWS_FUZZ_SEED=random \
        .venv/bin/python -m pytest tests/integration/services/test_answer_properties.py -q

(``CLOUDFLOWS_FUZZ_SEED=<int>`` replays one seed; hypothesis prints the falsifying example and a
``@reproduce_failure`` line when a property fails.)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.services.base import Snapshot
from airflow_provider_cloudflows.services.driver import run_check
from airflow_provider_cloudflows.status import ExecutionStatus, Verdict
from airflow_provider_cloudflows.waiting import Wait
from cloudflows_emulator import examples as example_files
from tests.fuzz_server import FUZZ_EXAMPLES, LoopbackServer, Reply, client_for, fuzz_settings, seeded

EXAMPLES = FUZZ_EXAMPLES
# One check, retries included, must end well within this (property c).
TIME_BOUND = 5.0
FUZZ = fuzz_settings(EXAMPLES)


def _example(name: str) -> Any:
    path = os.path.join(os.path.dirname(example_files.__file__), name)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True)
class Case:
    """One service under test: what is asked, and what a documented answer looks like."""

    service: str
    vendor: str
    ids: dict[str, Any]
    example: dict[str, Any]
    tencent_envelope: bool
    state_field: str
    states: tuple[Any, ...]
    success: tuple[Any, ...]
    # Fields of the answer that name the execution, and the value asked for.
    identity: tuple[tuple[str, str], ...] = ()


CASES = {
    "tencent_emr_flow": Case(
        "tencent_emr_flow",
        "tencentcloud",
        {"instance_id": "emr-123", "flow_id": "42"},
        _example("emr_describe_cluster_flow_status_detail.json")["Response"],
        True,
        "FlowTotalStatus",
        (0, 1, 2, 3, -1, -3),
        (2, 3),
    ),
    "tencent_cynosdb_flow": Case(
        "tencent_cynosdb_flow",
        "tencentcloud",
        {"flow_id": 123},
        _example("cynosdb_describe_flow.json")["Response"],
        True,
        "Status",
        (0, 1, 2),
        (0,),
    ),
    "tencent_batch_task": Case(
        "tencent_batch_task",
        "tencentcloud",
        {"job_id": "job-97zcl3wt", "task_name": "A"},
        _example("batch_describe_task.json")["Response"],
        True,
        "TaskState",
        ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEED", "FAILED", "FAILED_INTERRUPTED"),
        ("SUCCEED",),
        (("JobId", "job-97zcl3wt"), ("TaskName", "A")),
    ),
    "alibaba_cloudflow_execution": Case(
        "alibaba_cloudflow_execution",
        "alibabacloud",
        {"flow_name": "flow", "execution_name": "exec"},
        _example("fnf_describe_execution.json"),
        False,
        "Status",
        ("Starting", "Running", "Stopped", "Succeeded", "Failed", "TimedOut"),
        ("Succeeded",),
        (("FlowName", "flow"), ("Name", "exec")),
    ),
    "huawei_dws_cluster_task": Case(
        "huawei_dws_cluster_task",
        "huaweicloud",
        {"cluster_id": "9f76c502-fc9c-4a52-8656-65d0da6e3d57", "action_name": "SNAPSHOTTING"},
        {**_example("dws_list_cluster_actions.json"), "action_name": "SNAPSHOTTING", "status": "RUNNING"},
        False,
        "status",
        ("SUCCESS", "RUNNING", "WAITING", "FAILED", "ROLLBACK_RUNNING", "ROLLBACK_SUCCESS", "ROLLBACK_FAIL"),
        ("SUCCESS",),
    ),
}

# --- generated values --------------------------------------------------------------------------------------

# Placeholders swapped for raw JSON text after serialization: values json.dumps cannot (or should not) build.
BIG_INT = "\x00bigint\x00"
DEEP = "\x00deep\x00"
_RAW = {
    json.dumps(BIG_INT): "9" * 5000,
    json.dumps(DEEP): "[" * 3000 + "]" * 3000,
}
MISSING = object()

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from([BIG_INT, DEEP, "", " ", "null", "{}", "[]"]),
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=5,
)


def _near_misses(value: Any) -> list[Any]:
    """Values that look like ``value`` but are not it, exactly, in the documented type."""
    if isinstance(value, int):
        return [str(value), f" {value}", f"{value} ", float(value), [value], {"value": value}, value is True]
    return [f"{value} ", f" {value}", f"{value}\n", value.lower(), value.upper() + "!", [value], {"Status": value}]


def state_values(case: Case) -> st.SearchStrategy[Any]:
    """Mostly documented values (success often), else near misses and arbitrary JSON."""
    near = [miss for value in case.states for miss in _near_misses(value)]
    return st.one_of(
        st.sampled_from(case.success),
        st.sampled_from(case.states),
        st.sampled_from(near),
        json_values,
        st.just(MISSING),
    )


def identity_values(asked: str) -> st.SearchStrategy[Any]:
    """The asked value (often), another one, a near miss, any JSON value, or nothing."""
    return st.one_of(
        st.just(asked),
        st.just(asked),
        st.sampled_from(["other", asked + " ", asked.upper(), "", asked + "2"]),
        json_values,
        st.just(MISSING),
    )


def _paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 3) -> Iterator[tuple[Any, ...]]:
    if depth == 0:
        return
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key), depth - 1)


def _set(root: Any, path: tuple[Any, ...], value: Any) -> None:
    node = root
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
        if value is MISSING:
            if isinstance(node, dict):
                node.pop(path[-1], None)
            else:
                del node[path[-1]]
        else:
            node[path[-1]] = value


ERROR_CODES = [
    "AuthFailure.SignatureFailure",
    "RequestLimitExceeded",
    "InternalError",
    "ResourceNotFound.Job",
    "InvalidParameter",
    "Throttling.User",
    "ExecutionNotExists",
    "SignatureDoesNotMatch",
    "APIG.0301",
    "APIG.0308",
    "DWS.0047",
    "DWS.0001",
    "",
]
STATUSES = [201, 202, 203, 204, 206, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 409, 412, 429, 500, 503]
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
headers = st.lists(
    st.one_of(
        st.tuples(
            st.just("Content-Type"),
            st.sampled_from(["application/json", "text/html", "text/plain", "application/xml", "", "json"]),
        ),
        st.tuples(st.sampled_from(["Retry-After", "x-acs-retry-after"]), HEADER_VALUE | st.just("99999999999999999")),
        st.tuples(st.sampled_from(["X-Request-Id", "x-acs-request-id"]), HEADER_VALUE),
        st.tuples(st.just("Location"), st.just("http://127.0.0.1:9/elsewhere")),
    ),
    max_size=3,
)
http_status = st.one_of(st.just(200), st.just(200), st.just(200), st.sampled_from(STATUSES))
RAW_BODIES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b"{}",
    b'"Succeeded"',
    b"0",
    b"NaN",
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"9" * 5000,
    b'{"Response": {"Status": ' + b"9" * 5000 + b"}}",
    b"\xff\xfe{",
    b"<html>502 Bad Gateway</html>",
    b'{"Status": "Running", "Status": "Succeeded"}',
    b'{"Response": {"TaskState": "RUNNING", "TaskState": "SUCCEED"}}',
]


@dataclass(frozen=True)
class Answer:
    """What one example serves, and whether it may prove success (the oracle of property a)."""

    replies: tuple[Reply, ...]
    may_succeed: bool


def _serialize(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    for placeholder, raw in _RAW.items():
        text = text.replace(placeholder, raw)
    return text.encode("utf-8", "surrogatepass")


def _proves_success(case: Case, status: int, top: Any, hdrs: list[tuple[str, str]]) -> bool:
    """The oracle: may this answer end the wait successfully? (Implementations may refuse more.)"""
    if status != 200 or not isinstance(top, dict):
        return False
    body = top
    if case.tencent_envelope:
        body = top.get("Response")
        if not isinstance(body, dict) or "Error" in body:
            return False
    elif case.vendor == "alibabacloud":
        if any(body.get(key) not in (None, "") for key in ("Code", "code")):
            return False
    elif any(body.get(key) not in (None, "") for key in ("error_code", "errCode")):
        return False
    value = body.get(case.state_field, MISSING)
    if not any(type(value) is type(ok) and value == ok for ok in case.success):
        return False
    return all(body.get(name, MISSING) == asked for name, asked in case.identity)


@st.composite
def documented_answer(draw: st.DrawFn, case: Case) -> tuple[Reply, bool]:
    """The documented example with its state, identity, other fields, envelope, status and headers mutated."""
    body = json.loads(_TEMPLATES[case.service])
    _set(body, (case.state_field,), draw(state_values(case)))
    for name, asked in case.identity:
        _set(body, (name,), draw(identity_values(asked)))
    for path in draw(st.lists(st.sampled_from(_PATHS[case.service]), max_size=2)):
        _set(body, path, draw(json_values | st.just(MISSING)))
    envelope = draw(st.sampled_from(["plain", "plain", "plain", "error", "replaced"]))
    if envelope == "error":
        error = draw(
            st.fixed_dictionaries({"Code": st.sampled_from(ERROR_CODES), "Message": st.text(max_size=20)}) | json_values
        )
        if case.tencent_envelope:
            body["Error"] = error
        elif case.vendor == "alibabacloud":
            body.update(error if isinstance(error, dict) else {"Code": error})
        else:
            body["error_code"], body["error_msg"] = draw(st.sampled_from(ERROR_CODES) | json_values), "boom"
    top: Any = {"Response": body} if case.tencent_envelope else body
    if envelope == "replaced":
        top = draw(json_values) if draw(st.booleans()) else {"Response": draw(json_values)}
    status = draw(http_status)
    hdrs = draw(headers)
    reply = Reply(status, _serialize(top), tuple(hdrs))
    return reply, _proves_success(case, status, top, hdrs)


@st.composite
def raw_answer(draw: st.DrawFn, case: Case) -> tuple[Reply, bool]:
    """Bodies that are not the documented shape at all, including ones cut short or far too long."""
    kind = draw(st.sampled_from(["canned", "bytes", "truncated", "huge", "lying"]))
    document = _serialize(json.loads(_TEMPLATES[case.service]))
    if case.tencent_envelope:
        document = b'{"Response": ' + document + b"}"
    if kind == "canned":
        body = draw(st.sampled_from(RAW_BODIES))
    elif kind == "bytes":
        body = draw(st.binary(max_size=40))
    else:
        body = document[: draw(st.integers(0, len(document) - 1))] if kind == "truncated" else document
    padding, declared = 0, None
    if kind == "lying":
        declared = len(body) + 100
    elif kind == "huge" and draw(st.integers(0, 3)) == 0:
        # Past the client's 4 MiB cap, really sent; rare, since it is the costliest example of all.
        padding = 4 * 1024 * 1024 + 64 * 1024
    elif kind == "huge":
        # Announced past the cap (the client refuses before reading); the connection then closes.
        declared = 5 * 1024 * 1024
    return Reply(draw(http_status), body, tuple(draw(headers)), padding=padding, declared_length=declared), False


def _follow_ups(case: Case) -> list[Reply]:
    """Cheap canned replies for a check's later calls (Batch's wide page, CloudFlow's history, DWS's views)."""
    replies = []
    for value in case.states:
        body = json.loads(_TEMPLATES[case.service])
        body[case.state_field] = value
        replies.append(Reply(200, _serialize({"Response": body} if case.tencent_envelope else body)))
    replies += [Reply(200, body) for body in RAW_BODIES[:8]]
    replies += [
        Reply(404, b'{"error_code": "DWS.0001", "error_msg": "no such task", "Code": "ExecutionNotExists"}'),
        Reply(400, b'{"error_code": "DWS.0047", "error_msg": "cluster unknown"}'),
        Reply(200, b'{"Events": 5, "NextToken": {"a": 1}, "cluster": {"status": "AVAILABLE", "task_status": 7}}'),
        Reply(200, b'{"Events": [{"Type": "StepFailed", "EventDetail": "[[[[1]]]]"}], "cluster": []}'),
        Reply(200, b'{"Response": {"TaskInstanceSet": {"a": 1}, "JobId": "job-97zcl3wt", "TaskName": "A"}}'),
        Reply(503, b""),
    ]
    return replies


def answers(case: Case) -> st.SearchStrategy[Answer]:
    """A generated first reply, then up to two cheap follow-ups (a check may make several calls)."""
    first = st.one_of(documented_answer(case), documented_answer(case), documented_answer(case), raw_answer(case))
    rest = st.lists(st.sampled_from(_follow_ups(case)), max_size=2)
    return st.tuples(first, rest).map(lambda drawn: Answer((drawn[0][0], *drawn[1]), drawn[0][1]))


# Built once: every example starts from a parsed copy of the documented example (cheaper than deepcopy).
_TEMPLATES = {name: json.dumps(case.example) for name, case in CASES.items()}
_PATHS = {name: sorted(_paths(case.example), key=repr) for name, case in CASES.items()}


# --- running one example -----------------------------------------------------------------------------------


class _FormattingLog:
    """A log sink that formats every line, as a real logger would, so that formatting errors surface."""

    def info(self, event: Any, *args: Any, **kw: Any) -> None:
        str(event) % args

    warning = info


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    """One loopback server for every example of the module."""
    instance = LoopbackServer()
    yield instance
    instance.close()


def observe(case: Case, server: LoopbackServer, client: Any, answer: Answer) -> Snapshot | CloudApiError:
    """Serve ``answer``, run one check, and assert properties (b) and (c); return what came out."""
    server.program(*answer.replies)
    wait = Wait(case.service, case.ids)
    started = time.monotonic()
    try:
        snapshot = run_check(wait.check(), client, deadline=time.time() + TIME_BOUND)
    except CloudApiError as exc:
        # Typed, and renderable as the trigger renders it.
        json.dumps(exc.to_dict(), allow_nan=False)
        rendered = str(exc)
        outcome: Snapshot | CloudApiError = exc
        assert rendered
    else:
        wait.report(_FormattingLog(), snapshot)
        # The XCom / trigger event must be strict JSON.
        json.dumps(wait.state(snapshot), allow_nan=False)
        outcome = snapshot
    elapsed = time.monotonic() - started
    assert elapsed < TIME_BOUND + 3.0, f"one check took {elapsed:.1f}s"
    return outcome


def assert_no_false_success(case: Case, answer: Answer, outcome: Snapshot | CloudApiError) -> None:
    """Property (a)."""
    if isinstance(outcome, Snapshot) and (
        outcome.status is ExecutionStatus.SUCCEEDED
        or Wait(case.service, case.ids).verdict(outcome.vendor_status) is Verdict.SUCCESS
    ):
        assert answer.may_succeed, f"success from an answer that does not prove it: {answer.replies[0]!r:.600}"


def _property_test(name: str) -> Any:
    case = CASES[name]

    @seeded
    @FUZZ
    @given(answer=answers(case))
    def test(server: LoopbackServer, answer: Answer) -> None:
        client = _clients(server)[case.vendor]
        outcome = observe(case, server, client, answer)
        assert_no_false_success(case, answer, outcome)

    test.__name__ = f"test_{name}_answers"
    test.__doc__ = f"{name}: properties (a), (b), (c) over generated answers."
    return test


_CLIENTS: dict[int, dict[str, Any]] = {}


def _clients(server: LoopbackServer) -> dict[str, Any]:
    # One client per vendor for the whole module: the examples must be cheap.
    if id(server) not in _CLIENTS:
        vendors = ("tencentcloud", "alibabacloud", "huaweicloud")
        _CLIENTS[id(server)] = {vendor: client_for(vendor, server) for vendor in vendors}
    return _CLIENTS[id(server)]


pytestmark = pytest.mark.usefixtures("quiet_provider_logs")


test_tencent_emr_flow_answers = _property_test("tencent_emr_flow")
test_tencent_cynosdb_flow_answers = _property_test("tencent_cynosdb_flow")
test_tencent_batch_task_answers = _property_test("tencent_batch_task")
test_alibaba_cloudflow_execution_answers = _property_test("alibaba_cloudflow_execution")
test_huawei_dws_cluster_task_answers = _property_test("huawei_dws_cluster_task")

"""Property tests: list answers read by batch reads (``read_many``), generated and hostile, over real loopback HTTP.

A batch read asks one list call (CloudFlow: up to five pages) for many executions and returns a snapshot for
each execution the answer proves something about (``docs/quotas.md``, "Reading many executions in one call");
a snapshot that ``_listed`` accepts stands for that wait's poll. Each example serves a generated list answer
from the programmable loopback server (``tests/fuzz_server``) and drives ``spec.read_many(group, asked)`` with
1-100 asked ids through the real transport (signing, the pooled async httpx client, the body cap, the vendor
parser) with :func:`adrive`, as the trigger's ``Batcher`` does.

Answers start from the documented list answer in the emulator's shape (``DescribeJobs``: ``{"Response":
{"JobSet": [JobView...], "TotalCount": n, "RequestId": ...}}``; ``DescribeJob``'s ``TaskSet``; CloudFlow
``ListExecutions`` pages; the DWS cluster list) and are mutated: per asked id an item once, twice (same or
different states) or not at all; items for ids not asked and near misses of asked ids (``"job-x "``, upper
case, ``["job-x"]``, an integer, null); non-object items; item fields of every JSON type (states such as
``"SUCCEED\\n"``, ``"succeed"``, ``1``, null); the list field of the wrong type; the fields naming what was
asked (the job of a ``DescribeJob``, the flow of an execution); next-page tokens; the envelope broken (an error
object in a 200, the envelope replaced), HTTP 4xx/5xx, raw bodies (not JSON, cut short, past the body cap, a
lying Content-Length).

The properties:

(a) every returned key is an asked id, and an id gets a snapshot only if the pages read (each an HTTP 200 in
    the documented envelope with no error object, about what was asked) hold exactly one object item whose
    id field equals it (a string, exactly); the snapshot is that item's (its state is what the item shows);
(b) ``_listed(Wait(spec.name, ids), snapshot)`` may stand for a poll only if the item's state is exactly a
    documented non-failure value of the documented type, and it ends the wait only as exactly a documented
    success value (``"SUCCEED"``; ``RUNNING`` and the other waiting states keep it waiting);
(c) the outcome is a dict of :class:`Snapshot` whose details (and trigger events) are strict JSON, or a typed
    ``CloudApiError`` — never another exception;
(d) bounded time per example, and no more requests than the pages a read may ask.

Adding a spec with a batch read is one entry in ``CASES`` (``test_every_batch_read_is_searched`` fails until
it has one; an entry whose spec has no batch read yet is skipped). Examples per spec: a quarter of
``CLOUDFLOWS_FUZZ_EXAMPLES`` (default 2,000, so 500; about 30 s for four specs on one core), seeded and
derandomized as in ``test_answer_properties`` (``CLOUDFLOWS_FUZZ_SEED``); the lowest Airflow runs fewer.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.services import get_service, service_names
from airflow_provider_cloudflows.services.base import ServiceSpec, Snapshot
from airflow_provider_cloudflows.services.driver import adrive
from airflow_provider_cloudflows.status import ExecutionStatus, Verdict
from airflow_provider_cloudflows.transport.pool import POOL
from airflow_provider_cloudflows.triggers.execution import _listed
from airflow_provider_cloudflows.waiting import Wait
from tests.fuzz_server import FUZZ_EXAMPLES, LoopbackServer, Reply, client_for, fuzz_settings, seeded

EXAMPLES = max(20, FUZZ_EXAMPLES // 4)
# One list call must end well within this (property d).
TIME_BOUND = 5.0
FUZZ = fuzz_settings(EXAMPLES)
MISSING = object()


# --- the table: one entry per spec with a batch read ---------------------------------------------------------


@dataclass(frozen=True)
class ListCase:
    """One list API under test: a documented answer, how its items name an execution and show its state."""

    service: str
    vendor: str
    # The documented answer body (inside Tencent's ``Response``); its list holds one documented item.
    example: Mapping[str, Any]
    list_field: str
    # The item field naming the execution, and the value it has for an asked id.
    key_field: str
    # Every documented state, those that end the wait successfully, and those that fail it (documented types).
    states: tuple[Any, ...]
    success: tuple[Any, ...]
    failure: tuple[Any, ...]
    # The wait's identifiers of an asked id, and the n-th asked id (of the documented shape).
    ids: Callable[[str], dict[str, Any]]
    item_id: Callable[[int], str]
    # Writes a generated state (a value of ``pool``) into an item for an asked id; reads the state an item
    # shows for an asked id (``MISSING``: none).
    show: Callable[[dict[str, Any], str, Any], None]
    state_of: Callable[[Mapping[str, Any], str], Any]
    pool: tuple[Any, ...]
    # The ``pool`` value of an item showing its execution running (which a list read must take as a poll).
    running: Any
    key_for: Callable[[str], str] = lambda asked: asked
    tencent_envelope: bool = False
    # Fields of the answer (outside the list), and of each item besides its key, that name what was asked.
    echo: Mapping[str, Any] = field(default_factory=dict)
    item_echo: Mapping[str, Any] = field(default_factory=dict)
    count_field: str | None = None
    # Paged lists: the field naming the next page, and how many pages a read may ask.
    token_field: str | None = None
    max_pages: int = 1

    @property
    def non_failure(self) -> tuple[Any, ...]:
        return tuple(s for s in self.states if s not in self.failure)


def _near_misses(value: Any) -> list[Any]:
    """Values that look like ``value`` but are not it, exactly, in the documented type."""
    if isinstance(value, int):
        return [str(value), f" {value}", f"{value} ", float(value), [value], {"value": value}, value is True]
    return [f"{value} ", f" {value}", f"{value}\n", value.lower(), value.upper() + "!", [value], {"State": value}]


ODD = (None, 0, 1, -1, True, False, 1.0, "", " ", (), "{}")


def state_pool(states: Sequence[Any], success: Sequence[Any]) -> tuple[Any, ...]:
    """States to generate: documented values (success often), near misses, odd types, nothing."""
    near = [miss for value in states for miss in _near_misses(value)]
    return (*success * 4, *states * 2, *near, *[[] if v == () else v for v in ODD], MISSING)


def state_field(name: str) -> dict[str, Any]:
    """``show`` / ``state_of`` of a list whose items carry their state in one field."""

    def show(item: dict[str, Any], asked: str, state: Any) -> None:
        _set(item, (name,), state)

    # An absent field reads as null, as the specs read it.
    return {"show": show, "state_of": lambda item, asked: item.get(name)}


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        if value is MISSING:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value


BATCH_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEED", "FAILED", "FAILED_INTERRUPTED")
BATCH_FAILURES = ("FAILED", "FAILED_INTERRUPTED")
METRICS = {
    "SubmittedCount": 0,
    "PendingCount": 0,
    "RunnableCount": 0,
    "StartingCount": 0,
    "RunningCount": 1,
    "SucceedCount": 1,
    "FailedInterruptedCount": 0,
    "FailedCount": 0,
}
# ``DescribeJobs`` as the emulator answers it: a ``JobView`` per job (the SDK model's fields).
DESCRIBE_JOBS = {
    "JobSet": [
        {
            "JobId": "job-97zcl3wt",
            "JobName": "hello",
            "JobState": "RUNNING",
            "Priority": 0,
            "Placement": {"Zone": "ap-guangzhou-2", "ProjectId": 0},
            "CreateTime": "2018-02-07T09:29:09Z",
            "EndTime": None,
            "TaskMetrics": METRICS,
            "Tags": [{"Key": "team", "Value": "data"}],
        }
    ],
    "TotalCount": 1,
    "RequestId": "3a2c7b0e-0e3c-4bd0-8e7b-5f9e3c1f2a11",
}
# ``DescribeJob`` as the emulator answers it, whose ``TaskSet`` lists a ``TaskView`` per task.
JOB_ID = "job-97zcl3wt"
DESCRIBE_JOB = {
    "JobId": JOB_ID,
    "JobName": "hello",
    "Zone": "ap-guangzhou-2",
    "Priority": 0,
    "JobState": "RUNNING",
    "CreateTime": "2018-02-07T09:29:09Z",
    "EndTime": None,
    "TaskSet": [{"TaskName": "A", "TaskState": "RUNNING", "CreateTime": "2018-02-07T09:29:09Z", "EndTime": None}],
    "DependenceSet": [],
    "TaskMetrics": METRICS,
    "TaskInstanceMetrics": METRICS,
    "StateReason": "",
    "Tags": [],
    "NextAction": "",
    "RequestId": "7d3a5b2c-1f0e-4a6b-9c8d-2e1f0a9b8c7d",
}
# ``ListExecutions`` (MetadataOnly) as the emulator answers it: the documented execution's metadata fields.
FLOW_STATES = ("Starting", "Running", "Stopped", "Succeeded", "Failed", "TimedOut")
LIST_EXECUTIONS = {
    "Executions": [
        {
            "Name": "exec",
            "FlowName": "flow",
            "Status": "Running",
            "StartedTime": "2019-01-01T01:01:01.001Z",
            "StoppedTime": "",
        }
    ],
    "NextToken": "",
    "RequestId": "testRequestId",
}
# DWS ``ListClusters``: ``{"clusters": [ClusterInfo...], "count": n}``; a running action shows in
# ``task_status`` and ``action_progress`` (the emulator's fields, fewer of the constant ones).
DWS_ACTIONS = ("GROWING", "RESTORING", "SNAPSHOTTING", "FINE_GRAINED_RESTORING")
DWS_STATES = ("WAITING", "RUNNING", "ROLLBACK_RUNNING", "SUCCESS", "FAILED", "ROLLBACK_FAIL", "ROLLBACK_SUCCESS")
LIST_CLUSTERS = {
    "clusters": [
        {
            "id": "9f76c502-fc9c-4a52-8656-65d0da6e3d57",
            "name": "dws-demo",
            "status": "AVAILABLE",
            "sub_status": "NORMAL",
            "task_status": "SNAPSHOTTING",
            "action_progress": {"SNAPSHOTTING": "37%"},
            "failed_reasons": None,
            "version": "8.2.1",
            "updated": "2024-05-01T10:00:00Z",
            "created": "2024-04-01T10:00:00Z",
            "port": 8000,
            "number_of_node": 3,
            "node_type": "dws.m3.xlarge",
            "tags": [],
        }
    ],
    "count": 1,
}
# Symbolic DWS "states": how an item shows (or does not show) the asked action.
DWS_POOL = (
    "task",
    "task",
    "progress",
    "both",
    "idle",
    "idle",
    "failure_view",
    "other_action",
    "task_lower",
    "task_spaced",
    "task_list",
    "progress_lower",
    "progress_list",
    "progress_odd",
    "progress_not_text",
)


def _dws_show(item: dict[str, Any], asked: str, state: Any) -> None:
    action = asked.rpartition("/")[2]
    other = DWS_ACTIONS[(DWS_ACTIONS.index(action) + 1) % len(DWS_ACTIONS)]
    task, progress = {
        "task": (action, {}),
        "progress": (None, {action: "37%"}),
        "both": (action, {action: "37%"}),
        "idle": (None, {}),
        "failure_view": ({"GROWING": "RESIZE_FAILURE"}.get(action), {}),
        "other_action": (other, {other: "5%"}),
        "task_lower": (action.lower(), {}),
        "task_spaced": (action + " ", {}),
        "task_list": ([action], {}),
        "progress_lower": (None, {action.lower(): "37%"}),
        "progress_list": (None, [action]),
        "progress_odd": (action, {action: "150%"}),
        "progress_not_text": (action, {action: 0.5}),
    }[state]
    item["task_status"], item["action_progress"] = task, progress


def _dws_state(item: Mapping[str, Any], asked: str) -> Any:
    """An item shows the asked action running when ``task_status`` is exactly it or ``action_progress`` has it."""
    action = asked.rpartition("/")[2]
    task, progress = item.get("task_status"), item.get("action_progress")
    shown = (type(task) is str and task == action) or (isinstance(progress, dict) and action in progress)
    return "RUNNING" if shown else MISSING


CASES = {
    "tencent_batch_job": ListCase(
        service="tencent_batch_job",
        vendor="tencentcloud",
        example=DESCRIBE_JOBS,
        list_field="JobSet",
        key_field="JobId",
        states=BATCH_STATES,
        success=("SUCCEED",),
        failure=BATCH_FAILURES,
        ids=lambda item: {"job_id": item},
        item_id=lambda n: f"job-{n:08x}",
        **state_field("JobState"),
        pool=state_pool(BATCH_STATES, ("SUCCEED",)),
        running="RUNNING",
        tencent_envelope=True,
        count_field="TotalCount",
    ),
    "tencent_batch_task": ListCase(
        service="tencent_batch_task",
        vendor="tencentcloud",
        example=DESCRIBE_JOB,
        list_field="TaskSet",
        key_field="TaskName",
        states=BATCH_STATES,
        success=("SUCCEED",),
        failure=BATCH_FAILURES,
        ids=lambda item: {"job_id": JOB_ID, "task_name": item},
        item_id=lambda n: f"task-{n:x}",
        **state_field("TaskState"),
        pool=state_pool(BATCH_STATES, ("SUCCEED",)),
        running="RUNNING",
        tencent_envelope=True,
        echo={"JobId": JOB_ID},
    ),
    "alibaba_cloudflow_execution": ListCase(
        service="alibaba_cloudflow_execution",
        vendor="alibabacloud",
        example=LIST_EXECUTIONS,
        list_field="Executions",
        key_field="Name",
        states=FLOW_STATES,
        success=("Succeeded",),
        failure=("Stopped", "Failed", "TimedOut"),
        ids=lambda item: {"flow_name": "flow", "execution_name": item},
        item_id=lambda n: f"exec-{n:x}",
        **state_field("Status"),
        pool=state_pool(FLOW_STATES, ("Running",)),
        running="Running",
        item_echo={"FlowName": "flow"},
        token_field="NextToken",
        max_pages=5,
    ),
    "huawei_dws_cluster_task": ListCase(
        service="huawei_dws_cluster_task",
        vendor="huaweicloud",
        example=LIST_CLUSTERS,
        list_field="clusters",
        key_field="id",
        states=DWS_STATES,
        success=("SUCCESS",),
        failure=("FAILED", "ROLLBACK_FAIL", "ROLLBACK_SUCCESS"),
        ids=lambda item: {"cluster_id": item.rpartition("/")[0], "action_name": item.rpartition("/")[2]},
        item_id=lambda n: f"9f76c502-fc9c-4a52-8656-{n:012x}/{DWS_ACTIONS[n % len(DWS_ACTIONS)]}",
        show=_dws_show,
        state_of=_dws_state,
        pool=DWS_POOL,
        running="task",
        key_for=lambda asked: asked.rpartition("/")[0],
        count_field="count",
    ),
}


def _batch_specs() -> list[str]:
    return [name for name in service_names() if get_service(name).batch_size > 0]


def _spec(name: str) -> ServiceSpec:
    """The spec of a case; a case written ahead of its spec's batch read is skipped until it has one."""
    spec = get_service(name)
    if spec.batch_size <= 0:
        pytest.skip(f"{name} has no batch read (yet)")
    return spec


def test_every_batch_read_is_searched() -> None:
    """A spec that gains a batch read must get an entry in ``CASES``, whose documented states are the spec's."""
    assert set(_batch_specs()) <= set(CASES)
    for name in _batch_specs():
        case, spec = CASES[name], get_service(name)
        assert spec.vendor == case.vendor
        assert set(spec.table.states) == set(case.states)
        assert spec.table.default_success() == set(case.success)
        assert spec.table.default_failure() == set(case.failure)
        item = case.item_id(7)
        assert spec.batch_item(spec.normalize(case.ids(item))) == item


# --- generated values ----------------------------------------------------------------------------------------

# Placeholders swapped for raw JSON text after serialization: values json.dumps cannot (or should not) build.
BIG_INT = "\x00bigint\x00"
DEEP = "\x00deep\x00"
_RAW = {json.dumps(BIG_INT): "9" * 5000, json.dumps(DEEP): "[" * 3000 + "]" * 3000}

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


def _id_misses(asked: str) -> list[Any]:
    """Ids that look like an asked one but are not it, exactly, as a string."""
    return [
        asked + " ",
        " " + asked,
        asked + "\n",
        asked.upper(),
        asked[:-1],
        asked + "0",
        [asked],
        {"Id": asked},
        None,
        0,
        7,
        True,
        MISSING,
    ]


def echo_values(asked: Any) -> st.SearchStrategy[Any]:
    """The asked value (mostly), a near miss of it, any JSON value, or nothing."""
    return st.one_of(st.just(asked), st.just(asked), st.just(asked), st.sampled_from(_id_misses(asked)), json_values)


ERROR_CODES = ["InternalError", "RequestLimitExceeded", "ResourceNotFound.Job", "InvalidParameter", "DWS.0001", ""]
STATUSES = [201, 202, 204, 206, 302, 304, 400, 401, 403, 404, 409, 429, 500, 502, 503]
http_status = st.one_of(st.just(200), st.just(200), st.just(200), st.just(200), st.sampled_from(STATUSES))
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
headers = st.lists(
    st.one_of(
        st.tuples(st.just("Content-Type"), st.sampled_from(["application/json", "text/html", "text/plain", ""])),
        st.tuples(st.sampled_from(["Retry-After", "x-acs-retry-after"]), HEADER_VALUE | st.just("99999999999999999")),
        st.tuples(st.sampled_from(["X-Request-Id", "x-acs-request-id"]), HEADER_VALUE),
    ),
    max_size=2,
)
RAW_BODIES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b"{}",
    b"0",
    b"NaN",
    b'{"Response": {"JobSet": NaN}}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"Response": {"TotalCount": ' + b"9" * 5000 + b"}}",
    b"\xff\xfe{",
    b"<html>502 Bad Gateway</html>",
    b'{"Response": {"JobSet": [], "JobSet": [{"JobId": "job-00000000", "JobState": "SUCCEED"}]}}',
    b'{"Executions": [{"Name": "exec-0", "FlowName": "flow", "Status": "Running", "Status": "Running"}]}',
    b'{"clusters": [], "clusters": [{"id": "9f76c502-fc9c-4a52-8656-000000000000", "task_status": "GROWING"}]}',
]


def _item_paths(case: ListCase) -> list[tuple[str, ...]]:
    """Paths into an item worth mutating: every field, and every field of an object field."""
    view = case.example[case.list_field][0]
    paths: list[tuple[str, ...]] = []
    for key in sorted(view):
        paths.append((key,))
        if isinstance(view[key], dict):
            paths += [(key, sub) for sub in sorted(view[key])]
    return paths


_ITEM_PATHS = {name: _item_paths(case) for name, case in CASES.items()}
_TEMPLATES = {name: json.dumps(case.example[case.list_field][0]) for name, case in CASES.items()}


def _serialize(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    for placeholder, raw in _RAW.items():
        text = text.replace(placeholder, raw)
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Page:
    """One served reply and, for a generated documented page, its status and parsed top-level value."""

    reply: Reply
    top: Any = MISSING


@dataclass(frozen=True)
class ListAnswer:
    """What one example asks, and the pages it serves (the last repeats, as the server repeats it)."""

    asked: tuple[str, ...]
    pages: tuple[Page, ...]

    def served(self, count: int) -> list[Page]:
        return [self.pages[min(n, len(self.pages) - 1)] for n in range(count)]


def _clean_body(case: ListCase, page: Page) -> Mapping[str, Any] | None:
    """The answer body of a page that may prove anything: an HTTP 200 in the documented envelope with no
    error object, naming what was asked; else None."""
    top = page.top
    if page.reply.status != 200 or not isinstance(top, dict):
        return None
    body = top
    if case.tencent_envelope:
        body = top.get("Response")
        if not isinstance(body, dict) or "Error" in body:
            return None
    elif case.vendor == "alibabacloud":
        if any(body.get(key) not in (None, "") for key in ("Code", "code")):
            return None
    elif any(body.get(key) not in (None, "") for key in ("error_code", "errCode")):
        return None
    if not all(type(body.get(name)) is type(value) and body.get(name) == value for name, value in case.echo.items()):
        return None
    return body


def provable(case: ListCase, asked: Sequence[str], served: Sequence[Page]) -> dict[str, Mapping[str, Any]]:
    """The oracle: the asked ids the served pages may prove something about, each with its only item.

    Only clean pages (``_clean_body``) may prove anything; then an asked id only through exactly one object
    item, over all pages read, whose key field is exactly that string (and whose ``item_echo`` fields name
    what was asked). Implementations may refuse more: a body the strict decoder refuses, say.
    """
    items: list[Any] = []
    for page in served:
        body = _clean_body(case, page)
        if body is None:
            return {}
        found = body.get(case.list_field)
        items += found if isinstance(found, list) else []
    naming: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        if not all(type(item.get(k)) is type(v) and item.get(k) == v for k, v in case.item_echo.items()):
            continue
        key = item.get(case.key_field, MISSING)
        if type(key) is str:
            naming.setdefault(key, []).append(item)
    proofs = {}
    for item_id in asked:
        found = naming.get(case.key_for(item_id), [])
        if len(found) == 1:
            proofs[item_id] = found[0]
    return proofs


FATES = ["once", "once", "once", "once", "missing", "twice_same", "twice_other", "not_an_object"]


@st.composite
def documented_answer(draw: st.DrawFn, case: ListCase, asked: tuple[str, ...]) -> tuple[Page, ...]:
    """The documented list answer over the asked ids (in pages, where the API pages), mutated."""
    template = _TEMPLATES[case.service]

    def item(item_id: str, state: Any) -> dict[str, Any]:
        view: dict[str, Any] = json.loads(template)
        view[case.key_field] = case.key_for(item_id)
        case.show(view, item_id, state)
        return view

    items: list[Any] = []
    for item_id in asked:
        fate = draw(st.sampled_from(FATES))
        if fate == "missing":
            continue
        if fate == "not_an_object":
            items.append(draw(st.sampled_from([case.key_for(item_id), [item(item_id, case.pool[0])], None, 1])))
            continue
        state = draw(st.sampled_from(case.pool))
        items.append(item(item_id, state))
        if fate == "twice_same":
            items.append(item(item_id, state))
        elif fate == "twice_other":
            items.append(item(item_id, draw(st.sampled_from(case.pool))))
    # Items for ids not asked, near misses of asked ids, and items that are no objects at all.
    for kind in draw(st.lists(st.sampled_from(["other", "near", "near", "non_object"]), max_size=6)):
        if kind == "other":
            other = case.item_id(len(asked) + draw(st.integers(0, 1000)) + int(asked[0] == case.item_id(0)) * 2**20)
            items.append(item(other, draw(st.sampled_from(case.pool))))
        elif kind == "near":
            near_of = asked[draw(st.integers(0, len(asked) - 1))]
            view = item(near_of, case.pool[0])
            _set(view, (case.key_field,), draw(st.sampled_from(_id_misses(case.key_for(near_of)))))
            items.append(view)
        else:
            items.append(draw(json_values | st.sampled_from([case.key_for(a) for a in asked])))
    # Any field of a few items, states and keys included, of any JSON type (or absent); item echo near misses.
    for index, path, value in draw(
        st.lists(
            st.tuples(
                st.integers(0, 10**6), st.sampled_from(_ITEM_PATHS[case.service]), json_values | st.just(MISSING)
            ),
            max_size=3,
        )
    ):
        if items:
            _set(items[index % len(items)], path, value)
    for name, value in case.item_echo.items():
        for index in draw(st.lists(st.integers(0, 10**6), max_size=2)):
            if items:
                _set(items[index % len(items)], (name,), draw(echo_values(value)))
    rng = random.Random(draw(st.integers(0, 2**32)))
    rng.shuffle(items)
    count = draw(st.integers(1, min(3, case.max_pages)))
    pages: list[list[Any]] = [[] for _ in range(count)]
    for view in items:
        pages[rng.randrange(count)].append(view)
    return tuple(draw(documented_page(case, page, last=n == count - 1, number=n)) for n, page in enumerate(pages))


@st.composite
def documented_page(draw: st.DrawFn, case: ListCase, items: list[Any], *, last: bool, number: int) -> Page:
    """One page of a list answer: its list (maybe of the wrong type), fields, envelope, status, headers."""
    shape = draw(st.sampled_from(["list"] * 12 + ["object", "null", "json", "keyed", "nested"]))
    listed: Any = items
    if shape == "object":
        listed = items[0] if items else {}
    elif shape == "null":
        listed = draw(st.sampled_from([None, MISSING]))
    elif shape == "json":
        listed = draw(json_values)
    elif shape == "keyed":
        listed = {str(i): view for i, view in enumerate(items)}
    elif shape == "nested":
        listed = [items]
    body: dict[str, Any] = json.loads(json.dumps({k: v for k, v in case.example.items() if k != case.list_field}))
    _set(body, (case.list_field,), listed)
    if case.count_field is not None:
        body[case.count_field] = len(items)
    if case.token_field is not None:
        more = [f"page-{number + 1}"] * 6 + ["", None, 5, ["t"], MISSING]
        _set(body, (case.token_field,), draw(st.sampled_from(["", "", MISSING, None, "page-again"] if last else more)))
    for key in draw(st.lists(st.sampled_from(sorted(body)), max_size=1)):
        if key not in (case.list_field, case.token_field):
            _set(body, (key,), draw(json_values | st.just(MISSING)))
    for name, value in case.echo.items():
        _set(body, (name,), draw(echo_values(value)))
    envelope = draw(st.sampled_from(["plain"] * 6 + ["error", "replaced"]))
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
    return Page(Reply(draw(http_status), _serialize(top), tuple(draw(headers))), top)


@st.composite
def raw_answer(draw: st.DrawFn, case: ListCase, asked: tuple[str, ...]) -> Page:
    """Bodies that are no documented answer at all: cut short, past the body cap, a lying length, not JSON."""
    kind = draw(st.sampled_from(["canned", "canned", "bytes", "truncated", "huge", "lying"]))
    # A clean answer showing every asked id in a documented non-failure state: only the delivery breaks it.
    items = []
    for item_id in asked:
        view = json.loads(_TEMPLATES[case.service])
        view[case.key_field] = case.key_for(item_id)
        case.show(view, item_id, case.pool[0])
        items.append(view)
    body = {**case.example, case.list_field: items}
    document = _serialize({"Response": body} if case.tencent_envelope else body)
    padding, declared = 0, None
    if kind == "canned":
        raw = draw(st.sampled_from(RAW_BODIES))
    elif kind == "bytes":
        raw = draw(st.binary(max_size=40))
    elif kind == "truncated":
        raw = document[: draw(st.integers(0, len(document) - 1))]
    else:
        raw = document
        if kind == "lying":
            declared = len(raw) + 100
        elif draw(st.integers(0, 3)) == 0:
            # Past the client's 4 MiB cap, really sent (leading spaces keep it JSON); rare, it is the costliest.
            padding = 4 * 1024 * 1024 + 64 * 1024
        else:
            # Announced past the cap (the client refuses before reading); the connection then closes.
            declared = 5 * 1024 * 1024
    return Page(Reply(draw(http_status), raw, tuple(draw(headers)), padding=padding, declared_length=declared))


@st.composite
def list_answers(draw: st.DrawFn, case: ListCase) -> ListAnswer:
    """1-100 asked ids (few, often), and a generated answer to their list call."""
    most = min(100, max(1, get_service(case.service).batch_size))
    count = draw(st.one_of(st.integers(1, 5), st.integers(1, most)))
    base = draw(st.integers(0, 2**28))
    asked = tuple(case.item_id(base + n) for n in range(count))
    if draw(st.integers(0, 5)) == 0:
        return ListAnswer(asked, (draw(raw_answer(case, asked)),))
    return ListAnswer(asked, draw(documented_answer(case, asked)))


# --- running one example -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    """One loopback server for every example of the module."""
    instance = LoopbackServer()
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every example (the pooled async httpx client lives per loop)."""
    instance = asyncio.new_event_loop()
    yield instance

    async def close_clients() -> None:
        # Close this loop's pooled connections, so the server's handlers end with them.
        await POOL.async_client().aclose()
        await POOL.long_poll_client().aclose()

    instance.run_until_complete(close_clients())
    instance.close()


_CLIENTS: dict[tuple[int, str], Any] = {}


def _client(server: LoopbackServer, vendor: str) -> Any:
    # One client per vendor for the whole module (no retries): the examples must be cheap.
    key = (id(server), vendor)
    if key not in _CLIENTS:
        _CLIENTS[key] = client_for(vendor, server)
    return _CLIENTS[key]


pytestmark = pytest.mark.usefixtures("quiet_provider_logs")


def read(
    case: ListCase, spec: ServiceSpec, server: LoopbackServer, loop: asyncio.AbstractEventLoop, answer: ListAnswer
) -> tuple[Mapping[str, Snapshot] | CloudApiError, int]:
    """Serve ``answer``, drive one batch read over HTTP; assert (c) and (d); return what came out and how many
    requests it sent."""
    server.program(*(page.reply for page in answer.pages))
    group = spec.batch_group(spec.normalize(case.ids(answer.asked[0])))
    client = _client(server, case.vendor)
    started = time.monotonic()
    try:
        outcome: Mapping[str, Snapshot] | CloudApiError = loop.run_until_complete(
            adrive(spec.read_many(group, list(answer.asked)), client, deadline=time.time() + TIME_BOUND)
        )
    except CloudApiError as exc:
        # Typed, and renderable as the trigger renders it.
        json.dumps(exc.to_dict(), allow_nan=False)
        outcome = exc
        assert str(outcome)
    elapsed = time.monotonic() - started
    assert elapsed < TIME_BOUND + 3.0, f"one batch read took {elapsed:.1f}s"
    sent = len(server.requests)
    assert sent <= case.max_pages, f"a batch read sent {sent} requests"
    if not isinstance(outcome, CloudApiError):
        assert isinstance(outcome, Mapping), f"{type(outcome).__name__} is no mapping of snapshots"
        for key, snapshot in outcome.items():
            assert isinstance(key, str) and isinstance(snapshot, Snapshot), (key, snapshot)
            json.dumps([snapshot.vendor_status, dict(snapshot.details), dict(snapshot.markers)], allow_nan=False)
        if spec.batch_lists_group:
            # A list of the whole group (a project's clusters, a flow's running executions) answers every
            # execution it names, asked or not, by the same rule: the asked ones stand for all.
            outcome = {key: snapshot for key, snapshot in outcome.items() if key in answer.asked}
    return outcome, sent


def _json(value: Any) -> str:
    return "absent" if value is MISSING else json.dumps(value, sort_keys=True)


def _shown(answer: ListAnswer, sent: int) -> str:
    pages = "; ".join(f"HTTP {p.reply.status} {p.reply.body[:1200]!r}" for p in answer.served(max(sent, 1)))
    return f"asked {len(answer.asked)} ids {answer.asked[:3]}..., served {pages}"


def check_proofs(
    case: ListCase, answer: ListAnswer, outcome: Mapping[str, Snapshot] | CloudApiError, sent: int
) -> None:
    """Properties (a) and (b)."""
    if isinstance(outcome, CloudApiError):
        return
    proofs = provable(case, answer.asked, answer.served(sent))
    for key, snapshot in outcome.items():
        # (a) an asked id, named by exactly one object item, and the snapshot is that item's.
        assert key in answer.asked, f"a snapshot for {key!r}, which was not asked; {_shown(answer, sent)}"
        item = proofs.get(key)
        assert item is not None, (
            f"a snapshot for {key!r}, not named exactly once in clean answers about what was asked; "
            f"{_shown(answer, sent)}"
        )
        state = case.state_of(item, key)
        assert _json(snapshot.vendor_status) == _json(state), (
            f"{key!r}: state {snapshot.vendor_status!r} is not what its item shows ({_json(state)}); "
            f"{_shown(answer, sent)}"
        )
        # (b) only exactly a documented non-failure state stands for a poll; only exactly a success ends it.
        documented = any(type(state) is type(ok) and state == ok for ok in case.states)
        wait = Wait(case.service, case.ids(key))
        if snapshot.status is ExecutionStatus.SUCCEEDED:
            assert documented and state in case.success, f"{key!r}: SUCCEEDED from {state!r}; {_shown(answer, sent)}"
        listed = _listed(wait, snapshot)
        if listed is None:
            continue
        assert documented and state in case.non_failure, f"{key!r}: {state!r} taken for a poll; {_shown(answer, sent)}"
        verdict = wait.verdict(listed.vendor_status)
        if verdict is Verdict.SUCCESS:
            assert state in case.success, f"{key!r}: {state!r} ended the wait; {_shown(answer, sent)}"
        else:
            assert verdict is Verdict.WAITING and state not in case.success, (key, state, verdict)
        # What the trigger would send: strict JSON.
        json.dumps(wait.state(listed), allow_nan=False)


def _property_test(name: str) -> Any:
    case = CASES[name]

    @seeded
    @FUZZ
    @given(answer=list_answers(case))
    def test(server: LoopbackServer, loop: asyncio.AbstractEventLoop, answer: ListAnswer) -> None:
        outcome, sent = read(case, _spec(name), server, loop, answer)
        check_proofs(case, answer, outcome, sent)
        # What the examples reached (``--hypothesis-show-statistics``): the properties must not be vacuous.
        if isinstance(outcome, CloudApiError):
            event("a typed error")
        else:
            event(f"{'some' if outcome else 'no'} snapshots")
            for verdict in {
                Wait(name, case.ids(key)).verdict(snapshot.vendor_status)
                for key, snapshot in outcome.items()
                if _listed(Wait(name, case.ids(key)), snapshot) is not None
            }:
                event(f"a listed {verdict.value}")
        if sent > 1:
            event("several pages")

    test.__name__ = f"test_{name}_list_answers"
    test.__doc__ = f"{name}: properties (a)-(d) over generated list answers."
    return test


test_tencent_batch_job_list_answers = _property_test("tencent_batch_job")
test_tencent_batch_task_list_answers = _property_test("tencent_batch_task")
test_alibaba_cloudflow_execution_list_answers = _property_test("alibaba_cloudflow_execution")
test_huawei_dws_cluster_task_list_answers = _property_test("huawei_dws_cluster_task")


# --- the properties are not vacuous ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_clean_list_answer_proves_every_running_item_it_names_once(
    name: str, server: LoopbackServer, loop: asyncio.AbstractEventLoop
) -> None:
    """A clean answer over 100 ids, the items showing ``pool`` values in turn, every third one running (the
    last id missing, the one before it named twice): every running item named once is taken for a poll."""
    case = CASES[name]
    spec = _spec(name)
    asked = tuple(case.item_id(n) for n in range(100))
    items = []
    for n, item_id in enumerate(asked):
        view = json.loads(_TEMPLATES[name])
        view[case.key_field] = case.key_for(item_id)
        case.show(view, item_id, case.running if n % 3 == 0 else case.pool[n % len(case.pool)])
        items.append(view)
    items = [*items[:-2], items[-2], items[-2]]
    body = {**case.example, case.list_field: items}
    top = {"Response": body} if case.tencent_envelope else body
    answer = ListAnswer(asked, (Page(Reply(200, _serialize(top)), top),))
    outcome, sent = read(case, spec, server, loop, answer)
    assert not isinstance(outcome, CloudApiError), outcome
    check_proofs(case, answer, outcome, sent)
    running = {item_id for n, item_id in enumerate(asked[:-2]) if n % 3 == 0}
    listed = {key for key, snapshot in outcome.items() if _listed(Wait(name, case.ids(key)), snapshot) is not None}
    assert running <= listed, sorted(running - listed)[:5]
    assert asked[-1] not in outcome and asked[-2] not in outcome

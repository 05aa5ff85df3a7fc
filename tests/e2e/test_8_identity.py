"""Identity: a Tencent connection assuming a role (``role_arn``, ``sts_endpoint`` at the emulator, the stored key
of ``tencentcloud_default``) is created through the REST API; Test is true for it, false for a copy with a
malformed ``role_arn`` (refused before anything is sent, the message names the extra) and false for a copy STS
refuses (the message names the step).

With the emulator's temporary keys capped at a few seconds, a deferrable CynosDB sensor on that connection waits
for a flow scripted to succeed some seconds after the triggerer's first poll: it succeeds, the wait ran in the
triggerer, which assumed the role at least 3 times and signed its polls with at least 3 keys. The emulator's clock
is skewed for one poll so that its key is expired (``AuthFailure.TokenFailure``): every such poll is repeated at
once with a fresh key and answered (``dags/identity_dag.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.emulator_control import key_of
from tests.e2e.specs import IDENTITY_SPEC, TERMINAL_RUN_STATES, TRIGGER_CLASSPATH, VENDORS
from tests.e2e.stack import Stack
from tests.e2e.waiting import parse_time, progress, wait_until
from tests.e2e.xcom_expectations import xcom_problems

DAG_ID: str = IDENTITY_SPEC["dag_id"]
TASK_ID: str = IDENTITY_SPEC["task_id"]
FLOW_KEY = (str(IDENTITY_SPEC["flow_id"]),)
REFUSED_ARN = IDENTITY_SPEC["role_arn"] + "-refused"  # another identity: no cached key to reuse

# (label, the extra's role_arn, Test's status, words its message must hold, STS fault, whether STS is asked)
TEST_BUTTON_CASES: list[tuple[str, str | None, bool, str, dict[str, Any] | None, bool]] = [
    ("the stored connection", None, True, "", None, True),
    ("a copy with role_arn 'not-an-arn'", "not-an-arn", False, "role_arn extra", None, False),
    (
        "a copy whose AssumeRole STS refuses",
        REFUSED_ARN,
        False,
        "obtaining credentials (STS AssumeRole) failed",
        {"kind": "invalid", "service": "sts", "action": "AssumeRole", "count": 1},
        True,
    ),
]


@dataclass
class RoleWait:
    """What the deferred wait on the role connection observed."""

    run_id: str
    trigger: dict[str, Any]
    issued: int
    describe_flow: list[dict[str, Any]]
    assume_role: list[dict[str, Any]]


@pytest.fixture(scope="module")
def short_lived_keys(stack: Stack) -> Iterator[None]:
    """The emulator's temporary keys capped at the spec's lifetime for this module; faults cleared after it."""
    stack.control.set_identity_lifetime(IDENTITY_SPEC["key_lifetime"])
    try:
        yield
    finally:
        stack.control.clear_faults()
        stack.control.set_identity_lifetime(None)


@pytest.fixture(scope="module")
def role_connection(stack: Stack, connections: dict[str, dict[str, Any]], short_lived_keys: None) -> dict[str, Any]:
    """The role connection, created in the metadata DB through the REST API; its request body."""
    vendor = VENDORS["tencentcloud"]
    stored = connections["tencentcloud"]
    # STS takes AssumeRole only signed with a permanent key and no session token: the emulator knows the stored
    # pair with the default connection's token so far, so it is told to accept it without one.
    stack.control.add_credentials(vendor["vendor"], stored["login"], stored["password"], None)
    extra = {
        **vendor["extra"],
        "endpoint": stack.emulator_url,
        "role_arn": IDENTITY_SPEC["role_arn"],
        "sts_endpoint": stack.emulator_url,
    }
    body = {
        "connection_id": IDENTITY_SPEC["conn_id"],
        "conn_type": "tencentcloud",
        "login": stored["login"],
        "password": stored["password"],
        "extra": json.dumps(extra),
    }
    stack.api.post("/api/v2/connections", body)
    return body


def test_the_role_connection_is_stored_in_the_metadata_db_encrypted(
    stack: Stack, role_connection: dict[str, Any]
) -> None:
    rows = stack.db_connection_rows()
    assert rows.get(IDENTITY_SPEC["conn_id"]) == (1, 1), f"db (is_encrypted, is_extra_encrypted)={rows}"


@pytest.mark.parametrize(
    ("label", "role_arn", "expected", "wording", "fault", "reaches_sts"),
    TEST_BUTTON_CASES,
    ids=[case[0] for case in TEST_BUTTON_CASES],
)
def test_the_test_button_of_a_role_connection_names_what_failed(
    stack: Stack,
    role_connection: dict[str, Any],
    label: str,
    role_arn: str | None,
    expected: bool,
    wording: str,
    fault: dict[str, Any] | None,
    reaches_sts: bool,
) -> None:
    emulator = stack.control
    body = role_connection
    if role_arn is not None:
        extra = {**json.loads(body["extra"]), "role_arn": role_arn}
        body = {**body, "connection_id": f"e2e_probe_{body['connection_id']}", "extra": json.dumps(extra)}
    assume_before = len(emulator.requests("AssumeRole"))
    if fault is not None:
        emulator.inject(fault)
    try:
        reply = stack.api.http.post("/api/v2/connections/test", json=body)
    finally:
        emulator.clear_faults()
    assumed = emulator.requests("AssumeRole")[assume_before:]
    result = reply.json() if reply.status_code == 200 else {}
    detail = (
        f"{label}: HTTP {reply.status_code}: {reply.text[:400]}; AssumeRole requests: "
        f"{[(r['status'], r['error']) for r in assumed]}"
    )
    assert reply.status_code == 200 and result.get("status") is expected, detail
    assert wording in str(result.get("message", "")), detail
    assert bool(assumed) is reaches_sts, detail
    leaked = stack.canaries.find(reply.content)
    assert not leaked, f"canaries in reply: {leaked}"


@pytest.fixture(scope="module")
def role_wait(stack: Stack, role_connection: dict[str, Any]) -> RoleWait:
    """A deferred CynosDB wait on the role connection across several key lifetimes."""
    emulator = stack.control
    spec = IDENTITY_SPEC
    # Processing until the triggerer polls it; then scripted to succeed ``succeed_after`` seconds later, so the
    # triggerer's part of the wait spans several key lifetimes however long it took to pick it up.
    flow = {"builder": "cynosdb_flow", "args": {"flow_id": spec["flow_id"], "statuses": [[0, 2]]}}
    emulator.add_executions([flow])
    issued_before = emulator.issued("tencent")
    since = time.time()
    run_id = stack.api.trigger(DAG_ID)
    triggered = time.monotonic()
    progress(f"triggered {DAG_ID}: temporary keys live {spec['key_lifetime']}s")
    trigger: dict[str, Any] = {}
    scripted: list[float] = []

    def finished() -> bool:
        ti = stack.api.task_instance(DAG_ID, run_id, TASK_ID)
        if ti["state"] == "deferred" and ti.get("trigger") and not trigger:
            trigger.update(ti["trigger"])
        created = parse_time(trigger.get("created_date"))
        if created is not None and not scripted:
            polled = [r for r in emulator.requests("DescribeFlow") if r["received"] >= created]
            if any(key_of(r) == FLOW_KEY for r in polled):
                statuses = [[0, 2], [spec["succeed_after"], 0]]
                args = {"flow_id": spec["flow_id"], "statuses": statuses, "start_immediately": True}
                emulator.add_executions([{**flow, "args": args}])
                # The vendor's clock ahead of the key's expiry (within the signature's 5-minute window): the next
                # poll is refused AuthFailure.TokenFailure, the path a refresh ahead of expiry otherwise leaves
                # untried.
                skew = 2.0 * spec["key_lifetime"]
                emulator.inject({"kind": "clock_skew", "service": "cynosdb", "action": "DescribeFlow", "skew": skew})
                scripted.append(time.time())
                progress(
                    f"the triggerer polls the flow {scripted[0] - created:.1f}s after the deferral; it succeeds in "
                    f"{spec['succeed_after']}s"
                )
        return stack.api.run_state(DAG_ID, run_id) in TERMINAL_RUN_STATES

    wait_until(f"the {DAG_ID} run to finish", finished, 90, interval=0.5)
    stack.report.timing("identity: trigger -> run finished", time.monotonic() - triggered)
    describe_flow = sorted(
        (r for r in emulator.requests("DescribeFlow") if r["received"] >= since), key=lambda r: r["received"]
    )
    return RoleWait(
        run_id=run_id,
        trigger=trigger,
        issued=emulator.issued("tencent") - issued_before,
        describe_flow=describe_flow,
        assume_role=emulator.requests("AssumeRole"),
    )


def _trigger_logs(stack: Stack, wait: RoleWait) -> list[str]:
    folder = stack.task_log_folder(DAG_ID, wait.run_id, TASK_ID)
    return [p.read_text(errors="replace") for p in sorted(folder.glob("attempt=1.log.trigger.*.log"))]


def _flow_polls(wait: RoleWait) -> list[dict[str, Any]]:
    """The polls of the flow; an expired key is refused before the request is read, so its record names none."""
    return [
        r
        for r in wait.describe_flow
        if key_of(r) == FLOW_KEY or (key_of(r) is None and r["error"] == "AuthFailure.TokenFailure")
    ]


def test_a_wait_on_the_role_connection_succeeds_with_the_flows_xcom(stack: Stack, role_wait: RoleWait) -> None:
    ti = stack.api.task_instance(DAG_ID, role_wait.run_id, TASK_ID)
    log_tail = stack.api.log_or_empty(DAG_ID, role_wait.run_id, TASK_ID)[-800:]
    assert ti["state"] == "success", f"state={ti['state']}; log tail: {log_tail}"
    state = stack.api.xcom_or_error(DAG_ID, role_wait.run_id, TASK_ID)
    problems = xcom_problems(state, {"flow_id": IDENTITY_SPEC["flow_id"]}, {})
    assert not problems, "; ".join(problems)


def test_the_role_wait_defers_to_the_execution_trigger_and_runs_in_the_triggerer(
    stack: Stack, role_wait: RoleWait
) -> None:
    assert role_wait.trigger.get("classpath") == TRIGGER_CLASSPATH, f"trigger seen while deferred: {role_wait.trigger}"
    assert _trigger_logs(stack, role_wait), "no trigger log: the wait did not run in the triggerer"


def test_the_triggerer_assumes_the_role_again_and_signs_with_at_least_3_temporary_keys(role_wait: RoleWait) -> None:
    deferred_at = parse_time(role_wait.trigger.get("created_date"))
    assert deferred_at is not None, "the wait was never seen deferred"
    waited = [r for r in _flow_polls(role_wait) if r["received"] >= deferred_at]
    assert waited, "no poll while deferred"
    assumed = [
        r for r in role_wait.assume_role if r["status"] == 200 and deferred_at <= r["received"] <= waited[-1]["time"]
    ]
    keys = list(dict.fromkeys(r["key_id"] for r in waited if r["status"] == 200))
    detail = (
        f"issued {role_wait.issued} keys since the trigger; {len(assumed)} AssumeRole answered while deferred, at "
        f"{[round(r['received'] - deferred_at, 1) for r in assumed]}s; {len(waited)} polls while deferred signed "
        f"with {len(keys)} keys {[k[:7] + '...' for k in keys]}; the wait lasted "
        f"{waited[-1]['time'] - deferred_at:.1f}s"
    )
    assert role_wait.issued >= 3, detail
    assert len(assumed) >= 3, detail
    assert len(keys) >= 3 and all(k.startswith("TMP") for k in keys), detail


def test_a_poll_refused_with_an_expired_key_is_repeated_at_once_with_a_fresh_key(
    stack: Stack, role_wait: RoleWait
) -> None:
    flow_polls = _flow_polls(role_wait)
    others = [r for r in role_wait.describe_flow if r not in flow_polls]
    expired = [i for i, r in enumerate(flow_polls) if r["error"] == "AuthFailure.TokenFailure"]
    repeats = []
    for i in expired:
        following = flow_polls[i + 1] if i + 1 < len(flow_polls) else None
        repeats.append(
            following is not None
            and following["status"] == 200
            and key_of(following) == FLOW_KEY
            and following["key_id"] != flow_polls[i]["key_id"]
        )
    delays = [flow_polls[i + 1]["received"] - flow_polls[i]["time"] for i in expired if i + 1 < len(flow_polls)]
    skewed = sum(1 for i in expired if flow_polls[i]["fault"] == "clock_skew")
    logged = "the session token expired; refreshing the key" in "".join(_trigger_logs(stack, role_wait))
    detail = (
        f"{len(expired)} expired-key answers ({skewed} by the skewed clock) of {len(flow_polls)} polls; repeated "
        f"with a fresh key {sum(repeats)}, after {[round(d, 3) for d in delays]}s; trigger log says 'the session "
        f"token expired; refreshing the key': {logged}"
    )
    assert expired, detail
    assert all(repeats), detail
    # Repeated at once (the forced refresh), not at the next poll an interval later.
    assert all(d < IDENTITY_SPEC["poke_interval"] for d in delays), detail
    assert logged, detail
    assert not others, f"DescribeFlow of other flows in the window, cannot attribute: {others[:3]}"

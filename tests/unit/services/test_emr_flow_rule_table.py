"""The Tencent EMR flow rule, fed in memory: the flow asked by flow id or trace id, which totals end a wait
and how, and how failed stages, progress and skipped steps are reported."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cloudflows.services.base import CheckContext
from airflow_provider_cloudflows.services.tencent_emr import TencentEmrFlow
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import Verdict as V
from tests.unit.services.canned import ok, replay

SPEC = TencentEmrFlow()
BY_FLOW = {"instance_id": "emr-123", "flow_id": "42", "trace_id": None}


def check(body: dict[str, Any], ids: dict[str, Any] = BY_FLOW) -> Any:
    return replay(SPEC.check(ids, CheckContext(verdict=SPEC.table.verdict)), [ok(body)])


@pytest.mark.parametrize(
    ("total", "status", "verdict"),
    [
        (0, S.PENDING, V.WAITING),
        (1, S.RUNNING, V.WAITING),
        (2, S.SUCCEEDED, V.SUCCESS),
        (3, S.SUCCEEDED, V.SUCCESS),
        (-1, S.FAILED, V.FAILURE),
        (-3, S.BLOCKED, V.FAILURE),
        (7, S.UNKNOWN, V.WAITING),
        ("2", S.UNKNOWN, V.WAITING),
        (None, S.UNKNOWN, V.WAITING),
    ],
)
def test_the_flow_total_decides_the_outcome(total: Any, status: S, verdict: V) -> None:
    run = check({"FlowTotalStatus": total})
    assert [call.action for call in run.calls] == ["DescribeClusterFlowStatusDetail"]
    assert run.result.status is status
    assert SPEC.table.verdict(run.result.vendor_status) is verdict


@pytest.mark.parametrize(
    ("ids", "param"),
    [
        (BY_FLOW, {"FKey": "FlowId", "FValue": "42"}),
        ({"instance_id": "emr-123", "flow_id": None, "trace_id": "t-9"}, {"FKey": "TraceId", "FValue": "t-9"}),
    ],
)
def test_the_flow_is_asked_by_the_identifier_the_wait_has(ids: dict[str, Any], param: dict[str, str]) -> None:
    call = check({"FlowTotalStatus": 1}, ids).calls[0]
    assert call.params["InstanceId"] == "emr-123" and call.params["FlowParam"] == param


def test_failed_stages_are_named_by_their_display_name_with_their_reason() -> None:
    stages = [
        {"Stage": "s1", "Name": "Apply For Resource", "Status": 2},
        {"Stage": "s2", "Name": "Install Components", "Status": -1, "FailedReason": "disk full"},
        {"Stage": "s3", "Status": -1},
    ]
    snapshot = check({"FlowTotalStatus": -1, "StageDetails": stages}).result
    assert snapshot.reason == ("stage 'Install Components' failed: disk full; stage 's3' failed: no FailedReason given")


@pytest.mark.parametrize(("progress", "fraction"), [(0.4, 0.4), (1, 1.0), (1.5, None), ("half", None)])
def test_progress_is_kept_only_when_it_is_a_fraction(progress: Any, fraction: float | None) -> None:
    assert check({"FlowTotalStatus": 1, "FlowTotalProgress": progress}).result.progress == fraction


def test_a_flow_completed_with_skipped_steps_succeeds_with_a_warning() -> None:
    snapshot = check({"FlowTotalStatus": 3}).result
    assert snapshot.status is S.SUCCEEDED
    assert SPEC.warnings(snapshot) and not SPEC.warnings(check({"FlowTotalStatus": 2}).result)

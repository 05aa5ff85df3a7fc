"""The CynosDB task flow rule, fed in memory: which DescribeFlow statuses end a wait and how, and the reason an
ended flow that did not succeed is given (the API reports none)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cloudflows.services.base import CheckContext
from airflow_provider_cloudflows.services.tencent_cynosdb import TencentCynosdbFlow
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import Verdict as V
from tests.unit.services.canned import ok, replay

SPEC = TencentCynosdbFlow()


@pytest.mark.parametrize(
    ("status", "expected", "verdict", "reason"),
    [
        (0, S.SUCCEEDED, V.SUCCESS, False),
        (1, S.FAILED, V.FAILURE, True),
        (2, S.RUNNING, V.WAITING, False),
        (3, S.UNKNOWN, V.WAITING, False),
        ("0", S.UNKNOWN, V.WAITING, False),
        (None, S.UNKNOWN, V.WAITING, False),
    ],
)
def test_the_flow_status_decides_the_outcome(status: Any, expected: S, verdict: V, reason: bool) -> None:
    check = SPEC.check({"flow_id": 7}, CheckContext(verdict=SPEC.table.verdict))
    run = replay(check, [ok({"Status": status})])
    assert [(call.action, call.params) for call in run.calls] == [("DescribeFlow", {"FlowId": 7})]
    assert run.result.status is expected
    assert SPEC.table.verdict(run.result.vendor_status) is verdict
    assert (run.result.reason is not None) is reason

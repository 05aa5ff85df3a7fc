"""What a start operator records before it writes, and what the next try does with it.

The record is written before the start is sent, so a try killed while the write is in flight (here: a
record left as the killed try left it, and the write applied by hand with that try's ClientToken) still
tells the next try that a write may have been applied. These tests call ``execute()`` as a worker does,
with a ``task_state_store`` that keeps values as JSON like Airflow's.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_cloudflows.actions.base import client_token
from airflow_provider_cloudflows.compat import AirflowException, AirflowFailException
from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.operators import (
    TencentBatchSubmitJobOperator,
    TencentCynosdbFlowActionOperator,
    TencentEmrScaleOutClusterOperator,
)
from airflow_provider_cloudflows.operators.records import STATE_KEY, Phase, sending_record
from airflow_provider_cloudflows.transport.tencent import TencentCall
from cloudflows_emulator import CloudEmulator
from cloudflows_emulator.server import EmulatorServer
from cloudflows_emulator.tencent import plan_batch_job
from tests.helpers import FakeStore, FakeTI, TaskDeferred, use_connections

JOB = {"JobName": "unit", "Tasks": [{"TaskName": "A", "Application": {"Command": "true"}}]}
PLACEMENT = {"Zone": "ap-guangzhou-3"}
RUNNING_LONG = [(0, "RUNNING"), (60, "SUCCEED")]


pytestmark = pytest.mark.usefixtures("emulator_connections")


def _batch(**kwargs: Any) -> TencentBatchSubmitJobOperator:
    return TencentBatchSubmitJobOperator(
        task_id="run", placement=PLACEMENT, job=JOB, poll_interval=0.5, deferrable=True, **kwargs
    )


def _cynosdb() -> TencentCynosdbFlowActionOperator:
    return TencentCynosdbFlowActionOperator(
        task_id="run", action="PauseServerless", cluster_id="cynosdbmysql-abc", poll_interval=0.5, deferrable=True
    )


def _execute(operator: Any, ti: FakeTI, store: FakeStore) -> Any:
    return operator.execute({"ti": ti, "task_state_store": store})


def _killed_while_sending(store: FakeStore, operator: Any, token: str | None, sent_at: float | None = None) -> None:
    """The record a try killed mid-write leaves behind."""
    store.set(
        STATE_KEY,
        sending_record(
            start_action=operator.start_action,
            call=f"tencent {operator.spec.name}",
            try_number=1,
            client_token=token,
            sent_at=time.time() if sent_at is None else sent_at,
        ),
    )


def test_the_record_says_sending_before_the_start_leaves(cloud_emulator: CloudEmulator) -> None:
    store = FakeStore()
    seen: list[Any] = []

    class Watching(TencentBatchSubmitJobOperator):
        def start_params(self, context: Any) -> dict[str, Any]:
            params = super().start_params(context)
            seen.append(("params", store.get(STATE_KEY)))
            return params

    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    cloud_emulator.inject("hang", service="batch", action="SubmitJob", count=1)
    operator = Watching(task_id="run", placement=PLACEMENT, job=JOB, timeout=1.5, deferrable=True)
    with pytest.raises(AirflowException):
        _execute(operator, FakeTI(1), store)
    record = store.get(STATE_KEY)
    assert seen == [("params", None)]  # nothing recorded before the request was rendered
    assert record["phase"] == Phase.SENDING.value
    assert record["client_token"] == client_token("d", "run", "manual__1", -1, 1)
    assert cloud_emulator.count(action="SubmitJob") == 1


def test_a_retry_after_a_killed_submit_sends_the_same_client_token_and_gets_the_same_job(
    cloud_emulator: CloudEmulator,
) -> None:
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    store = FakeStore()
    token = client_token("d", "run", "manual__1", -1, 1)
    _killed_while_sending(store, _batch(), token)
    # The killed try's SubmitJob reached the cloud: the job exists under its token.
    submit = {"Placement": PLACEMENT, "Job": JOB, "ClientToken": token}
    job_id = TencentCloudHook().get_conn().call(TencentCall("batch", "SubmitJob", "2017-03-12", submit)).body["JobId"]

    with pytest.raises(TaskDeferred):
        _execute(_batch(), FakeTI(2), store)
    assert store.get(STATE_KEY)["identifiers"] == {"job_id": job_id}
    assert store.get(STATE_KEY)["client_token"] == token
    assert len(cloud_emulator.scratch("batch")["jobs"]) == 1


def test_an_expired_client_token_is_not_resent_and_fails_without_retry(cloud_emulator: CloudEmulator) -> None:
    store = FakeStore()
    operator = TencentEmrScaleOutClusterOperator(task_id="run", instance_id="emr-abc123", node_count=1)
    _killed_while_sending(store, operator, "airflow-token-try1", sent_at=time.time() - 301)  # EMR keeps 5 min
    with pytest.raises(AirflowFailException, match="ClientToken has expired") as failed:
        _execute(operator, FakeTI(2), store)
    assert "clear the task" in str(failed.value)
    assert cloud_emulator.count(action="ScaleOutCluster") == 0
    assert store.get(STATE_KEY)["phase"] == Phase.REPORTED_UNKNOWN.value


def test_a_write_without_idempotency_key_left_unanswered_fails_the_retry_without_writing(
    cloud_emulator: CloudEmulator,
) -> None:
    store = FakeStore()
    _killed_while_sending(store, _cynosdb(), None)
    with pytest.raises(AirflowFailException) as failed:
        _execute(_cynosdb(), FakeTI(2), store)
    message = str(failed.value)
    assert (
        "tencent_cynosdb_flow_action" in message and "without retry" in message and "may have been applied" in message
    )
    assert cloud_emulator.count(action="PauseServerless") == 0


def test_a_clear_after_a_reported_unknown_outcome_starts_again(cloud_emulator: CloudEmulator) -> None:
    store = FakeStore()
    _killed_while_sending(store, _cynosdb(), None)
    with pytest.raises(AirflowFailException):
        _execute(_cynosdb(), FakeTI(2), store)
    # The user checked the console and cleared the task: try 3 starts.
    with pytest.raises(TaskDeferred):
        _execute(_cynosdb(), FakeTI(3), store)
    assert cloud_emulator.count(action="PauseServerless", ok=True) == 1
    assert store.get(STATE_KEY)["phase"] == Phase.STARTED.value


def test_a_write_without_idempotency_key_fails_without_retry_when_its_answer_is_lost(
    cloud_emulator: CloudEmulator,
) -> None:
    store = FakeStore()
    cloud_emulator.inject("reset", service="cynosdb", action="PauseServerless", count=1)
    with pytest.raises(AirflowFailException, match="without retry"):
        _execute(_cynosdb(), FakeTI(1), store)
    assert store.get(STATE_KEY)["phase"] == Phase.REPORTED_UNKNOWN.value
    assert cloud_emulator.count(action="PauseServerless") == 1


def test_without_a_store_a_lost_submit_fails_without_retry(cloud_emulator: CloudEmulator) -> None:
    # Airflow < 3.3 has no task_state_store: nothing would tell the next try which token to send again.
    cloud_emulator.inject("reset", service="batch", action="SubmitJob", count=None)
    operator = _batch()
    with pytest.raises(AirflowFailException, match="without retry"):
        operator.execute({"ti": FakeTI(1), "task_state_store": None})  # type: ignore[arg-type]
    assert len(cloud_emulator.scratch("batch")["jobs"]) == 1


def test_a_store_that_cannot_take_the_record_stops_the_start_unsent(cloud_emulator: CloudEmulator) -> None:
    class Broken(FakeStore):
        def set(self, key: str, value: Any) -> None:
            raise ConnectionError("state store unavailable")

    with pytest.raises(AirflowException, match="nothing was sent"):
        _execute(_batch(), FakeTI(1), Broken())
    assert cloud_emulator.count(action="SubmitJob") == 0


def test_a_refused_start_clears_the_record_so_the_retry_starts(
    cloud_emulator: CloudEmulator, cloud_emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore()
    use_connections(monkeypatch, cloud_emulator_server, secret="not-the-secret")
    with pytest.raises(AirflowException, match="starting failed") as refused:
        _execute(_cynosdb(), FakeTI(1), store)
    assert not isinstance(refused.value, AirflowFailException)
    assert store.get(STATE_KEY) is None
    use_connections(monkeypatch, cloud_emulator_server)
    with pytest.raises(TaskDeferred):
        _execute(_cynosdb(), FakeTI(2), store)
    assert cloud_emulator.count(action="PauseServerless", ok=True) == 1


def test_a_resent_client_token_keeps_the_time_of_its_first_send(cloud_emulator: CloudEmulator) -> None:
    # EMR honours a token 5 minutes from its first use: a resend must not restart that clock, or a third try
    # would send an expired token and start a second flow.
    store = FakeStore()
    operator = TencentEmrScaleOutClusterOperator(task_id="run", instance_id="emr-abc123", node_count=1)
    first_sent = time.time() - 200
    _killed_while_sending(store, operator, "airflow-token-try1", sent_at=first_sent)
    cloud_emulator.inject("reset", service="emr", action="ScaleOutCluster", count=None)
    with pytest.raises(AirflowException, match="same ClientToken") as lost:
        _execute(operator, FakeTI(2), store)
    assert not isinstance(lost.value, AirflowFailException)
    record = store.get(STATE_KEY)
    assert record["phase"] == Phase.SENDING.value
    assert record["client_token"] == "airflow-token-try1"
    assert record["sent_at"] == pytest.approx(first_sent)

"""Test helpers: connections pointing at the emulator, and running a trigger to its single event."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from cloudflows_emulator import EmulatorServer

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import TaskDeferred as TaskDeferred
except ImportError:  # Airflow 3.1: the same exception, under its older home
    from airflow.exceptions import TaskDeferred as TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

FAST = {"initial_backoff": 0.05}


def use_connections(
    monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, *, secret: str | None = None, **extra: Any
) -> dict[str, dict[str, Any]]:
    """Point the three default connections at ``server`` (fast retries; optionally a wrong secret)."""
    conns = {}
    for name, value in server.airflow_connections().items():
        conn = json.loads(value)
        conn["extra"] = {**conn["extra"], **FAST, **extra}
        if secret is not None:
            conn["password"] = secret
        monkeypatch.setenv(name, json.dumps(conn))
        conns[name] = conn
    return conns


def dag_test(dag: Any, **kwargs: Any) -> Any:
    """``dag.test(**kwargs)``; on Airflow < 3.3 first writes the bundles' DAGs to the metadata DB.

    Airflow 3.3's ``dag.test()`` syncs the DAG's bundle itself; before, only ``airflow dags test`` did (through
    ``get_bagged_dag``), and ``dag.test()`` alone fails with "the dag is not serialized".
    """
    import importlib.metadata

    from packaging.version import Version

    if Version(importlib.metadata.version("apache-airflow")) < Version("3.3"):
        from airflow import settings
        from airflow.utils.cli import get_bagged_dag
        from sqlalchemy.exc import IntegrityError, PendingRollbackError

        try:
            get_bagged_dag(None, dag.dag_id)
        except (IntegrityError, PendingRollbackError):
            # Seen once in CI at 3.1.0, cause not found: the bundle sync's INSERT met a DAG row already
            # there ("UNIQUE constraint failed: dag.dag_id") and Airflow's own retry reused the failed session.
            # A fresh session syncs again: existing rows are then found and updated, not inserted.
            settings.Session.remove()
            get_bagged_dag(None, dag.dag_id)
    return dag.test(**kwargs)


def dagbag_class() -> Any:
    """Airflow's ``DagBag``: in ``airflow.dag_processing.dagbag`` since 3.2, ``airflow.models.dagbag`` in 3.1."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag


async def run_trigger(
    service: str, identifiers: dict[str, Any], *, timeout: float = 30, **kwargs: Any
) -> dict[str, Any]:
    """Run a trigger until its one event; fail if it yields more than one."""
    conn_id = {"tencent": "tencentcloud_default", "alibaba": "alibabacloud_default", "huawei": "huaweicloud_default"}
    trigger = CloudExecutionTrigger(
        service=service,
        identifiers=identifiers,
        conn_id=kwargs.pop("conn_id", conn_id[service.split("_")[0]]),
        deadline=kwargs.pop("deadline", time.time() + timeout),
        poll_interval=kwargs.pop("poll_interval", 0.2),
        **kwargs,
    )
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1, events
    payload: dict[str, Any] = events[0]
    return payload


class FakeTI:
    """The bits of a task instance the operator reads, for calling execute()/on_kill() directly."""

    def __init__(self, try_number: int = 1) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "d", "run", "manual__1", -1
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.xcoms.get(key)


class FakeStore:
    """An in-memory task_state_store (Airflow >= 3.3 keeps it across tries)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if value is None:  # as Airflow's store: a key is removed with delete()
            raise ValueError("Cannot set value as None")
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


class FakeTriggererSupervisor:
    """The triggerer's supervisor as a trigger sees it: answers ``GetTaskStates`` with the task instance's
    state as the API server would (``state`` None: an error reply; ``fail``: the call itself raises)."""

    def __init__(self, state: str | None, *, fail: bool = False) -> None:
        self.state, self.fail = state, fail
        self.asked: list[Any] = []

    async def asend(self, msg: Any) -> Any:
        from airflow.sdk.execution_time.comms import ErrorResponse, GetTaskStates, TaskStatesResult

        if not isinstance(msg, GetTaskStates):
            return None  # e.g. MaskSecret: nothing to answer
        self.asked.append(msg)
        if self.fail:
            raise ConnectionError("the supervisor went away")
        if self.state is None:
            return ErrorResponse()
        (run_id,), (task_id,) = msg.run_ids, msg.task_ids
        return TaskStatesResult(task_states={run_id: {task_id: self.state}})


def airflow_reports(
    monkeypatch: pytest.MonkeyPatch, state: str | None, *, fail: bool = False
) -> FakeTriggererSupervisor:
    """Make ``state`` the task instance state that a trigger's supervisor reports."""
    from airflow.sdk.execution_time import task_runner

    supervisor = FakeTriggererSupervisor(state, fail=fail)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", supervisor, raising=False)
    return supervisor

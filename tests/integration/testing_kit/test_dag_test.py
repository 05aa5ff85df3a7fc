"""The kit's ``dag_test()`` as a test suite calls it many times in one process."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from airflow.sdk import DAG, task
from airflow.sdk.execution_time import supervisor

from cloudflows_emulator.testing import dag_test


@pytest.mark.usefixtures("airflow_db")
def test_every_dag_test_of_a_process_shares_one_in_process_execution_api() -> None:
    with DAG("kit_two_tasks", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dag:

        @task
        def first() -> int:
            return 1

        @task
        def second(value: Any) -> Any:
            return value + 1

        second(first())

    runs = [dag_test(dag), dag_test(dag)]
    assert [run.state for run in runs] == ["success", "success"]
    # Four task runs, one API: built at most once in this process (by an earlier test, or by the first task).
    assert supervisor.in_process_api_server.cache_info().misses <= 1  # type: ignore[attr-defined]
    assert supervisor.in_process_api_server() is supervisor.in_process_api_server()

"""The stack: every component healthy, listening on loopback only, both DAG bundles parsed without errors."""

from __future__ import annotations

import json

from tests.e2e.processes import is_loopback, listening_sockets
from tests.e2e.stack import Stack


def test_api_server_scheduler_dag_processor_and_triggerer_report_healthy(stack: Stack) -> None:
    health = stack.health()
    assert all(state == "healthy" for state in health.values()), health


def test_both_dag_bundles_are_parsed_by_the_dag_processor_without_import_errors(stack: Stack) -> None:
    errors = stack.api.get("/api/v2/importErrors")
    assert errors.get("total_entries", 0) == 0, json.dumps(errors)[:1000]


def test_every_listening_socket_of_the_stack_is_on_loopback(stack: Stack) -> None:
    sockets = listening_sockets(stack.processes.group_pids())
    exposed = [s for s in sockets if not is_loopback(s[1])]
    assert sockets, "no listening socket found for the stack's processes"
    assert not exposed, f"non-loopback (pid, address, port): {exposed}"


def test_no_airflow_conn_variable_reaches_the_components(stack: Stack) -> None:
    leaked = [key for key in stack.processes.env if key.startswith("AIRFLOW_CONN_")]
    assert not leaked, leaked

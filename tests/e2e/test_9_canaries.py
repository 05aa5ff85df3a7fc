"""Canary secrets: the connections' secrets and session tokens are unique canary strings (registered in the
emulator through its control API); none appears in the metadata DB dump, under ``AIRFLOW_HOME`` (logs) or in any
process's output. The stack is stopped first, so that every log is complete and the DB is read at rest."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.processes import is_loopback, listening_sockets
from tests.e2e.stack import Stack
from tests.e2e.waiting import progress


@dataclass
class StoppedStack:
    """The stack after its processes stopped, and what its listening sockets were just before."""

    stack: Stack
    sockets: list[tuple[int, str, int]]


@pytest.fixture(scope="module")
def stopped_stack(stack: Stack, connections: dict[str, dict[str, Any]]) -> StoppedStack:
    """Note the listening sockets at the end of the run, then stop every process of the stack."""
    sockets = listening_sockets(stack.processes.group_pids())
    progress("stopping the stack before reading its DB and logs")
    stack.processes.stop_all()
    return StoppedStack(stack, sockets)


def _db_hits(stopped: StoppedStack) -> dict[str, list[str]]:
    """Canary labels found in the metadata DB dump, by table."""
    stack = stopped.stack
    hits: dict[str, list[str]] = {}
    with stack.read_db() as db:
        for line in db.iterdump():
            found = stack.canaries.find(line.encode())
            if found:
                match = re.match(r'INSERT INTO "?([A-Za-z_]+)"?', line)
                table = match.group(1) if match else line[:40]
                hits.setdefault(table, []).extend(found)
    return {table: sorted(set(labels)) for table, labels in hits.items()}


def test_every_listening_socket_of_the_stack_is_still_on_loopback_at_the_end(stopped_stack: StoppedStack) -> None:
    sockets = stopped_stack.sockets
    exposed = [s for s in sockets if not is_loopback(s[1])]
    assert sockets, "no listening socket found for the stack's processes"
    assert not exposed, f"non-loopback (pid, address, port): {exposed}"


def test_the_connections_use_canary_secrets(stopped_stack: StoppedStack) -> None:
    values = stopped_stack.stack.canaries.values
    assert len(values) >= 9, sorted(values)


def test_no_canary_is_in_the_metadata_db_dump_outside_the_connection_table(stopped_stack: StoppedStack) -> None:
    outside = {table: labels for table, labels in _db_hits(stopped_stack).items() if table != "connection"}
    assert not outside, outside


def test_no_canary_is_in_the_connection_table_either_as_it_is_fernet_encrypted(stopped_stack: StoppedStack) -> None:
    hits = _db_hits(stopped_stack)
    assert "connection" not in hits, hits.get("connection")


def test_no_canary_is_in_airflow_home_nor_in_any_process_output(stopped_stack: StoppedStack) -> None:
    stack = stopped_stack.stack
    file_hits: dict[str, list[str]] = {}
    scanned = 0
    for root in (stack.home, stack.tmp / "process-output"):
        for path in root.rglob("*"):
            if not path.is_file() or path.name.startswith("airflow.db"):
                continue
            scanned += 1
            found = stack.canaries.find(path.read_bytes())
            if found:
                file_hits[str(path.relative_to(stack.tmp))] = found
    log_files = sum(1 for p in (stack.home / "logs").rglob("*") if p.is_file())
    assert log_files > 0, "no log file under AIRFLOW_HOME/logs"
    assert not file_hits, f"{scanned} files scanned ({log_files} under logs/); hits: {file_hits}"

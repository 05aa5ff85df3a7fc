"""Triggers read connections without a synchronous supervisor call on the event loop, on every supported Airflow.

In a triggerer (and in async code on a worker) the Task SDK talks to its supervisor over a socket. Reading a
connection masks its secrets, which tells the supervisor what to redact: ``mask_secret()`` does so with a
*synchronous* ``SUPERVISOR_COMMS.send()``. Called on the event loop thread that is wrong on every version:

- worker comms (``CommsDecoder``, Airflow 3.2+): ``send()`` raises ``DeadlockImminentError`` (a
  ``BaseException``, it escapes everything) while another coroutine's ``asend()`` is in flight;
- triggerer comms (``TriggerCommsDecoder``) without a greenback portal: ``send()`` raises ``RuntimeError``,
  which ``mask_secret()`` swallows, so the supervisor never learns the mask and secrets in the connection's
  extras (an STS token, say) are not redacted from its logs.

and even where it neither raises nor is lost, it blocks the whole loop (every trigger of the triggerer) for a
round trip to the supervisor.

These tests run 200 :class:`CloudExecutionTrigger` instances at once on one loop, with Airflow's real comms
classes on one end of a socket and a minimal supervisor (it answers each frame after a short delay, as a real
one does) on the other. Connections come through Airflow's real lookup: ``AIRFLOW_CONN_*`` variables and, for
ids not in the environment, ``GetConnection`` requests to the supervisor. The comms class is Airflow's own,
subclassed only to record any synchronous ``send()`` made on the event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest

from airflow_provider_cloudflows.limits import QUOTAS, Quota
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from cloudflows_emulator import CloudEmulator, cloudflow_execution
from cloudflows_emulator.server import EmulatorServer
from tests.helpers import FAST

TRIGGERS = 200
ENV_CONNS = [f"alibaba_env_{i}" for i in range(5)]  # AIRFLOW_CONN_* variables
API_CONNS = [f"alibaba_api_{i}" for i in range(5)]  # only the supervisor knows these
SUPERVISOR_DELAY = 0.002  # seconds before each answer: an asend() is in flight most of the time


class FakeSupervisor:
    """The supervisor's end of the comms socket: answers every request frame, records what it was asked."""

    def __init__(self, sock: socket.socket, connections: dict[str, dict[str, Any]]) -> None:
        self.sock = sock
        self.connections = connections
        self.requests: list[dict[str, Any]] = []
        self.sync_sends_on_loop: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True, name="fake-supervisor")
        self._thread.start()

    def masked(self) -> list[Any]:
        """Every value the task process asked the supervisor to redact."""
        return [r["value"] for r in self.requests if r.get("type") == "MaskSecret"]

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self) -> None:
        import msgspec
        from airflow.sdk.execution_time.comms import ConnectionResult, ErrorResponse, _RequestFrame, _ResponseFrame

        decoder = msgspec.msgpack.Decoder(_RequestFrame)
        with contextlib.suppress(EOFError, OSError):
            while True:
                frame = decoder.decode(self._read(int.from_bytes(self._read(4), "big")))
                body = frame.body or {}
                self.requests.append(body)
                time.sleep(SUPERVISOR_DELAY)
                reply: _ResponseFrame = _ResponseFrame(id=frame.id)
                if body.get("type") == "GetConnection":
                    conn = self.connections.get(body["conn_id"])
                    if conn is None:
                        error = ErrorResponse(error="CONNECTION_NOT_FOUND", detail={"conn_id": body["conn_id"]})
                        reply = _ResponseFrame(id=frame.id, error=error.model_dump())
                    else:
                        result = ConnectionResult(conn_id=body["conn_id"], host=None, schema=None, port=None, **conn)
                        reply = _ResponseFrame(id=frame.id, body=result.model_dump(by_alias=True))
                self.sock.sendall(reply.as_bytes())


@pytest.fixture
def connections(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> dict[str, dict[str, Any]]:
    """Ten Alibaba connections to the emulator: five in the environment, five known only to the supervisor."""
    base = json.loads(cloud_emulator_server.airflow_connections()["AIRFLOW_CONN_ALIBABACLOUD_DEFAULT"])
    conns: dict[str, dict[str, Any]] = {}
    for conn_id in ENV_CONNS + API_CONNS:
        extra = {**base["extra"], **FAST, "max_attempts": 3, "conn_marker": conn_id}
        conns[conn_id] = {
            "conn_type": "alibabacloud",
            "login": base["login"],
            "password": base["password"],
            "extra": json.dumps(extra),
        }
        if conn_id in ENV_CONNS:
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conns[conn_id], "extra": extra}))
    # The connection reads are measured, not CloudFlow's quota: lifted on both sides.
    cloud_emulator.set_rate_limit("fnf", "DescribeExecution", None)
    monkeypatch.setitem(QUOTAS["alibabacloud"], "fnf:DescribeExecution", Quota(1_000_000))
    for i in range(TRIGGERS):
        cloud_emulator.add_execution(cloudflow_execution("flow", f"run_{i}", [(0, "Succeeded")]))
    return conns


def _recording(comms_class: type) -> type:
    """Airflow's comms class, noting each synchronous ``send()`` made on the event loop thread."""

    class Recording(comms_class):  # type: ignore[misc,valid-type]
        sync_sends_on_loop: ClassVar[list[str]] = []

        def send(self, msg: Any) -> Any:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # a worker thread (sync_to_async): blocking there is fine
                pass
            else:
                self.sync_sends_on_loop.append(type(msg).__name__)
            return super().send(msg)

    return Recording


@contextlib.asynccontextmanager
async def supervisor_comms(
    kind: str, monkeypatch: pytest.MonkeyPatch, connections: dict[str, dict[str, Any]]
) -> AsyncIterator[FakeSupervisor]:
    """Airflow's own comms class of a triggerer or a worker, installed as ``SUPERVISOR_COMMS``."""
    from airflow.sdk.execution_time import task_runner

    ours, theirs = socket.socketpair()
    supervisor = FakeSupervisor(theirs, {k: v for k, v in connections.items() if k in API_CONNS})
    writer: asyncio.StreamWriter | None = None
    try:
        if kind == "triggerer":
            from airflow.jobs.triggerer_job_runner import TriggerCommsDecoder

            reader, writer = await asyncio.open_connection(sock=ours)
            comms: Any = _recording(TriggerCommsDecoder)(async_reader=reader, async_writer=writer, socket=ours)
            if hasattr(comms, "start_reader"):  # Airflow 3.3+: responses are demultiplexed by a reader task
                await comms.start_reader()
        else:
            from airflow.sdk.execution_time.comms import CommsDecoder, MaskSecret

            comms = _recording(CommsDecoder)(socket=ours)
            try:
                await comms.asend(MaskSecret(value="probe-value-not-a-secret"))
            except NotImplementedError:
                pytest.skip(
                    "this Airflow's task-runner comms have no asend(): async code on a worker cannot reach the "
                    "supervisor without blocking, so there is no async path to check"
                )
        monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
        supervisor.sync_sends_on_loop = comms.sync_sends_on_loop
        yield supervisor
    finally:
        if writer is not None:
            writer.close()
        ours.close()
        theirs.close()


def _triggers() -> Iterator[CloudExecutionTrigger]:
    conn_ids = ENV_CONNS + API_CONNS
    for i in range(TRIGGERS):
        yield CloudExecutionTrigger(
            service="alibaba_cloudflow_execution",
            identifiers={"flow_name": "flow", "execution_name": f"run_{i}"},
            conn_id=conn_ids[i % len(conn_ids)],
            deadline=time.time() + 60,
            poll_interval=0.2,
        )


async def _first_event(trigger: CloudExecutionTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        payload: dict[str, Any] = event.payload
        return payload
    raise AssertionError("the trigger ended without an event")


@pytest.mark.parametrize("kind", ["triggerer", "worker"])
async def test_200_concurrent_triggers_read_connections_asynchronously(
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    connections: dict[str, dict[str, Any]],
    cloud_emulator: CloudEmulator,
) -> None:
    async with supervisor_comms(kind, monkeypatch, connections) as supervisor:
        started = time.monotonic()
        # A DeadlockImminentError (BaseException) would surface here and fail the test.
        events = await asyncio.wait_for(asyncio.gather(*(_first_event(t) for t in _triggers())), timeout=120)
        elapsed = time.monotonic() - started

    # No supervisor call blocked the loop (nor raised DeadlockImminentError, nor was swallowed).
    assert supervisor.sync_sends_on_loop == [], supervisor.sync_sends_on_loop
    assert [e["outcome"] for e in events] == ["success"] * TRIGGERS, [e for e in events if e["outcome"] != "success"]
    assert cloud_emulator.count("fnf", "DescribeExecution", ok=True) == TRIGGERS
    # The connections known only to the supervisor were fetched from it.
    fetched = {r["conn_id"] for r in supervisor.requests if r.get("type") == "GetConnection"}
    assert set(API_CONNS) <= fetched
    # Every connection's parsed extras reached the supervisor's redaction list. A synchronous extra_dejson
    # on the loop thread would have raised (worker) or silently lost this MaskSecret (triggerer).
    masked_extras = {m.get("conn_marker") for m in supervisor.masked() if isinstance(m, dict)}
    assert set(ENV_CONNS + API_CONNS) <= masked_extras, masked_extras
    print(f"{TRIGGERS} triggers ({kind} comms): {elapsed:.2f}s, {len(supervisor.requests)} supervisor requests")

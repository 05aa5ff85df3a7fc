"""The shared clients keep no cookies: one client serves every account and vendor of a process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.fuzz_server import LoopbackServer, Reply, TencentCall, client_for

_ANSWER = json.dumps({"Response": {"Status": 2, "RequestId": "req-cookie"}}).encode()
_CALL = TencentCall("cynosdb", "DescribeFlow", "2019-01-07", {"FlowId": 7})


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    loopback = LoopbackServer()
    yield loopback
    loopback.close()


def _set_cookie_then_answer(server: LoopbackServer) -> None:
    server.program(
        Reply(
            200,
            _ANSWER,
            headers=[("Set-Cookie", "session=account-a-secret; Path=/"), ("Content-Type", "application/json")],
        ),
        Reply(200, _ANSWER, headers=[("Content-Type", "application/json")]),
    )


async def test_async_requests_never_carry_a_cookie_an_answer_set(server: LoopbackServer) -> None:
    _set_cookie_then_answer(server)
    client = client_for("tencentcloud", server)
    for _ in range(2):
        assert (await client.acall(_CALL)).request_id == "req-cookie"
    assert len(server.requests) == 2
    assert [{k.lower() for k in seen.headers} & {"cookie"} for seen in server.requests] == [set(), set()]


def test_sync_requests_never_carry_a_cookie_an_answer_set(server: LoopbackServer) -> None:
    _set_cookie_then_answer(server)
    client = client_for("tencentcloud", server)
    for _ in range(2):
        assert client.call(_CALL).request_id == "req-cookie"
    assert len(server.requests) == 2
    assert [{k.lower() for k in seen.headers} & {"cookie"} for seen in server.requests] == [set(), set()]

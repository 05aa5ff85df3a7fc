"""A service name the emulator does not serve is an error wherever a name is taken, never a silent no-op."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from cloudflows_emulator import CloudEmulator, EmulatorServer

from .helpers import HTTP

# "cloudflow" is the product's name; the service (the API's endpoint prefix) is "fnf".
TYPO = "cloudflow"


@pytest.fixture(scope="module")
def emulator() -> CloudEmulator:
    return CloudEmulator()


def test_the_known_services_are_those_the_handlers_answer(emulator: CloudEmulator) -> None:
    assert {"emr", "cynosdb", "batch", "fnf", "dws", "iam", "sts"} <= emulator.known_services
    assert TYPO not in emulator.known_services


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda e: e.inject("throttle", service=TYPO), id="inject"),
        pytest.param(lambda e: e.set_rate_limit(TYPO, "DescribeExecution", 5), id="set_rate_limit"),
        pytest.param(lambda e: e.quota(TYPO, "DescribeExecution"), id="quota"),
        pytest.param(lambda e: e.rate_limit(TYPO, "DescribeExecution"), id="rate_limit"),
        pytest.param(lambda e: e.count(TYPO), id="count"),
    ],
)
def test_an_unknown_service_raises_naming_the_known_ones(
    emulator: CloudEmulator, call: Callable[[CloudEmulator], object]
) -> None:
    with pytest.raises(ValueError, match=r"unknown service 'cloudflow'; known services: .*\bfnf\b"):
        call(emulator)
    assert emulator.faults == []


def test_a_known_service_is_accepted_everywhere(emulator: CloudEmulator) -> None:
    fault = emulator.inject("throttle", service="fnf", action="DescribeExecution")
    try:
        assert emulator.count("fnf") == 0
        assert emulator.quota("fnf", "DescribeExecution") is not None
        assert emulator.faults == [fault]
    finally:
        emulator.clear_faults()


def test_no_service_still_means_any_service(emulator: CloudEmulator) -> None:
    fault = emulator.inject("server_error")
    try:
        assert fault.service is None
        assert emulator.count() == len(emulator.requests)
    finally:
        emulator.clear_faults()


def _control(server: EmulatorServer, method: str, path: str, body: object = None) -> httpx.Response:
    return HTTP.request(method, f"{server.url}/_emulator/{path}", json=body)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "faults", {"kind": "throttle", "service": TYPO}),
        ("POST", "rate-limits", {"service": TYPO, "action": "DescribeExecution", "per_second": 5}),
        ("GET", f"requests?service={TYPO}", None),
        ("POST", "executions", {"service": TYPO, "key": ["flow", "run"], "timeline": [[0, {}]]}),
    ],
)
def test_the_control_api_answers_400_to_an_unknown_service(
    server: EmulatorServer, method: str, path: str, body: object
) -> None:
    answer = _control(server, method, path, body)
    assert answer.status_code == 400
    assert "'cloudflow'" in answer.json()["error"]
    assert "fnf" in answer.json()["error"]
    assert server.emulator.faults == []

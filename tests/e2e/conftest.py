"""The stack as session fixtures: started once for every test of the package, always stopped at the end.

The package is collected only when ``CLOUDFLOWS_E2E=1`` (``scripts/e2e.sh`` sets it). Without it, nothing here is
collected, so nothing is reported as passed or skipped either. The test modules run in the order of their names,
which is the order of the phases: each phase leaves the stack as the next one expects it (a triggerer running).
Knobs: ``E2E_KEEP=1`` keeps the temporary directory; ``E2E_OUTAGE`` is the triggerer outage in seconds (25).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from tests.e2e.run_report import RunReport
from tests.e2e.specs import LIFECYCLE_SPEC, VENDORS
from tests.e2e.stack import Stack, describe_exits, prepare_stack, start_stack
from tests.e2e.waiting import progress

ENABLED = os.environ.get("CLOUDFLOWS_E2E", "") == "1"
collect_ignore_glob = [] if ENABLED else ["test_*.py", "dags/*"]

REPORT = pytest.StashKey[RunReport]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REPORT] = RunReport()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The run's notes and timings, and one line counting the checks, after pytest's own summary."""
    report = config.stash.get(REPORT, None)
    if not ENABLED or report is None or not (report.timings or report.notes):
        return
    terminalreporter.write_sep("-", "e2e notes and timings")
    for line in report.lines():
        terminalreporter.write_line(line)
    stats = terminalreporter.stats
    passed = len(stats.get("passed", []))
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    terminalreporter.write_line(f"e2e: {passed} checks passed, {failed} failed or errored")


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest) -> RunReport:
    """The run's notes and timings (printed after the summary)."""
    return request.config.stash[REPORT]


@pytest.fixture(scope="session")
def outage() -> float:
    """How long the crash phase leaves the stack without a triggerer, in seconds."""
    return float(os.environ.get("E2E_OUTAGE", "25"))


@pytest.fixture(scope="session")
def stack(report: RunReport) -> Iterator[Stack]:
    """The started stack; every process it started is stopped at the end, whatever happened."""
    stack = prepare_stack(report)
    keep = os.environ.get("E2E_KEEP", "") not in ("", "0")
    cleaned = False

    def cleanup() -> None:
        nonlocal cleaned
        if cleaned:
            return
        stack.processes.stop_all()
        for line in describe_exits(stack):
            progress(line)
        if keep:
            progress(f"kept {stack.tmp}")
        else:
            shutil.rmtree(stack.tmp, ignore_errors=True)
        cleaned = True

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # A SIGTERM (CI's cancel) or SIGHUP ends the run through the teardown below; atexit covers the rest.
    atexit.register(cleanup)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        start_stack(stack)
        yield stack
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        try:
            cleanup()
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@pytest.fixture(scope="session")
def connections(stack: Stack) -> dict[str, dict[str, Any]]:
    """The three ``*_default`` connections, stored in the metadata DB through the REST API with canary secrets
    and session tokens that the emulator accepts; the request body of each, by connection type."""
    created: dict[str, dict[str, Any]] = {}
    for conn_type, vendor in VENDORS.items():
        secret = stack.canaries.new(f"{conn_type}_secret")
        token = stack.canaries.new(f"{conn_type}_token")
        stack.control.add_credentials(vendor["vendor"], vendor["key_id"], secret, token)
        extra = {**vendor["extra"], "endpoint": stack.emulator_url, vendor["token_field"]: token}
        body = {
            "connection_id": f"{conn_type}_default",
            "conn_type": conn_type,
            "login": vendor["key_id"],
            "password": secret,
            "extra": json.dumps(extra),
        }
        stack.api.post("/api/v2/connections", body)
        created[conn_type] = body
    return created


@pytest.fixture(scope="session")
def lifecycle_executions(stack: Stack) -> None:
    """The two lifecycle executions, registered running for many minutes under the names the operators start
    (CloudFlow's ``StartExecution`` of a running name answers that execution, as for a fresh start); how they
    end is decided by the tests, not by the clock."""
    stack.control.add_executions(
        [
            {
                "builder": "cloudflow_execution",
                "args": {
                    "flow_name": LIFECYCLE_SPEC["flow_name"],
                    "execution_name": LIFECYCLE_SPEC[case]["execution_name"],
                    "phases": [[0, "Running"], [LIFECYCLE_SPEC[case]["running_seconds"], "Succeeded"]],
                    "output": {"case": case},
                },
            }
            for case in ("kill", "retry")
        ]
    )

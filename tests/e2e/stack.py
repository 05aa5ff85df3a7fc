"""The running stack: the cloud emulator and Airflow's api-server, scheduler, dag-processor and triggerer, each
its own process group, sharing a fresh AIRFLOW_HOME in a temporary directory.

Two local DAG bundles hold ``example_dags/`` and ``tests/e2e/dags/``. Auth is SimpleAuthManager with every user
an admin; the REST calls still carry a JWT. ``[core] test_connection=Enabled``. A fernet key is set, so connection
secrets are encrypted in the DB. Connections are created in the metadata DB through the REST API; no
``AIRFLOW_CONN_*`` variable reaches any process. The stack is ready once every component reports healthy and every
DAG the tests trigger is parsed.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.airflow_config import AIRFLOW, stack_environment, write_config
from tests.e2e.canaries import Canaries
from tests.e2e.emulator_control import EmulatorControl, emulator_command
from tests.e2e.processes import Component, Processes, ancestors, free_port
from tests.e2e.rest_api import Api
from tests.e2e.run_report import RunReport
from tests.e2e.specs import EXERCISED_DAGS
from tests.e2e.waiting import PhaseAborted, progress, wait_until

HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


@dataclass
class Stack:
    """A started stack: its directories, processes, the clients of its API and emulator, the secrets in use."""

    tmp: Path
    home: Path
    api_port: int
    processes: Processes
    report: RunReport
    api: Api
    canaries: Canaries = field(default_factory=Canaries)
    emulator: EmulatorControl | None = None

    @property
    def api_url(self) -> str:
        """The API server's base URL."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def control(self) -> EmulatorControl:
        """The emulator's control API (the emulator listens once the stack has started)."""
        if self.emulator is None:
            raise PhaseAborted("the emulator is not listening")
        return self.emulator

    @property
    def emulator_url(self) -> str:
        """The emulator's base URL, the endpoint of every connection."""
        return self.control.url

    def start_triggerer(self) -> Component:
        """Start another ``airflow triggerer``."""
        return self.processes.start("triggerer", [AIRFLOW, "triggerer", "--skip-serve-logs"])

    def triggerer_jobs(self) -> list[dict[str, Any]]:
        """Every triggerer job the metadata DB records (``/api/v2/jobs``), running or ended."""
        jobs: list[dict[str, Any]] = self.api.get("/api/v2/jobs", job_type="TriggererJob", limit=100)["jobs"]
        return jobs

    def health(self) -> dict[str, str | None]:
        """The status ``/api/v2/monitor/health`` reports for each component."""
        reply = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5, trust_env=False).json()
        return {name: (reply.get(name) or {}).get("status") for name in HEALTH_COMPONENTS}

    @contextlib.contextmanager
    def read_db(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to the metadata DB, waiting up to 10 s for a component's write to end."""
        uri = f"file:{self.home / 'airflow.db'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            yield db

    def db_connection_rows(self) -> dict[str, tuple[int, int]]:
        """``conn_id -> (is_encrypted, is_extra_encrypted)`` of every connection row of the metadata DB."""
        with self.read_db() as db:
            rows = db.execute("SELECT conn_id, is_encrypted, is_extra_encrypted FROM connection").fetchall()
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    def task_log_folder(self, dag_id: str, run_id: str, task_id: str) -> Path:
        """Where the task's log files (and its trigger logs) are written."""
        return self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    def output_of(self, name: str) -> str:
        """Everything the components called ``name`` printed."""
        return "\n".join(c.output.read_text(errors="replace") for c in self.processes.components if c.name == name)

    def task_process(self, ti: dict[str, Any]) -> tuple[int, str]:
        """The pid and command line of a running task instance's process, checked to be ours to kill."""
        pid = int(ti["pid"])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError as exc:
            raise PhaseAborted(f"task process {pid} not found: {exc}") from None
        # The task process leads its own process group (the supervisor's setpgid): check its ancestry instead.
        scheduler = self.processes.component("scheduler").pgid
        if f"airflow worker -- {ti['id']}" not in cmdline or scheduler not in ancestors(pid):
            raise PhaseAborted(f"pid {pid} is not this task's process of our stack: {cmdline!r}")
        return pid, cmdline


def prepare_stack(report: RunReport) -> Stack:
    """A temporary directory with a fresh AIRFLOW_HOME and its ``airflow.cfg``; nothing started yet."""
    tmp = Path(tempfile.mkdtemp(prefix="cloudflows-e2e-"))
    home = tmp / "airflow_home"
    home.mkdir()
    (tmp / "process-output").mkdir()
    api_port = free_port()
    write_config(home, api_port)
    processes = Processes(workdir=tmp, env=stack_environment(home))
    progress(f"AIRFLOW_HOME={home}, API http://127.0.0.1:{api_port}, airflow {AIRFLOW}")
    return Stack(
        tmp=tmp,
        home=home,
        api_port=api_port,
        processes=processes,
        report=report,
        api=Api(f"http://127.0.0.1:{api_port}"),
    )


def start_stack(stack: Stack) -> None:
    """Emulator, DB migration, the four Airflow components; return once all are healthy and the DAGs parsed."""
    started = time.monotonic()
    processes = stack.processes
    emulator = processes.start("emulator", emulator_command(sys.executable))

    def emulator_url() -> str | None:
        if emulator.popen.poll() is not None:
            raise PhaseAborted(f"the emulator exited: {emulator.output.read_text()[-2000:]}")
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", emulator.output.read_text())
        return match.group(1) if match else None

    with (stack.tmp / "process-output" / "db-migrate.log").open("wb") as sink:
        migrate = subprocess.run(
            [AIRFLOW, "db", "migrate"],
            cwd=stack.tmp,
            env=processes.env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    if migrate.returncode != 0:
        raise PhaseAborted(f"airflow db migrate failed (exit {migrate.returncode}); see process-output")
    stack.report.timing("db migrate", time.monotonic() - started)
    stack.emulator = EmulatorControl(wait_until("the emulator to listen", emulator_url, 30))
    progress(f"emulator at {stack.emulator_url}")

    processes.start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(stack.api_port)])
    processes.start("scheduler", [AIRFLOW, "scheduler", "--skip-serve-logs"])
    processes.start("dag-processor", [AIRFLOW, "dag-processor"])
    stack.start_triggerer()

    def healthy() -> bool:
        for component in processes.components:
            if component.popen.poll() is not None:
                tail = component.output.read_text(errors="replace")[-3000:]
                raise PhaseAborted(f"{component.name} exited with {component.popen.returncode}:\n{tail}")
        return all(state == "healthy" for state in stack.health().values())

    wait_until("every component to report healthy", healthy, 240, interval=1.0)
    stack.api.login()
    stack.report.timing(
        "stack start (emulator, db migrate, components launched -> all healthy)", time.monotonic() - started
    )

    def parsed() -> bool:
        return all(stack.api.http.get(f"/api/v2/dags/{dag_id}").status_code == 200 for dag_id in EXERCISED_DAGS)

    wait_until(f"the {len(EXERCISED_DAGS)} DAGs to be parsed", parsed, 180, interval=1.0)
    others = sorted({d["dag_id"] for d in stack.api.get("/api/v2/dags", limit=100)["dags"]} - set(EXERCISED_DAGS))
    if others:
        progress(f"also parsed, not exercised by this test: {', '.join(others)}")
    stack.report.timing("stack start + DAGs parsed", time.monotonic() - started)


def describe_exits(stack: Stack) -> list[str]:
    """The components that exited with an unexpected code (neither a clean stop nor our signals)."""
    return [
        f"{c.name} (pid {c.pgid}) exited with {c.popen.returncode}"
        for c in stack.processes.components
        if c.popen.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL, None)
    ]

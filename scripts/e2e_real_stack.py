#!/usr/bin/env python3
"""Real-deployment end-to-end test: a real Airflow 3 stack, the cloud emulator, the provider's deferrable sensors.

Run it with ``bash scripts/e2e.sh`` (bootstraps ``.venv`` first). What it starts, each as its own process group
(and stops again, by process group id, on success, failure or Ctrl-C):

- the cloud emulator (its command line with the ``demo`` scenario plus the Batch job plans of
  ``EMULATOR_PLANS``) on 127.0.0.1;
- ``airflow api-server`` (127.0.0.1, a free port), ``airflow scheduler``, ``airflow dag-processor`` and
  ``airflow triggerer``, sharing a fresh ``AIRFLOW_HOME`` in a temporary directory (a second triggerer for a
  while in the hand-over phase).

The deployment: **LocalExecutor on a SQLite metadata DB**. SQLite + LocalExecutor is not a production set-up,
but it is acceptable for this test: every component, worker and the triggerer still talk to one metadata DB and
the API server exactly as in production, and there is no server to install. ``[core] parallelism`` is kept small
(SQLite has one writer, the machine may have two cores), and the scheduler, dag-processor and triggerer
intervals are shortened so the test runs in a few minutes. Two local DAG bundles hold ``example_dags/`` and
``tests/e2e_dags/``. Auth is SimpleAuthManager with ``[core] simple_auth_manager_all_admins=True``; the REST
calls still carry a JWT from ``GET /auth/token``. ``[core] test_connection=Enabled``. A fernet key is set, so
connection secrets are encrypted in the DB. Connections are created in the metadata DB through the REST API;
no ``AIRFLOW_CONN_*`` variable reaches any process.

Phases and checks (one ``PASS name`` / ``FAIL name: detail`` line each, then ``N passed, M failed``):

1. stack: every component healthy, listening on loopback only, both DAG bundles parsed without import errors;
2. connections: ``GET /ui/connections/hook_meta`` serves the three connection types with their extra fields;
   ``POST /api/v2/connections/test`` is true with good credentials and false with a wrong secret, per vendor,
   for an unsaved connection and for the stored ``*_default`` one (the API builds the hook itself);
3. examples: the five example DAGs triggered through the REST API succeed; each sensor deferred to
   ``CloudExecutionTrigger``; its XCom has ``status == "succeeded"`` and the right identifiers;
4. triggerer crash: a dozen waits (five services) deferred at once, the triggerer killed with SIGKILL, a pause,
   a new triggerer: every wait ends with its scripted outcome, the waits whose timeout passed meanwhile end
   failed (AirflowSensorTimeout) or skipped (``soft_fail``), nothing polled the emulator while no triggerer ran;
5. operators: the five operator example DAGs succeed through the REST API, their start task
   deferred to ``CloudRunTrigger``, its XCom and its console link XCom (``_link_<LinkClass>``) are right and
   the downstream task used the XCom; a deferred ``AlibabaCloudFlowStartExecutionOperator`` marked failed
   through the REST API (a user's kill) has its execution stopped in the emulator within 30 s by the
   trigger's ``on_kill`` (Airflow >= 3.3); the same operator waiting in the worker with ``retries=1``,
   its task process ``kill -9``ed after the start, is retried and reattaches: one ``StartExecution``, one
   execution, success on try 2 (the DAGs: ``tests/e2e_dags/operator_lifecycle_dag.py``). An example run
   failed by Airflow's stale-executor-event race (apache/airflow#72716: a task that deferred and is already
   queued or running again is failed on the first process's "success") is run once more, with a NOTE line;
6. triggerer hand-over: a deferred CloudFlow start operator and a deferred Batch submit operator run by one
   triggerer; a second triggerer starts; the first is stalled (SIGSTOP of its processes) until the second
   has adopted both triggers, then resumed (SIGCONT). Airflow cancels the resumed triggerer's lost triggers
   "by user action" (``on_kill``): no ``StopExecution`` / ``TerminateJob`` may reach the emulator, its log
   must say the cancel was skipped (the task is still deferred), both tasks succeed with their scripted
   result (the DAG: ``tests/e2e_dags/triggerer_handover_dag.py``); the second triggerer is stopped again;
7. start resend: a ``TencentBatchSubmitJobOperator`` waiting in the worker with ``retries=1``; the emulator
   trickles its first ``SubmitJob`` answer (the job exists, the reply is in flight) and the task process is
   ``kill -9``ed meanwhile. Try 2 sends the start again under try 1's ClientToken (its log says so) and gets
   the same JobId: one Batch job, two ``SubmitJob`` requests, success on try 2 (the DAG:
   ``tests/e2e_dags/start_resend_dag.py``);
8. identity: a Tencent connection assuming a role (``role_arn``, ``sts_endpoint`` at the emulator, the
   stored key of ``tencentcloud_default``) is created through the REST API; Test is true for it, false for a
   copy with a malformed ``role_arn`` (refused before anything is sent, the message names the extra) and false
   for a copy STS refuses (the message names the step, ``obtaining credentials (STS AssumeRole)``). With the
   emulator's temporary keys capped at 4 s, a deferrable CynosDB sensor on that connection waits for a flow
   scripted to succeed 14 s after the triggerer's first poll: it succeeds, the wait ran in the triggerer,
   which assumed the role at least 3 times and signed its polls with at least 3 keys; the emulator's clock is
   skewed for one poll so that its key is expired (``AuthFailure.TokenFailure``): every such poll is repeated
   at once with a fresh key and answered (the DAG: ``tests/e2e_dags/identity_dag.py``);
9. canary secrets: the connections' secrets and session tokens are unique canary strings (registered in the
   emulator through its control API); none appears in the metadata DB dump, under ``AIRFLOW_HOME`` (logs) or
   in any process's output.

Knobs: ``E2E_KEEP=1`` (or ``--keep``) keeps the temporary directory; ``--outage SECONDS`` (default 25).
Only Python's standard library and httpx are used.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
EXAMPLE_DAGS = ROOT / "example_dags"
E2E_DAGS = ROOT / "tests" / "e2e_dags"
CRASH_SPEC = json.loads((E2E_DAGS / "crash_waits.json").read_text())
LIFECYCLE_SPEC = json.loads((E2E_DAGS / "operator_lifecycle.json").read_text())
HANDOVER_SPEC = json.loads((E2E_DAGS / "triggerer_handover.json").read_text())
RESEND_SPEC = json.loads((E2E_DAGS / "start_resend.json").read_text())
IDENTITY_SPEC = json.loads((E2E_DAGS / "identity.json").read_text())
TRIGGER_CLASSPATH = "airflow_provider_cloudflows.triggers.execution.CloudExecutionTrigger"
RUN_TRIGGER_CLASSPATH = "airflow_provider_cloudflows.triggers.run.CloudRunTrigger"
TRIGGERER_HEALTH_THRESHOLD = 10  # [triggerer] triggerer_health_check_threshold, seconds
HUAWEI_PROJECT_ID = "05f2cff45100d5112f4bc00b794ea08e"  # the emulator's default project

# The five example DAGs: sensor task, the identifiers their default params name, extra XCom expectations.
EXAMPLES: dict[str, dict[str, Any]] = {
    "example_tencent_emr": {
        "task": "wait_for_emr_flow",
        "ids": {"instance_id": "emr-demo01", "flow_id": "1001"},
    },
    "example_tencent_cynosdb": {"task": "wait_for_cynosdb_flow", "ids": {"flow_id": 2001}},
    "example_tencent_batch": {"task": "wait_for_batch_task", "ids": {"job_id": "job-demo0001", "task_name": "A"}},
    "example_alibaba_cloudflow": {
        "task": "wait_for_cloudflow_execution",
        "ids": {"flow_name": "nightly_etl", "execution_name": "demo_run"},
        "extra": {"Output": {"rows": 42}},
    },
    "example_huawei_dws": {
        "task": "wait_for_dws_task",
        "ids": {"cluster_id": "9f76c502-fc9c-4a52-8656-65d0da6e3d57", "action_name": "SNAPSHOTTING"},
    },
}

# The operator example DAGs run by the operators phase: a start task, its console link (XCom ``_link_<class>``,
# formatted with the XCom's identifiers), what its XCom must hold, a downstream task and its return value (None:
# any non-empty value).
OPERATOR_EXAMPLES: dict[str, dict[str, Any]] = {
    "example_alibaba_cloudflow_operator": {
        "task": "run_flow",
        "ids": {"flow_name": "demo_flow"},
        "extra": {"Output": {"rows": 42, "table": "sales_daily"}},
        "link_class": "AlibabaCloudFlowExecutionLink",
        "link": "https://fnf.console.aliyun.com/fnf/cn-hangzhou/flows/{flow_name}/executions/{execution_name}",
        "downstream": "publish",
        "downstream_value": 42,
    },
    "example_tencent_batch_operator": {
        "task": "run_batch_job",
        "ids": {},
        "extra": {"JobName": "demo-etl"},
        "link_class": "TencentBatchJobLink",
        "link": "https://console.cloud.tencent.com/batch/job/detail?region=ap-guangzhou&jobId={job_id}",
        "downstream": "report",
        "downstream_value": None,
    },
    "example_tencent_emr_operator": {
        "task": "scale_out",
        "ids": {"instance_id": "emr-demo01"},
        "extra": {},
        "link_class": "TencentEmrClusterLink",
        "link": "https://console.cloud.tencent.com/emr/static/hardware?clusterId=emr-demo01&region=ap-guangzhou",
        "downstream": "run_job",
        "downstream_value": None,
    },
    "example_tencent_cynosdb_operator": {
        "task": "resume",
        "ids": {},
        "extra": {},
        "link_class": "TencentCynosdbClusterLink",
        "link": "https://console.cloud.tencent.com/cynosdb/mysql/detail?clusterId=cynosdbmysql-demo01&region=ap-guangzhou",
        "downstream": "etl",
        "downstream_value": None,
    },
    "example_huawei_dws_operator": {
        "task": "snapshot",
        "ids": {},
        "extra": {},
        "link_class": "HuaweiDwsClusterLink",
        "link": "https://console.huaweicloud.com/dws/?region=cn-north-4#/cluster/detail?clusterId=3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f",
        "downstream": "report",  # the restored (new) cluster's id
        "downstream_value": None,
    },
}

# Connection types: (emulator vendor, extra carrying the session token, extras the form must offer, base extra).
VENDORS: dict[str, dict[str, Any]] = {
    "tencentcloud": {
        "vendor": "tencent",
        "key_id": "AKIDE2ECANARY0000000000000000000",
        "token_field": "token",
        "form_fields": {"region", "token", "endpoint"},
        "extra": {"region": "ap-guangzhou"},
    },
    "alibabacloud": {
        "vendor": "alibaba",
        "key_id": "STS.E2ECANARY0000",
        "token_field": "security_token",
        "form_fields": {"region", "security_token", "endpoint", "signature_version"},
        "extra": {"region": "cn-hangzhou"},
    },
    "huaweicloud": {
        "vendor": "huawei",
        "key_id": "HWE2ECANARYAK000",
        "token_field": "security_token",
        "form_fields": {"region", "project_id", "security_token", "endpoint"},
        "extra": {"region": "cn-north-4", "project_id": HUAWEI_PROJECT_ID},
    },
}

# Batch jobs scripted by JobName before their SubmitJob (the control API cannot: the job id is not known yet).
EMULATOR_PLANS: dict[str, dict[str, list[list[Any]]]] = {
    HANDOVER_SPEC["batch"]["job_name"]: {
        HANDOVER_SPEC["batch"]["task_name"]: [
            [0, "SUBMITTED"],
            [1, "RUNNING"],
            [HANDOVER_SPEC["running_seconds"], "SUCCEED"],
        ]
    },
    RESEND_SPEC["job_name"]: {
        RESEND_SPEC["task_name"]: [[0, "SUBMITTED"], [1, "RUNNING"], [RESEND_SPEC["running_seconds"], "SUCCEED"]]
    },
}
# The emulator's command line with scenario "e2e": "demo" plus the job plans given as JSON in argv[1].
EMULATOR_BOOT = """\
import json, sys
from cloudflows_emulator import __main__ as cli, scenarios
from cloudflows_emulator.tencent import plan_batch_job

def e2e(emulator):
    scenarios.load_demo(emulator)
    for job_name, tasks in json.loads(sys.argv[1]).items():
        plan_batch_job(emulator, tasks, job_name=job_name)

scenarios.SCENARIOS["e2e"] = e2e
sys.exit(cli.main(sys.argv[2:]))
"""

TERMINAL_RUN_STATES = {"success", "failed"}
TERMINAL_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}


# --- reporting ----------------------------------------------------------------------------------------------


class Report:
    """Collects one result per check and the timings; prints each as it happens."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.timings: list[tuple[str, float]] = []
        self.started = time.monotonic()

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record and print one check."""
        if ok:
            self.passed += 1
            print(f"PASS {name}" + (f" ({detail})" if detail else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail or 'failed'}", flush=True)
        return ok

    def timing(self, name: str, seconds: float) -> None:
        """Record and print one timing."""
        self.timings.append((name, seconds))
        print(f"TIME {name}: {seconds:.1f}s", flush=True)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase; an unexpected exception in it is one failed check, not the end of the run."""
        print(f"\n=== {name}", flush=True)
        started = time.monotonic()
        try:
            yield
        except PhaseAborted as exc:
            self.check(f"{name}: phase completed", False, str(exc))
        except (httpx.HTTPError, OSError, RuntimeError, ValueError, LookupError, TypeError) as exc:
            self.check(f"{name}: phase completed", False, f"{type(exc).__name__}: {exc}")
        finally:
            self.timing(f"phase {name}", time.monotonic() - started)

    def summary(self) -> int:
        """Print the timings and the final ``N passed, M failed`` line; the process exit code."""
        print("\ntimings:")
        for name, seconds in self.timings:
            print(f"  {seconds:7.1f}s  {name}")
        print(f"  {time.monotonic() - self.started:7.1f}s  total")
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


class PhaseAborted(Exception):
    """A phase cannot go on (its prerequisite failed); the reason is reported as a failed check."""


def progress(message: str) -> None:
    """A progress line (not a check)."""
    print(f"... {message}", flush=True)


def wait_until(what: str, predicate: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``predicate`` until it returns a truthy value; PhaseAborted after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            suffix = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise PhaseAborted(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")
        time.sleep(interval)


def parse_time(value: str | None) -> float | None:
    """An API timestamp (ISO 8601) as unix seconds."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- processes ----------------------------------------------------------------------------------------------


@dataclass
class Component:
    """One started process (leader of its own process group) and the file holding its stdout and stderr."""

    name: str
    popen: subprocess.Popen[bytes]
    output: Path
    started: float

    @property
    def pgid(self) -> int:
        """The process group id (the leader's pid: every component starts a new session)."""
        return self.popen.pid


@dataclass
class Stack:
    """The temporary AIRFLOW_HOME, the environment of every component and the processes started."""

    tmp: Path
    home: Path
    env: dict[str, str]
    api_port: int
    components: list[Component] = field(default_factory=list)
    emulator_url: str = ""

    @property
    def api_url(self) -> str:
        """The API server's base URL."""
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, name: str, args: list[str]) -> Component:
        """Start ``args`` in a new process group with the stack's environment; output to a file."""
        out_dir = self.tmp / "process-output"
        out_dir.mkdir(exist_ok=True)
        index = sum(1 for c in self.components if c.name == name)
        output = out_dir / (f"{name}.log" if index == 0 else f"{name}.{index}.log")
        with output.open("wb") as sink:
            popen = subprocess.Popen(
                args,
                cwd=self.tmp,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        component = Component(name, popen, output, time.time())
        self.components.append(component)
        return component

    def component(self, name: str) -> Component:
        """The most recently started component of that name."""
        return [c for c in self.components if c.name == name][-1]

    def alive(self, component: Component) -> bool:
        """Whether any process of the component's group still runs (zombies awaiting their reaper do not)."""
        return any(pgrp == component.pgid and state != "Z" for pgrp, state in process_table().values())

    def kill(self, component: Component, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the component's whole process group and reap the leader."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(component.pgid, sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.popen.wait(timeout=10)

    def stop(self, component: Component, grace: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``grace`` seconds."""
        if not self.alive(component):
            component.popen.poll()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(component.pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.alive(component):
            component.popen.poll()
            time.sleep(0.2)
        if self.alive(component):
            self.kill(component)
        component.popen.poll()

    def stop_all(self) -> None:
        """Stop every component still running, newest first (idempotent)."""
        for component in reversed(self.components):
            self.stop(component)

    def tree_pids(self, component: Component) -> set[int]:
        """The component's live processes: its process group and any descendant in a group of its own."""
        return {
            pid
            for pid, (pgrp, state) in process_table().items()
            if state != "Z" and (pgrp == component.pgid or component.pgid in ancestors(pid))
        }

    def group_pids(self) -> set[int]:
        """The pids currently in any of the stack's process groups."""
        groups = {c.pgid for c in self.components}
        return {pid for pid, (pgrp, _state) in process_table().items() if pgrp in groups}


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (process group id, state letter) of every process (Linux /proc)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesized command name: state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2:
            table[int(entry.name)] = (int(fields[2]), fields[0])
    return table


def sqlite_writers(db: Path) -> set[int]:
    """Pids holding an exclusive POSIX lock on the SQLite DB ``db`` or its WAL index (Linux /proc/locks).

    In WAL mode every open connection keeps shared locks; an exclusive one is a write or checkpoint under way,
    which blocks every other writer while it lasts."""
    files = {db, db.with_name(db.name + "-shm")}
    devices = set()
    for path in files:
        with contextlib.suppress(OSError):
            st = path.stat()
            devices.add(f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}")
    holders = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()  # id: POSIX ADVISORY WRITE pid maj:min:inode start end ("->" marks a waiter)
            if len(fields) >= 6 and fields[1] == "POSIX" and fields[3] == "WRITE" and fields[5] in devices:
                holders.add(int(fields[4]))
    return holders


def ancestors(pid: int) -> list[int]:
    """The parent, grandparent... pids of ``pid`` (Linux /proc); empty when it is gone."""
    found: list[int] = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rfind(")") + 2 :].split()[1])
        found.append(pid)
    return found


def listening_sockets(pids: set[int]) -> list[tuple[int, str, int]]:
    """``(pid, address, port)`` of every TCP socket in LISTEN state owned by ``pids`` (Linux /proc)."""
    listening: dict[str, tuple[str, int]] = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != "0A":  # 0A: LISTEN
                continue
            hex_address, hex_port = parts[1].split(":")
            listening[parts[9]] = (_decode_address(hex_address[:width]), int(hex_port, 16))
    found: list[tuple[int, str, int]] = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    match = re.fullmatch(r"socket:\[(\d+)\]", target)
                    if match and match.group(1) in listening:
                        found.append((pid, *listening[match.group(1)]))
    return found


def connected_to(pid: int, port: int) -> bool:
    """Whether ``pid`` holds an established TCP connection to ``port`` on the local host (Linux /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if len(parts) >= 10 and parts[3] == "01" and int(parts[2].split(":")[1], 16) == port:  # 01: ESTABLISHED
                    inodes.add(parts[9])
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
                if match and match.group(1) in inodes:
                    return True
    return False


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 or an IPv4-mapped loopback."""
    return address.startswith("127.") or address == "::1" or address.startswith("::ffff:127.")


# --- configuration ------------------------------------------------------------------------------------------


def write_config(home: Path, api_port: int) -> None:
    """The stack's airflow.cfg (shared by every component through AIRFLOW_HOME)."""
    bundles = [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path), "refresh_interval": 5},
        }
        for name, path in (("cloudflows_examples", EXAMPLE_DAGS), ("cloudflows_e2e", E2E_DAGS))
    ]
    fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    config = f"""\
# Written by scripts/e2e_real_stack.py. SQLite + LocalExecutor: acceptable for this end-to-end test only.
[core]
dags_folder = {home / "dags"}
executor = LocalExecutor
# Small: SQLite has a single writer and the test machine may have only two cores.
parallelism = 4
max_active_tasks_per_dag = 32
load_examples = False
dags_are_paused_at_creation = True
fernet_key = {fernet_key}
auth_manager = airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
simple_auth_manager_all_admins = True
test_connection = Enabled
execution_api_server_url = http://127.0.0.1:{api_port}/execution/
default_task_retries = 0

[database]
sql_alchemy_conn = sqlite:///{home / "airflow.db"}

[logging]
base_log_folder = {home / "logs"}
logging_level = INFO

[api]
host = 127.0.0.1
port = {api_port}
base_url = http://127.0.0.1:{api_port}
workers = 1
secret_key = {secrets.token_hex(16)}
expose_config = False

[api_auth]
jwt_secret = {secrets.token_hex(32)}

[dag_processor]
dag_bundle_config_list = {json.dumps(bundles)}
refresh_interval = 5
bundle_refresh_check_interval = 2
min_file_process_interval = 60
parsing_processes = 1
print_stats_interval = 600

[scheduler]
scheduler_heartbeat_sec = 2
scheduler_idle_sleep_time = 0.5
trigger_timeout_check_interval = 3
orphaned_tasks_check_interval = 30
task_queued_timeout = 300

[triggerer]
capacity = 100
job_heartbeat_sec = 2
# A dead triggerer's triggers are taken over once its heartbeat is this old.
triggerer_health_check_threshold = {TRIGGERER_HEALTH_THRESHOLD}
"""
    (home / "airflow.cfg").write_text(config)
    (home / "dags").mkdir(exist_ok=True)


def stack_environment(home: Path) -> dict[str, str]:
    """This process's environment without any Airflow setting, connection or variable, plus AIRFLOW_HOME."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
        and key not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


# --- REST API -----------------------------------------------------------------------------------------------


class Api:
    """The Airflow REST API, authenticated with a JWT from ``GET /auth/token`` (all-admins SimpleAuthManager)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60.0, trust_env=False)

    def login(self) -> None:
        """Get a token (``simple_auth_manager_all_admins`` hands one out without credentials) and use it."""
        reply = self.http.get("/auth/token")
        reply.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        """GET, raising on an HTTP error; the JSON body."""
        reply = self.http.get(path, params=params)
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, body: Any) -> Any:
        """POST JSON, raising on an HTTP error; the JSON body."""
        reply = self.http.post(path, json=body)
        if reply.is_error:
            raise RuntimeError(f"POST {path}: HTTP {reply.status_code}: {reply.text[:500]}")
        return reply.json()

    def patch(self, path: str, body: Any) -> Any:
        """PATCH JSON, raising on an HTTP error; the JSON body."""
        reply = self.http.patch(path, json=body)
        if reply.is_error:
            raise RuntimeError(f"PATCH {path}: HTTP {reply.status_code}: {reply.text[:500]}")
        return reply.json()

    def trigger(self, dag_id: str, *, logical_date: datetime | None = None) -> str:
        """Unpause ``dag_id`` and trigger a run (without a logical date unless given); its run id."""
        self.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
        body = {"logical_date": logical_date.isoformat() if logical_date else None}
        run = self.post(f"/api/v2/dags/{dag_id}/dagRuns", body)
        run_id: str = run["dag_run_id"]
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        """The DAG run's state."""
        state: str = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        return state

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's task instances by task id."""
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)
        return {ti["task_id"]: ti for ti in body["task_instances"]}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One task instance (its current try)."""
        body: dict[str, Any] = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        return body

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The task's XCom ``key`` (default ``return_value``; as stored JSON)."""
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        value = body["value"]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        return value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log for one try, as text (JSON lines joined)."""
        reply = self.http.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        reply.raise_for_status()
        content = reply.json().get("content")
        if isinstance(content, list):
            return "\n".join(json.dumps(line) if not isinstance(line, str) else line for line in content)
        return str(content)


# --- emulator control API -----------------------------------------------------------------------------------


class Emulator:
    """The emulator's ``/_emulator/`` control API."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30.0, trust_env=False)

    def add_credentials(self, vendor: str, key_id: str, secret: str, token: str | None) -> None:
        """Accept another key (and session token)."""
        body = {"vendor": vendor, "key_id": key_id, "secret": secret, "token": token}
        self.http.post("/_emulator/credentials", json=body).raise_for_status()

    def add_executions(self, executions: list[dict[str, Any]]) -> None:
        """Register executions (builder form)."""
        self.http.post("/_emulator/executions", json=executions).raise_for_status()

    def requests(self, action: str | None = None) -> list[dict[str, Any]]:
        """The request log (each with its wall-clock ``time``), of one action if given."""
        reply = self.http.get("/_emulator/requests", params={"action": action} if action else None)
        reply.raise_for_status()
        records: list[dict[str, Any]] = reply.json()["requests"]
        return records

    def executions(self) -> list[dict[str, Any]]:
        """Every execution (``key``, ``timeline``, ``stopped_at``...)."""
        reply = self.http.get("/_emulator/executions")
        reply.raise_for_status()
        executions: list[dict[str, Any]] = reply.json()["executions"]
        return executions

    def advance(self, seconds: float) -> None:
        """Fast-forward every execution's script."""
        self.http.post("/_emulator/advance", json={"seconds": seconds}).raise_for_status()

    def inject(self, fault: dict[str, Any]) -> None:
        """Script a fault (``{"kind", "service"?, "action"?, "count"?, "interval"?...}``)."""
        self.http.post("/_emulator/faults", json=fault).raise_for_status()

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self.http.delete("/_emulator/faults").raise_for_status()

    def set_identity_lifetime(self, seconds: float | None) -> None:
        """Cap the lifetime of the temporary keys its STS issues (None: as asked)."""
        self.http.post("/_emulator/identity", json={"lifetime": seconds}).raise_for_status()

    def issued(self, vendor: str) -> int:
        """How many temporary keys it issued for ``vendor`` (refreshes counted)."""
        reply = self.http.get("/_emulator/identity")
        reply.raise_for_status()
        count: int = reply.json()["issued"].get(vendor, 0)
        return count


def key_of(record: dict[str, Any]) -> tuple[str, ...] | None:
    """A request record's execution key as a tuple."""
    key = record.get("key")
    return None if key is None else tuple(str(part) for part in key)


def polls(record: dict[str, Any], key: tuple[str, ...]) -> bool:
    """Whether a request polled the execution ``key``: its own read, or a read of many covering it (a job's
    DescribeJob for its tasks, a project's cluster list for its DWS clusters)."""
    if record.get("action") == "ListClusters":
        return len(key) == 1 and key[0].count("-") == 4  # a DWS cluster's UUID
    own = key_of(record)
    return own is not None and own == key[: len(own)]


def builder_key(execution: dict[str, Any]) -> tuple[str, ...]:
    """The emulator key the scripted execution of the crash spec will be logged under."""
    args = execution["args"]
    builder = execution["builder"]
    if builder == "emr_flow":
        return (args["instance_id"], "FlowId", str(args["flow_id"]))
    if builder == "cynosdb_flow":
        return (str(args["flow_id"]),)
    if builder == "batch_task":
        return (args["job_id"], args["task_name"])
    if builder == "cloudflow_execution":
        return (args["flow_name"], args["execution_name"])
    if builder == "dws_task":
        return (args["cluster_id"],)
    raise ValueError(f"unknown builder {builder}")


# --- the test -----------------------------------------------------------------------------------------------


@dataclass
class Canaries:
    """The secret values that must never leave the connection table (encrypted) and the emulator."""

    values: dict[str, str] = field(default_factory=dict)

    def new(self, label: str) -> str:
        """A fresh unique canary string."""
        value = f"e2ecanary{label.replace('_', '')}{secrets.token_hex(10)}"
        self.values[label] = value
        return value

    def find(self, data: bytes) -> list[str]:
        """Labels of the canaries present in ``data``."""
        return [label for label, value in self.values.items() if value.encode() in data]


class E2E:
    """The phases of the test, sharing the stack, the API clients and the report."""

    def __init__(self, stack: Stack, report: Report, outage: float) -> None:
        self.stack = stack
        self.report = report
        self.outage = outage
        self.canaries = Canaries()
        self.api = Api(stack.api_url)
        self.emulator: Emulator | None = None
        self.connections: dict[str, dict[str, Any]] = {}

    # --- phase 1: the stack ---------------------------------------------------------------------------------

    def start_stack(self) -> None:
        """Emulator, DB migration, the four Airflow components; wait until all are healthy and DAGs parsed."""
        started = time.monotonic()
        stack = self.stack
        emulator = stack.start(
            "emulator",
            [
                sys.executable,
                "-c",
                EMULATOR_BOOT,
                json.dumps(EMULATOR_PLANS),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--scenario",
                "e2e",
            ],
        )

        def emulator_url() -> str | None:
            if emulator.popen.poll() is not None:
                raise PhaseAborted(f"the emulator exited: {emulator.output.read_text()[-2000:]}")
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", emulator.output.read_text())
            return match.group(1) if match else None

        with (stack.tmp / "process-output" / "db-migrate.log").open("wb") as sink:
            migrate = subprocess.run(
                [AIRFLOW, "db", "migrate"],
                cwd=stack.tmp,
                env=stack.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            )
        if migrate.returncode != 0:
            raise PhaseAborted(f"airflow db migrate failed (exit {migrate.returncode}); see process-output")
        self.report.timing("db migrate", time.monotonic() - started)
        stack.emulator_url = wait_until("the emulator to listen", emulator_url, 30)
        self.emulator = Emulator(stack.emulator_url)
        progress(f"emulator at {stack.emulator_url}")

        stack.start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(stack.api_port)])
        stack.start("scheduler", [AIRFLOW, "scheduler", "--skip-serve-logs"])
        stack.start("dag-processor", [AIRFLOW, "dag-processor"])
        stack.start("triggerer", [AIRFLOW, "triggerer", "--skip-serve-logs"])

        def healthy() -> bool:
            for component in stack.components:
                if component.popen.poll() is not None:
                    tail = component.output.read_text(errors="replace")[-3000:]
                    raise PhaseAborted(f"{component.name} exited with {component.popen.returncode}:\n{tail}")
            health = httpx.get(f"{stack.api_url}/api/v2/monitor/health", timeout=5, trust_env=False).json()
            states = {name: (health.get(name) or {}).get("status") for name in ("metadatabase", "scheduler")}
            states.update({name: (health.get(name) or {}).get("status") for name in ("triggerer", "dag_processor")})
            return all(state == "healthy" for state in states.values())

        wait_until("every component to report healthy", healthy, 240, interval=1.0)
        self.api.login()
        self.report.timing(
            "stack start (emulator, db migrate, components launched -> all healthy)", time.monotonic() - started
        )
        self.report.check("stack: api-server, scheduler, dag-processor, triggerer healthy", True)

        expected = [
            *EXAMPLES,
            CRASH_SPEC["dag_id"],
            *OPERATOR_EXAMPLES,
            LIFECYCLE_SPEC["kill"]["dag_id"],
            LIFECYCLE_SPEC["retry"]["dag_id"],
            HANDOVER_SPEC["dag_id"],
            RESEND_SPEC["dag_id"],
            IDENTITY_SPEC["dag_id"],
        ]

        def parsed() -> bool:
            return all(self.api.http.get(f"/api/v2/dags/{dag_id}").status_code == 200 for dag_id in expected)

        wait_until(f"the {len(expected)} DAGs to be parsed", parsed, 180, interval=1.0)
        others = sorted({d["dag_id"] for d in self.api.get("/api/v2/dags", limit=100)["dags"]} - set(expected))
        if others:
            progress(f"also parsed, not exercised by this test: {', '.join(others)}")
        errors = self.api.get("/api/v2/importErrors")
        self.report.check(
            "stack: example_dags + tests/e2e_dags parsed by the dag-processor, no import errors",
            errors.get("total_entries", 0) == 0,
            json.dumps(errors)[:1000],
        )
        self.report.timing("stack start + DAGs parsed", time.monotonic() - started)

        self.check_loopback("stack")
        leaked_env = [k for k in stack.env if k.startswith("AIRFLOW_CONN_")]
        self.report.check(
            "stack: no AIRFLOW_CONN_* variable in the components' environment", not leaked_env, str(leaked_env)
        )

    def task_process(self, ti: dict[str, Any]) -> tuple[int, str]:
        """The pid and command line of a running task instance's process, checked to be ours to kill."""
        pid = int(ti["pid"])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError as exc:
            raise PhaseAborted(f"task process {pid} not found: {exc}") from None
        # The task process leads its own process group (the supervisor's setpgid): check its ancestry instead.
        scheduler = self.stack.component("scheduler").pgid
        if f"airflow worker -- {ti['id']}" not in cmdline or scheduler not in ancestors(pid):
            raise PhaseAborted(f"pid {pid} is not this task's process of our stack: {cmdline!r}")
        return pid, cmdline

    def check_loopback(self, when: str) -> None:
        """Every TCP socket any process of the stack listens on is bound to a loopback address."""
        sockets = listening_sockets(self.stack.group_pids())
        exposed = [s for s in sockets if not is_loopback(s[1])]
        self.report.check(
            f"{when}: every listening socket of the stack's processes is on loopback",
            bool(sockets) and not exposed,
            f"non-loopback: {exposed}" if exposed else f"(pid, address, port): {sorted(set(sockets))}",
        )

    # --- phase 2: connections -------------------------------------------------------------------------------

    def setup_connections(self) -> None:
        """Register canary credentials in the emulator; create the three ``*_default`` connections in the DB."""
        assert self.emulator is not None
        for conn_type, vendor in VENDORS.items():
            secret = self.canaries.new(f"{conn_type}_secret")
            token = self.canaries.new(f"{conn_type}_token")
            self.emulator.add_credentials(vendor["vendor"], vendor["key_id"], secret, token)
            extra = {**vendor["extra"], "endpoint": self.stack.emulator_url, vendor["token_field"]: token}
            body = {
                "connection_id": f"{conn_type}_default",
                "conn_type": conn_type,
                "login": vendor["key_id"],
                "password": secret,
                "extra": json.dumps(extra),
            }
            self.api.post("/api/v2/connections", body)
            self.connections[conn_type] = body
        stored = {c["connection_id"] for c in self.api.get("/api/v2/connections", limit=100)["connections"]}
        db_rows = self._db_connection_rows()
        wanted = {f"{t}_default" for t in VENDORS}
        self.report.check(
            "connections: the three *_default connections are stored in the metadata DB (REST API), encrypted",
            wanted <= stored and all(db_rows.get(c) == (1, 1) for c in wanted),
            f"api={sorted(stored)} db (is_encrypted, is_extra_encrypted)={db_rows}",
        )

    def _db_connection_rows(self) -> dict[str, tuple[int, int]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.stack.home / 'airflow.db'}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT conn_id, is_encrypted, is_extra_encrypted FROM connection").fetchall()
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    def check_connection_forms(self) -> None:
        """hook_meta lists the three types with their fields; Test answers true / false as it should."""
        meta = {item.get("connection_type"): item for item in self.api.get("/ui/connections/hook_meta")}
        for conn_type, vendor in VENDORS.items():
            item = meta.get(conn_type)
            fields = set((item or {}).get("extra_fields") or {})
            # Airflow may key the fields plainly or as extra__<type>__<name>.
            names = {f.removeprefix(f"extra__{conn_type}__") for f in fields}
            missing = vendor["form_fields"] - names
            self.report.check(
                f"connections: hook_meta serves {conn_type} with its extra fields",
                item is not None and not missing,
                f"missing {sorted(missing)}; got {sorted(fields)}" if item else f"not served; got {sorted(meta)}",
            )

        for conn_type in VENDORS:
            good = self.connections[conn_type]
            wrong_secret = self.canaries.new(f"{conn_type}_wrong")
            cases = [
                ("unsaved connection, good credentials", {**good, "connection_id": f"e2e_probe_{conn_type}"}, True),
                (
                    "unsaved connection, wrong secret (good *_default exists)",
                    {**good, "connection_id": f"e2e_probe_{conn_type}", "password": wrong_secret},
                    False,
                ),
                ("stored *_default, masked password (edit form)", {**good, "password": "***"}, True),
                ("stored *_default, wrong secret typed in", {**good, "password": wrong_secret}, False),
            ]
            for label, body, expected in cases:
                reply = self.api.http.post("/api/v2/connections/test", json=body)
                detail = f"HTTP {reply.status_code}: {reply.text[:400]}"
                result = reply.json() if reply.status_code == 200 else {}
                leaked = self.canaries.find(reply.content)
                self.report.check(
                    f"connections: Test {conn_type} ({label}) -> {str(expected).lower()}",
                    reply.status_code == 200 and result.get("status") is expected and not leaked,
                    f"{detail}; canaries in reply: {leaked}" if leaked else detail,
                )

    # --- phase 3: the example DAGs --------------------------------------------------------------------------

    def run_examples(self) -> None:
        """Trigger the five example DAGs together; check state, deferral and XCom of each."""
        runs = {dag_id: self.api.trigger(dag_id) for dag_id in EXAMPLES}
        triggered = time.monotonic()
        progress(f"triggered {', '.join(runs)}")
        deferred_to: dict[str, set[str]] = {dag_id: set() for dag_id in EXAMPLES}
        states: dict[str, str] = {}

        def finished() -> bool:
            for dag_id, run_id in runs.items():
                if states.get(dag_id) in TERMINAL_RUN_STATES:
                    continue
                for ti in self.api.task_instances(dag_id, run_id).values():
                    if ti["task_id"] == EXAMPLES[dag_id]["task"] and ti["state"] == "deferred" and ti.get("trigger"):
                        deferred_to[dag_id].add(ti["trigger"]["classpath"])
                states[dag_id] = self.api.run_state(dag_id, run_id)
            return all(states.get(d) in TERMINAL_RUN_STATES for d in runs)

        wait_until("the example DAG runs to finish", finished, 240, interval=0.5)
        self.report.timing("examples: trigger -> all five runs finished", time.monotonic() - triggered)
        for dag_id, run_id in runs.items():
            spec = EXAMPLES[dag_id]
            task = spec["task"]
            self.report.check(f"examples: {dag_id} run succeeded", states[dag_id] == "success", states[dag_id])
            log = self._log_or_empty(dag_id, run_id, task)
            seen = deferred_to[dag_id]
            self.report.check(
                f"examples: {dag_id}.{task} deferred to CloudExecutionTrigger",
                seen == {TRIGGER_CLASSPATH} or (not seen and TRIGGER_CLASSPATH in log),
                f"trigger classpaths seen while deferred: {sorted(seen) or 'none (checked the log)'}",
            )
            try:
                state = self.api.xcom(dag_id, run_id, task)
            except (httpx.HTTPError, KeyError) as exc:
                state = {"error": str(exc)}
            problems = xcom_problems(state, spec["ids"], spec.get("extra", {}))
            self.report.check(
                f"examples: {dag_id}.{task} XCom has status=SUCCEEDED and the right identifiers",
                not problems,
                "; ".join(problems) + f"; xcom={json.dumps(state)[:600]}"
                if problems
                else f"{state.get('identifiers')}",
            )

    def _log_or_empty(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        try:
            return self.api.task_log(dag_id, run_id, task_id, try_number)
        except (httpx.HTTPError, ValueError) as exc:
            return f"<log unavailable: {exc}>"

    # --- phase 4: triggerer crash ---------------------------------------------------------------------------

    def triggerer_crash(self) -> None:
        """Many waits deferred; kill -9 the triggerer; pause; new triggerer; every wait ends as scripted."""
        assert self.emulator is not None
        dag_id = CRASH_SPEC["dag_id"]
        waits = {w["task_id"]: w for w in CRASH_SPEC["waits"]}
        keys = {task_id: builder_key(w["emulator"]) for task_id, w in waits.items()}
        self.emulator.add_executions([w["emulator"] for w in waits.values()])
        run_id = self.api.trigger(dag_id)
        triggered = time.monotonic()
        progress(f"triggered {dag_id} ({len(waits)} deferrable waits)")

        deferred_at: dict[str, float] = {}
        classpaths: dict[str, set[str]] = {t: set() for t in waits}
        tis: dict[str, dict[str, Any]] = {}

        def observe() -> dict[str, dict[str, Any]]:
            current = self.api.task_instances(dag_id, run_id)
            for task_id, ti in current.items():
                trigger = ti.get("trigger")
                if ti["state"] == "deferred" and trigger:
                    classpaths[task_id].add(trigger["classpath"])
                    created = parse_time(trigger.get("created_date"))
                    deferred_at.setdefault(task_id, created if created is not None else time.time())
            tis.clear()
            tis.update(current)
            return current

        def all_deferred() -> bool:
            current = observe()
            early = {t: ti["state"] for t, ti in current.items() if ti["state"] in TERMINAL_TI_STATES}
            if early:
                raise PhaseAborted(f"waits ended before the crash: {early}")
            return len(current) == len(waits) and all(ti["state"] == "deferred" for ti in current.values())

        wait_until(f"all {len(waits)} waits to be deferred at once", all_deferred, 180, interval=0.5)
        self.report.timing("crash: trigger -> all waits deferred", time.monotonic() - triggered)
        self.report.check(
            f"crash: {len(waits)} waits across 5 services deferred at once to CloudExecutionTrigger",
            all(classpaths[t] == {TRIGGER_CLASSPATH} for t in waits),
            json.dumps({t: sorted(c) for t, c in classpaths.items() if c != {TRIGGER_CLASSPATH}}),
        )

        # Let the triggerer poll every wait at least once (long polls show in the log only when they end).
        def polled_by_triggerer() -> bool:
            assert self.emulator is not None
            records = self.emulator.requests()
            short = [t for t, w in waits.items() if w["sensor"] != "AlibabaCloudFlowExecutionSensor"]
            return all(sum(polls(r, keys[t]) for r in records) >= 2 for t in short)

        wait_until("the triggerer to poll every wait", polled_by_triggerer, 30, interval=0.5)
        time.sleep(1.0)

        old = self.stack.component("triggerer")
        self.stack.kill(old, signal.SIGKILL)
        killed = time.time()
        self.report.check(
            "crash: triggerer killed with SIGKILL (whole process group gone)",
            not self.stack.alive(old) and old.popen.returncode == -signal.SIGKILL,
            f"returncode={old.popen.returncode}, group alive={self.stack.alive(old)}",
        )
        timeout_waits = [t for t, w in waits.items() if w["expect"] in ("timeout", "skipped")]
        deadlines = {t: deferred_at[t] + waits[t]["timeout"] for t in timeout_waits}
        restart_at = max(killed + self.outage, max(deadlines.values()) + 3.0)
        progress(f"triggerer killed; outage of {restart_at - killed:.0f}s (timeout deadlines fall inside it)")
        while time.time() < restart_at:
            with contextlib.suppress(httpx.HTTPError):
                observe()
            time.sleep(min(1.0, max(0.0, restart_at - time.time())))

        new = self.stack.start("triggerer", [AIRFLOW, "triggerer", "--skip-serve-logs"])
        restarted = new.started
        self.report.timing("crash: triggerer outage (kill -> new triggerer started)", restarted - killed)

        # ``received`` is when a request arrived (a long poll is answered up to a minute later); 1 s of grace
        # covers requests already on the wire at the kill.
        outage_records = [r for r in self.emulator.requests() if killed + 1.0 < r["received"] <= restarted]
        self.report.check(
            "crash: nothing polled the emulator while no triggerer ran",
            not outage_records,
            f"{len(outage_records)} requests arrived during the {restarted - killed:.0f}s outage: "
            f"{json.dumps(outage_records)[:800]}",
        )

        def first_poll_after_restart() -> float | None:
            assert self.emulator is not None
            times = [r["received"] for r in self.emulator.requests() if r["received"] > restarted]
            return min(times) if times else None

        first = wait_until("the new triggerer's first poll", first_poll_after_restart, 120, interval=0.25)
        self.report.timing("crash: triggerer hand-over (new triggerer start -> first emulator poll)", first - restarted)

        def run_finished() -> bool:
            observe()
            return self.api.run_state(dag_id, run_id) in TERMINAL_RUN_STATES

        wait_until("the crash DAG run to finish", run_finished, 300, interval=1.0)
        observe()  # the task instances' final states
        self.report.timing("crash: trigger -> run finished", time.monotonic() - triggered)
        records = self.emulator.requests()
        self._check_crash_outcomes(run_id, waits, keys, tis, records, restarted)

        for task_id in timeout_waits:
            deadline = deadlines[task_id]
            self.report.check(
                f"crash: {task_id}'s timeout passed during the outage",
                killed < deadline < restarted,
                f"deadline {deadline - killed:+.1f}s after the kill, outage {restarted - killed:.1f}s",
            )
            late = [r for r in records if key_of(r) == keys[task_id] and r["received"] > deadline]
            self.report.check(
                f"crash: {task_id} not polled after its deadline",
                not late,
                f"{len(late)} requests after the deadline",
            )

    def _check_crash_outcomes(
        self,
        run_id: str,
        waits: dict[str, dict[str, Any]],
        keys: dict[str, tuple[str, ...]],
        tis: dict[str, dict[str, Any]],
        records: list[dict[str, Any]],
        restarted: float,
    ) -> None:
        dag_id = CRASH_SPEC["dag_id"]
        expected_state = {"success": "success", "failed": "failed", "timeout": "failed", "skipped": "skipped"}
        for task_id, wait in waits.items():
            ti = tis.get(task_id, {})
            state = ti.get("state")
            want = expected_state[wait["expect"]]
            log = self._log_or_empty(dag_id, run_id, task_id, max(1, int(ti.get("try_number") or 1)))
            detail = f"state={state}"
            ok = state == want
            if wait["expect"] == "success":
                try:
                    xcom = self.api.xcom(dag_id, run_id, task_id)
                except (httpx.HTTPError, KeyError) as exc:
                    xcom = {"error": str(exc)}
                problems = xcom_problems(xcom, wait["identifiers"], {})
                ok = ok and not problems
                detail += "; " + "; ".join(problems) if problems else ""
            elif wait["expect"] == "failed":
                has_error = "CloudExecutionFailed" in log and wait.get("reason", "") in log
                ok = ok and has_error
                detail += "" if has_error else f"; CloudExecutionFailed / {wait.get('reason')!r} not in the log"
            elif wait["expect"] == "timeout":
                has_timeout = "AirflowSensorTimeout" in log
                ok = ok and has_timeout
                detail += "" if has_timeout else "; AirflowSensorTimeout not in the log"
            if wait["expect"] in ("timeout", "skipped"):
                # The provider's trigger deadline (restarted trigger) or Airflow's own defer timeout (scheduler).
                if "did not finish within" in log:
                    detail += "; timed out by the restarted trigger (its deadline had passed)"
                elif "Trigger timeout" in log:
                    detail += "; timed out by Airflow's defer timeout (scheduler)"
            if not ok:
                detail += f"; log tail: {log[-800:]}"
            label = {
                "success": "succeeded",
                "failed": "failed (scripted failure)",
                "timeout": "failed with AirflowSensorTimeout",
                "skipped": "skipped (soft_fail timeout)",
            }[wait["expect"]]
            self.report.check(f"crash: {task_id} {label}", ok, detail)
            if wait["expect"] in ("success", "failed"):
                polled = [r for r in records if polls(r, keys[task_id]) and r["received"] > restarted]
                jobs = self._trigger_log_jobs(run_id, task_id)
                self.report.check(
                    f"crash: {task_id} resumed by the new triggerer",
                    bool(polled) and len(jobs) >= 2,
                    f"{len(polled)} polls after the restart; trigger logs of triggerer jobs {sorted(jobs)}",
                )
        resumed = [
            min(r["time"] for r in records if polls(r, keys[t]) and r["time"] > restarted)
            for t, w in waits.items()
            if w["expect"] in ("success", "failed")
            and w["sensor"] != "AlibabaCloudFlowExecutionSensor"  # long polls are logged when answered
            and any(polls(r, keys[t]) and r["time"] > restarted for r in records)
        ]
        if resumed:
            self.report.timing(
                "crash: new triggerer start -> every resumed short-poll wait polled again", max(resumed) - restarted
            )

    def _trigger_log_jobs(self, run_id: str, task_id: str) -> set[str]:
        """Ids of the triggerer jobs that wrote a trigger log for the task (``attempt=N.log.trigger.<job>.log``)."""
        folder = self.stack.home / "logs" / f"dag_id={CRASH_SPEC['dag_id']}" / f"run_id={run_id}" / f"task_id={task_id}"
        return {path.name.rsplit(".", 2)[-2] for path in folder.glob("attempt=*.log.trigger.*.log")}

    # --- phase 5: operators ---------------------------------------------------------------------------------

    def run_operators(self) -> None:
        """Operator example DAGs end to end, a user kill of a deferred operator, a retry after a killed try.

        The two lifecycle executions are registered in the emulator beforehand, running for many minutes, under
        the names the operators start (CloudFlow's ``StartExecution`` of a running name answers that execution,
        exactly as for a fresh start); how they end is then decided here, not by the clock.
        """
        assert self.emulator is not None
        spec = LIFECYCLE_SPEC
        self.emulator.add_executions(
            [
                {
                    "builder": "cloudflow_execution",
                    "args": {
                        "flow_name": spec["flow_name"],
                        "execution_name": spec[case]["execution_name"],
                        "phases": [[0, "Running"], [spec[case]["running_seconds"], "Succeeded"]],
                        "output": {"case": case},
                    },
                }
                for case in ("kill", "retry")
            ]
        )
        # With a logical date, as the UI's trigger form does: the examples template ``{{ ds }}``.
        now = datetime.now(timezone.utc)
        examples = {dag_id: self.api.trigger(dag_id, logical_date=now) for dag_id in OPERATOR_EXAMPLES}
        triggered = time.monotonic()
        progress(f"triggered {', '.join(examples)}")
        deferred_to: dict[str, set[str]] = {dag_id: set() for dag_id in examples}
        self._operator_kill(lambda: self._observe_examples(examples, deferred_to))
        self._operator_examples(examples, deferred_to, triggered)
        self._operator_retry()

    def _observe_examples(self, runs: dict[str, str], deferred_to: dict[str, set[str]]) -> dict[str, str]:
        """The example runs' states; notes the trigger each start task is deferred to."""
        states: dict[str, str] = {}
        for dag_id, run_id in runs.items():
            ti = self.api.task_instance(dag_id, run_id, OPERATOR_EXAMPLES[dag_id]["task"])
            if ti["state"] == "deferred" and ti.get("trigger"):
                deferred_to[dag_id].add(ti["trigger"]["classpath"])
            states[dag_id] = self.api.run_state(dag_id, run_id)
        return states

    def _operator_kill(self, on_the_side: Callable[[], Any]) -> None:
        """Mark a deferred operator task failed (REST API, as the UI does): its trigger's ``on_kill`` stops the
        execution (``StopExecution``) within ~30 s. ``on_the_side`` is called while waiting (other runs)."""
        assert self.emulator is not None
        case = LIFECYCLE_SPEC["kill"]
        dag_id, task_id = case["dag_id"], case["task_id"]
        key = (LIFECYCLE_SPEC["flow_name"], case["execution_name"])
        run_id = self.api.trigger(dag_id)
        triggered = time.monotonic()
        progress(f"triggered {dag_id}")

        def deferred() -> dict[str, Any] | None:
            on_the_side()
            ti = self.api.task_instance(dag_id, run_id, task_id)
            if ti["state"] in TERMINAL_TI_STATES:
                raise PhaseAborted(f"{task_id} ended ({ti['state']}) before it could be killed")
            return ti if ti["state"] == "deferred" and ti.get("trigger") else None

        ti = wait_until(f"{task_id} to be deferred", deferred, 180)
        self.report.timing("operators kill: trigger -> deferred", time.monotonic() - triggered)
        classpath = ti["trigger"]["classpath"]
        self.report.check(
            f"operators kill: {task_id} deferred to CloudRunTrigger", classpath == RUN_TRIGGER_CLASSPATH, classpath
        )
        folder = self._task_log_folder(dag_id, run_id, task_id)

        # on_kill is only called for a trigger the triggerer runs: wait until it has picked it up (trigger log).
        def trigger_running() -> bool:
            on_the_side()
            return any(folder.glob("attempt=1.log.trigger.*.log"))

        wait_until("the triggerer to run the trigger (its log file)", trigger_running, 60)
        time.sleep(2.0)
        starts = [r for r in self.emulator.requests() if r["action"] == "StartExecution" and key_of(r) == key]
        self.report.check(
            f"operators kill: the operator started execution {key[1]} once before deferring",
            len(starts) == 1 and starts[0]["status"] == 200,
            json.dumps(starts)[:600],
        )

        self.api.patch(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", {"new_state": "failed"})
        killed = time.time()
        progress(f"marked {dag_id}.{task_id} failed through the REST API (a user's kill)")

        def stopped() -> dict[str, Any] | None:
            assert self.emulator is not None
            on_the_side()
            found = [e for e in self.emulator.executions() if tuple(e["key"]) == key]
            return found[0] if found and found[0].get("stopped_at") else None

        execution = wait_until(f"execution {key[1]} to be stopped", stopped, 45, interval=0.5)
        took = execution["stopped_at"] - killed
        self.report.timing("operators kill: marked failed -> execution stopped in the emulator", took)
        final_status = execution["timeline"][-1][1].get("Status")
        self.report.check(
            "operators kill: the emulator shows the execution stopped within 30 s (stopped_at, Status Stopped)",
            took <= 30.0 and final_status == "Stopped",
            f"stopped {took:.1f}s after the kill, final Status {final_status}",
        )
        stops = [r for r in self.emulator.requests() if r["action"] == "StopExecution" and key_of(r) == key]
        self.report.check(
            "operators kill: one StopExecution request for it, accepted",
            len(stops) == 1 and stops[0]["status"] == 200 and stops[0]["received"] >= killed - 1.0,
            json.dumps(stops)[:600],
        )
        trigger_logs = "\n".join(p.read_text(errors="replace") for p in folder.glob("attempt=1.log.trigger.*.log"))
        triggerer_output = "\n".join(
            c.output.read_text(errors="replace") for c in self.stack.components if c.name == "triggerer"
        )
        said = "cancelled on kill" in trigger_logs or "cancelled on kill" in triggerer_output
        user_action = "invoking on_kill" in trigger_logs or "invoking on_kill" in triggerer_output
        self.report.check(
            "operators kill: the triggerer invoked CloudRunTrigger.on_kill (trigger log: 'cancelled on kill')",
            said and user_action,
            f"'invoking on_kill' logged: {user_action}; 'cancelled on kill' logged: {said}"
            + ("" if said and user_action else f"; trigger log tail: {trigger_logs[-800:]}"),
        )
        state = self.api.task_instance(dag_id, run_id, task_id)["state"]
        self.report.check(f"operators kill: {task_id} stays failed", state == "failed", f"state={state}")

    def _operator_examples(self, runs: dict[str, str], deferred_to: dict[str, set[str]], triggered: float) -> None:
        """The operator example runs succeed; the start task deferred, its XCom and console link are right."""
        states: dict[str, str] = {}

        def finished() -> bool:
            states.update(self._observe_examples(runs, deferred_to))
            return all(state in TERMINAL_RUN_STATES for state in states.values())

        wait_until("the operator example runs to finish", finished, 240, interval=0.5)
        self.report.timing(f"operators: trigger -> {len(runs)} example runs finished", time.monotonic() - triggered)
        # A run can "succeed" with a failed task (a leaf with trigger_rule="all_done"): every task must succeed.
        failed = {dag_id: self._failed_tasks(dag_id, run_id) for dag_id, run_id in runs.items()}
        raced_any: set[str] = set()
        for attempt in range(3):
            raced = {dag_id: tasks for dag_id, tasks in failed.items() if tasks}
            if attempt:
                # After the first re-run, a run is tried again only if the scheduler's log proves the race hit
                # that very run (it hit the same example twice in a row in one CI run); anything else fails.
                raced = {d: t for d, t in raced.items() if self._stale_event_race(d, t, runs[d])}
            if not raced:
                break
            raced_any.update(raced)
            # Airflow 3.3 (apache/airflow#71580, #72716, open): the executor's "success" of the process that
            # deferred, drained after the resumed try is already running, fails the task. A failed example is
            # run again; each failure is printed in full, and a failure that is not the race fails the check.
            for dag_id in raced:
                why = (
                    "the stale-executor-event race"
                    if self._stale_event_race(dag_id, raced[dag_id], runs[dag_id])
                    else "unknown"
                )
                progress(f"NOTE: {dag_id} failed ({why}): {self._run_failure(dag_id, runs[dag_id])}")
            progress(f"NOTE: running {sorted(raced)} once more")
            again = {dag_id: self.api.trigger(dag_id, logical_date=datetime.now(timezone.utc)) for dag_id in raced}
            runs.update(again)
            for dag_id in again:
                deferred_to[dag_id] = set()
                states.pop(dag_id, None)
            wait_until("the re-run example runs to finish", finished, 240, interval=0.5)
            failed.update({dag_id: self._failed_tasks(dag_id, run_id) for dag_id, run_id in again.items()})
        for dag_id, run_id in runs.items():
            example = OPERATOR_EXAMPLES[dag_id]
            task = example["task"]
            ok = states[dag_id] == "success" and not failed[dag_id]
            self.report.check(
                f"operators: {dag_id} run and all its tasks succeeded"
                + (" (re-run after the Airflow race)" if dag_id in raced_any else ""),
                ok,
                "success" if ok else self._run_failure(dag_id, run_id),
            )
            seen = deferred_to[dag_id]
            log = "" if seen else self._log_or_empty(dag_id, run_id, task)
            self.report.check(
                f"operators: {dag_id}.{task} deferred to CloudRunTrigger",
                seen == {RUN_TRIGGER_CLASSPATH} or (not seen and "CloudRunTrigger" in log),
                f"trigger classpaths seen while deferred: {sorted(seen) or 'none (checked the log)'}",
            )
            try:
                state = self.api.xcom(dag_id, run_id, task)
            except (httpx.HTTPError, KeyError) as exc:
                state = {"error": str(exc)}
            problems = xcom_problems(state, example["ids"], example["extra"])
            identifiers = state.get("identifiers") if isinstance(state, dict) else None
            self.report.check(
                f"operators: {dag_id}.{task} XCom has status=SUCCEEDED, the ids and the result",
                not problems and bool(identifiers),
                "; ".join(problems) + f"; xcom={json.dumps(state)[:600]}" if problems else f"{identifiers}",
            )
            link_key = f"_link_{example['link_class']}"
            try:
                link = self.api.xcom(dag_id, run_id, task, key=link_key)
            except (httpx.HTTPError, KeyError) as exc:
                link = f"<no XCom {link_key}: {exc}>"
            want = example["link"].format(**(identifiers or {})) if identifiers else None
            self.report.check(
                f"operators: {dag_id}.{task} console link XCom {link_key} points at the execution",
                want is not None and link == want,
                f"got {link!r}" + ("" if link == want else f", want {want!r}"),
            )
            downstream = example["downstream"]
            try:
                value = self.api.xcom(dag_id, run_id, downstream)
            except (httpx.HTTPError, KeyError) as exc:
                value = f"<no XCom: {exc}>"
            want_value = example["downstream_value"]
            ok = (
                value == want_value
                if want_value is not None
                else value not in (None, "", {}) and not str(value).startswith("<no XCom")
            )
            self.report.check(f"operators: {dag_id}.{downstream} used the operator's XCom", ok, json.dumps(value)[:300])

    def _failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        """The run's tasks that did not succeed."""
        return sorted(t for t, ti in self.api.task_instances(dag_id, run_id).items() if ti["state"] != "success")

    def _stale_event_race(self, dag_id: str, tasks: list[str], run_id: str) -> bool:
        """Whether the scheduler failed one of ``tasks`` of run ``run_id`` on a stale executor success (a task
        that had deferred and was already queued or running again)."""
        output = "\n".join(c.output.read_text(errors="replace") for c in self.stack.components if c.name == "scheduler")
        return any(
            re.search(
                rf"reported that the task instance <TaskInstance: {re.escape(dag_id)}\.{re.escape(task)} "
                rf"{re.escape(run_id)} [^>]*> "
                r"finished with state success, but the task instance's state attribute is (?:queued|running)",
                output,
            )
            for task in tasks
        )

    def _run_failure(self, dag_id: str, run_id: str) -> str:
        """A failed run's task states and the log tail of its first failed task."""
        tis = self.api.task_instances(dag_id, run_id)
        detail = f"failed; tasks: { ({t: ti['state'] for t, ti in tis.items()}) }"
        failed = [ti for ti in tis.values() if ti["state"] == "failed"]
        if failed:
            ti = failed[0]
            log = self._log_or_empty(dag_id, run_id, ti["task_id"], max(1, int(ti.get("try_number") or 1)))
            detail += f"; {ti['task_id']} log tail: {log[-1500:]}"
        return detail

    def _operator_retry(self) -> None:
        """``kill -9`` the first try's task process while it waits in the worker; the retry reattaches to the
        running execution: one StartExecution, one execution, the task succeeds on try 2."""
        assert self.emulator is not None
        case = LIFECYCLE_SPEC["retry"]
        dag_id, task_id = case["dag_id"], case["task_id"]
        key = (LIFECYCLE_SPEC["flow_name"], case["execution_name"])
        run_id = self.api.trigger(dag_id)
        triggered = time.monotonic()
        progress(f"triggered {dag_id}")

        def described() -> bool:
            assert self.emulator is not None
            return any(r["action"] == "DescribeExecution" and key_of(r) == key for r in self.emulator.requests())

        def waiting_in_worker() -> dict[str, Any] | None:
            ti = self.api.task_instance(dag_id, run_id, task_id)
            if ti["state"] in TERMINAL_TI_STATES or ti["try_number"] > 1:
                raise PhaseAborted(f"{task_id} ended or retried before its kill: {ti['state']}, try {ti['try_number']}")
            # The worker checks once after storing the ids: from then on a retry can find them.
            return ti if ti["state"] == "running" and ti.get("pid") and described() else None

        ti = wait_until(f"{task_id} try 1 to start the execution and wait in the worker", waiting_in_worker, 180)
        self.report.timing("operators retry: trigger -> try 1 waiting in the worker", time.monotonic() - triggered)
        pid, cmdline = self.task_process(ti)
        os.kill(pid, signal.SIGKILL)
        killed = time.time()
        progress(f"kill -9 {pid} ({cmdline.strip()}), try 1 of {dag_id}.{task_id}")

        seen: list[str] = []  # try 1's states after the kill, as the API showed them

        def reattached() -> bool:
            ti = self.api.task_instance(dag_id, run_id, task_id)
            if ti["try_number"] < 2:
                if not seen or seen[-1] != ti["state"]:
                    seen.append(ti["state"])
                return False
            if ti["state"] in TERMINAL_TI_STATES:
                raise PhaseAborted(f"try {ti['try_number']} ended ({ti['state']}) before the execution did")
            return "reattaching to" in self._log_or_empty(dag_id, run_id, task_id, ti["try_number"])

        wait_until("try 2 to reattach", reattached, 180, interval=1.0)
        self.report.timing("operators retry: kill -9 -> try 2 reattached", time.time() - killed)
        self.report.check(
            "operators retry: try 2 reattached to the running execution (log: 'reattaching to ..., started by try 1')",
            True,
        )
        # The try history shows a retried try as "failed" (TaskInstanceHistory records unfinished states so).
        try:
            first = self.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries/1")
        except httpx.HTTPError as exc:
            first = {"state": f"<unavailable: {exc}>"}
        first_log = self._log_or_empty(dag_id, run_id, task_id, 1)
        by_signal = "Process terminated by signal" in first_log and "SIGKILL" in first_log
        self.report.check(
            "operators retry: try 1 died by SIGKILL (its log says so) and Airflow retried it",
            by_signal and first.get("state") == "failed",
            f"try 1 states seen after the kill: {seen or ['(none)']}; try history state={first.get('state')}; "
            f"'Process terminated by signal' + SIGKILL in try 1's log: {by_signal}",
        )
        running = [e for e in self.emulator.executions() if tuple(e["key"]) == key]
        self.report.check(
            "operators retry: the dead try left its execution running (no cancel on a crash)",
            len(running) == 1 and not running[0].get("stopped_at"),
            f"stopped_at={running[0].get('stopped_at') if running else 'no execution'}",
        )

        self.emulator.advance(float(case["running_seconds"]))  # the execution now ends: Succeeded
        progress(f"emulator advanced {case['running_seconds']}s: {key[1]} succeeds")

        def run_finished() -> bool:
            return self.api.run_state(dag_id, run_id) in TERMINAL_RUN_STATES

        wait_until(f"the {dag_id} run to finish", run_finished, 120, interval=1.0)
        self.report.timing("operators retry: trigger -> run finished", time.monotonic() - triggered)
        ti = self.api.task_instance(dag_id, run_id, task_id)
        self.report.check(
            f"operators retry: {task_id} succeeded on try 2",
            ti["state"] == "success" and ti["try_number"] == 2,
            f"state={ti['state']}, try_number={ti['try_number']}",
        )
        records = self.emulator.requests()
        # Every StartExecution of this task's name, or of a retry name derived from it (``<name>-try2``).
        starts = [
            key_of(r)
            for r in records
            if r["action"] == "StartExecution" and (key_of(r) or ("", ""))[1].startswith(key[1])
        ]
        executions = [
            tuple(e["key"])
            for e in self.emulator.executions()
            if e["service"] == "fnf" and str(e["key"][-1]).startswith(key[1])
        ]
        self.report.check(
            "operators retry: one execution, not two (one StartExecution for the task, no '-try2' execution)",
            starts == [key] and executions == [key],
            f"StartExecution requests: {starts}; executions: {executions}",
        )
        try:
            state = self.api.xcom(dag_id, run_id, task_id)
        except (httpx.HTTPError, KeyError) as exc:
            state = {"error": str(exc)}
        problems = xcom_problems(state, {"flow_name": key[0], "execution_name": key[1]}, {"Output": {"case": "retry"}})
        try:
            record = self.api.xcom(dag_id, run_id, task_id, key="cloudflows_execution")
        except (httpx.HTTPError, KeyError) as exc:
            record = {"error": str(exc)}
        if not isinstance(record, dict) or record.get("try_number") != 1:
            problems.append(f"cloudflows_execution XCom is not try 1's record: {json.dumps(record)[:300]}")
        self.report.check(
            f"operators retry: {task_id} XCom is the final state of the execution try 1 started",
            not problems,
            "; ".join(problems) + f"; xcom={json.dumps(state)[:600]}" if problems else "",
        )

    def _task_log_folder(self, dag_id: str, run_id: str, task_id: str) -> Path:
        """Where the task's log files (and its trigger logs) are written."""
        return self.stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    # --- phase 6: triggerer hand-over ---------------------------------------------------------------------

    def triggerer_handover(self) -> None:
        """Stall the triggerer of two deferred operators until a second triggerer adopts their triggers, then
        resume it. Airflow 3.3 cancels the resumed triggerer's lost triggers as if a user had killed the tasks
        (``on_kill``); the adopting triggerer still waits on that work, so nothing may be cancelled in the cloud.
        The executions run ``running_seconds``; once the resumed triggerer has dealt with its lost triggers the
        emulator is fast-forwarded so that both end (succeed) without waiting that long."""
        assert self.emulator is not None
        emulator = self.emulator
        spec = HANDOVER_SPEC
        dag_id, flow, batch = spec["dag_id"], spec["cloudflow"], spec["batch"]
        tasks = (flow["task_id"], batch["task_id"])
        emulator.add_executions(
            [
                {
                    "builder": "cloudflow_execution",
                    "args": {
                        "flow_name": flow["flow_name"],
                        "execution_name": flow["execution_name"],
                        "phases": [[0, "Running"], [spec["running_seconds"], "Succeeded"]],
                        "output": flow["output"],
                    },
                }
            ]
        )
        first = self.stack.component("triggerer")
        since = time.time()
        run_id = self.api.trigger(dag_id)
        triggered = time.monotonic()
        progress(f"triggered {dag_id}")

        def owners() -> dict[str, int | None]:
            """The triggerer job each deferred task's trigger is assigned to."""
            tis = self.api.task_instances(dag_id, run_id)
            ended = {t: tis[t]["state"] for t in tasks if t in tis and tis[t]["state"] in TERMINAL_TI_STATES}
            if ended:
                raise PhaseAborted(f"tasks ended during the hand-over: {ended}")
            return {
                t: (tis[t].get("trigger") or {}).get("triggerer_id")
                if t in tis and tis[t]["state"] == "deferred"
                else None
                for t in tasks
            }

        def trigger_log(task_id: str, job: int) -> str:
            """What triggerer job ``job`` logged for the task's trigger."""
            folder = self._task_log_folder(dag_id, run_id, task_id)
            return "\n".join(p.read_text(errors="replace") for p in folder.glob(f"attempt=1.log.trigger.{job}.log"))

        # Deferred while only the first triggerer runs: both triggers are its own (their log files exist).
        def running_on_first() -> int | None:
            found = set(owners().values())
            job = found.pop() if len(found) == 1 else None
            return job if job is not None and all(trigger_log(t, job) for t in tasks) else None

        first_job = wait_until("both tasks deferred, their triggers running", running_on_first, 120)
        self.report.timing("hand-over: trigger -> both triggers running on one triggerer", time.monotonic() - triggered)

        def submitted_job() -> str | None:
            found = [
                key_of(r)
                for r in emulator.requests()
                if r["action"] == "SubmitJob" and r["received"] >= since and r["status"] == 200
            ]
            return found[0][0] if found and found[0] else None

        job_id = wait_until("the Batch job's SubmitJob in the request log", submitted_job, 10)
        keys = {flow["task_id"]: (flow["flow_name"], flow["execution_name"]), batch["task_id"]: (job_id,)}
        polls = {flow["task_id"]: "DescribeExecution", batch["task_id"]: "DescribeJob"}

        known = {job["id"] for job in self._triggerer_jobs()}
        second = self.stack.start("triggerer", [AIRFLOW, "triggerer", "--skip-serve-logs"])
        try:
            self._handover(first, first_job, second, known, tasks, owners, trigger_log, keys, polls, run_id)
        finally:
            stopping = time.monotonic()
            self.stack.stop(second)
            self.report.timing("hand-over: second triggerer stopped (SIGTERM)", time.monotonic() - stopping)
        self.report.check(
            "hand-over: the second triggerer stopped cleanly on SIGTERM, the first one runs on",
            second.popen.returncode in (0, -signal.SIGTERM) and self.stack.alive(first),
            f"second returncode={second.popen.returncode}, first alive={self.stack.alive(first)}",
        )

    def _triggerer_jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self.api.get("/api/v2/jobs", job_type="TriggererJob", limit=100)["jobs"]
        return jobs

    def _handover(
        self,
        first: Component,
        first_job: int,
        second: Component,
        known: set[int],
        tasks: tuple[str, str],
        owners: Callable[[], dict[str, int | None]],
        trigger_log: Callable[[str, int], str],
        keys: dict[str, tuple[str, ...]],
        polls: dict[str, str],
        run_id: str,
    ) -> None:
        assert self.emulator is not None
        emulator = self.emulator
        spec = HANDOVER_SPEC
        dag_id, flow, batch = spec["dag_id"], spec["cloudflow"], spec["batch"]

        def second_job() -> int | None:
            if second.popen.poll() is not None:
                tail = second.output.read_text(errors="replace")[-2000:]
                raise PhaseAborted(f"the second triggerer exited with {second.popen.returncode}: {tail}")
            new = [job["id"] for job in self._triggerer_jobs() if job["id"] not in known and job["latest_heartbeat"]]
            return new[0] if new else None

        adopter = wait_until("the second triggerer to heartbeat", second_job, 120)
        self.report.timing("hand-over: second triggerer start -> heartbeating", time.time() - second.started)
        still = owners()
        if set(still.values()) != {first_job}:
            raise PhaseAborted(f"the triggers moved before the stall: {still} (first triggerer job {first_job})")

        pids = self._stall(first)
        stalled = time.time()
        progress(f"triggerer job {first_job} stalled (SIGSTOP pids {sorted(pids)}); job {adopter} should adopt")
        try:
            states = {pid: process_table().get(pid, (0, "gone"))[1] for pid in pids}
            self.report.check(
                "hand-over: the triggerer running both triggers is stalled (every process of it stopped)",
                bool(pids) and all(state == "T" for state in states.values()),
                f"process states: {states}",
            )

            reassigned: list[float] = []

            def adopted() -> bool:
                assert self.emulator is not None
                if set(owners().values()) != {adopter}:
                    return False
                if not reassigned:
                    reassigned.append(time.time())
                batch_polled = any(
                    r["action"] == "DescribeJob" and key_of(r) == keys[batch["task_id"]] and r["received"] > stalled
                    for r in self.emulator.requests()
                )
                return batch_polled and all(trigger_log(t, adopter) for t in tasks)

            # A stall longer than the health threshold; the adoption takes about that long anyway.
            wait_until("the second triggerer to adopt both triggers", adopted, TRIGGERER_HEALTH_THRESHOLD + 60)
            while time.time() < stalled + TRIGGERER_HEALTH_THRESHOLD + 2:
                time.sleep(0.2)
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        resumed = time.time()
        progress(f"triggerer job {first_job} resumed after a {resumed - stalled:.1f}s stall")
        self.report.timing(
            "hand-over: stall -> both triggers assigned to the second triggerer", reassigned[0] - stalled
        )
        self.report.timing("hand-over: stall (SIGSTOP -> SIGCONT)", resumed - stalled)

        # What the resumed triggerer says about each lost trigger: its trigger log, or its output lines naming
        # the execution.
        def first_says() -> dict[str, str]:
            output = first.output.read_text(errors="replace").splitlines()
            names = {flow["task_id"]: flow["execution_name"], batch["task_id"]: keys[batch["task_id"]][0]}
            return {
                t: trigger_log(t, first_job) + "\n" + "\n".join(line for line in output if names[t] in line)
                for t in tasks
            }

        outcome = re.compile(r"on kill|not cancelled", re.IGNORECASE)
        with contextlib.suppress(PhaseAborted):
            wait_until(
                "the resumed triggerer to deal with its lost triggers",
                lambda: all(outcome.search(text) for text in first_says().values()),
                20,
            )
        emulator.advance(float(spec["running_seconds"]))
        progress(f"emulator advanced {spec['running_seconds']}s: both executions succeed")

        def ended() -> dict[str, dict[str, Any]] | None:
            tis = self.api.task_instances(dag_id, run_id)
            return tis if all(tis[t]["state"] in TERMINAL_TI_STATES for t in tasks) else None

        tis = wait_until("both tasks to end", ended, 120)
        ends = [parse_time(tis[t].get("end_date")) or time.time() for t in tasks]
        self.report.timing("hand-over: resume -> both tasks ended", max(ends) - resumed)
        records = emulator.requests()
        for task_id in tasks:
            first_poll = min(
                (
                    r["received"]
                    for r in records
                    if r["action"] == polls[task_id] and key_of(r) == keys[task_id] and r["received"] > stalled
                ),
                default=None,
            )
            if first_poll is not None:
                self.report.timing(
                    f"hand-over: stall -> first {polls[task_id]} by the adopting triggerer", first_poll - stalled
                )

        cancels = [r for r in records if r["action"] in ("StopExecution", "TerminateJob") and r["received"] >= stalled]
        stopped = [
            e["key"]
            for e in emulator.executions()
            if tuple(e["key"][:2]) in {*keys.values(), (keys[batch["task_id"]][0], batch["task_name"])}
            and e.get("stopped_at")
        ]
        self.report.check(
            "hand-over: no StopExecution / TerminateJob reached the emulator from the stall until both tasks ended",
            not cancels and not stopped,
            "; ".join(
                f"{r['action']} {key_of(r)} (HTTP {r['status']}) {r['received'] - resumed:+.1f}s after the resume"
                for r in cancels
            )
            + (f"; executions stopped: {stopped}" if stopped else ""),
        )
        said = first_says()
        skipped = {t: bool(re.search(r"still deferred", said[t], re.IGNORECASE)) for t in tasks}
        invoked = {t: "invoking on_kill" in said[t] for t in tasks}
        self.report.check(
            "hand-over: the resumed triggerer logged the cancel as skipped (task still deferred) for both",
            all(skipped.values()),
            f"'still deferred' logged: {skipped}; Airflow's 'invoking on_kill' logged: {invoked}"
            + ("" if all(skipped.values()) else f"; log tails: { {t: said[t][-600:] for t in tasks} }"),
        )
        expected = {
            flow["task_id"]: (
                {"flow_name": flow["flow_name"], "execution_name": flow["execution_name"]},
                {"Output": flow["output"]},
            ),
            batch["task_id"]: ({"job_id": keys[batch["task_id"]][0]}, {"JobName": batch["job_name"]}),
        }
        for task_id, (ids, extra) in expected.items():
            state = tis[task_id]["state"]
            try:
                xcom = self.api.xcom(dag_id, run_id, task_id)
            except (httpx.HTTPError, KeyError) as exc:
                xcom = {"error": str(exc)}
            problems = xcom_problems(xcom, ids, extra)
            self.report.check(
                f"hand-over: {task_id} succeeded with its scripted result",
                state == "success" and not problems,
                f"state={state}" + (f"; {'; '.join(problems)}" if problems else f"; {ids}"),
            )

    def _stall(self, component: Component) -> set[int]:
        """SIGSTOP every process of the component, at a moment none is writing to the SQLite DB (a stalled
        writer would stall every other component's writes too); the pids stopped."""
        db = self.stack.home / "airflow.db"
        for _ in range(50):
            pids = self.stack.tree_pids(component)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            time.sleep(0.05)
            holders = sqlite_writers(db) & pids
            if not holders:
                return pids
            progress(f"pids {sorted(holders)} were writing to the metadata DB: resuming and stalling again")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            time.sleep(0.2)
        raise PhaseAborted("could not stall the triggerer outside a write to the metadata DB")

    # --- phase 7: start resend ----------------------------------------------------------------------------

    def start_resend(self) -> None:
        """``kill -9`` the task process while its ``SubmitJob`` reply trickles in (the job exists, the answer is
        in flight); try 2 must send the start again under try 1's ClientToken and get the same job back."""
        assert self.emulator is not None
        emulator = self.emulator
        spec = RESEND_SPEC
        dag_id, task_id = spec["dag_id"], spec["task_id"]
        interval = float(spec["trickle_interval"])
        port = int(self.stack.emulator_url.rsplit(":", 1)[1])
        jobs_before = self._batch_jobs()
        emulator.inject({"kind": "trickle", "service": "batch", "action": "SubmitJob", "interval": interval})
        since = time.time()
        try:
            run_id = self.api.trigger(dag_id)
            triggered = time.monotonic()
            progress(f"triggered {dag_id}; the first SubmitJob answer trickles, 4 bytes every {interval:g}s")

            def submits() -> list[dict[str, Any]]:
                return [r for r in emulator.requests("SubmitJob") if r["received"] >= since]

            def trickling() -> tuple[dict[str, Any], dict[str, Any]] | None:
                found = submits()
                if not found:
                    return None
                if found[0]["fault"] != "trickle":
                    raise PhaseAborted(f"the first SubmitJob was not trickled: {json.dumps(found)[:400]}")
                ti = self.api.task_instance(dag_id, run_id, task_id)
                if ti["state"] in TERMINAL_TI_STATES or ti["try_number"] > 1:
                    raise PhaseAborted(
                        f"{task_id} ended or retried before its kill: {ti['state']}, try {ti['try_number']}"
                    )
                return (ti, found[0]) if ti["state"] == "running" and ti.get("pid") else None

            ti, reply = wait_until(f"{task_id} try 1's SubmitJob reply to trickle", trickling, 180, interval=0.2)
            self.report.timing(
                "start resend: trigger -> try 1's SubmitJob reply trickling", time.monotonic() - triggered
            )
            pid, cmdline = self.task_process(ti)
            connected = connected_to(pid, port)
            os.kill(pid, signal.SIGKILL)
            killed = time.time()
            into = killed - reply["time"]
            progress(f"kill -9 {pid} ({cmdline.strip()}) {into:.1f}s into the trickled SubmitJob reply")
            # A JobId reply is over 40 bytes: it trickles for more than 10 intervals.
            self.report.check(
                "start resend: try 1's task process killed (SIGKILL) while its SubmitJob reply trickled in",
                connected and into < 10 * interval,
                f"pid {pid} connected to the emulator: {connected}; killed {into:.1f}s into the reply "
                f"(JobId {key_of(reply)})",
            )

            def resent() -> list[dict[str, Any]] | None:
                found = submits()
                return found if len(found) >= 2 else None

            second = wait_until("try 2's SubmitJob", resent, 120, interval=0.5)[1]
            self.report.timing("start resend: kill -9 -> try 2's SubmitJob answered", second["time"] - killed)

            def run_finished() -> bool:
                return self.api.run_state(dag_id, run_id) in TERMINAL_RUN_STATES

            wait_until(f"the {dag_id} run to finish", run_finished, 120, interval=0.5)
            self.report.timing("start resend: trigger -> run finished", time.monotonic() - triggered)
        finally:
            emulator.clear_faults()
        self._check_resend(run_id, since, jobs_before)

    def _check_resend(self, run_id: str, since: float, jobs_before: set[str]) -> None:
        assert self.emulator is not None
        spec = RESEND_SPEC
        dag_id, task_id = spec["dag_id"], spec["task_id"]
        ti = self.api.task_instance(dag_id, run_id, task_id)
        self.report.check(
            f"start resend: {task_id} succeeded on try 2",
            ti["state"] == "success" and ti["try_number"] == 2,
            f"state={ti['state']}, try_number={ti['try_number']}",
        )
        first_log = self._log_or_empty(dag_id, run_id, task_id, 1)
        self.report.check(
            "start resend: try 1 died by SIGKILL (its log says so)",
            "Process terminated by signal" in first_log and "SIGKILL" in first_log,
            "" if "SIGKILL" in first_log else f"try 1 log tail: {first_log[-800:]}",
        )
        log = self._log_or_empty(dag_id, run_id, task_id, 2)
        said = "sending it again with the same ClientToken" in log
        # Try 2 names the token twice: resending it, then with the JobId it got back.
        tokens = sorted(set(re.findall(r"ClientToken (airflow-[0-9a-f]+-try\d+)", log)))
        self.report.check(
            "start resend: try 2 sent the start again with try 1's ClientToken (log: 'sending it again with the "
            "same ClientToken')",
            said and len(tokens) == 1 and tokens[0].endswith("-try1"),
            f"resend logged: {said}; ClientTokens in try 2's log: {tokens}"
            + ("" if said else f"; log tail: {log[-1200:]}"),
        )
        submits = [r for r in self.emulator.requests("SubmitJob") if r["received"] >= since]
        answered = sorted({key[0] for r in submits if (key := key_of(r))})
        created = sorted(self._batch_jobs() - jobs_before)
        self.report.check(
            "start resend: one Batch job created; both SubmitJob requests (same ClientToken) answered its JobId",
            len(submits) == 2
            and all(r["status"] == 200 for r in submits)
            and len(created) == 1
            and answered == created,
            f"SubmitJob requests: {[(r['status'], r['fault'], key_of(r)) for r in submits]}; jobs created: {created}",
        )
        try:
            state = self.api.xcom(dag_id, run_id, task_id)
        except (httpx.HTTPError, KeyError) as exc:
            state = {"error": str(exc)}
        problems = xcom_problems(state, {"job_id": created[0] if created else None}, {"JobName": spec["job_name"]})
        self.report.check(
            f"start resend: {task_id} XCom is the final state of that one job",
            not problems,
            "; ".join(problems) + f"; xcom={json.dumps(state)[:600]}" if problems else "",
        )

    def _batch_jobs(self) -> set[str]:
        """The JobIds of every Batch job in the emulator."""
        assert self.emulator is not None
        return {str(e["key"][0]) for e in self.emulator.executions() if e["service"] == "batch"}

    # --- phase 8: identity ----------------------------------------------------------------------------------

    def identity(self) -> None:
        """A connection assuming a role: its Test button through the REST API, then a deferred wait that
        outlives several temporary keys, which the real triggerer must refresh."""
        assert self.emulator is not None
        emulator = self.emulator
        emulator.set_identity_lifetime(IDENTITY_SPEC["key_lifetime"])
        try:
            body = self._role_connection()
            self._test_role_connection(body)
            self._role_wait()
        finally:
            emulator.clear_faults()
            emulator.set_identity_lifetime(None)

    def _role_connection(self) -> dict[str, Any]:
        """Create the role connection in the metadata DB through the REST API; its body."""
        assert self.emulator is not None
        spec = IDENTITY_SPEC
        vendor = VENDORS["tencentcloud"]
        stored = self.connections["tencentcloud"]
        # STS takes AssumeRole only signed with a permanent key and no session token: the emulator knows the
        # stored pair with the default connection's token so far, so it is told to accept it without one.
        self.emulator.add_credentials(vendor["vendor"], stored["login"], stored["password"], None)
        extra = {
            **vendor["extra"],
            "endpoint": self.stack.emulator_url,
            "role_arn": spec["role_arn"],
            "sts_endpoint": self.stack.emulator_url,
        }
        body = {
            "connection_id": spec["conn_id"],
            "conn_type": "tencentcloud",
            "login": stored["login"],
            "password": stored["password"],
            "extra": json.dumps(extra),
        }
        self.api.post("/api/v2/connections", body)
        db_rows = self._db_connection_rows()
        self.report.check(
            f"identity: {spec['conn_id']} (role_arn, sts_endpoint, the stored key of tencentcloud_default) "
            "stored in the metadata DB (REST API), encrypted",
            db_rows.get(spec["conn_id"]) == (1, 1),
            f"db (is_encrypted, is_extra_encrypted)={db_rows.get(spec['conn_id'])}",
        )
        return body

    def _test_role_connection(self, body: dict[str, Any]) -> None:
        """Test answers true for the role, false (naming what failed) for a malformed ARN and a refused STS."""
        assert self.emulator is not None
        emulator = self.emulator
        extra = json.loads(body["extra"])
        probe = f"e2e_probe_{body['connection_id']}"
        refused_arn = IDENTITY_SPEC["role_arn"] + "-refused"  # another identity: no cached key to reuse
        cases = [
            ("the stored connection", body, True, "", None, True),
            (
                "a copy with role_arn 'not-an-arn'",
                {**body, "connection_id": probe, "extra": json.dumps({**extra, "role_arn": "not-an-arn"})},
                False,
                "role_arn extra",
                None,
                False,
            ),
            (
                "a copy whose AssumeRole STS refuses",
                {**body, "connection_id": probe, "extra": json.dumps({**extra, "role_arn": refused_arn})},
                False,
                "obtaining credentials (STS AssumeRole) failed",
                {"kind": "invalid", "service": "sts", "action": "AssumeRole", "count": 1},
                True,
            ),
        ]
        # (label, body, Test's status, words its message must hold, STS fault, whether STS is asked)
        for label, case, expected, wording, fault, reaches_sts in cases:
            assume_before = len(emulator.requests("AssumeRole"))
            if fault is not None:
                emulator.inject(fault)
            try:
                reply = self.api.http.post("/api/v2/connections/test", json=case)
            finally:
                emulator.clear_faults()
            assumed = emulator.requests("AssumeRole")[assume_before:]
            result = reply.json() if reply.status_code == 200 else {}
            message = str(result.get("message", ""))
            leaked = self.canaries.find(reply.content)
            self.report.check(
                f"identity: Test {label} -> {str(expected).lower()}"
                + (f", message names {wording!r}" if wording else ""),
                reply.status_code == 200
                and result.get("status") is expected
                and wording in message
                and bool(assumed) is reaches_sts
                and not leaked,
                f"HTTP {reply.status_code}: {reply.text[:400]}; AssumeRole requests: "
                f"{[(r['status'], r['error']) for r in assumed]}"
                + (f"; canaries in reply: {leaked}" if leaked else ""),
            )

    def _role_wait(self) -> None:
        """A deferred CynosDB wait on the role connection across several key lifetimes."""
        assert self.emulator is not None
        emulator = self.emulator
        spec = IDENTITY_SPEC
        dag_id, task_id = spec["dag_id"], spec["task_id"]
        flow_key = (str(spec["flow_id"]),)
        # Processing until the triggerer polls it; then scripted to succeed ``succeed_after`` seconds later, so
        # the triggerer's part of the wait spans several key lifetimes however long it took to pick it up.
        flow = {"builder": "cynosdb_flow", "args": {"flow_id": spec["flow_id"], "statuses": [[0, 2]]}}
        emulator.add_executions([flow])
        issued_before = emulator.issued("tencent")
        since = time.time()
        run_id = self.api.trigger(dag_id)
        triggered = time.monotonic()
        progress(f"triggered {dag_id}: temporary keys live {spec['key_lifetime']}s")
        trigger: dict[str, Any] = {}
        scripted: list[float] = []

        def finished() -> bool:
            ti = self.api.task_instance(dag_id, run_id, task_id)
            if ti["state"] == "deferred" and ti.get("trigger") and not trigger:
                trigger.update(ti["trigger"])
            created = parse_time(trigger.get("created_date"))
            if created is not None and not scripted:
                polled = [r for r in emulator.requests("DescribeFlow") if r["received"] >= created]
                if any(key_of(r) == flow_key for r in polled):
                    statuses = [[0, 2], [spec["succeed_after"], 0]]
                    args = {"flow_id": spec["flow_id"], "statuses": statuses, "start_immediately": True}
                    emulator.add_executions([{**flow, "args": args}])
                    # The vendor's clock ahead of the key's expiry (within the signature's 5-minute window):
                    # the next poll is refused AuthFailure.TokenFailure, the path a refresh ahead of expiry
                    # otherwise leaves untried.
                    skew = 2.0 * spec["key_lifetime"]
                    emulator.inject(
                        {"kind": "clock_skew", "service": "cynosdb", "action": "DescribeFlow", "skew": skew}
                    )
                    scripted.append(time.time())
                    progress(
                        f"the triggerer polls the flow {scripted[0] - created:.1f}s after the deferral; it succeeds "
                        f"in {spec['succeed_after']}s"
                    )
            return self.api.run_state(dag_id, run_id) in TERMINAL_RUN_STATES

        wait_until(f"the {dag_id} run to finish", finished, 90, interval=0.5)
        self.report.timing("identity: trigger -> run finished", time.monotonic() - triggered)
        issued = emulator.issued("tencent") - issued_before

        ti = self.api.task_instance(dag_id, run_id, task_id)
        try:
            state = self.api.xcom(dag_id, run_id, task_id)
        except (httpx.HTTPError, KeyError) as exc:
            state = {"error": str(exc)}
        problems = xcom_problems(state, {"flow_id": spec["flow_id"]}, {})
        self.report.check(
            f"identity: {task_id} on {spec['conn_id']} succeeded, XCom SUCCEEDED for flow {spec['flow_id']}",
            ti["state"] == "success" and not problems,
            f"state={ti['state']}"
            + (f"; {'; '.join(problems)}" if problems else "")
            + ("" if ti["state"] == "success" else f"; log tail: {self._log_or_empty(dag_id, run_id, task_id)[-800:]}"),
        )
        folder = self.stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        trigger_logs = sorted(p.name for p in folder.glob("attempt=1.log.trigger.*.log"))
        self.report.check(
            f"identity: {task_id} deferred to CloudExecutionTrigger and ran in the triggerer (its trigger log)",
            trigger.get("classpath") == TRIGGER_CLASSPATH and bool(trigger_logs),
            f"trigger seen while deferred: {trigger.get('classpath')}; trigger logs: {trigger_logs}",
        )
        deferred_at = parse_time(trigger.get("created_date"))
        polls = sorted(
            (r for r in emulator.requests("DescribeFlow") if r["received"] >= since),
            key=lambda r: r["received"],
        )
        # An expired key is refused before the request is read: its record names no flow.
        flow_polls = [
            r
            for r in polls
            if key_of(r) == flow_key or (key_of(r) is None and r["error"] == "AuthFailure.TokenFailure")
        ]
        others = [r for r in polls if r not in flow_polls]
        waited = [r for r in flow_polls if deferred_at is not None and r["received"] >= deferred_at]
        assumed = (
            [
                r
                for r in emulator.requests("AssumeRole")
                if deferred_at is not None and r["status"] == 200 and deferred_at <= r["received"] <= waited[-1]["time"]
            ]
            if waited
            else []
        )
        keys = list(dict.fromkeys(r["key_id"] for r in waited if r["status"] == 200))
        self.report.check(
            "identity: the emulator issued at least 3 Tencent keys during the wait, the triggerer assumed the "
            "role at least 3 times while deferred and signed its polls with at least 3 temporary keys",
            issued >= 3 and len(assumed) >= 3 and len(keys) >= 3 and all(k.startswith("TMP") for k in keys),
            f"issued {issued} keys since the trigger; {len(assumed)} AssumeRole answered while deferred, at "
            f"{[round(r['received'] - deferred_at, 1) for r in assumed] if deferred_at else []}s; "
            f"{len(waited)} polls while deferred signed with {len(keys)} keys "
            f"{[k[:7] + '...' for k in keys]}; the wait lasted "
            f"{(waited[-1]['time'] - deferred_at) if waited and deferred_at else 0:.1f}s",
        )
        expired = [i for i, r in enumerate(flow_polls) if r["error"] == "AuthFailure.TokenFailure"]
        repeats = []
        for i in expired:
            following = flow_polls[i + 1] if i + 1 < len(flow_polls) else None
            repeats.append(
                following is not None
                and following["status"] == 200
                and key_of(following) == flow_key
                and following["key_id"] != flow_polls[i]["key_id"]
            )
        delays = [flow_polls[i + 1]["received"] - flow_polls[i]["time"] for i in expired if i + 1 < len(flow_polls)]
        skewed = sum(1 for i in expired if flow_polls[i]["fault"] == "clock_skew")
        trigger_log = "".join((folder / name).read_text(errors="replace") for name in trigger_logs)
        logged = "the session token expired; refreshing the key" in trigger_log
        # Repeated at once (the forced refresh), not at the next poll an interval later.
        self.report.check(
            "identity: every poll refused with an expired key (AuthFailure.TokenFailure) was repeated at once "
            "with a fresh key and answered (forced refresh, logged by the trigger)",
            bool(expired) and all(repeats) and all(d < spec["poke_interval"] for d in delays) and logged and not others,
            f"{len(expired)} expired-key answers ({skewed} by the skewed clock) of {len(flow_polls)} polls; "
            f"repeated with a fresh key {sum(repeats)}, after {[round(d, 3) for d in delays]}s; trigger log says "
            f"'the session token expired; refreshing the key': {logged}"
            + (f"; DescribeFlow of other flows in the window, cannot attribute: {others[:3]}" if others else ""),
        )

    # --- phase 9: canaries ----------------------------------------------------------------------------------

    def check_canaries(self) -> None:
        """After the stack stopped: no canary in the DB dump, under AIRFLOW_HOME or in any process output."""
        home = self.stack.home
        self.report.check("canaries: secrets in use", len(self.canaries.values) >= 9, str(sorted(self.canaries.values)))
        hits_by_table: dict[str, list[str]] = {}
        with contextlib.closing(sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True)) as db:
            for line in db.iterdump():
                found = self.canaries.find(line.encode())
                if found:
                    match = re.match(r'INSERT INTO "?([A-Za-z_]+)"?', line)
                    table = match.group(1) if match else line[:40]
                    hits_by_table.setdefault(table, []).extend(found)
        outside = {t: sorted(set(h)) for t, h in hits_by_table.items() if t != "connection"}
        self.report.check(
            "canaries: none in the metadata DB dump (every table but connection)", not outside, str(outside)
        )
        self.report.check(
            "canaries: none in the connection table either (fernet-encrypted)",
            "connection" not in hits_by_table,
            str(sorted(set(hits_by_table.get("connection", [])))),
        )
        file_hits: dict[str, list[str]] = {}
        scanned = 0
        roots = [home, self.stack.tmp / "process-output"]
        for root in roots:
            for path in root.rglob("*"):
                if not path.is_file() or path.name.startswith("airflow.db"):
                    continue
                scanned += 1
                found = self.canaries.find(path.read_bytes())
                if found:
                    file_hits[str(path.relative_to(self.stack.tmp))] = found
        log_files = sum(1 for p in (home / "logs").rglob("*") if p.is_file())
        self.report.check(
            "canaries: none in AIRFLOW_HOME (every log file) nor in any process's stdout/stderr",
            not file_hits and log_files > 0,
            f"{scanned} files scanned ({log_files} under logs/); hits: {file_hits}",
        )


def xcom_problems(state: Any, ids: dict[str, Any], extra: dict[str, Any]) -> list[str]:
    """What is wrong with a sensor's XCom (empty: nothing)."""
    if not isinstance(state, dict):
        return [f"not a dict: {state!r}"[:200]]
    problems = []
    # The package's normalized statuses are upper case (ExecutionStatus.SUCCEEDED == "SUCCEEDED").
    if state.get("status") != "SUCCEEDED":
        problems.append(f"status={state.get('status')!r}")
    identifiers = state.get("identifiers") or {}
    for name, value in ids.items():
        if str(identifiers.get(name)) != str(value):
            problems.append(f"identifiers.{name}={identifiers.get(name)!r} (want {value!r})")
    for name, value in extra.items():
        if state.get(name) != value:
            problems.append(f"{name}={state.get(name)!r} (want {value!r})")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run the phases, stop everything, print the summary; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (also E2E_KEEP=1)")
    parser.add_argument("--outage", type=float, default=25.0, help="seconds without a triggerer (default 25)")
    args = parser.parse_args(argv)
    keep = args.keep or os.environ.get("E2E_KEEP", "") not in ("", "0")

    tmp = Path(tempfile.mkdtemp(prefix="cloudflows-e2e-"))
    home = tmp / "airflow_home"
    home.mkdir()
    (tmp / "process-output").mkdir()
    api_port = free_port()
    write_config(home, api_port)
    stack = Stack(tmp=tmp, home=home, env=stack_environment(home), api_port=api_port)
    report = Report()
    print(f"e2e: AIRFLOW_HOME={home}, API http://127.0.0.1:{api_port}, airflow {AIRFLOW}", flush=True)

    cleaned = False

    def cleanup() -> None:
        nonlocal cleaned
        if cleaned:
            return
        # A second Ctrl-C must not cut the clean-up short (atexit would retry it anyway).
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stack.stop_all()
        if keep:
            print(f"e2e: kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        cleaned = True

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    e2e = E2E(stack, report, args.outage)
    try:
        stack_ok = False
        with report.phase("stack"):
            e2e.start_stack()
            stack_ok = True
        if stack_ok:
            with report.phase("connections"):
                e2e.setup_connections()
                e2e.check_connection_forms()
            with report.phase("examples"):
                e2e.run_examples()
            with report.phase("triggerer crash"):
                e2e.triggerer_crash()
            with report.phase("operators"):
                e2e.run_operators()
            with report.phase("triggerer hand-over"):
                e2e.triggerer_handover()
            with report.phase("start resend"):
                e2e.start_resend()
            with report.phase("identity"):
                e2e.identity()
        with report.phase("canaries"):
            if stack_ok:
                e2e.check_loopback("end")
            progress("stopping the stack before reading its DB and logs")
            stack.stop_all()
            if stack_ok:
                e2e.check_canaries()
        for component in stack.components:
            if component.popen.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL, None):
                progress(f"{component.name} (pid {component.pgid}) exited with {component.popen.returncode}")
    except KeyboardInterrupt:
        report.check("run completed", False, "interrupted")
    finally:
        cleanup()
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())

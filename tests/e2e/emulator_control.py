"""The emulator as the tests drive it: its ``/_emulator/`` control API and the keys its request log names.

The emulator runs as a process of the stack (its command line with the ``demo`` scenario plus Batch job plans),
so the tests script it over HTTP, never in memory.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from airflow_provider_cloudflows.signing.tc3 import sign_tc3
from tests.e2e.specs import HANDOVER_SPEC, RESEND_SPEC, WATCH_SPEC

_ALERT: dict[str, Any] = WATCH_SPEC["batch"]

# Batch jobs scripted by JobName before their SubmitJob (the control API cannot: the job id is not known yet).
EMULATOR_PLANS: dict[str, dict[str, list[Any]]] = {
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
    _ALERT["failing_job_name"]: {
        _ALERT["task_name"]: [
            [0, "SUBMITTED"],
            [1, "RUNNING"],
            {"at": 3, "state": "FAILED", "exit_code": 3, "reason": _ALERT["failure_reason"]},
        ]
    },
    _ALERT["succeeding_job_name"]: {_ALERT["task_name"]: [[0, "SUBMITTED"], [1, "RUNNING"], [3, "SUCCEED"]]},
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


def emulator_command(python: str) -> list[str]:
    """The emulator's command line: scenario ``e2e`` on a free loopback port (it prints the URL it listens on)."""
    plans = json.dumps(EMULATOR_PLANS)
    return [python, "-c", EMULATOR_BOOT, plans, "--host", "127.0.0.1", "--port", "0", "--scenario", "e2e"]


class EmulatorControl:
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

    def submit_batch_job(self, job_name: str, task_name: str, tags: dict[str, str]) -> str:
        """Submit a Batch job as a Tencent client would (TC3-signed ``SubmitJob`` with the emulator's built-in
        key); its JobId. Its tasks follow the plan the emulator was started with for ``job_name``."""
        from cloudflows_emulator import DEFAULT_TENCENT_CREDENTIALS

        job = {
            "JobName": job_name,
            "Tasks": [{"TaskName": task_name, "Application": {"DeliveryForm": "LOCAL", "Command": "true"}}],
            "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
        }
        body = json.dumps({"Placement": {"Zone": "ap-guangzhou-3"}, "Job": job}).encode()
        headers = sign_tc3(
            DEFAULT_TENCENT_CREDENTIALS,
            service="batch",
            host=self.url.split("://", 1)[1],
            action="SubmitJob",
            version="2017-03-12",
            region="ap-guangzhou",
            body=body,
            timestamp=int(time.time()),
        )
        reply = self.http.post("/", content=body, headers=headers)
        reply.raise_for_status()
        answer = reply.json()["Response"]
        if "JobId" not in answer:
            raise RuntimeError(f"SubmitJob {job_name}: {answer}")
        job_id: str = answer["JobId"]
        return job_id

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

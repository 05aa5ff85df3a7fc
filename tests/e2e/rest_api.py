"""The Airflow REST API as the tests use it: authenticated once, JSON in and out, XComs and logs as values.

The all-admins SimpleAuthManager hands out a JWT from ``GET /auth/token`` without credentials; every call still
carries it, as a real client's would.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

import httpx


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

    def xcom_or_error(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The XCom, or ``{"error": ...}`` when there is none (the expectation then names what is missing)."""
        try:
            return self.xcom(dag_id, run_id, task_id, key)
        except (httpx.HTTPError, KeyError) as exc:
            return {"error": str(exc)}

    def log_or_empty(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The try's log, or a line saying why it is unavailable."""
        try:
            return self.task_log(dag_id, run_id, task_id, try_number)
        except (httpx.HTTPError, ValueError) as exc:
            return f"<log unavailable: {exc}>"

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        """The run's tasks that did not succeed."""
        return sorted(t for t, ti in self.task_instances(dag_id, run_id).items() if ti["state"] != "success")

    def run_failure(self, dag_id: str, run_id: str) -> str:
        """A failed run's task states and the log tail of its first failed task."""
        tis = self.task_instances(dag_id, run_id)
        detail = f"failed; tasks: { ({t: ti['state'] for t, ti in tis.items()}) }"
        failed = [ti for ti in tis.values() if ti["state"] == "failed"]
        if failed:
            ti = failed[0]
            log = self.log_or_empty(dag_id, run_id, ti["task_id"], max(1, int(ti.get("try_number") or 1)))
            detail += f"; {ti['task_id']} log tail: {log[-1500:]}"
        return detail

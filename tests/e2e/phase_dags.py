"""The DAGs a phase needs, parsed: a phase waits for its own DAGs, so a DAG file that cannot be imported fails
that phase with the file's import error instead of holding up the whole stack's start."""

from __future__ import annotations

import json

from tests.e2e.stack import Stack
from tests.e2e.waiting import PhaseAborted, wait_until


def wait_parsed(stack: Stack, dag_ids: list[str], file_name: str, timeout: float = 60) -> None:
    """Return once every DAG of ``dag_ids`` is parsed; PhaseAborted with the import error of ``file_name``
    (a file of ``tests/e2e/dags``) if it has one."""

    def parsed() -> bool:
        errors = stack.api.get("/api/v2/importErrors", limit=100).get("import_errors", [])
        mine = [e for e in errors if str(e.get("filename", "")).endswith(file_name)]
        if mine:
            raise PhaseAborted(f"{file_name} does not import: {json.dumps(mine)[:3000]}")
        return all(stack.api.http.get(f"/api/v2/dags/{dag_id}").status_code == 200 for dag_id in dag_ids)

    wait_until(f"{', '.join(dag_ids)} to be parsed", parsed, timeout, interval=1.0)


def set_paused(stack: Stack, dag_ids: list[str], paused: bool) -> None:
    """Pause or unpause the DAGs, then ask the dag-processor to parse their files again at once (the asset
    watchers of a DAG start or stop when its file is parsed)."""
    tokens = set()
    for dag_id in dag_ids:
        stack.api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": paused})
        tokens.add(stack.api.get(f"/api/v2/dags/{dag_id}")["file_token"])
    for token in tokens:
        reply = stack.api.http.put(f"/api/v2/parseDagFile/{token}")
        if reply.is_error:
            raise PhaseAborted(f"reparse request refused: HTTP {reply.status_code}: {reply.text[:300]}")

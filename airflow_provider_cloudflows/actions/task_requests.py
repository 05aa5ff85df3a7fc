"""Start requests built from a task instance's rendered fields, by the worker or by a trigger alike.

A start may be sent from the triggerer (``start_from_trigger``) only when the request itself carries a key
the vendor is idempotent by and that key is derived from the task instance alone: a triggerer restarted
mid-start then sends the same request and gets the same execution back, with nothing remembered between the
two. Two starts qualify: CloudFlow ``StartExecution`` (``ExecutionName``) and Batch ``SubmitJob``
(``ClientToken``, no documented expiry). EMR ``ScaleOutCluster``'s token is honoured 5 minutes only, and the
other starts take no key. The request of each qualifying start is built here from the operator's templated
fields by name, so the operator (on a worker) and the trigger (after the triggerer rendered those fields on
itself) build the same request and derive the same key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_cloudflows.actions.base import Started, StartSpec, client_token
from airflow_provider_cloudflows.services.alibaba_cloudflow import NAME_RULE

# CloudFlow execution names: 1-128 characters (NAME_RULE).
NAME_MAX = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class TaskKey:
    """The task instance a start belongs to: what every derived idempotency key is made of."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int

    @classmethod
    def of(cls, ti: Any) -> TaskKey:
        """The key of a task instance (worker or triggerer); an unmapped task's map index is -1."""
        map_index = -1 if ti.map_index is None else int(ti.map_index)
        return cls(str(ti.dag_id), str(ti.task_id), str(ti.run_id), map_index, int(ti.try_number))


def default_execution_name(dag_id: str, task_id: str, run_id: str, map_index: int) -> str:
    """A CloudFlow execution name for one task instance, the same on every try.

    Readable (``{dag_id}-{task_id}``, squeezed to the allowed characters) plus a hash of the whole instance,
    because CloudFlow identifies executions by name: a retry that sends the same name gets the running
    execution back (reattach) or ``ExecutionAlreadyExists`` for a finished one (see ``on_retry``).
    """
    digest = hashlib.sha256(f"{dag_id}\x00{task_id}\x00{run_id}\x00{map_index}".encode()).hexdigest()[:24]
    readable = _UNSAFE.sub("_", f"{dag_id}-{task_id}").strip("_-")[: NAME_MAX - len(digest) - 10]
    name = f"{readable}-{digest}" if readable else f"airflow-{digest}"
    return name if NAME_RULE.fullmatch(name) else f"_{name}"[:NAME_MAX]


def retry_execution_name(name: str, try_number: int) -> str:
    """The name a try starts under when its task instance's execution has ended and is not adopted."""
    suffix = f"-try{try_number}"
    return name[: NAME_MAX - len(suffix)] + suffix


def input_text(value: Mapping[str, Any] | str | None) -> str | None:
    """CloudFlow's ``Input``: documented as a JSON object text; checked before the call, not after a failed
    start (ValueError)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"input is not valid JSON: {exc}") from None
    else:
        parsed = dict(value)
    if not isinstance(parsed, dict):
        raise ValueError(f"input must be a JSON object, got {type(parsed).__name__}")
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def cloudflow_request(fields: Mapping[str, Any], task: TaskKey, on_retry: str) -> dict[str, Any]:
    """``StartExecution``'s params: the given or derived name, and the name a later try starts under when the
    first one's execution has ended and is not adopted (the try number makes it this try's own)."""
    name = fields.get("execution_name") or default_execution_name(
        task.dag_id, task.task_id, task.run_id, task.map_index
    )
    flow_name = fields.get("flow_name")
    for field, value in (("flow_name", flow_name), ("execution_name", name)):
        if not isinstance(value, str) or not NAME_RULE.fullmatch(value):
            raise ValueError(f"{field} {value!r} is not a valid CloudFlow name")
    return {
        "FlowName": flow_name,
        "ExecutionName": name,
        "Input": input_text(fields.get("input")),
        "Qualifier": fields.get("qualifier") or None,
        "on_exists": on_retry,
        # The first try adopts whatever a name it did not start holds; later tries start afresh.
        "retry_name": retry_execution_name(name, task.try_number) if task.try_number > 1 else None,
    }


def batch_request(fields: Mapping[str, Any], task: TaskKey, on_retry: str) -> dict[str, Any]:
    """``SubmitJob``'s params: ``Placement`` and ``Job`` as rendered (the ClientToken is added by the spec)."""
    return {"Placement": _mapping(fields, "placement"), "Job": _mapping(fields, "job")}


def _mapping(fields: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = fields.get(name)
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must render to a mapping, got {type(value).__name__}")
    return dict(value)


RequestBuilder = Callable[[Mapping[str, Any], TaskKey, str], dict[str, Any]]


@dataclass(frozen=True)
class TaskRequest:
    """How one start's request is built: the operator fields it reads (by name) and the builder."""

    fields: tuple[str, ...]
    build: RequestBuilder


# The starts a trigger may send, by start spec name.
FROM_TRIGGER: Mapping[str, TaskRequest] = {
    "alibaba_cloudflow_start_execution": TaskRequest(
        ("flow_name", "execution_name", "input", "qualifier"), cloudflow_request
    ),
    "tencent_batch_submit_job": TaskRequest(("placement", "job"), batch_request),
}


def request_token(spec: StartSpec, task: TaskKey) -> str | None:
    """The ClientToken of this try's start, for a spec that takes one (the worker derives the same)."""
    if not spec.takes_client_token:
        return None
    return client_token(task.dag_id, task.task_id, task.run_id, task.map_index, task.try_number)


def why_not_from_trigger(spec: StartSpec) -> str | None:
    """Why ``spec``'s start cannot be sent from a trigger (None: it can)."""
    if spec.name in FROM_TRIGGER:
        return None
    if spec.takes_client_token and spec.client_token_ttl is not None:
        return (
            f"its ClientToken is honoured for {spec.client_token_ttl:.0f} seconds only, so a triggerer restarted "
            "later could start it a second time"
        )
    return "the call takes no idempotency key, so a restarted triggerer could not tell whether it had started it"


# The phase a record of an answered start carries (operators.records.Phase.STARTED).
STARTED_PHASE = "started"


def started_record(
    spec: StartSpec,
    started: Started,
    *,
    try_number: int,
    token: str | None,
    api: Any,
    link_params: Mapping[str, Any],
) -> dict[str, Any]:
    """What is kept of an answered start (XCom, task state, trigger kwargs): the ids the wait and the console
    links read, where it was sent, and its key, whether a worker or a trigger sent it."""
    return {
        "phase": STARTED_PHASE,
        "identifiers": dict(started.identifiers),
        "output": dict(started.output),
        "try_number": try_number,
        "client_token": token,
        "start_action": spec.name,
        "service": started.service or spec.service,
        "wait_options": dict(started.wait_options),
        "vendor": spec.vendor,
        "region": getattr(api, "region", None),
        "endpoint": getattr(api, "endpoint", None),
        "params": dict(link_params),
    }

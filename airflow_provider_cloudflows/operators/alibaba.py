"""Alibaba Cloud operator: CloudFlow ``StartExecution`` (2019-03-15), waited on with long polling."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cloudflows.hooks.alibaba import AlibabaCloudHook
from airflow_provider_cloudflows.operators.base import CloudExecutionOperator
from airflow_provider_cloudflows.operators.links import AlibabaCloudFlowExecutionLink
from airflow_provider_cloudflows.services.alibaba_cloudflow import NAME_RULE

if TYPE_CHECKING:
    from airflow.sdk import Context

NAME_MAX = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


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


def _input_text(value: Mapping[str, Any] | str | None) -> str | None:
    # CloudFlow documents Input as a JSON object string; checked before the call, not after a failed start.
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


class AlibabaCloudFlowStartExecutionOperator(CloudExecutionOperator):
    """Start a CloudFlow (Serverless Workflow) execution and wait for it (``DescribeExecution``, long polled).

    Returns the execution's final state with ``Output`` parsed from JSON, ``StartedTime`` / ``StoppedTime``;
    a failure names the failing step and its cause. ``StopExecution`` stops it on kill and on the operator's
    timeout (``cancel_on_kill``, default on).

    Retries: the default ``execution_name`` is derived from the DAG, task, run and map index, the same on
    every try, and CloudFlow is idempotent by name, so a retry whose execution is still running reattaches to
    it (on every supported Airflow, with or without ``task_state_store``). When it has ended, CloudFlow
    answers ``ExecutionAlreadyExists``: with ``on_retry="reattach"`` (default) a *succeeded* execution is
    adopted (its state is returned, nothing starts); a failed, stopped or timed-out one, or
    ``on_retry="start_new"``, starts a new execution named ``{execution_name}-try{N}``.

    :param flow_name: the flow (templated).
    :param execution_name: the execution's name (templated; 1-128 letters, digits, ``_``, ``-``, starting
        with a letter or ``_``). Default: derived from the task instance, see above.
    :param input: the execution's input, a dict or a JSON object text (templated).
    :param qualifier: the flow version alias (templated), if any.
    :param alibabacloud_conn_id: the Alibaba Cloud connection (default ``alibabacloud_default``).
    :param poll_interval: seconds between status checks (default 30; the sensors take ``poke_interval``).
    :param timeout: start and wait must end within it (default 24 h), else the execution is cancelled
        (where possible) and the task fails with ``CloudExecutionTimeout``.

    ``region``, ``deferrable``, ``cancel_on_kill`` and ``on_retry`` are described on
    :class:`~airflow_provider_cloudflows.operators.base.CloudExecutionOperator`.
    """

    start_action = "alibaba_cloudflow_start_execution"
    conn_id_param = "alibabacloud_conn_id"
    template_fields: Sequence[str] = (
        "flow_name",
        "execution_name",
        "input",
        "qualifier",
        "region",
        "alibabacloud_conn_id",
    )
    template_fields_renderers = {"input": "json"}
    operator_extra_links = (AlibabaCloudFlowExecutionLink(),)

    def __init__(
        self,
        *,
        flow_name: str,
        execution_name: str | None = None,
        input: Mapping[str, Any] | str | None = None,
        qualifier: str | None = None,
        alibabacloud_conn_id: str = AlibabaCloudHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=alibabacloud_conn_id, **kwargs)
        self.flow_name = flow_name
        self.execution_name = execution_name
        self.input = input
        self.qualifier = qualifier
        if isinstance(input, str) and "{{" not in input:
            _input_text(input)  # a literal mistake fails at parse time, not at run time

    def start_params(self, context: Context) -> dict[str, Any]:
        """FlowName, the execution name (given or derived), Input as JSON text, Qualifier; what to do with a
        name whose execution has ended."""
        ti = context["ti"]
        name = self.execution_name or default_execution_name(
            ti.dag_id, ti.task_id, ti.run_id, -1 if ti.map_index is None else ti.map_index
        )
        for field, value in (("flow_name", self.flow_name), ("execution_name", name)):
            if not isinstance(value, str) or not NAME_RULE.fullmatch(value):
                raise ValueError(f"{field} {value!r} is not a valid CloudFlow name")
        return {
            "FlowName": self.flow_name,
            "ExecutionName": name,
            "Input": _input_text(self.input),
            "Qualifier": self.qualifier or None,
            "on_exists": self.on_retry,
            # The first try adopts whatever a name it did not start holds; later tries start afresh.
            "retry_name": retry_execution_name(name, ti.try_number) if ti.try_number > 1 else None,
        }

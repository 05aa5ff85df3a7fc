"""Alibaba Cloud operator: CloudFlow ``StartExecution`` (2019-03-15), waited on with long polling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cloudflows.actions.task_requests import (
    TaskKey,
    cloudflow_request,
    default_execution_name,
    input_text,
    retry_execution_name,
)
from airflow_provider_cloudflows.hooks.alibaba import AlibabaCloudHook
from airflow_provider_cloudflows.operators.base import CloudExecutionOperator
from airflow_provider_cloudflows.operators.links import AlibabaCloudFlowExecutionLink

if TYPE_CHECKING:
    from airflow.sdk import Context


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

    ``region``, ``deferrable``, ``cancel_on_kill``, ``on_retry`` and ``start_from_trigger`` (start and wait
    in the triggerer, Airflow >= 3.3) are described on
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
            input_text(input)  # a literal mistake fails at parse time, not at run time

    def start_params(self, context: Context) -> dict[str, Any]:
        """FlowName, the execution name (given or derived), Input as JSON text, Qualifier; what to do with a
        name whose execution has ended (the request a trigger builds the same way)."""
        fields = {name: getattr(self, name) for name in ("flow_name", "execution_name", "input", "qualifier")}
        return cloudflow_request(fields, TaskKey.of(context["ti"]), self.on_retry)


__all__ = ["AlibabaCloudFlowStartExecutionOperator", "default_execution_name", "retry_execution_name"]

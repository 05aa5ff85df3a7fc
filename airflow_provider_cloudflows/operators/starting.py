"""A start sent at most once across tries: recorded before it is sent, and an unknown outcome never repeated
blindly.

A start whose answer was never read is sent again only where that cannot start a second execution (the same
ClientToken within the vendor's window, the same CloudFlow name); any other unknown outcome fails the task
*without retry* (``AirflowFailException``), naming the call and what to check. The record goes to Airflow's
``task_state_store`` (see ``records.py``) before the start is sent, so a worker killed mid-call leaves it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_cloudflows.actions.base import Started, StartSpec, client_token
from airflow_provider_cloudflows.actions.driver import run_action
from airflow_provider_cloudflows.actions.task_requests import started_record
from airflow_provider_cloudflows.compat import AirflowException, AirflowFailException
from airflow_provider_cloudflows.errors import CloudApiError, WriteOutcomeUnknown
from airflow_provider_cloudflows.operators.records import (
    Resend,
    forget_refused_start,
    mark_reported_unknown,
    may_resend,
    sending_record,
    write_sending,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_cloudflows.transport.client import CloudClient


@dataclass(frozen=True)
class Starter:
    """How one operator's task sends its start: its task id, start spec and logger."""

    task_id: str
    start_action: str
    spec: StartSpec
    log: Any

    def send(
        self,
        context: Context,
        client: CloudClient[Any],
        deadline: float,
        params: dict[str, Any],
        link_params: Callable[[], dict[str, Any]],
        *,
        resend: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send the start (recorded first) and return the started execution's record; ``resend``: an earlier
        try's record of an unanswered start, sent again under its ClientToken (whose validity still counts from
        that first send)."""
        ti = context["ti"]
        token: str | None = None
        first_sent: float | None = None
        if resend is not None:
            token, sent_at = str(resend["client_token"]), resend.get("sent_at")
            first_sent = float(sent_at) if isinstance(sent_at, (int, float)) else None
        elif self.spec.takes_client_token:
            map_index = -1 if ti.map_index is None else ti.map_index
            token = client_token(ti.dag_id, ti.task_id, ti.run_id, map_index, ti.try_number)
        sending = self._record_sending(context, client, token, first_sent)
        try:
            started: Started = run_action(self.spec.start(params, token), client, deadline=deadline)
        except WriteOutcomeUnknown as exc:
            if self.spec.idempotent_by_name or (sending is not None and may_resend(self.spec, sending)):
                raise AirflowException(
                    f"{self.task_id}: {exc}. A retry sends it again under the same "
                    f"{'name' if self.spec.idempotent_by_name else 'ClientToken'}, which cannot start a second "
                    "execution"
                ) from None
            self.fail_unknown(context, sending, str(exc))
        except CloudApiError as exc:
            # Refused before it was applied (auth, invalid, not found, throttled): nothing was started.
            if (store := context.get("task_state_store")) is not None:
                forget_refused_start(store, self.log)
            raise AirflowException(f"{self.task_id}: starting failed: {exc}") from None
        self.log.info(
            "started %s: %s%s [RequestId: %s]",
            self.spec.service,
            dict(started.identifiers),
            f" (ClientToken {token})" if token else "",
            started.request_id,
        )
        return started_record(
            self.spec, started, try_number=ti.try_number, token=token, api=client.api, link_params=link_params()
        )

    def _record_sending(
        self, context: Context, client: CloudClient[Any], token: str | None, first_sent: float | None
    ) -> dict[str, Any] | None:
        """Record that the start is being sent, before it is; None where no record survives tries (then an
        unknown outcome fails without retry). A store that cannot take the record stops the start unsent."""
        store = context.get("task_state_store")
        if store is None or self.spec.idempotent_by_name:
            return None  # CloudFlow's name is the same on every try: nothing to remember
        record = sending_record(
            start_action=self.start_action,
            call=f"{client.api.vendor} {self.spec.name}",
            try_number=context["ti"].try_number,
            client_token=token,
            sent_at=time.time() if first_sent is None else first_sent,
        )
        write_sending(store, record, self.task_id)
        return record

    def fail_unknown(self, context: Context, sending: Mapping[str, Any] | None, why: str) -> NoReturn:
        """Fail the task without retry: a start may have been applied and nothing can tell or repeat it safely.
        The record says it was reported, so a user's clear (the only way to a next try) starts again."""
        store = context.get("task_state_store")
        if store is not None and sending is not None:
            mark_reported_unknown(store, sending, why, self.log)
        raise AirflowFailException(
            f"{self.task_id}: {why}. The task is failed without retry so that it cannot start a second "
            f"execution: check the {self.spec.vendor} console for what this start did (the RequestId above "
            "names the call), then clear the task to start again"
        )

    def after_unanswered_start(self, context: Context, sending: Mapping[str, Any]) -> Resend:
        """The previous try sent a start and never read its answer: resend it under the same ClientToken
        where the vendor still honours it, else fail without retry."""
        tried, call = sending.get("try_number"), sending.get("call") or self.spec.name
        if may_resend(self.spec, sending):
            token = str(sending["client_token"])
            self.log.warning(
                "try %s sent %s and never read its answer: sending it again with the same ClientToken %s, which "
                "returns the execution it started, if it did",
                tried,
                call,
                token,
            )
            return Resend(sending)
        self.fail_unknown(
            context,
            sending,
            f"try {tried} sent {call} and its outcome is unknown (the worker stopped before reading the answer)"
            + ("; its ClientToken has expired" if self.spec.takes_client_token else "; it takes no idempotency key")
            + ", so it may have been applied and is not sent again",
        )

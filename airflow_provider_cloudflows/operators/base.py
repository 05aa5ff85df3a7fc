"""The operator machinery shared by every start operator: start, persist, check once, wait, cancel.

An operator is as thin as a sensor: it names a start spec (``actions/``) and renders the request; this base
does the lifecycle:

1. **Reattach or start, exactly once.** On a retry, the previous try's record (Airflow's
   ``task_state_store``, Airflow >= 3.3; see ``operators/records.py``) decides: an execution still running
   is waited on; a succeeded one is adopted (``on_retry="reattach"``, default) or started again
   (``"start_new"``); a failed one is started again under a new idempotency key. A start whose answer was
   never read is sent again only where that cannot start a second execution (the same ClientToken within
   the vendor's window, the same CloudFlow name); any other unknown outcome fails the task *without retry*
   (``AirflowFailException``), naming the call and what to check. The record is written before the start
   is sent, so a worker killed mid-call leaves it too.
2. **Persist before waiting.** The execution's ids go to XCom (``cloudflows_execution``: what the console
   links read, also when deferred) and to the record (XComs are cleared when a new try starts).
3. **Check once**, then wait: deferred with :class:`CloudRunTrigger` (which cancels on a user kill on
   Airflow >= 3.3, never on a triggerer restart), or polling in the worker.
4. **Cancel** on a worker-side kill (``on_kill``) and when the operator's own ``timeout`` passes, before
   failing the task; ``cancel_on_kill=False`` leaves the remote execution running in both cases.

Success returns the final state dict (the XCom) like the sensors, plus the start reply's fields.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

from airflow.sdk import BaseOperator

from airflow_provider_cloudflows.actions import get_cancel, get_start
from airflow_provider_cloudflows.actions.base import Started, StartSpec, client_token
from airflow_provider_cloudflows.actions.driver import cancel_until_accepted, run_action
from airflow_provider_cloudflows.compat import AirflowException, AirflowFailException, conf
from airflow_provider_cloudflows.errors import CloudApiError, CloudExecutionFailed, NotFoundError, WriteOutcomeUnknown
from airflow_provider_cloudflows.hooks import hook_class
from airflow_provider_cloudflows.hooks.base import CloudHook
from airflow_provider_cloudflows.operators.links import XCOM_EXECUTION
from airflow_provider_cloudflows.operators.records import STATE_KEY, Phase, Previous, phase_of, sending_record
from airflow_provider_cloudflows.services.base import Snapshot
from airflow_provider_cloudflows.services.driver import run_check
from airflow_provider_cloudflows.status import Verdict
from airflow_provider_cloudflows.triggers.run import CloudRunTrigger
from airflow_provider_cloudflows.waiting import ERROR, MEMORY, TIMEOUT, Wait

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_cloudflows.transport.client import CloudClient

# Same margins as the sensors: a worker-side check spends at most this long; Airflow's defer timeout comes
# this long after the trigger's deadline, so the provider's timeout event (which cancels) wins the race.
CHECK_BUDGET = 60.0
DEFER_TIMEOUT_MARGIN = 30.0
# A cancel (retries of a refused TerminateJob included) spends at most this long: on a timeout it comes on
# top of the operator's own timeout, so it is as long as Airflow gives a trigger's on_kill().
CANCEL_BUDGET = 30.0
DEFAULT_TIMEOUT = 24 * 60 * 60.0

OnRetry = Literal["reattach", "start_new"]


@dataclass(frozen=True)
class CancelReport:
    """What a cancel did: whether the execution is stopped (or had ended), and the words for a message."""

    stopped: bool
    text: str


class CloudExecutionTimeout(AirflowException):
    """The operator's own timeout passed before the execution ended (it was cancelled where possible)."""


class CloudExecutionOperator(BaseOperator):
    """Start a cloud execution, wait for it to end, cancel it when Airflow stops waiting.

    Subclasses declare ``start_action`` (a registered start spec), ``conn_id_param`` (the vendor's
    connection keyword) and implement :meth:`start_params` (the rendered request).

    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status checks.
    :param timeout: the operator's own deadline (seconds or timedelta) for start + wait; when it passes the
        execution is cancelled (if the vendor can) and the task fails with :class:`CloudExecutionTimeout`.
    :param cancel_on_kill: cancel the remote execution when the task is killed or times out (default: on,
        for operators whose vendor has a cancel API).
    :param on_retry: what a retry does when the previous try's execution has *succeeded*: ``"reattach"``
        returns its state, ``"start_new"`` starts another. A running one is always reattached to (with
        ``"start_new"`` it is cancelled first, where possible); a failed one always starts again.
    :param region: overrides the connection's region.
    """

    start_action: ClassVar[str]
    conn_id_param: ClassVar[str]
    hook_override_fields: ClassVar[tuple[str, ...]] = ("region",)
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        conn_id: str,
        region: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        cancel_on_kill: bool | None = None,
        on_retry: OnRetry = "reattach",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        setattr(self, self.conn_id_param, conn_id)
        self.region = region
        self.deferrable = deferrable
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self.poll_interval = float(poll_interval)
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        spec = get_start(self.start_action)
        if cancel_on_kill and spec.cancel is None:
            raise ValueError(
                f"{type(self).__name__}: the vendor has no cancel API for this call; cancel_on_kill must be off"
            )
        self.cancel_on_kill = spec.cancel is not None if cancel_on_kill is None else cancel_on_kill
        if on_retry not in ("reattach", "start_new"):
            raise ValueError(f"on_retry must be 'reattach' or 'start_new', got {on_retry!r}")
        self.on_retry = on_retry
        self._hook: CloudHook | None = None
        self._record: dict[str, Any] | None = None

    # --- what subclasses provide ----------------------------------------------------------------------

    def start_params(self, context: Context) -> dict[str, Any]:
        """The rendered request of the start call (subclasses)."""
        raise NotImplementedError

    def link_params(self) -> dict[str, Any]:
        """Rendered identifiers the console links need beyond the wait's (e.g. a CynosDB cluster id)."""
        return {}

    def on_execution_failed(self, state: Mapping[str, Any], client: CloudClient[Any]) -> None:
        """Called on the worker before the task fails on a failed execution (e.g. to fetch logs)."""

    # --- plumbing -------------------------------------------------------------------------------------

    @property
    def conn_id(self) -> str:
        """The connection id, kept in the vendor-named (templated) attribute, e.g. ``tencentcloud_conn_id``."""
        value: str = getattr(self, self.conn_id_param)
        return value

    @property
    def spec(self) -> StartSpec:
        """The start spec."""
        return get_start(self.start_action)

    def hook_overrides(self) -> dict[str, Any]:
        """Rendered per-task connection overrides that are set."""
        return {k: v for k in self.hook_override_fields if (v := getattr(self, k)) is not None}

    @property
    def hook(self) -> CloudHook:
        """The vendor hook, built once per task instance."""
        if self._hook is None:
            cls = hook_class(self.spec.vendor)
            self._hook = cls(**{cls.conn_name_attr: self.conn_id, **self.hook_overrides()})
        return self._hook

    def _wait(self, record: Mapping[str, Any], memory: Mapping[str, Any] | None = None) -> Wait:
        """The wait on a started execution: the service the start reply chose (else the spec's), its options
        (e.g. the DWS wait's memory seeded before the write) and, after a hand-back, the trigger's memory."""
        options = dict(record.get("wait_options") or {})
        if memory is not None:
            options["memory"] = dict(memory)
        return Wait(record.get("service") or self.spec.service, dict(record["identifiers"]), options=options)

    def _observe(self, wait: Wait, client: CloudClient[Any], deadline: float) -> tuple[Snapshot, Verdict] | None:
        """One check; ``None`` when it failed transiently (the wait goes on)."""
        try:
            snapshot = run_check(wait.check(), client, deadline=min(deadline, time.time() + CHECK_BUDGET))
        except CloudApiError as exc:
            if exc.retryable:
                self.log.warning("%s: check failed transiently, waiting on: %s", wait.subject, exc)
                return None
            raise AirflowException(f"{wait.subject}: {exc}") from None
        return snapshot, wait.report(self.log, snapshot)

    # --- lifecycle ------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Reattach or start, persist the ids, check once, then defer or poll."""
        deadline = time.time() + self.timeout
        client = self.hook.get_conn()
        previous = self._reattach(context, client, deadline)
        if previous.result is not None:
            return previous.result  # the previous try's execution succeeded and on_retry="reattach"
        record = previous.record or self._start(context, client, deadline, resend=previous.resend)
        self._record = record
        self._persist(context, record)
        wait = self._wait(record)
        observed = self._observe(wait, client, deadline)
        if observed is not None and observed[1] is not Verdict.WAITING:
            return self._finish(wait, observed[0], observed[1], record, client)
        if self.deferrable:
            self._defer(wait, deadline)
        return self._poll(wait, record, client, deadline)

    def _defer(self, wait: Wait, deadline: float) -> None:
        """Defer to the run trigger, ending at the absolute ``deadline`` (never extended by deferring again)."""
        self.defer(
            trigger=CloudRunTrigger(
                service=wait.spec.name,
                identifiers=wait.identifiers,
                conn_id=self.conn_id,
                deadline=deadline,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
                hook_overrides=self.hook_overrides(),
                options=wait.trigger_options(),
                cancel=self._cancel_kwargs(wait.identifiers),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(deadline - time.time(), 0) + DEFER_TIMEOUT_MARGIN),
        )

    def _poll(self, wait: Wait, record: dict[str, Any], client: CloudClient[Any], deadline: float) -> Any:
        while True:
            pause = min(self.poll_interval, deadline - time.time())
            if pause > 0:
                time.sleep(pause)
            if time.time() >= deadline:
                self._timed_out(wait.subject, record, client)
            observed = self._observe(wait, client, deadline)
            if observed is not None and observed[1] is not Verdict.WAITING:
                return self._finish(wait, observed[0], observed[1], record, client)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Turn the trigger's event into the task's outcome (cancelling on the operator's timeout)."""
        record = self._record = self._recorded(context) or {
            "identifiers": (event.get("state") or {}).get("identifiers")
        }
        client = self.hook.get_conn()
        outcome = event.get("outcome")
        message = str(event.get("message", event))
        if outcome == Verdict.SUCCESS.value:
            self.log.info("%s", message)
            return self._result(event["state"], record)
        if outcome == Verdict.FAILURE.value:
            self._report_failure(event["state"], client)
            raise CloudExecutionFailed(message)
        if outcome == TIMEOUT:
            self._timed_out(message, record, client)
        if outcome == ERROR:
            raise AirflowException(message)
        if outcome == MEMORY:
            return self._defer_with_memory(record, event)
        raise AirflowException(f"unexpected trigger event: {event!r}")

    def _defer_with_memory(self, record: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        """The trigger learned something its process would forget (a spec's ``durable_memory``, e.g. "the DWS
        action was seen running"): defer again with it in the new trigger's kwargs, same absolute deadline,
        exactly as the sensors do (:meth:`CloudExecutionSensor._defer_with_memory`)."""
        memory, deadline = event.get("memory"), event.get("deadline")
        if (
            not isinstance(memory, Mapping)
            or not isinstance(deadline, (int, float))
            or isinstance(deadline, bool)
            or not record.get("identifiers")
        ):
            raise AirflowException(f"unexpected trigger event: {event!r}")
        wait = self._wait(record, memory)
        self.log.info("%s: deferring again with the wait's memory %s", wait.subject, sorted(memory))
        self._defer(wait, float(deadline))

    def on_kill(self) -> None:
        """The task was killed while its worker waited: cancel the remote execution (if configured)."""
        if self._record is None:
            return
        if not self.cancel_on_kill:
            self.log.info("%s: left running (cancel_on_kill is off)", self._record["identifiers"])
            return
        self._cancel(self._record, self.hook.get_conn(), "the task was killed")

    # --- steps ----------------------------------------------------------------------------------------

    def _start(
        self, context: Context, client: CloudClient[Any], deadline: float, *, resend: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send the start (recorded first); ``resend``: an earlier try's record of an unanswered start, sent
        again under its ClientToken (whose validity still counts from that first send)."""
        ti = context["ti"]
        params = self.start_params(context)  # bad input fails here, before anything is recorded or sent
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
            if self.spec.idempotent_by_name or (sending is not None and self._may_resend(sending)):
                raise AirflowException(
                    f"{self.task_id}: {exc}. A retry sends it again under the same "
                    f"{'name' if self.spec.idempotent_by_name else 'ClientToken'}, which cannot start a second "
                    "execution"
                ) from None
            self._fail_unknown(context, sending, str(exc))
        except CloudApiError as exc:
            # Refused before it was applied (auth, invalid, not found, throttled): nothing was started.
            self._forget(context)
            raise AirflowException(f"{self.task_id}: starting failed: {exc}") from None
        self.log.info(
            "started %s: %s%s [RequestId: %s]",
            self.spec.service,
            dict(started.identifiers),
            f" (ClientToken {token})" if token else "",
            started.request_id,
        )
        api = client.api
        return {
            "phase": Phase.STARTED.value,
            "identifiers": dict(started.identifiers),
            "output": dict(started.output),
            "try_number": ti.try_number,
            "client_token": token,
            "start_action": self.start_action,
            "service": started.service or self.spec.service,
            "wait_options": dict(started.wait_options),
            "vendor": self.spec.vendor,
            "region": getattr(api, "region", None),
            "endpoint": getattr(api, "endpoint", None),
            "params": self.link_params(),
        }

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
            call=self._call_name(client),
            try_number=context["ti"].try_number,
            client_token=token,
            sent_at=time.time() if first_sent is None else first_sent,
        )
        try:
            store.set(STATE_KEY, record)
        except Exception as exc:
            raise AirflowException(
                f"{self.task_id}: could not record the start before sending it ({exc}); nothing was sent"
            ) from None
        return record

    def _call_name(self, client: CloudClient[Any]) -> str:
        return f"{client.api.vendor} {self.spec.name}"

    def _may_resend(self, sending: Mapping[str, Any]) -> bool:
        """Whether a later try may send an unanswered start again: the same ClientToken, still honoured."""
        token, sent_at, ttl = sending.get("client_token"), sending.get("sent_at"), self.spec.client_token_ttl
        if not self.spec.takes_client_token or not isinstance(token, str) or not token:
            return False
        if ttl is None:
            return True
        return isinstance(sent_at, (int, float)) and time.time() - float(sent_at) < ttl

    def _fail_unknown(self, context: Context, sending: Mapping[str, Any] | None, why: str) -> NoReturn:
        """Fail the task without retry: a start may have been applied and nothing can tell or repeat it safely.
        The record says it was reported, so a user's clear (the only way to a next try) starts again."""
        store = context.get("task_state_store")
        if store is not None and sending is not None:
            try:
                store.set(STATE_KEY, {**dict(sending), "phase": Phase.REPORTED_UNKNOWN.value, "reason": why})
            except Exception as exc:
                self.log.warning("could not record that the start's outcome was reported unknown: %s", exc)
        raise AirflowFailException(
            f"{self.task_id}: {why}. The task is failed without retry so that it cannot start a second "
            f"execution: check the {self.spec.vendor} console for what this start did (the RequestId above "
            "names the call), then clear the task to start again"
        )

    def _forget(self, context: Context) -> None:
        store = context.get("task_state_store")
        if store is None:
            return
        try:
            store.delete(STATE_KEY)
        except Exception as exc:  # the next try would then refuse to start blindly: safe, and said
            self.log.warning("could not clear the record of a refused start: %s", exc)

    def _persist(self, context: Context, record: dict[str, Any]) -> None:
        context["ti"].xcom_push(key=XCOM_EXECUTION, value=record)
        store = context.get("task_state_store")
        if store is None:
            return
        try:
            store.set(STATE_KEY, record)
        except Exception as exc:  # a store backend outage must not fail a started execution's wait
            self.log.warning("could not keep the execution ids for a retry to reattach: %s", exc)

    def _recorded(self, context: Context) -> dict[str, Any] | None:
        value = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_EXECUTION)
        return dict(value) if isinstance(value, Mapping) else None

    def _reattach(self, context: Context, client: CloudClient[Any], deadline: float) -> Previous:
        """What this try does about the previous try's start (nothing recorded: start afresh)."""
        store = context.get("task_state_store")
        ti = context["ti"]
        if store is None or ti.try_number <= 1:
            return Previous()
        try:
            stored: Any = store.get(STATE_KEY)
        except Exception as exc:
            raise AirflowException(
                f"{self.task_id}: could not read the previous try's record ({exc}); not starting blindly"
            ) from None
        if not isinstance(stored, Mapping) or stored.get("start_action", stored.get("service")) not in (
            self.start_action,
            self.spec.service,
        ):
            return Previous()
        previous: dict[str, Any] = dict(stored)
        phase = phase_of(previous)
        tried = previous.get("try_number")
        if phase is Phase.SENDING:
            return self._after_unanswered_start(context, previous)
        if phase is Phase.REPORTED_UNKNOWN:
            self.log.info(
                "try %s's start had an unknown outcome and failed the task without retry; this try follows a "
                "clear: starting again",
                tried,
            )
            return Previous()
        if phase is not Phase.STARTED:
            return Previous()
        wait = self._wait(previous)
        try:
            snapshot = run_check(wait.check(), client, deadline=min(deadline, time.time() + CHECK_BUDGET))
        except NotFoundError:
            self.log.info("%s (try %s) no longer exists: starting a new one", wait.subject, tried)
            return Previous()
        except CloudApiError as exc:
            raise AirflowException(f"{wait.subject}: could not check the previous try's execution: {exc}") from None
        verdict = wait.report(self.log, snapshot)
        if verdict is Verdict.WAITING:
            if self.on_retry == "start_new" and self.cancel_on_kill:
                report = self._cancel(previous, client, f"on_retry='start_new' (try {tried}'s execution was running)")
                if not report.stopped:
                    raise AirflowException(
                        f"{wait.subject}, started by try {tried}, is still running and {report.text}: not starting "
                        "another beside it"
                    )
                return Previous()
            self.log.info(
                "reattaching to %s, started by try %s and still %s", wait.subject, tried, snapshot.status.value
            )
            return Previous(record=previous)
        if verdict is Verdict.SUCCESS and self.on_retry == "reattach":
            self.log.info("%s, started by try %s, already succeeded: not starting another", wait.subject, tried)
            self._persist(context, previous)
            return Previous(result=self._result(wait.state(snapshot), previous))
        self.log.info("%s, started by try %s, is %s: starting a new one", wait.subject, tried, snapshot.status.value)
        return Previous()

    def _after_unanswered_start(self, context: Context, sending: Mapping[str, Any]) -> Previous:
        """The previous try sent a start and never read its answer: resend it under the same ClientToken
        where the vendor still honours it, else fail without retry."""
        tried, call = sending.get("try_number"), sending.get("call") or self.spec.name
        if self._may_resend(sending):
            token = str(sending["client_token"])
            self.log.warning(
                "try %s sent %s and never read its answer: sending it again with the same ClientToken %s, which "
                "returns the execution it started, if it did",
                tried,
                call,
                token,
            )
            return Previous(resend=sending)
        self._fail_unknown(
            context,
            sending,
            f"try {tried} sent {call} and its outcome is unknown (the worker stopped before reading the answer)"
            + ("; its ClientToken has expired" if self.spec.takes_client_token else "; it takes no idempotency key")
            + ", so it may have been applied and is not sent again",
        )

    def _result(self, state: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
        # The start reply's fields (FlowId, TraceId, JobId...) join the final state, which keeps precedence.
        return {**dict(record.get("output") or {}), **dict(state)}

    def _finish(
        self, wait: Wait, snapshot: Snapshot, verdict: Verdict, record: Mapping[str, Any], client: CloudClient[Any]
    ) -> dict[str, Any]:
        state = wait.state(snapshot)
        if verdict is Verdict.FAILURE:
            self._report_failure(state, client)
            raise CloudExecutionFailed(wait.describe(snapshot))
        self.log.info("%s", wait.describe(snapshot))
        return self._result(state, record)

    def _report_failure(self, state: Mapping[str, Any], client: CloudClient[Any]) -> None:
        try:
            self.on_execution_failed(state, client)
        except Exception as exc:  # diagnostics must never hide the failure itself
            self.log.warning("could not fetch failure details: %s", exc)

    def _cancel_kwargs(self, identifiers: Mapping[str, Any]) -> dict[str, Any] | None:
        if not self.cancel_on_kill or self.spec.cancel is None:
            return None
        return {"action": self.spec.cancel, "identifiers": dict(identifiers)}

    def _cancel(self, record: Mapping[str, Any], client: CloudClient[Any], why: str) -> CancelReport:
        """Cancel the recorded execution; returns what happened, for the task's failure message."""
        ids = record["identifiers"]
        if self.spec.cancel is None:
            self.log.warning("%s: %s, but the vendor has no cancel API for it: it keeps running", ids, why)
            return CancelReport(False, "the vendor has no cancel API for it: it keeps running")
        try:
            outcome = cancel_until_accepted(
                get_cancel(self.spec.cancel), ids, client, deadline=time.time() + CANCEL_BUDGET, log=self.log
            )
        except Exception as exc:
            self.log.error("%s: %s, and cancelling it failed: %s", ids, why, exc)
            return CancelReport(
                False, f"cancelling it failed ({exc}): the execution may still be running, check the console"
            )
        if outcome.accepted:
            self.log.warning(
                "%s: %s: cancelled%s [RequestId: %s]",
                ids,
                why,
                f" ({outcome.reason})" if outcome.reason else "",
                outcome.request_id,
            )
            return CancelReport(True, f"it was cancelled [RequestId: {outcome.request_id or 'none'}]")
        self.log.error("%s: %s, and the cancel was not accepted: %s", ids, why, outcome.reason)
        return CancelReport(
            False,
            f"the cancel was not accepted ({outcome.reason}): the execution may still be running, check the console",
        )

    def _timed_out(self, message: str, record: Mapping[str, Any], client: CloudClient[Any]) -> NoReturn:
        if self.cancel_on_kill:
            cancelled = self._cancel(record, client, f"the operator's timeout ({self.timeout:.0f}s) passed").text
        else:
            cancelled = "it was left running (cancel_on_kill is off)"
        reason = (
            message
            if "timeout" in message
            else f"{message} did not finish within the operator's timeout ({self.timeout:.0f}s)"
        )
        raise CloudExecutionTimeout(f"{reason}; {cancelled}")

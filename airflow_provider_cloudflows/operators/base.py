"""The operator machinery shared by every start operator: start, persist, check once, wait, cancel.

An operator is as thin as a sensor: it names a start spec (``actions/``) and renders the request; this base
does the lifecycle:

1. **Reattach or start, exactly once.** On a retry, the previous try's record (Airflow's
   ``task_state_store``, Airflow >= 3.3; see ``operators/records.py``) decides: an execution still running
   is waited on; a succeeded one is adopted (``on_retry="reattach"``, default) or started again
   (``"start_new"``); a failed one is started again under a new idempotency key; an unanswered start is
   sent again or fails the task without retry (``operators/starting.py``).
2. **Persist before waiting.** The execution's ids go to XCom (``cloudflows_execution``: what the console
   links read, also when deferred) and to the record (XComs are cleared when a new try starts).
3. **Check once**, then wait: deferred with :class:`CloudRunTrigger` (which cancels on a user kill on
   Airflow >= 3.3, never on a triggerer restart), or polling in the worker.
4. **Cancel** on a worker-side kill (``on_kill``) and when the operator's own ``timeout`` passes, before
   failing the task; ``cancel_on_kill=False`` leaves the remote execution running in both cases.

Success returns the final state dict (the XCom) like the sensors, plus the start reply's fields.

``start_from_trigger=True`` (Airflow >= 3.3, for starts idempotent by a key the trigger derives from the task
instance) hands the whole task to :class:`StartInTriggerTrigger`, which starts and waits without a worker;
an event that resumes the worker carries the start's record, kept here as if this worker had started it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

from airflow.sdk import BaseOperator
from airflow.triggers.base import StartTriggerArgs

from airflow_provider_cloudflows.actions import get_start
from airflow_provider_cloudflows.actions.base import StartSpec
from airflow_provider_cloudflows.actions.task_requests import FROM_TRIGGER, why_not_from_trigger
from airflow_provider_cloudflows.compat import AirflowException, conf
from airflow_provider_cloudflows.errors import CloudApiError, CloudExecutionFailed, NotFoundError
from airflow_provider_cloudflows.hooks import build_hook
from airflow_provider_cloudflows.hooks.base import CloudHook
from airflow_provider_cloudflows.operators.cancelling import CancelReport, cancel_execution
from airflow_provider_cloudflows.operators.links import XCOM_EXECUTION
from airflow_provider_cloudflows.operators.records import (
    Adopt,
    Phase,
    Previous,
    Resend,
    StartAfresh,
    WaitOn,
    keep_started,
    phase_of,
    read_previous,
)
from airflow_provider_cloudflows.operators.starting import Starter
from airflow_provider_cloudflows.services.base import Snapshot
from airflow_provider_cloudflows.services.driver import run_check
from airflow_provider_cloudflows.status import Verdict
from airflow_provider_cloudflows.triggers.events import Failed, Succeeded, TimedOut
from airflow_provider_cloudflows.triggers.run import CloudRunTrigger
from airflow_provider_cloudflows.triggers.start_in_trigger import (
    RECORD_KEY,
    START_TIMEOUT_MARGIN,
    StartInTriggerTrigger,
)
from airflow_provider_cloudflows.wait_engine.worker import (
    CheckFailed,
    Observation,
    check_deadline,
    check_once,
    conclude,
    defer_timeout,
    read_event,
)
from airflow_provider_cloudflows.waiting import Wait

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_cloudflows.transport.client import CloudClient

# A cancel (retries of a refused TerminateJob included) spends at most this long: on a timeout it comes on
# top of the operator's own timeout, so it is as long as Airflow gives a trigger's on_kill().
CANCEL_BUDGET = 30.0
DEFAULT_TIMEOUT = 24 * 60 * 60.0

OnRetry = Literal["reattach", "start_new"]


class CloudExecutionTimeout(AirflowException):
    """The operator's own timeout passed before the execution ended (it was cancelled where possible)."""


class _DerivedStartTriggerArgs:
    """``start_trigger_args`` of an operator, derived from its fields on every read; None on the class, which
    is what a mapped operator reads (mapped tasks then start on a worker)."""

    def __get__(self, operator: CloudExecutionOperator | None, owner: type) -> StartTriggerArgs | None:
        return None if operator is None else operator.derive_start_trigger_args()

    def __set__(self, operator: CloudExecutionOperator, value: StartTriggerArgs | None) -> None:
        """Nothing to keep: the value is derived."""


class CloudExecutionOperator(BaseOperator):
    """Start a cloud execution, wait for it to end, cancel it when Airflow stops waiting.

    Subclasses declare ``start_action`` (a registered start spec), ``conn_id_param`` (the vendor's
    connection keyword) and implement :meth:`start_params` (the rendered request).

    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status checks (default 30). An operator's own parameter: the
        sensors take Airflow's ``poke_interval`` instead.
    :param timeout: the operator's own deadline (seconds or timedelta) for start + wait; when it passes the
        execution is cancelled (if the vendor can) and the task fails with :class:`CloudExecutionTimeout`.
    :param cancel_on_kill: cancel the remote execution when the task is killed or times out (default: on,
        for operators whose vendor has a cancel API).
    :param on_retry: what a retry does when the previous try's execution has *succeeded*: ``"reattach"``
        returns its state, ``"start_new"`` starts another. A running one is always reattached to (with
        ``"start_new"`` it is cancelled first, where possible); a failed one always starts again.
    :param region: overrides the connection's region.
    :param start_from_trigger: start and wait in the triggerer, never taking a worker slot (Airflow >= 3.3;
        below, the task starts on a worker and defers as usual). Only for starts idempotent by a key derived
        from the task instance (CloudFlow ``StartExecution``, Batch ``SubmitJob``), so that a restarted
        triggerer reattaches instead of starting again; any other start refuses it at construction. Implies
        ``deferrable=True``.
    """

    start_action: ClassVar[str]
    conn_id_param: ClassVar[str]
    hook_override_fields: ClassVar[tuple[str, ...]] = ("region",)
    ui_color = "#e8f4ff"
    start_trigger_args = _DerivedStartTriggerArgs()  # type: ignore[assignment]

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
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        setattr(self, self.conn_id_param, conn_id)
        self.region = region
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
        if start_from_trigger:
            why = why_not_from_trigger(spec)
            if why is not None:
                raise ValueError(f"{type(self).__name__}: start_from_trigger=True is not possible: {why}")
        # A wait started in the triggerer is a deferred wait wherever it resumes (or runs, where Airflow does
        # not start it there).
        self.deferrable = deferrable or start_from_trigger
        self.start_from_trigger = start_from_trigger
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

    def failure_needs_worker(self) -> bool:
        """Whether a failed execution started from the trigger resumes the worker, for
        :meth:`on_execution_failed` (else the triggerer ends the task where Airflow allows it)."""
        return False

    # --- plumbing -------------------------------------------------------------------------------------

    def derive_start_trigger_args(self) -> StartTriggerArgs | None:
        """The trigger that starts and waits, built from the fields as they are now (templates unrendered:
        the triggerer renders them on the trigger)."""
        if not self.start_from_trigger:
            return None
        request = FROM_TRIGGER[self.start_action]
        hook_fields = [name for name in self.hook_override_fields if name in self.template_fields]
        names = (self.conn_id_param, *hook_fields, *request.fields)
        if not all(hasattr(self, name) for name in names):
            return None  # asked while a subclass's __init__ has not set its fields yet
        trigger = StartInTriggerTrigger(
            start_action=self.start_action,
            conn_field=self.conn_id_param,
            hook_fields=hook_fields,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
            cancel_on_kill=self.cancel_on_kill,
            on_retry=self.on_retry,
            xcom_key=XCOM_EXECUTION,
            end_failures_in_trigger=not self.failure_needs_worker(),
            **{name: getattr(self, name) for name in names},
        )
        path, kwargs = trigger.serialize()
        return StartTriggerArgs(
            trigger_cls=path,
            trigger_kwargs=kwargs,
            next_method="execute_complete",
            next_kwargs=None,
            timeout=timedelta(seconds=self.timeout + START_TIMEOUT_MARGIN),
        )

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
            self._hook = build_hook(self.spec.vendor, self.conn_id, self.hook_overrides())
        return self._hook

    def _wait(self, record: Mapping[str, Any], memory: Mapping[str, Any] | None = None) -> Wait:
        """The wait on a started execution: the service the start reply chose (else the spec's), its options
        (e.g. the DWS wait's memory seeded before the write) and, after a hand-back, the trigger's memory."""
        options = dict(record.get("wait_options") or {})
        if memory is not None:
            options["memory"] = dict(memory)
        return Wait(record.get("service") or self.spec.service, dict(record["identifiers"]), options=options)

    def _observe(self, wait: Wait, deadline: float) -> Observation | None:
        """One check; ``None`` when it failed transiently (the wait goes on)."""
        observed = check_once(wait, self.hook, deadline=check_deadline(deadline), log=self.log)
        return None if isinstance(observed, CheckFailed) else observed

    # --- lifecycle ------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Reattach or start, persist the ids, check once, then defer or poll."""
        deadline = time.time() + self.timeout
        client = self.hook.get_conn()
        previous = self._reattach(context, client, deadline)
        if isinstance(previous, Adopt):
            return previous.result  # the previous try's execution succeeded and on_retry="reattach"
        if isinstance(previous, WaitOn):
            record = previous.record
        else:
            resend = previous.sending if isinstance(previous, Resend) else None
            record = self._start(context, client, deadline, resend=resend)
        self._record = record
        self._persist(context, record)
        wait = self._wait(record)
        observed = self._observe(wait, deadline)
        if observed is not None and observed.verdict is not Verdict.WAITING:
            return self._finish(wait, observed.snapshot, observed.verdict, record, client)
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
            timeout=defer_timeout(deadline - time.time()),
        )

    def _poll(self, wait: Wait, record: dict[str, Any], client: CloudClient[Any], deadline: float) -> Any:
        while True:
            pause = min(self.poll_interval, deadline - time.time())
            if pause > 0:
                time.sleep(pause)
            if time.time() >= deadline:
                self._timed_out(wait.subject, record, client)
            observed = self._observe(wait, deadline)
            if observed is not None and observed.verdict is not Verdict.WAITING:
                return self._finish(wait, observed.snapshot, observed.verdict, record, client)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Turn the trigger's event into the task's outcome (cancelling on the operator's timeout)."""
        ended = read_event(event)
        started = event.get(RECORD_KEY) if isinstance(event, Mapping) else None
        if isinstance(started, Mapping):
            # Started by the trigger: kept as a start on this worker would keep it (links, a retry's reattach).
            record = self._record = dict(started)
            self._persist(context, record)
        else:
            state = ended.state if isinstance(ended, (Succeeded, Failed, TimedOut)) else None
            record = self._record = self._recorded(context) or {"identifiers": (state or {}).get("identifiers")}
        return conclude(ended, _OperatorEnding(self, record, self.hook.get_conn()), self.log)

    def _defer_with_memory(self, record: Mapping[str, Any], memory: Mapping[str, Any], deadline: float) -> None:
        """The trigger learned something its process would forget (a spec's ``durable_memory``, e.g. "the DWS
        action was seen running"): defer again with it in the new trigger's kwargs, same absolute deadline,
        exactly as the sensors do."""
        if not record.get("identifiers"):
            raise AirflowException(f"unexpected trigger event: a memory hand-back for no recorded execution {record!r}")
        wait = self._wait(record, memory)
        self.log.info("%s: deferring again with the wait's memory %s", wait.subject, sorted(memory))
        self._defer(wait, deadline)

    def on_kill(self) -> None:
        """The task was killed while its worker waited: cancel the remote execution (if configured)."""
        if self._record is None:
            return
        if not self.cancel_on_kill:
            self.log.info("%s: left running (cancel_on_kill is off)", self._record["identifiers"])
            return
        self._cancel(self._record, self.hook.get_conn(), "the task was killed")

    # --- steps ----------------------------------------------------------------------------------------

    def _starter(self) -> Starter:
        return Starter(task_id=self.task_id, start_action=self.start_action, spec=self.spec, log=self.log)

    def _start(
        self, context: Context, client: CloudClient[Any], deadline: float, *, resend: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send the start (recorded first); ``resend``: an earlier try's record of an unanswered start."""
        params = self.start_params(context)  # bad input fails here, before anything is recorded or sent
        return self._starter().send(context, client, deadline, params, self.link_params, resend=resend)

    def _persist(self, context: Context, record: dict[str, Any]) -> None:
        context["ti"].xcom_push(key=XCOM_EXECUTION, value=record)
        if (store := context.get("task_state_store")) is not None:
            keep_started(store, record, self.log)

    def _recorded(self, context: Context) -> dict[str, Any] | None:
        value = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_EXECUTION)
        return dict(value) if isinstance(value, Mapping) else None

    def _reattach(self, context: Context, client: CloudClient[Any], deadline: float) -> Previous:
        """What this try does about the previous try's start (nothing recorded: start afresh)."""
        store = context.get("task_state_store")
        ti = context["ti"]
        if store is None or ti.try_number <= 1:
            return StartAfresh()
        stored = read_previous(store, self.task_id)
        if not isinstance(stored, Mapping) or stored.get("start_action", stored.get("service")) not in (
            self.start_action,
            self.spec.service,
        ):
            return StartAfresh()
        previous: dict[str, Any] = dict(stored)
        phase = phase_of(previous)
        tried = previous.get("try_number")
        if phase is Phase.SENDING:
            return self._starter().after_unanswered_start(context, previous)
        if phase is Phase.REPORTED_UNKNOWN:
            self.log.info(
                "try %s's start had an unknown outcome and failed the task without retry; this try follows a "
                "clear: starting again",
                tried,
            )
            return StartAfresh()
        if phase is not Phase.STARTED:
            return StartAfresh()
        wait = self._wait(previous)
        try:
            snapshot = run_check(wait.check(), client, deadline=check_deadline(deadline))
        except NotFoundError:
            self.log.info("%s (try %s) no longer exists: starting a new one", wait.subject, tried)
            return StartAfresh()
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
                return StartAfresh()
            self.log.info(
                "reattaching to %s, started by try %s and still %s", wait.subject, tried, snapshot.status.value
            )
            return WaitOn(previous)
        if verdict is Verdict.SUCCESS and self.on_retry == "reattach":
            self.log.info("%s, started by try %s, already succeeded: not starting another", wait.subject, tried)
            self._persist(context, previous)
            return Adopt(self._result(wait.state(snapshot), previous))
        self.log.info("%s, started by try %s, is %s: starting a new one", wait.subject, tried, snapshot.status.value)
        return StartAfresh()

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
        deadline = time.time() + CANCEL_BUDGET
        return cancel_execution(self.spec.cancel, record, client, why, deadline=deadline, log=self.log)

    def _timed_out(self, message: str, record: Mapping[str, Any], client: CloudClient[Any]) -> NoReturn:
        if not record.get("identifiers"):
            cancelled = "no execution is known to have started, so none was cancelled"
        elif self.cancel_on_kill:
            cancelled = self._cancel(record, client, f"the operator's timeout ({self.timeout:.0f}s) passed").text
        else:
            cancelled = "it was left running (cancel_on_kill is off)"
        reason = (
            message
            if "timeout" in message
            else f"{message} did not finish within the operator's timeout ({self.timeout:.0f}s)"
        )
        raise CloudExecutionTimeout(f"{reason}; {cancelled}")


class _OperatorEnding:
    """An operator's outcomes of a deferred wait: the start reply's fields joined to the state, a failure's
    details fetched, the execution cancelled on the operator's timeout."""

    def __init__(self, operator: CloudExecutionOperator, record: Mapping[str, Any], client: CloudClient[Any]) -> None:
        self.operator, self.record, self.client = operator, record, client

    def succeeded(self, state: dict[str, Any]) -> Any:
        return self.operator._result(state, self.record)

    def failed(self, state: dict[str, Any]) -> None:
        self.operator._report_failure(state, self.client)

    def timed_out(self, message: str) -> NoReturn:
        self.operator._timed_out(message, self.record, self.client)

    def defer_again(self, memory: dict[str, Any], deadline: float) -> None:
        self.operator._defer_with_memory(self.record, memory, deadline)

"""The sensor machinery shared by every service: one check, then poke, reschedule or defer."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.triggers.base import StartTriggerArgs

from airflow_provider_cloudflows.compat import (
    STARTS_FROM_TRIGGER,
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow_provider_cloudflows.errors import CloudApiError, CloudExecutionFailed
from airflow_provider_cloudflows.hooks import build_hook
from airflow_provider_cloudflows.hooks.base import CloudHook
from airflow_provider_cloudflows.services import get_service
from airflow_provider_cloudflows.status import Verdict
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from airflow_provider_cloudflows.triggers.started import StartedWaitTrigger
from airflow_provider_cloudflows.wait_engine.worker import (
    CHECK_BUDGET,
    CheckFailed,
    Observation,
    check_deadline,
    check_once,
    conclude,
    defer_timeout,
    read_event,
)

# Re-exported: the margin of the sensors' deferrals.
from airflow_provider_cloudflows.wait_engine.worker import DEFER_TIMEOUT_MARGIN as DEFER_TIMEOUT_MARGIN
from airflow_provider_cloudflows.waiting import Wait

if TYPE_CHECKING:
    from airflow.sdk import Context

# Poke mode backs off during an outage as the trigger does: from the poke interval, doubling, full jitter.
OUTAGE_MAX_BACKOFF = 300.0
# A vendor's retry hint is honoured between pokes up to this long.
MAX_RETRY_AFTER = 60.0


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _state_list(name: str, values: Iterable[Any] | None) -> list[Any] | None:
    """A user's state override as a non-empty list, or a ValueError naming the parameter."""
    if values is None:
        return None
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a list of state values, got {type(values).__name__}")
    listed = list(values)
    if not listed:
        raise ValueError(f"{name} is empty: no state could end the wait that way; leave it unset for the default")
    return listed


class CloudExecutionSensor(BaseSensorOperator):
    """Wait for a cloud execution to reach a terminal status.

    Subclasses declare ``service`` (a registered service spec), ``conn_id_param`` (the connection keyword of
    their vendor) and ``identifier_fields`` (templated attributes sent to the API). Success returns the
    final state as a dict (the XCom); a failed, cancelled, timed-out or blocked execution raises
    :class:`CloudExecutionFailed` naming the vendor status, the reason and the RequestId; the sensor's own
    timeout raises ``AirflowSensorTimeout`` in every mode, so ``soft_fail`` skips.
    """

    service: ClassVar[str]
    conn_id_param: ClassVar[str]
    identifier_fields: ClassVar[tuple[str, ...]]
    # Per-task connection overrides forwarded to the hook (region everywhere, project_id for Huawei).
    hook_override_fields: ClassVar[tuple[str, ...]] = ("region",)

    def __init__(
        self,
        *,
        conn_id: str,
        identifiers: Mapping[str, Any],
        region: str | None = None,
        success_states: Iterable[Any] | None = None,
        failure_states: Iterable[Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        fields: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Checked at construction, so a DAG with a bad literal fails to parse instead of failing at run time;
        # templated values are checked once rendered, by the same rules (see ``_wait``).
        if self.poke_interval <= 0:
            raise ValueError(f"{self.task_id}: poke_interval must be positive, got {self.poke_interval!r}")
        spec = get_service(self.service)
        for name in self.identifier_fields:
            setattr(self, name, identifiers.get(name))
        if not any(_is_template(v) for v in identifiers.values()):
            try:
                spec.normalize(identifiers)
            except ValueError as exc:
                raise ValueError(f"{type(self).__name__}: {exc}") from None
        self.conn_id = conn_id
        self.region = region
        # Further templated attributes of a subclass (a project id, a console link's cluster id), set here so
        # that the trigger's kwargs below see them.
        for name, value in (fields or {}).items():
            setattr(self, name, value)
        table = spec.table
        # Validated now, not at run time: a typo in a state name would otherwise wait until the timeout.
        success = table.validate_overrides("success_states", _state_list("success_states", success_states))
        failure = table.validate_overrides("failure_states", _state_list("failure_states", failure_states))
        if success is not None and failure is not None and success & failure:
            raise ValueError(f"success_states and failure_states overlap: {sorted(success & failure)}")
        self.success_states = sorted(success) if success is not None else None
        self.failure_states = sorted(failure) if failure is not None else None
        # A wait started in the triggerer is a deferred wait: wherever it resumes (or runs, where Airflow
        # does not start it there), it defers.
        self.deferrable = deferrable or start_from_trigger
        # Airflow's own attributes: on 3.3+ the scheduler then hands the task straight to the triggerer.
        self.start_from_trigger = start_from_trigger
        if start_from_trigger:
            self.start_trigger_args = self._start_trigger_args()
        self._hook: CloudHook | None = None
        self._wait_state: Wait | None = None
        # The sensor's deadline (epoch seconds) once execute() knows it; it caps every check's deadline.
        self._deadline: float | None = None
        # Transient failures of consecutive checks (poke mode), for the timeout message.
        self._failed_checks = 0
        self._last_error: CloudApiError | None = None

    @property
    def conn_id(self) -> str:
        """The connection id, kept in the vendor-named (templated) attribute, e.g. ``tencentcloud_conn_id``."""
        value: str = getattr(self, self.conn_id_param)
        return value

    @conn_id.setter
    def conn_id(self, value: str) -> None:
        setattr(self, self.conn_id_param, value)

    def identifiers(self) -> dict[str, Any]:
        """The rendered identifiers."""
        return {name: getattr(self, name) for name in self.identifier_fields}

    def hook_overrides(self) -> dict[str, Any]:
        """Rendered per-task connection overrides (``None`` means: use the connection's)."""
        return {name: getattr(self, name) for name in self.hook_override_fields}

    @property
    def hook(self) -> CloudHook:
        """The vendor hook, built once per task instance."""
        if self._hook is None:
            self._hook = build_hook(get_service(self.service).vendor, self.conn_id, self.hook_overrides())
        return self._hook

    def _wait(self) -> Wait:
        # Kept across pokes of one process so a spec's memory (e.g. "DWS action seen running") survives.
        if self._wait_state is not None:
            return self._wait_state
        try:
            self._wait_state = Wait(
                self.service,
                self.identifiers(),
                success_states=self.success_states,
                failure_states=self.failure_states,
            )
        except ValueError as exc:
            raise AirflowException(f"{self.task_id}: {exc}") from None
        return self._wait_state

    def _observe(self, wait: Wait) -> Observation | None:
        """One check from the worker; ``None`` when it failed transiently (throttled, 5xx, network).

        A transient failure is not an outcome: a poke returns "not yet", a deferrable sensor defers anyway.
        """
        budget = min(float(self.timeout), CHECK_BUDGET)
        if self._deadline is not None and self._deadline <= time.time():
            return None  # the sensor's time is up: no request that could only be cut off
        observed = check_once(wait, self.hook, deadline=check_deadline(self._deadline, budget=budget), log=self.log)
        if isinstance(observed, CheckFailed):
            self._failed_checks += 1
            self._last_error = observed.error
            return None
        self._failed_checks, self._last_error = 0, None
        return observed

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """One check: done with the state, failed loudly, or not yet."""
        wait = self._wait()
        observed = self._observe(wait)
        if observed is None:
            return False
        if observed.verdict is Verdict.FAILURE:
            raise CloudExecutionFailed(wait.describe(observed.snapshot))
        if observed.verdict is Verdict.SUCCESS:
            return PokeReturnValue(is_done=True, xcom_value=wait.state(observed.snapshot))
        return False

    def execute(self, context: Context) -> Any:
        """Poke with the provider's own deadline-bound loop, reschedule through the base class, or check once
        and defer to the trigger."""
        if self.start_from_trigger:
            self.log.info(
                "%s: start_from_trigger is set but the task started on a worker (%s); it defers from here",
                self.task_id,
                _why_on_worker(context),
            )
        if not self.deferrable:
            if self.reschedule:
                # Airflow's machinery (the task leaves its slot between pokes); each check is still cut at the
                # timeout counted from the first try, as Airflow counts it.
                self._deadline = self._reschedule_deadline(context)
                return super().execute(context)
            return self._poke_until_deadline(context)
        self._deadline = time.time() + float(self.timeout)
        wait = self._wait()
        observed = self._observe(wait)
        if observed is not None:
            if observed.verdict is Verdict.FAILURE:
                raise CloudExecutionFailed(wait.describe(observed.snapshot))
            if observed.verdict is Verdict.SUCCESS:
                return wait.state(observed.snapshot)
        self._defer(wait, deadline=time.time() + self.timeout, remaining=float(self.timeout))

    def _start_trigger_args(self) -> StartTriggerArgs:
        """Where the triggerer starts the task: every templated field unrendered under its own name (the
        triggerer renders those), the sensor's timeout plus the deferral's margin as Airflow's backstop."""
        fields: dict[str, Any] = {}
        for name in self.template_fields:
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise ValueError(
                    f"{self.task_id}: with start_from_trigger=True, {name} must be a value or a template string "
                    f"(the triggerer renders it), got {type(value).__name__}"
                )
            fields[name] = value
        trigger = StartedWaitTrigger(
            service=self.service,
            identifier_fields=self.identifier_fields,
            conn_id_field=self.conn_id_param,
            override_fields=self.hook_override_fields,
            timeout=float(self.timeout),
            deadline_margin=started_deadline_margin(float(self.timeout), self.execution_timeout),
            poll_interval=self.poke_interval,
            success_states=self.success_states,
            failure_states=self.failure_states,
            # soft_fail and never_fail skip a failed wait: only the worker turns a failure into a skip.
            end_failures_in_trigger=not (self.soft_fail or getattr(self, "never_fail", False)),
            # Airflow records the outlets' asset events only when a worker ends the task.
            end_successes_in_trigger=not self.outlets,
            push_return_value=self.do_xcom_push,
            # The console links a worker would resolve in finalize(), which a task ended there never runs.
            links=[
                console_link().to_json()
                for link in self.operator_extra_links
                if (console_link := getattr(link, "console_link", None)) is not None
            ],
            **fields,
        )
        classpath, kwargs = trigger.serialize()
        return StartTriggerArgs(
            trigger_cls=classpath,
            trigger_kwargs=kwargs,
            next_method="execute_complete",
            timeout=defer_timeout(float(self.timeout)),
        )

    def _reschedule_deadline(self, context: Context) -> float | None:
        """The timeout's end counted from the first try; None (each check its own budget) when unknown.

        Only from the context: asking the supervisor for the first reschedule date here, before Airflow's
        sensor asks it again, fails the task on Airflow 3.1.
        """
        if not context.get("task_reschedule_count"):
            return time.time() + float(self.timeout)
        return None

    def _poke_until_deadline(self, context: Context) -> Any:
        """Poke mode, ending within about a second of the sensor's timeout.

        Airflow's own poke loop sleeps a whole ``poke_interval`` and looks at the clock only between pokes,
        so its outcome can come an interval (or a whole check) late. Here every check's deadline is capped by
        the sensor's, the sleep by the time left, and the timeout is raised once that time is up. Otherwise
        the same rules as Airflow's loop: ``soft_fail`` skips on the timeout, ``never_fail`` skips on a
        failed poke, ``silent_fail`` pokes on after an unexpected error, ``exponential_backoff`` and
        ``max_wait`` stretch the interval.
        """
        started_at = time.monotonic()
        self._deadline = time.time() + float(self.timeout)

        def run_duration() -> float:
            return time.monotonic() - started_at

        poke_count = 1
        while True:
            try:
                done = self.poke(context)
            except (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException) as exc:
                if self.soft_fail:
                    raise AirflowSkipException("Skipping due to soft_fail is set to True.") from exc
                if getattr(self, "never_fail", False):
                    raise AirflowSkipException("Skipping due to never_fail is set to True.") from exc
                raise
            except AirflowSkipException:
                raise
            except Exception as exc:
                if getattr(self, "silent_fail", False):
                    self.log.error("Sensor poke failed: %s", exc, exc_info=True)
                    done = False
                elif getattr(self, "never_fail", False):
                    raise AirflowSkipException("Skipping due to never_fail is set to True.") from exc
                else:
                    raise
            if done:
                self.log.info("Success criteria met. Exiting.")
                return done.xcom_value if isinstance(done, PokeReturnValue) else None
            remaining = self._deadline - time.time()
            if remaining <= 0:
                message = self._timeout_message()
                if self.soft_fail:
                    raise AirflowSkipException(message)
                raise AirflowSensorTimeout(message)
            interval = float(self.poke_interval)
            if self.exponential_backoff:
                interval = self._get_next_poke_interval(started_at, run_duration, poke_count)
            time.sleep(max(0.0, min(self._outage_pause(interval), remaining)))
            poke_count += 1

    def _outage_pause(self, interval: float) -> float:
        """The pause before the next poke: the interval, longer while checks fail (an outage is backed off,
        and a throttled answer's retry hint honoured, rather than hit again at every interval)."""
        if not self._failed_checks:
            return interval
        step = min(OUTAGE_MAX_BACKOFF, interval * 2.0 ** min(self._failed_checks - 1, 16))
        pause = max(interval, random.uniform(0.5, 1.0) * step)
        retry_after = self._last_error.retry_after if self._last_error is not None else None
        if retry_after:
            pause = max(pause, min(retry_after, MAX_RETRY_AFTER))
        return pause

    def _timeout_message(self) -> str:
        """What the poke-mode timeout says: the last state seen and, after failed checks, the last error."""
        outage = None
        if self._failed_checks:
            outage = f"the last {self._failed_checks} checks failed, most recently: {self._last_error}"
        return self._wait().timeout_event(float(self.timeout), outage).message

    def _defer(self, wait: Wait, *, deadline: float, remaining: float) -> None:
        """Defer to a trigger carrying the wait's memory, ending at the absolute ``deadline`` (``remaining`` s)."""
        self.defer(
            trigger=CloudExecutionTrigger(
                service=self.service,
                identifiers=wait.identifiers,
                conn_id=self.conn_id,
                deadline=deadline,
                timeout=float(self.timeout),
                poll_interval=self.poke_interval,
                hook_overrides={k: v for k, v in self.hook_overrides().items() if v is not None},
                success_states=self.success_states,
                failure_states=self.failure_states,
                options=wait.trigger_options(),
            ),
            method_name="execute_complete",
            # Reported by Airflow as AirflowSensorTimeout, should the trigger be lost.
            timeout=defer_timeout(remaining),
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Turn the trigger's event into the task's outcome."""
        return conclude(read_event(event), _SensorEnding(self), self.log)

    def _defer_with_memory(self, memory: Mapping[str, Any], deadline: float) -> None:
        """The trigger learned something its process would forget: defer again with it, same deadline.

        Costs one task resume (a worker slot for about a second); a spec hands memory back only when it
        changes what the wait can decide (e.g. the first time a DWS action is seen running), not per poll.
        """
        wait = self._wait()
        wait.memory.clear()
        wait.memory.update(memory)
        self.log.info("%s: deferring again with the wait's memory %s", wait.subject, sorted(memory))
        self._defer(wait, deadline=deadline, remaining=deadline - time.time())


def started_deadline_margin(timeout: float, execution_timeout: timedelta | None) -> float:
    """How long before the trigger's own timeout a started wait's deadline falls.

    Airflow times the trigger out at the start plus the start args' timeout (the sensor's timeout plus
    :data:`DEFER_TIMEOUT_MARGIN`), or plus ``execution_timeout`` when that is shorter. The wait ends at the
    sensor's timeout, and always a little before Airflow's own: by the margin, or by a tenth of a shorter
    ``execution_timeout``, so that a short one does not end the wait before its first poll.
    """
    airflow_timeout = timeout + DEFER_TIMEOUT_MARGIN
    if execution_timeout is not None:
        airflow_timeout = min(airflow_timeout, execution_timeout.total_seconds())
    lead = min(DEFER_TIMEOUT_MARGIN, airflow_timeout / 10)
    return airflow_timeout - min(timeout, airflow_timeout - lead)


def _why_on_worker(context: Context) -> str:
    """Why a task with ``start_from_trigger`` runs ``execute()`` on a worker, for its log."""
    if not STARTS_FROM_TRIGGER:
        return "Airflow starts tasks in the triggerer from 3.3"
    ti = context.get("ti")
    map_index = getattr(ti, "map_index", None)
    if isinstance(map_index, int) and map_index >= 0:
        return "Airflow starts no mapped task in the triggerer"
    return "the scheduler did not hand it to the triggerer, e.g. dag.test() runs every task on a worker"


class _SensorEnding:
    """A sensor's outcomes of a deferred wait: the state as XCom, the sensor's own timeout exception."""

    def __init__(self, sensor: CloudExecutionSensor) -> None:
        self.sensor = sensor

    def succeeded(self, state: dict[str, Any]) -> Any:
        return state

    def failed(self, state: dict[str, Any]) -> None:
        return None

    def timed_out(self, message: str) -> NoReturn:
        raise AirflowSensorTimeout(message)

    def defer_again(self, memory: dict[str, Any], deadline: float) -> None:
        self.sensor._defer_with_memory(memory, deadline)

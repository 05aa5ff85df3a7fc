"""Every difference between the Airflow versions this provider supports, in one place.

Supported: Airflow 3.1.0 (the declared and tested floor) up to the latest 3.x; CI runs the whole suite at
3.1.0 and at the newest release (``constraints/``). Nothing else in the package imports a version-specific
Airflow name; it imports it from here. Each shim says which versions need it and when it can go.

- ``conf``: ``airflow.sdk.conf`` (the Task SDK's own config parser) exists since Airflow 3.2; 3.1 has only
  ``airflow.configuration.conf``. Drop the fallback once the floor is 3.2.
- ``AirflowSensorTimeout``: in ``airflow.sdk.exceptions`` since 3.2 (the ``airflow.exceptions`` name is
  deprecated there); 3.1 has only ``airflow.exceptions.AirflowSensorTimeout``, which is what its sensors and
  task runner catch. Drop the fallback once the floor is 3.2.
- ``AirflowSkipException``, ``AirflowFailException``, ``AirflowTaskTimeout``: the provider's own poke loop
  (``sensors/base.py``) raises and catches them as Airflow's sensor loop does. In ``airflow.sdk.exceptions``
  since 3.2 (the ``airflow.exceptions`` names are aliases of them there); 3.1 has only
  ``airflow.exceptions``, which is what its task runner catches. Drop the fallback once the floor is 3.2.
- ``AirflowException``: ``airflow.sdk.exceptions.AirflowException`` is the same class as
  ``airflow.exceptions.AirflowException`` on every supported version; imported from the SDK.
- ``BaseHook``, ``BaseSensorOperator``, ``PokeReturnValue``: ``airflow.sdk`` on every supported version
  (3.1+); re-exported so that the package has one place to look.
- :func:`aget_connection` / :func:`aextra_dejson`: read a connection and its extras on an event loop
  without a synchronous call to the supervisor. Airflow 3.3.2 added ``Connection.aextra_dejson()`` and made
  ``BaseHook.aget_connection`` mask secrets with ``asend()``; before that, both ``aget_connection`` and the
  ``extra_dejson`` property mask secrets with a *synchronous* ``SUPERVISOR_COMMS.send()`` on the loop thread,
  which blocks the loop, raises ``DeadlockImminentError`` when another coroutine's ``asend()`` is in flight
  (task-runner comms, 3.2+), or fails silently so the supervisor never learns the mask (triggerer comms).
  On those versions the synchronous call runs in a worker thread, where blocking on the supervisor is safe.
  The logic is that of ``get_async_connection`` / ``get_async_extra_dejson`` in
  ``apache-airflow-providers-common-compat`` 1.23.0 (``airflow/providers/common/compat/connection``), vendored
  here to avoid a dependency for twenty lines. Drop both shims (call ``hook.aget_connection`` and
  ``conn.aextra_dejson()`` directly) once the floor is 3.3.2.
- :func:`legacy_connection_form`: Airflow 3.1 builds the connection form only from a hook class's *own*
  ``get_connection_form_widgets()`` (WTForms fields) and ``get_ui_field_behaviour()``; 3.2+ reads
  ``conn-fields`` / ``ui-field-behaviour`` from ``get_provider_info()`` and skips those methods when they are
  there. The decorator derives both methods from the same metadata (``connection_forms``), so the form is
  declared once. 3.1 cannot show suggestions (``schema.examples``). Drop it once the floor is 3.2.
- :func:`atask_instance_state`: a trigger asks the triggerer's supervisor for its task instance's state
  (``GetTaskStates``, the message behind ``RuntimeTaskInstance.get_task_states``) with ``asend()``, which is
  what the triggerer's comms offer on every supported version; the Task SDK has no public async call for
  it. Airflow 3.3.0-3.3.2 call ``on_kill()`` on every trigger handed over to another triggerer
  (apache/airflow#73454), so the run trigger confirms the task left its deferral before cancelling. Keep it
  while a supported version lacks that fix; switch to a public async API when the SDK has one.
- :data:`STARTS_FROM_TRIGGER`: ``start_from_trigger`` (the scheduler hands the task straight to the
  triggerer, which renders its templated fields) works from Airflow 3.3.0; 3.1 and 3.2 ignore it (their
  scheduler disabled it) and run the task on a worker, which then defers as usual. Drop once the floor is 3.3.
- :data:`TASK_END_EVENTS_RETRY`: a trigger may end its task itself (``TaskSuccessEvent`` /
  ``TaskFailedEvent``) on every supported version, but before Airflow 3.3.1 a ``TaskFailedEvent`` ignored the
  task's ``retries``; the provider ends tasks in the trigger only from 3.3.1. Drop once the floor is 3.3.1.
- :data:`HAS_ASSET_STATE_STORE`: the triggerer hands an event trigger its asset state store from Airflow
  3.3.0; before that a watcher keeps its state in memory. Drop once the floor is 3.3.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook, BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

if TYPE_CHECKING:
    from airflow.sdk import Connection

try:  # Airflow >= 3.2
    from airflow.sdk import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[assignment,no-redef]

try:  # Airflow >= 3.2
    from airflow.sdk.exceptions import AirflowSensorTimeout
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[assignment,no-redef]

try:  # Airflow >= 3.2
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, AirflowTaskTimeout
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[assignment,no-redef]
        AirflowFailException,
        AirflowSkipException,
        AirflowTaskTimeout,
    )


def _airflow_version() -> tuple[int, int, int]:
    """The running Airflow's release as three numbers (a pre-release such as 3.3.1rc1 counts as its release)."""
    from airflow import __version__

    found = re.match(r"(\d+)\.(\d+)\.(\d+)", __version__)
    if found is None:
        raise RuntimeError(f"cannot read Airflow's version {__version__!r}")
    major, minor, patch = (int(n) for n in found.groups())
    return major, minor, patch


AIRFLOW_VERSION = _airflow_version()
STARTS_FROM_TRIGGER = AIRFLOW_VERSION >= (3, 3, 0)
TASK_END_EVENTS_RETRY = AIRFLOW_VERSION >= (3, 3, 1)
HAS_ASSET_STATE_STORE = AIRFLOW_VERSION >= (3, 3, 0)


def _masks_asynchronously() -> bool:
    """Whether this Airflow masks connection secrets with ``asend()`` (3.3.2+: ``Connection.aextra_dejson``)."""
    from airflow.sdk import Connection

    return hasattr(Connection, "aextra_dejson")


async def aget_connection(hook: BaseHook, conn_id: str) -> Connection:
    """``hook.aget_connection(conn_id)`` where that is async all the way down, else ``get_connection`` in a thread."""
    if _masks_asynchronously():
        connection: Connection = await hook.aget_connection(conn_id)
        return connection
    from asgiref.sync import sync_to_async

    return await sync_to_async(hook.get_connection)(conn_id)


async def aextra_dejson(conn: Any) -> dict[str, Any]:
    """The connection's extras, secrets masked without a synchronous supervisor call on the loop thread."""
    async_extra = getattr(conn, "aextra_dejson", None)
    if async_extra is not None:  # Airflow >= 3.3.2
        extra: dict[str, Any] = await async_extra()
        return extra
    from asgiref.sync import sync_to_async

    extra = await sync_to_async(lambda: conn.extra_dejson)()
    return extra


async def atask_instance_state(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str | None:
    """The task instance's current state as the API server has it (``None``: no state); raises when the
    triggerer's supervisor cannot be asked (no comms, an unexpected reply)."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import GetTaskStates, TaskStatesResult

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if comms is None:
        raise RuntimeError("no supervisor to ask (not running in a triggerer)")
    mapped = map_index is not None and map_index >= 0
    reply = await comms.asend(
        GetTaskStates(dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index if mapped else None)
    )
    if not isinstance(reply, TaskStatesResult):
        raise RuntimeError(f"unexpected answer to GetTaskStates: {type(reply).__name__}")
    states = reply.task_states.get(run_id)
    key = f"{task_id}_{map_index}" if mapped else task_id
    if not isinstance(states, dict) or key not in states:
        raise RuntimeError(f"the task instance {dag_id}.{task_id} of {run_id} is not in the answer")
    state = states[key]
    return None if state is None else str(getattr(state, "value", state))


_Hook = TypeVar("_Hook", bound=type)


def connection_form_widgets(conn_type: str) -> dict[str, Any]:
    """The Airflow 3.1 form's extra fields (WTForms), built from the ``conn-fields`` of ``conn_type``; none
    where WTForms is not installed (Airflow 3.1 without its web UI: no form to build)."""
    try:
        from wtforms import PasswordField, StringField
        from wtforms.validators import Optional, any_of
    except ImportError:
        return {}

    from airflow_provider_cloudflows.connection_forms import CONNECTION_TYPES

    try:  # Airflow's form service swaps these for its own stand-ins; FAB may well not be installed.
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    except ImportError:
        BS3PasswordFieldWidget = BS3TextFieldWidget = None
    try:
        from flask_babel import lazy_gettext
    except ImportError:

        def lazy_gettext(text: str) -> str:
            return text

    widgets: dict[str, Any] = {}
    for name, field in CONNECTION_TYPES[conn_type]["conn-fields"].items():
        schema = field["schema"]
        secret = schema.get("format") == "password"
        validators: list[Any] = [Optional()]
        if schema.get("enum"):
            validators.append(any_of(schema["enum"]))
        widget = BS3PasswordFieldWidget if secret else BS3TextFieldWidget
        widgets[name] = (PasswordField if secret else StringField)(
            lazy_gettext(field["label"]),
            validators=validators,
            description=field.get("description", ""),
            default=schema.get("default"),
            widget=widget() if widget is not None else None,
        )
    return widgets


def legacy_connection_form(cls: _Hook) -> _Hook:
    """Give a concrete hook class its own ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` (3.1)."""
    from airflow_provider_cloudflows.connection_forms import ui_field_behaviour

    conn_type: str = cls.conn_type  # type: ignore[attr-defined]

    def widgets(_: type) -> dict[str, Any]:
        return connection_form_widgets(conn_type)

    def behaviour(_: type) -> dict[str, Any]:
        return ui_field_behaviour(conn_type)

    methods: dict[str, Callable[[type], dict[str, Any]]] = {
        "get_connection_form_widgets": widgets,
        "get_ui_field_behaviour": behaviour,
    }
    for name, method in methods.items():
        method.__name__ = name
        method.__doc__ = f"The connection form for Airflow < 3.2 ({conn_type}); 3.2+ reads the provider info."
        setattr(cls, name, classmethod(method))
    return cls


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "BaseHook",
    "BaseSensorOperator",
    "PokeReturnValue",
    "aextra_dejson",
    "aget_connection",
    "atask_instance_state",
    "conf",
    "connection_form_widgets",
    "legacy_connection_form",
]

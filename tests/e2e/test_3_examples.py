"""The example DAGs: the five sensor examples, triggered together through the REST API, succeed; each sensor
deferred to ``CloudExecutionTrigger`` and its XCom holds ``status == "SUCCEEDED"`` and the right identifiers."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.specs import EXAMPLES, TERMINAL_RUN_STATES, TRIGGER_CLASSPATH
from tests.e2e.stack import Stack
from tests.e2e.waiting import progress, wait_until
from tests.e2e.xcom_expectations import xcom_problems


@dataclass
class ExampleRuns:
    """The runs of the example DAGs, their final states and the triggers their sensors deferred to."""

    runs: dict[str, str]
    states: dict[str, str]
    deferred_to: dict[str, set[str]]


@pytest.fixture(scope="module")
def example_runs(stack: Stack, connections: dict[str, dict[str, Any]]) -> ExampleRuns:
    """Trigger the five example DAGs together and wait until every run has finished."""
    runs = {dag_id: stack.api.trigger(dag_id) for dag_id in EXAMPLES}
    triggered = time.monotonic()
    progress(f"triggered {', '.join(runs)}")
    deferred_to: dict[str, set[str]] = {dag_id: set() for dag_id in EXAMPLES}
    states: dict[str, str] = {}

    def finished() -> bool:
        for dag_id, run_id in runs.items():
            if states.get(dag_id) in TERMINAL_RUN_STATES:
                continue
            for ti in stack.api.task_instances(dag_id, run_id).values():
                if ti["task_id"] == EXAMPLES[dag_id]["task"] and ti["state"] == "deferred" and ti.get("trigger"):
                    deferred_to[dag_id].add(ti["trigger"]["classpath"])
            states[dag_id] = stack.api.run_state(dag_id, run_id)
        return all(states.get(d) in TERMINAL_RUN_STATES for d in runs)

    wait_until("the example DAG runs to finish", finished, 240, interval=0.5)
    stack.report.timing("examples: trigger -> all five runs finished", time.monotonic() - triggered)
    return ExampleRuns(runs, states, deferred_to)


@pytest.mark.parametrize("dag_id", list(EXAMPLES))
def test_the_example_run_succeeds(example_runs: ExampleRuns, dag_id: str) -> None:
    assert example_runs.states[dag_id] == "success", example_runs.states[dag_id]


@pytest.mark.parametrize("dag_id", list(EXAMPLES))
def test_the_example_sensor_defers_to_the_execution_trigger(
    stack: Stack, example_runs: ExampleRuns, dag_id: str
) -> None:
    seen = example_runs.deferred_to[dag_id]
    if not seen:  # deferred between two observations: the task's log names the trigger
        log = stack.api.log_or_empty(dag_id, example_runs.runs[dag_id], EXAMPLES[dag_id]["task"])
        assert TRIGGER_CLASSPATH in log, f"never seen deferred, and the log does not name the trigger: {log[-800:]}"
    else:
        assert seen == {TRIGGER_CLASSPATH}, f"trigger classpaths seen while deferred: {sorted(seen)}"


@pytest.mark.parametrize("dag_id", list(EXAMPLES))
def test_the_example_sensor_xcom_has_status_succeeded_and_the_right_identifiers(
    stack: Stack, example_runs: ExampleRuns, dag_id: str
) -> None:
    spec = EXAMPLES[dag_id]
    state = stack.api.xcom_or_error(dag_id, example_runs.runs[dag_id], spec["task"])
    problems = xcom_problems(state, spec["ids"], spec.get("extra", {}))
    assert not problems, "; ".join(problems) + f"; xcom={json.dumps(state)[:600]}"

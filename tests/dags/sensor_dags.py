"""DAGs for the sensor tests: one EMR sensor per mode/timeout variant, ids from params."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_cloudflows.sensors import TencentEmrFlowSensor

VARIANTS = {
    "sensor_poke": {"mode": "poke", "deferrable": False, "timeout": 30},
    "sensor_reschedule": {"mode": "reschedule", "deferrable": False, "timeout": 30},
    "sensor_deferrable": {"deferrable": True, "timeout": 30},
    "sensor_deferrable_timeout": {"deferrable": True, "timeout": 1},
    "sensor_soft_fail": {"deferrable": True, "timeout": 1, "soft_fail": True},
}

for dag_id, kwargs in VARIANTS.items():
    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1), params={"flow": "42"}) as dag:
        TencentEmrFlowSensor(
            task_id="wait",
            instance_id="emr-123",
            flow_id="{{ params.flow }}",
            poke_interval=0.2,
            **kwargs,  # type: ignore[arg-type]
        )
    globals()[dag_id] = dag

# An identifier that is only known to be bad once rendered (a blank param).
with DAG("sensor_bad_render", schedule=None, start_date=dt.datetime(2026, 1, 1), params={"cluster": "  "}) as dag:
    TencentEmrFlowSensor(task_id="wait", instance_id="{{ params.cluster }}", flow_id="42", deferrable=True, timeout=5)
sensor_bad_render = dag

# The poke-mode deadline (tests/integration/sensors/test_fault_matrix.py): the outcome within a second of the
# timeout, whatever the poke interval, through Airflow's task runner.
DEADLINE_VARIANTS: dict[str, dict[str, object]] = {
    "sensor_poke_timeout": {"mode": "poke", "timeout": 2, "poke_interval": 5},
    "sensor_poke_soft_fail": {"mode": "poke", "timeout": 2, "poke_interval": 5, "soft_fail": True},
    "sensor_poke_backoff": {"mode": "poke", "timeout": 2, "poke_interval": 0.5, "exponential_backoff": True},
    "sensor_poke_never_fail": {"mode": "poke", "timeout": 10, "poke_interval": 0.2, "never_fail": True},
    "sensor_reschedule_timeout": {"mode": "reschedule", "timeout": 2, "poke_interval": 0.2},
}

for dag_id, kwargs in DEADLINE_VARIANTS.items():
    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1), params={"flow": "42"}) as dag:
        TencentEmrFlowSensor(
            task_id="wait",
            instance_id="emr-123",
            flow_id="{{ params.flow }}",
            deferrable=False,
            **kwargs,  # type: ignore[arg-type]
        )
    globals()[dag_id] = dag

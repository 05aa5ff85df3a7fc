"""A local emulator of the cloud APIs this provider waits on, for tests, demos and offline DAG runs.

Like moto for AWS: a loopback HTTP server speaking the vendors' wire protocols (Tencent Cloud API 3.0 for
EMR, CynosDB and Batch; Alibaba Cloud RPC for CloudFlow), verifying real signatures, serving executions
that follow scripted timelines, enforcing documented rate limits and injecting faults on demand::

    from cloudflows_emulator import CloudEmulator, EmulatorServer, batch_task

    with EmulatorServer() as server:
        server.emulator.add_execution(batch_task("job-abcdefgh", "A", [(0, "RUNNING"), (2, "SUCCEED")]))
        os.environ.update(server.airflow_connections())
        ...

With pytest, the ``cloud_emulator``, ``cloud_emulator_server`` and ``cloud_emulator_connections``
fixtures (``pytest_plugin``) do this for you. ``python -m cloudflows_emulator`` runs it
in the foreground for another process to use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudflows_emulator.alibaba import DEFAULT_ALIBABA_CREDENTIALS
    from cloudflows_emulator.batch import BatchPhase, batch_task
    from cloudflows_emulator.cloudflow import cloudflow_execution
    from cloudflows_emulator.core import (
        CloudEmulator,
        Execution,
        ExecutionView,
        Fault,
        FaultKind,
        RequestRecord,
    )
    from cloudflows_emulator.cynosdb import cynosdb_flow
    from cloudflows_emulator.dws import DwsPhase, dws_cluster, dws_task
    from cloudflows_emulator.emr import EmrPhase, emr_flow
    from cloudflows_emulator.examples import load_example
    from cloudflows_emulator.huawei import DEFAULT_HUAWEI_CREDENTIALS
    from cloudflows_emulator.scenarios import load_demo
    from cloudflows_emulator.server import EmulatorServer
    from cloudflows_emulator.tencent import DEFAULT_TENCENT_CREDENTIALS

__all__ = [
    "DEFAULT_ALIBABA_CREDENTIALS",
    "DEFAULT_HUAWEI_CREDENTIALS",
    "DEFAULT_TENCENT_CREDENTIALS",
    "BatchPhase",
    "CloudEmulator",
    "DwsPhase",
    "EmrPhase",
    "EmulatorServer",
    "Execution",
    "ExecutionView",
    "Fault",
    "FaultKind",
    "RequestRecord",
    "batch_task",
    "cloudflow_execution",
    "cynosdb_flow",
    "dws_cluster",
    "dws_task",
    "emr_flow",
    "load_demo",
    "load_example",
]

# Exports load on first use: the pytest plugin imports this package in every pytest run of an environment
# where the provider is installed, and that must not drag in the HTTP server stack.
_EXPORTS = {
    "DEFAULT_ALIBABA_CREDENTIALS": "alibaba",
    "DEFAULT_HUAWEI_CREDENTIALS": "huawei",
    "DEFAULT_TENCENT_CREDENTIALS": "tencent",
    "BatchPhase": "batch",
    "CloudEmulator": "core",
    "DwsPhase": "dws",
    "EmrPhase": "emr",
    "EmulatorServer": "server",
    "Execution": "core",
    "ExecutionView": "core",
    "Fault": "core",
    "FaultKind": "core",
    "RequestRecord": "core",
    "batch_task": "batch",
    "cloudflow_execution": "cloudflow",
    "cynosdb_flow": "cynosdb",
    "dws_cluster": "dws",
    "dws_task": "dws",
    "emr_flow": "emr",
    "load_demo": "scenarios",
    "load_example": "examples",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

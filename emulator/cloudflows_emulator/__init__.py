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
    from cloudflows_emulator.alibaba.cloudflow_models import cloudflow_execution
    from cloudflows_emulator.alibaba.protocol import DEFAULT_ALIBABA_CREDENTIALS
    from cloudflows_emulator.cloud import CloudEmulator
    from cloudflows_emulator.core.executions import Execution, ExecutionView
    from cloudflows_emulator.core.faults import Fault, FaultKind
    from cloudflows_emulator.core.request_log import RequestRecord
    from cloudflows_emulator.examples import load_example
    from cloudflows_emulator.huawei.dws_models import DwsPhase, dws_cluster, dws_task
    from cloudflows_emulator.huawei.protocol import DEFAULT_HUAWEI_CREDENTIALS
    from cloudflows_emulator.scenarios import load_demo
    from cloudflows_emulator.server import EmulatorServer
    from cloudflows_emulator.tencent.batch import BatchPhase, batch_task
    from cloudflows_emulator.tencent.cynosdb import cynosdb_flow
    from cloudflows_emulator.tencent.emr import EmrPhase, emr_flow
    from cloudflows_emulator.tencent.protocol import DEFAULT_TENCENT_CREDENTIALS

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
    "DEFAULT_ALIBABA_CREDENTIALS": "alibaba.protocol",
    "DEFAULT_HUAWEI_CREDENTIALS": "huawei.protocol",
    "DEFAULT_TENCENT_CREDENTIALS": "tencent.protocol",
    "BatchPhase": "tencent.batch",
    "CloudEmulator": "cloud",
    "DwsPhase": "huawei.dws_models",
    "EmrPhase": "tencent.emr",
    "EmulatorServer": "server",
    "Execution": "core.executions",
    "ExecutionView": "core.executions",
    "Fault": "core.faults",
    "FaultKind": "core.faults",
    "RequestRecord": "core.request_log",
    "batch_task": "tencent.batch",
    "cloudflow_execution": "alibaba.cloudflow_models",
    "cynosdb_flow": "tencent.cynosdb",
    "dws_cluster": "huawei.dws_models",
    "dws_task": "huawei.dws_models",
    "emr_flow": "tencent.emr",
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

"""What the test runs and expects: the DAGs it triggers, their identifiers, the connection types it stores.

The per-DAG specs of ``dags/*.json`` are shared with the DAG files, so a DAG and its expectations change together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
E2E_DAGS = Path(__file__).resolve().parent / "dags"
CRASH_SPEC: dict[str, Any] = json.loads((E2E_DAGS / "crash_waits.json").read_text())
LIFECYCLE_SPEC: dict[str, Any] = json.loads((E2E_DAGS / "operator_lifecycle.json").read_text())
HANDOVER_SPEC: dict[str, Any] = json.loads((E2E_DAGS / "triggerer_handover.json").read_text())
RESEND_SPEC: dict[str, Any] = json.loads((E2E_DAGS / "start_resend.json").read_text())
IDENTITY_SPEC: dict[str, Any] = json.loads((E2E_DAGS / "identity.json").read_text())
WATCH_SPEC: dict[str, Any] = json.loads((E2E_DAGS / "asset_watchers.json").read_text())
SFT_SPEC: dict[str, Any] = json.loads((E2E_DAGS / "start_from_trigger.json").read_text())
TRIGGER_CLASSPATH = "airflow_provider_cloudflows.triggers.execution.CloudExecutionTrigger"
RUN_TRIGGER_CLASSPATH = "airflow_provider_cloudflows.triggers.run.CloudRunTrigger"
HUAWEI_PROJECT_ID = "05f2cff45100d5112f4bc00b794ea08e"  # the emulator's default project

TERMINAL_RUN_STATES = {"success", "failed"}
TERMINAL_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}

# The five example DAGs: sensor task, the identifiers their default params name, extra XCom expectations.
EXAMPLES: dict[str, dict[str, Any]] = {
    "example_tencent_emr": {
        "task": "wait_for_emr_flow",
        "ids": {"instance_id": "emr-demo01", "flow_id": "1001"},
    },
    "example_tencent_cynosdb": {"task": "wait_for_cynosdb_flow", "ids": {"flow_id": 2001}},
    "example_tencent_batch": {"task": "wait_for_batch_task", "ids": {"job_id": "job-demo0001", "task_name": "A"}},
    "example_alibaba_cloudflow": {
        "task": "wait_for_cloudflow_execution",
        "ids": {"flow_name": "nightly_etl", "execution_name": "demo_run"},
        "extra": {"Output": {"rows": 42}},
    },
    "example_huawei_dws": {
        "task": "wait_for_dws_task",
        "ids": {"cluster_id": "9f76c502-fc9c-4a52-8656-65d0da6e3d57", "action_name": "SNAPSHOTTING"},
    },
}

# The operator example DAGs: a start task, its console link (XCom ``_link_<class>``, formatted with the XCom's
# identifiers), what its XCom must hold, a downstream task and its return value (None: any non-empty value).
OPERATOR_EXAMPLES: dict[str, dict[str, Any]] = {
    "example_alibaba_cloudflow_operator": {
        "task": "run_flow",
        "ids": {"flow_name": "demo_flow"},
        "extra": {"Output": {"rows": 42, "table": "sales_daily"}},
        "link_class": "AlibabaCloudFlowExecutionLink",
        "link": "https://fnf.console.aliyun.com/fnf/cn-hangzhou/flows/{flow_name}/executions/{execution_name}",
        "downstream": "publish",
        "downstream_value": 42,
    },
    "example_tencent_batch_operator": {
        "task": "run_batch_job",
        "ids": {},
        "extra": {"JobName": "demo-etl"},
        "link_class": "TencentBatchJobLink",
        "link": "https://console.cloud.tencent.com/batch/job/detail?region=ap-guangzhou&jobId={job_id}",
        "downstream": "report",
        "downstream_value": None,
    },
    "example_tencent_emr_operator": {
        "task": "scale_out",
        "ids": {"instance_id": "emr-demo01"},
        "extra": {},
        "link_class": "TencentEmrClusterLink",
        "link": "https://console.cloud.tencent.com/emr/static/hardware?clusterId=emr-demo01&region=ap-guangzhou",
        "downstream": "run_job",
        "downstream_value": None,
    },
    "example_tencent_cynosdb_operator": {
        "task": "resume",
        "ids": {},
        "extra": {},
        "link_class": "TencentCynosdbClusterLink",
        "link": "https://console.cloud.tencent.com/cynosdb/mysql/detail?clusterId=cynosdbmysql-demo01&region=ap-guangzhou",
        "downstream": "etl",
        "downstream_value": None,
    },
    "example_huawei_dws_operator": {
        "task": "snapshot",
        "ids": {},
        "extra": {},
        "link_class": "HuaweiDwsClusterLink",
        "link": "https://console.huaweicloud.com/dws/?region=cn-north-4#/cluster/detail?clusterId=3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f",
        "downstream": "report",  # the restored (new) cluster's id
        "downstream_value": None,
    },
}

# Connection types: (emulator vendor, extra carrying the session token, extras the form must offer, base extra).
VENDORS: dict[str, dict[str, Any]] = {
    "tencentcloud": {
        "vendor": "tencent",
        "key_id": "AKIDE2ECANARY0000000000000000000",
        "token_field": "token",
        "form_fields": {"region", "token", "endpoint"},
        "extra": {"region": "ap-guangzhou"},
    },
    "alibabacloud": {
        "vendor": "alibaba",
        "key_id": "STS.E2ECANARY0000",
        "token_field": "security_token",
        "form_fields": {"region", "security_token", "endpoint", "signature_version"},
        "extra": {"region": "cn-hangzhou"},
    },
    "huaweicloud": {
        "vendor": "huawei",
        "key_id": "HWE2ECANARYAK000",
        "token_field": "security_token",
        "form_fields": {"region", "project_id", "security_token", "endpoint"},
        "extra": {"region": "cn-north-4", "project_id": HUAWEI_PROJECT_ID},
    },
}

# Every DAG the phases trigger: the stack is ready once all of them are parsed.
EXERCISED_DAGS = [
    *EXAMPLES,
    CRASH_SPEC["dag_id"],
    *OPERATOR_EXAMPLES,
    LIFECYCLE_SPEC["kill"]["dag_id"],
    LIFECYCLE_SPEC["retry"]["dag_id"],
    HANDOVER_SPEC["dag_id"],
    RESEND_SPEC["dag_id"],
    IDENTITY_SPEC["dag_id"],
]

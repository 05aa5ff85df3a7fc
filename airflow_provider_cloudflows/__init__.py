"""Apache Airflow provider: wait on Tencent Cloud, Alibaba Cloud and Huawei Cloud executions."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's providers manager (kept free of heavy imports)."""
    from airflow_provider_cloudflows.connection_forms import CONNECTION_TYPES

    integrations = {
        "Tencent Cloud": "https://www.tencentcloud.com/document/api",
        "Alibaba Cloud": "https://www.alibabacloud.com/help/en/cloudflow",
        "Huawei Cloud": "https://support.huaweicloud.com/intl/en-us/api-dws/",
    }
    modules = {
        "Tencent Cloud": ("tencent",),
        "Alibaba Cloud": ("alibaba",),
        "Huawei Cloud": ("huawei",),
    }
    # Sensor modules without a hook module of the same name.
    extra_sensors: dict[str, tuple[str, ...]] = {
        "Tencent Cloud": ("tencent_batch_job",),
        "Huawei Cloud": ("huawei_dws_job",),
    }
    return {
        "package-name": "airflow-provider-cloudflows",
        "name": "Cloud Flows (Tencent Cloud, Alibaba Cloud, Huawei Cloud)",
        "description": "Deferrable sensors and start/wait/cancel operators for long-running Tencent Cloud, Alibaba "
        "Cloud and Huawei Cloud executions, with one normalized terminal status.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": name, "external-doc-url": url, "tags": ["service"]}
            for name, url in integrations.items()
        ],
        "hooks": [
            {
                "integration-name": name,
                "python-modules": [f"airflow_provider_cloudflows.hooks.{m}" for m in mods],
            }
            for name, mods in modules.items()
        ],
        "sensors": [
            {
                "integration-name": name,
                "python-modules": [
                    f"airflow_provider_cloudflows.sensors.{m}" for m in mods + extra_sensors.get(name, ())
                ],
            }
            for name, mods in modules.items()
        ],
        "operators": [
            {"integration-name": name, "python-modules": [f"airflow_provider_cloudflows.operators.{m}" for m in mods]}
            for name, mods in modules.items()
        ],
        "triggers": [
            {
                "integration-name": name,
                "python-modules": [
                    "airflow_provider_cloudflows.triggers.execution",
                    "airflow_provider_cloudflows.triggers.run",
                ],
            }
            for name in integrations
        ],
        "extra-links": [
            f"airflow_provider_cloudflows.operators.links.{name}"
            for name in (
                "TencentBatchJobLink",
                "TencentEmrClusterLink",
                "TencentCynosdbClusterLink",
                "AlibabaCloudFlowExecutionLink",
                "HuaweiDwsClusterLink",
            )
        ],
        "connection-types": list(CONNECTION_TYPES.values()),
    }

"""Console links (extra links) for the started executions: Tencent Batch job, EMR cluster, CynosDB cluster.

The worker resolves every extra link when the task ends or defers (Airflow 3 ``finalize()``) and stores it in
XCom; the UI only reads that. ``get_link`` therefore reads the execution record the operator pushed *before*
waiting (``cloudflows_execution``: ids, region, endpoint), so the link is there while the task is deferred.
For a task that has no record (a sensor, or an operator that failed before starting) it falls back to the
operator's rendered identifiers and the connection's region / endpoint.

China and international accounts use different consoles: ``console.cloud.tencent.com`` and
``console.tencentcloud.com``. The connection's endpoint tells them apart: ``*.intl.tencentcloudapi.com`` is
an international account. The page paths are the consoles' documented entry pages (``/batch/job``,
``/emr/static/hardware``, ``/cynosdb/mysql``); the query parameters selecting one resource are not
documented by Tencent and may need adjusting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from airflow.sdk import BaseOperatorLink

from airflow_provider_cloudflows.hooks.base import extra_value

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

XCOM_EXECUTION = "cloudflows_execution"
CHINA_CONSOLE = "https://console.cloud.tencent.com"
INTL_CONSOLE = "https://console.tencentcloud.com"


def is_international(endpoint: str | None) -> bool:
    """Whether a Tencent endpoint (template) is the international site's."""
    return bool(endpoint) and ".intl.tencentcloudapi.com" in str(endpoint)


def tencent_console_url(path: str, query: Mapping[str, Any], *, endpoint: str | None) -> str:
    """A console URL on the China or the international site, with the set query parameters."""
    base = INTL_CONSOLE if is_international(endpoint) else CHINA_CONSOLE
    params = {k: str(v) for k, v in query.items() if v not in (None, "")}
    return f"{base}{path}" + (f"?{urlencode(params)}" if params else "")


def _record(ti_key: TaskInstanceKey) -> Mapping[str, Any] | None:
    from airflow.sdk.execution_time.xcom import XCom

    value = XCom.get_value(ti_key=ti_key, key=XCOM_EXECUTION)
    return value if isinstance(value, Mapping) else None


def _from_connection(operator: BaseOperator) -> tuple[str | None, str | None]:
    """(region, endpoint) from the operator's override and its connection, for tasks without a record."""
    from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook

    conn_id = getattr(operator, "tencentcloud_conn_id", None) or TencentCloudHook.default_conn_name
    try:
        extra = TencentCloudHook.get_connection(conn_id).extra_dejson
    except Exception:  # a link must render (or be empty), never fail the task
        extra = {}
    region = getattr(operator, "region", None) or extra_value(extra, "tencentcloud", "region")
    return region, extra_value(extra, "tencentcloud", "endpoint")


class _TencentConsoleLink(BaseOperatorLink):
    """A Tencent console page for the task's execution, chosen by :meth:`url`."""

    # The identifier (wait identifier or operator attribute) the page needs; no link without it.
    identifier: ClassVar[str]

    def url(self, ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
        """The page for these ids (subclasses)."""
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """From the pushed execution record, else the operator's rendered fields; empty when unknown."""
        record = _record(ti_key)
        if record is not None:
            ids = {**dict(record.get("identifiers") or {}), **dict(record.get("params") or {})}
            region, endpoint = record.get("region"), record.get("endpoint")
        else:
            ids = {self.identifier: getattr(operator, self.identifier, None)}
            region, endpoint = _from_connection(operator)
        if not ids.get(self.identifier):
            return ""
        return self.url(ids, region, endpoint)


class TencentBatchJobLink(_TencentConsoleLink):
    """The Batch job in the Tencent Cloud console."""

    name = "Tencent Batch job"
    identifier = "job_id"

    def url(self, ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
        """``/batch/job/detail`` of the job, in its region."""
        return tencent_console_url("/batch/job/detail", {"region": region, "jobId": ids["job_id"]}, endpoint=endpoint)


class TencentEmrClusterLink(_TencentConsoleLink):
    """The EMR cluster (its nodes and flows) in the Tencent Cloud console."""

    name = "Tencent EMR cluster"
    identifier = "instance_id"

    def url(self, ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
        """``/emr/static/hardware`` of the cluster, in its region."""
        return tencent_console_url(
            "/emr/static/hardware", {"clusterId": ids["instance_id"], "region": region}, endpoint=endpoint
        )


class TencentCynosdbClusterLink(_TencentConsoleLink):
    """The TDSQL-C (CynosDB) cluster in the Tencent Cloud console."""

    name = "Tencent CynosDB cluster"
    identifier = "cluster_id"

    def url(self, ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
        """``/cynosdb/mysql/detail`` of the cluster, in its region."""
        return tencent_console_url(
            "/cynosdb/mysql/detail", {"clusterId": ids["cluster_id"], "region": region}, endpoint=endpoint
        )

"""Console links (extra links) for the started executions: Tencent Batch job, EMR cluster, CynosDB cluster,
Alibaba CloudFlow execution, Huawei DWS cluster.

The worker resolves every extra link when the task ends or defers (Airflow 3 ``finalize()``) and stores it in
XCom; the UI only reads that. ``get_link`` therefore reads the execution record the operator pushed *before*
waiting (``cloudflows_execution``: ids, region, endpoint), so the link is there while the task is deferred.
For a task that has no record (a sensor, or an operator that failed before starting) it falls back to the
operator's rendered identifiers and the connection's region / endpoint.

The record is read without making Airflow log an ERROR when it is missing (alerting keys on ERROR lines).
Only a task that starts an execution (it declares ``start_action``) pushes one, so a sensor's link never
looks it up. An operator's is first listed with ``XCom.get_all``, a sequence read that answers an empty
list, unlogged, where ``XCom.get_value`` makes the supervisor log "XCom not found" at ERROR (the same at
Airflow 3.1 and 3.3). The list holds every map index's record; a mapped instance whose siblings have
records reads its own with ``get_value``, so that one case (a mapped instance whose own start was refused
while another's started) still gets Airflow's ERROR line.

China and international accounts use different consoles: ``console.cloud.tencent.com`` and
``console.tencentcloud.com``. The connection extra ``console`` (``china`` or ``intl``) picks one; else the
extra ``site`` (the same values: the site the API is called on); else the endpoint tells them apart:
``*.intl.tencentcloudapi.com`` is an international account. The page paths are the consoles' documented entry
pages (``/batch/job``, ``/emr/static/hardware``, ``/cynosdb/mysql``); the query parameters selecting one
resource are not documented by Tencent and may need adjusting.

Alibaba and Huawei also run a China site and an international site with separate consoles
(``fnf.console.aliyun.com`` / ``fnf.console.alibabacloud.com``; ``console.huaweicloud.com`` /
``console-intl.huaweicloud.com``), but their API endpoints do not tell the two apart (the same
``{region}.fnf.aliyuncs.com`` / ``dws.{region}.myhuaweicloud.com`` serve both). The site is therefore guessed
from the region: a Chinese mainland region (``cn-*``, except ``cn-hongkong``) is the China console, any other
the international one. An international account working in a mainland region gets the China console link;
set the connection extra ``console`` (``china`` or ``intl``) to override. The page paths below the consoles'
entry pages (``/fnf/{region}/flows/...``, ``/dws/?region=...#/cluster/...``) are guessed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

from airflow_provider_cloudflows.consoles import (
    ALIBABA_CHINA_CONSOLE,
    ALIBABA_INTL_CONSOLE,
    CHINA_CONSOLE,
    HUAWEI_CHINA_CONSOLE,
    HUAWEI_INTL_CONSOLE,
    INTL_CONSOLE,
    PAGES,
    ConsoleLink,
    is_china_region,
    is_international,
    tencent_console_url,
)
from airflow_provider_cloudflows.hooks.base import extra_value

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

XCOM_EXECUTION = "cloudflows_execution"

# The console helpers live in ``consoles`` (pure, for triggers too) and stay importable from here.
__all__ = [
    "ALIBABA_CHINA_CONSOLE",
    "ALIBABA_INTL_CONSOLE",
    "CHINA_CONSOLE",
    "HUAWEI_CHINA_CONSOLE",
    "HUAWEI_INTL_CONSOLE",
    "INTL_CONSOLE",
    "XCOM_EXECUTION",
    "AlibabaCloudFlowExecutionLink",
    "HuaweiDwsClusterLink",
    "TencentBatchJobLink",
    "TencentCynosdbClusterLink",
    "TencentEmrClusterLink",
    "is_china_region",
    "is_international",
    "pushes_record",
    "tencent_console_url",
]


def pushes_record(operator: BaseOperator) -> bool:
    """Whether the task pushes an execution record: only a start operator does (it declares ``start_action``)."""
    return bool(getattr(operator, "start_action", None))


def _record(ti_key: TaskInstanceKey) -> Mapping[str, Any] | None:
    """The task instance's execution record, None when there is none (see the module doc)."""
    from airflow.sdk.execution_time.xcom import XCom

    try:
        records = XCom.get_all(key=XCOM_EXECUTION, dag_id=ti_key.dag_id, task_id=ti_key.task_id, run_id=ti_key.run_id)
        if not records:
            return None
        if ti_key.map_index is None or ti_key.map_index < 0:
            value = records[0]
        else:
            value = XCom.get_value(ti_key=ti_key, key=XCOM_EXECUTION)
    except Exception:  # a link must render (or be empty), never fail the task
        return None
    return value if isinstance(value, Mapping) else None


def _connection_extra(operator: BaseOperator, vendor: str) -> tuple[str, dict[str, Any]]:
    """(conn_type, extra) of the operator's connection; empty when it cannot be read."""
    from airflow_provider_cloudflows.hooks import hook_class

    hook = hook_class(vendor)
    conn_id = getattr(operator, hook.conn_name_attr, None) or hook.default_conn_name
    try:
        extra = dict(hook.get_connection(conn_id).extra_dejson)
    except Exception:  # a link must render (or be empty), never fail the task
        extra = {}
    return hook.conn_type, extra


class _ConsoleLink(BaseOperatorLink):
    """A console page for the task's execution, chosen by :meth:`url`."""

    # The identifier (wait identifier or operator attribute) the page needs; no link without it.
    identifier: ClassVar[str]
    vendor: ClassVar[str]
    # Further operator attributes the page needs (read when the task has no execution record).
    also: ClassVar[tuple[str, ...]] = ()
    # The page (``consoles.PAGES``) the link opens.
    page: ClassVar[str]

    def url(self, ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
        """The page for these ids (with the connection's ``console`` / ``site`` extras)."""
        return PAGES[self.page](ids, region, endpoint)

    def console_link(self) -> ConsoleLink:
        """What computes this link from a task's rendered fields where no worker runs (a trigger)."""
        return ConsoleLink(xcom_key=self.xcom_key, page=self.page, identifier=self.identifier, also=self.also)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """From the pushed execution record, else the operator's rendered fields; empty when unknown."""
        record = _record(ti_key) if pushes_record(operator) else None
        conn_type, extra = _connection_extra(operator, self.vendor)
        if record is not None:
            # The start reply's fields too: a DWS restore's new cluster id is in its output.
            ids = {
                **{k: v for k, v in dict(record.get("output") or {}).items() if v not in (None, "")},
                **dict(record.get("identifiers") or {}),
                **dict(record.get("params") or {}),
            }
            region, endpoint = record.get("region"), record.get("endpoint")
        else:
            ids = {self.identifier: getattr(operator, self.identifier, None)}
            for name in self.also:
                ids[name] = getattr(operator, name, None)
            region = getattr(operator, "region", None) or extra_value(extra, conn_type, "region")
            endpoint = extra_value(extra, conn_type, "endpoint")
        if not ids.get(self.identifier):
            return ""
        # The site override travels with the ids (a link object is shared by every task: no state on it).
        ids["console"] = extra_value(extra, conn_type, "console")
        ids["site"] = extra_value(extra, conn_type, "site")
        return self.url(ids, region, endpoint)


class _TencentConsoleLink(_ConsoleLink):
    """A Tencent console page for the task's execution (the site: see :func:`is_international`)."""

    vendor = "tencentcloud"


class TencentBatchJobLink(_TencentConsoleLink):
    """The Batch job in the Tencent Cloud console."""

    name = "Tencent Batch job"
    identifier = "job_id"
    page = "tencent_batch_job"


class TencentEmrClusterLink(_TencentConsoleLink):
    """The EMR cluster (its nodes and flows) in the Tencent Cloud console."""

    name = "Tencent EMR cluster"
    identifier = "instance_id"
    page = "tencent_emr_cluster"


class TencentCynosdbClusterLink(_TencentConsoleLink):
    """The TDSQL-C (CynosDB) cluster in the Tencent Cloud console."""

    name = "Tencent CynosDB cluster"
    identifier = "cluster_id"
    page = "tencent_cynosdb_cluster"


class AlibabaCloudFlowExecutionLink(_ConsoleLink):
    """The CloudFlow execution in the Alibaba Cloud console (China or international site, by region)."""

    name = "Alibaba CloudFlow execution"
    identifier = "execution_name"
    vendor = "alibabacloud"
    also = ("flow_name",)
    page = "alibaba_cloudflow_execution"


class HuaweiDwsClusterLink(_ConsoleLink):
    """The DWS cluster in the Huawei Cloud console (China or international site, by region)."""

    name = "Huawei DWS cluster"
    identifier = "cluster_id"
    vendor = "huaweicloud"
    page = "huawei_dws_cluster"

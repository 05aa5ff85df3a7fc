"""Console pages of the clouds' resources: pure functions of ids, region, endpoint and connection extras.

Kept apart from the extra links (``operators/links.py``) so that a trigger, below the operators' layer, can
compute the same URL: a task ended in the triggerer never runs the worker's ``finalize()``, which is where
Airflow resolves extra links, so that trigger writes them with the task's end. Where each page comes from
(the documented entry pages, the guessed paths and query parameters, how the China and international sites
are told apart) is described in ``operators/links.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

CHINA_CONSOLE = "https://console.cloud.tencent.com"
INTL_CONSOLE = "https://console.tencentcloud.com"
ALIBABA_CHINA_CONSOLE = "https://fnf.console.aliyun.com"
ALIBABA_INTL_CONSOLE = "https://fnf.console.alibabacloud.com"
HUAWEI_CHINA_CONSOLE = "https://console.huaweicloud.com"
HUAWEI_INTL_CONSOLE = "https://console-intl.huaweicloud.com"


def is_international(endpoint: str | None, *, site: str | None = None, console: str | None = None) -> bool:
    """Whether a Tencent connection is the international site's: the ``console`` extra, else the ``site``
    extra, else whether its endpoint (template) is on the international domain."""
    for chosen in (console, site):
        if chosen in ("china", "intl"):
            return chosen == "intl"
    return bool(endpoint) and ".intl.tencentcloudapi.com" in str(endpoint)


def tencent_console_url(
    path: str, query: Mapping[str, Any], *, endpoint: str | None, site: str | None = None, console: str | None = None
) -> str:
    """A console URL on the China or the international site, with the set query parameters."""
    base = INTL_CONSOLE if is_international(endpoint, site=site, console=console) else CHINA_CONSOLE
    params = {k: str(v) for k, v in query.items() if v not in (None, "")}
    return f"{base}{path}" + (f"?{urlencode(params)}" if params else "")


def is_china_region(region: str | None, console: str | None = None) -> bool:
    """Whether an Alibaba / Huawei region is served by the China console (a guess, see ``operators/links.py``).

    ``console`` (the connection extra, ``china`` or ``intl``) overrides the guess.
    """
    if console in ("china", "intl"):
        return console == "china"
    return bool(region) and str(region).startswith("cn-") and str(region) != "cn-hongkong"


def _query(params: Mapping[str, Any]) -> str:
    kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return f"?{urlencode(kept)}" if kept else ""


def _tencent(path: str, query: Mapping[str, Any], ids: Mapping[str, Any], endpoint: str | None) -> str:
    return tencent_console_url(path, query, endpoint=endpoint, site=ids.get("site"), console=ids.get("console"))


def tencent_batch_job(ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
    """``/batch/job/detail`` of the job, in its region."""
    return _tencent("/batch/job/detail", {"region": region, "jobId": ids["job_id"]}, ids, endpoint)


def tencent_emr_cluster(ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
    """``/emr/static/hardware`` of the cluster, in its region."""
    return _tencent("/emr/static/hardware", {"clusterId": ids["instance_id"], "region": region}, ids, endpoint)


def tencent_cynosdb_cluster(ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
    """``/cynosdb/mysql/detail`` of the cluster, in its region."""
    return _tencent("/cynosdb/mysql/detail", {"clusterId": ids["cluster_id"], "region": region}, ids, endpoint)


def alibaba_cloudflow_execution(ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
    """``/fnf/{region}/flows/{flow}/executions/{execution}`` (a guessed path)."""
    base = ALIBABA_CHINA_CONSOLE if is_china_region(region, ids.get("console")) else ALIBABA_INTL_CONSOLE
    flow, execution = quote(str(ids.get("flow_name") or ""), safe=""), quote(str(ids["execution_name"]), safe="")
    return f"{base}/fnf/{quote(str(region or ''), safe='')}/flows/{flow}/executions/{execution}"


def huawei_dws_cluster(ids: Mapping[str, Any], region: str | None, endpoint: str | None) -> str:
    """``/dws/?region={region}#/cluster/detail?clusterId={id}`` (the fragment is a guess)."""
    base = HUAWEI_CHINA_CONSOLE if is_china_region(region, ids.get("console")) else HUAWEI_INTL_CONSOLE
    return f"{base}/dws/{_query({'region': region})}#/cluster/detail{_query({'clusterId': ids['cluster_id']})}"


# A page's URL from the ids (with the connection's ``console`` / ``site`` extras), the region and the endpoint.
Page = Callable[[Mapping[str, Any], str | None, str | None], str]

PAGES: dict[str, Page] = {
    "tencent_batch_job": tencent_batch_job,
    "tencent_emr_cluster": tencent_emr_cluster,
    "tencent_cynosdb_cluster": tencent_cynosdb_cluster,
    "alibaba_cloudflow_execution": alibaba_cloudflow_execution,
    "huawei_dws_cluster": huawei_dws_cluster,
}


@dataclass(frozen=True)
class ConsoleLink:
    """What a link needs to be computed from a task's rendered fields: its XCom key, its page, the field
    without which there is no link, and the further fields the page reads."""

    xcom_key: str
    page: str
    identifier: str
    also: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """For a trigger's kwargs."""
        return {"xcom_key": self.xcom_key, "page": self.page, "identifier": self.identifier, "also": list(self.also)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ConsoleLink:
        """From a trigger's kwargs; ``ValueError`` for an unknown page or a malformed entry."""
        page = value.get("page")
        if page not in PAGES:
            raise ValueError(f"unknown console page {page!r}; known: {sorted(PAGES)}")
        return cls(str(value["xcom_key"]), str(page), str(value["identifier"]), tuple(value.get("also") or ()))

    def url(
        self,
        fields: Mapping[str, Any],
        *,
        region: str | None,
        endpoint: str | None,
        console: str | None = None,
        site: str | None = None,
    ) -> str:
        """The page for these rendered fields; empty without the identifier."""
        ids = {name: fields.get(name) for name in (self.identifier, *self.also)}
        if not ids.get(self.identifier):
            return ""
        return PAGES[self.page]({**ids, "console": console, "site": site}, region, endpoint)

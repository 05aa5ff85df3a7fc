"""Huawei IAM: ``KeystoneListProjects`` (``GET /v3/projects``), the project-id lookup of the official SDK.

Served by the Huawei handler, so it checks the SDK-HMAC-SHA256 signature exactly as in front of DWS (and
answers a bad one with the same 401 ``APIG.0301``): a client that signs one API right and the other wrong
must fail here as it would against the cloud.

The answer is Keystone's: ``{"projects": [...], "links": {...}}``, each project ``{"id", "name", "domain_id",
"parent_id", "is_domain", "enabled", "description", "links"}``, ``name`` being the region; ``?name=`` keeps
only the project of that name, an unknown region answers an empty list (not an error). The projects are the
handler's ``regions``. *Judgment*: the request id travels in ``X-Request-Id``, like every answer of the
handler (IAM itself also names its answers by ``X-IAM-Trace-Id``, which clients read as well).

:func:`iam_answer` replaces the next answers with any JSON object, for the reader's edge cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import ExecutionKey
from cloudflows_emulator.core.handler import ApiCall, EmulatedService
from cloudflows_emulator.huawei.protocol import RestOperation
from cloudflows_emulator.huawei.scripted import script_answer, take_scripted

__all__ = ["DOMAIN_ID", "IAM_SERVICE", "LIST_PROJECTS", "iam_answer"]

SERVICE = "iam"
LIST_PROJECTS = "KeystoneListProjects"
DOMAIN_ID = "d78cbac186b744899480f25bd022f468"
"""The emulated account (domain) owning the projects; the documented example's."""
_SCRIPTED = "huawei_iam_answers"


def iam_answer(emulator: Emulator, answer: Mapping[str, Any], *, count: int = 1) -> None:
    """Answer the next ``count`` project listings with ``answer`` (HTTP 200) after the gateway's checks."""
    script_answer(emulator, _SCRIPTED, {"answer": dict(answer)}, count)


def _project(base: str, region: str, project_id: str) -> dict[str, Any]:
    return {
        "id": project_id,
        "name": region,
        "domain_id": DOMAIN_ID,
        "parent_id": DOMAIN_ID,
        "is_domain": False,
        "enabled": True,
        "description": "",
        "links": {"self": f"{base}/v3/projects/{project_id}"},
    }


async def list_projects(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """The account's projects, only the one named ``?name=`` when given."""
    entry = take_scripted(emulator, _SCRIPTED, lambda _: True)
    if entry is not None:
        scripted: dict[str, Any] = entry["answer"]
        return scripted
    base = str(call.request.base_url).rstrip("/")
    name = call.request.query_params.get("name")
    regions: Mapping[str, str] = call.extra["regions"]
    projects = [_project(base, region, pid) for region, pid in regions.items() if name in (None, region)]
    return {"projects": projects, "links": {"self": f"{base}/v3/projects", "previous": None, "next": None}}


def _execution_keys(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    raise ValueError("IAM has no executions to script")


IAM_SERVICE = EmulatedService(
    vendor="huawei",
    service=SERVICE,
    operations=(
        RestOperation(
            SERVICE, LIST_PROJECTS, "v3", list_projects, method="GET", path="/v3/projects", project_scoped=False
        ),
    ),
    execution_keys=_execution_keys,
)
"""IAM as served by the emulator (no rate limit: the SDK asks once per account and region)."""

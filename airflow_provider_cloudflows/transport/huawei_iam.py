"""Huawei IAM project lookup: the ``project_id`` of an account in a region, asked once per process.

The answer is cached per (IAM endpoint, access key id, region) and only a proven answer is cached, because a
project id never changes while a failed lookup may be an outage. It is read strictly (exactly one project
named after the region, with a 32-hex id) since the id goes into every DWS path and header that follows:
guessing among several, or passing on a garbled one, would address another project than the user's.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Mapping

import httpx

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials
from airflow_provider_cloudflows.errors import UnexpectedStatusError, UnreadableAnswerError
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.endpoints import endpoint_and_host, resolve_endpoint
from airflow_provider_cloudflows.transport.huawei import VENDOR, HuaweiCall, HuaweiRestApi
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest
from airflow_provider_cloudflows.transport.retry import RetryPolicy

__all__ = [
    "GLOBAL_IAM_ENDPOINT",
    "LOOKUP_BUDGET",
    "HuaweiIamApi",
    "HuaweiIamTokenApi",
    "alookup_project_id",
    "default_iam_endpoint",
    "list_projects_call",
    "lookup_project_id",
    "project_id_from",
]

# huaweicloudsdkcore.auth.internal.IamHelper.DEFAULT_ENDPOINT, used for regions without an IAM of their own.
GLOBAL_IAM_ENDPOINT = "https://iam.myhuaweicloud.com"
# The regions huaweicloudsdkcore.auth.endpoint lists with a regional IAM (https://iam.{region}.myhuaweicloud.com).
_REGIONAL_IAM = frozenset(
    {
        "cn-north-1", "cn-north-2", "cn-north-4", "cn-north-9", "cn-north-12", "cn-east-2", "cn-east-3",
        "cn-east-4", "cn-east-5", "cn-south-1", "cn-south-2", "cn-southwest-2", "ap-southeast-1",
        "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "af-south-1", "sa-brazil-1", "la-south-2",
        "la-north-2", "na-mexico-1", "eu-west-0", "my-kualalumpur-1", "ru-moscow-1", "me-east-1", "ae-ad-1",
        "tr-west-1",
    }
)  # fmt: skip
# Keystone project ids as IAM issues them.
_PROJECT_ID = re.compile(r"[0-9a-f]{32}")
# huaweicloudsdkcore's content type for IAM's token requests.
TOKEN_CONTENT_TYPE = "application/json;charset=UTF-8"
# Seconds one lookup may take, retries included (a hook is not told its caller's deadline).
LOOKUP_BUDGET = 30.0

_CacheKey = tuple[str, str, str]
_PROJECT_IDS: dict[_CacheKey, str] = {}
_SYNC_LOCKS: dict[_CacheKey, threading.Lock] = {}
_IN_FLIGHT: dict[tuple[_CacheKey, asyncio.AbstractEventLoop], asyncio.Task[str]] = {}


def default_iam_endpoint(region: str) -> str:
    """The IAM endpoint huaweicloudsdkcore uses for ``region``: regional where it lists one, else global."""
    return f"https://iam.{region}.myhuaweicloud.com" if region in _REGIONAL_IAM else GLOBAL_IAM_ENDPOINT


def list_projects_call(region: str) -> HuaweiCall:
    """Keystone ``GET /v3/projects?name={region}``, as the SDK sends it."""
    return HuaweiCall("GET", "/v3/projects", {}, query=(("name", region),))


class _IamApi(HuaweiRestApi):
    """IAM at the ``iam_endpoint`` extra, else the SDK's endpoint of the region; signed like DWS."""

    def __init__(
        self, credentials: Credentials | CredentialProvider | None, *, region: str, endpoint: str | None
    ) -> None:
        super().__init__(credentials, region=region, endpoint=endpoint or default_iam_endpoint(region))

    def check_endpoint(self, endpoint: str, region: str) -> None:
        """The endpoint rules, naming ``iam_endpoint``."""
        try:
            resolve_endpoint(endpoint, region=region)
        except ConfigurationError as exc:
            raise ConfigurationError("iam_endpoint", exc.problem) from None

    def describe(self, call: HuaweiCall) -> str:
        """E.g. ``iam:GET /v3/projects``."""
        return f"iam:{call.method} {call.path}"


class HuaweiIamApi(_IamApi):
    """IAM's reads, with no project: the SDK sends no ``X-Project-Id`` and no ``Content-Type``."""

    def prepare(self, call: HuaweiCall, now: float) -> HttpRequest:
        """The path as is (it has no parameters); only the signer's own headers."""
        return self.signed(call, call.path, {}, now)


class HuaweiIamTokenApi(_IamApi):
    """IAM's token-creating calls (``POST /v3.0/...``): documented to answer 201, which is the only answer read.

    Creating a token or a temporary key changes nothing a repeat could double, so these POSTs are retried like
    reads. ``credentials`` None sends them unsigned (the OIDC exchange authenticates with its id token, then
    with the subject token in ``headers``); ``hidden`` are further secrets (the id token, the subject token)
    removed from any vendor text that becomes an error.
    """

    def __init__(
        self,
        credentials: Credentials | CredentialProvider | None,
        *,
        region: str,
        endpoint: str | None,
        headers: Mapping[str, str] | None = None,
        hidden: tuple[str, ...] = (),
    ) -> None:
        super().__init__(credentials, region=region, endpoint=endpoint)
        self.headers = dict(headers or {})
        self.hidden = hidden

    def prepare(self, call: HuaweiCall, now: float) -> HttpRequest:
        """The JSON body with the SDK's content type and the call's headers; signed when there is a key."""
        headers = {**({} if call.body is None else {"Content-Type": TOKEN_CONTENT_TYPE}), **self.headers}
        if self.provider is not None:
            return self.signed(call, call.path, headers, now)
        base, _ = endpoint_and_host(self.endpoint, region=self.region)
        payload = b"" if call.body is None else json.dumps(dict(call.body)).encode("utf-8")
        return HttpRequest(call.method, base + call.path, headers, payload)

    def parse(self, call: HuaweiCall, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """201 is the answer (with the ``X-Subject-Token`` header, if any); an error envelope is typed as for any
        Huawei API; any other 2xx (200 too) is an undocumented status, never an answer."""
        if status == 201:
            answer = super().parse(call, 200, headers, body)
            subject = headers.get("X-Subject-Token")
            kept = {} if subject is None else {"X-Subject-Token": subject}
            return ApiResponse(answer.body, answer.request_id, 201, kept)
        answer = super().parse(call, status, headers, body)
        raise UnexpectedStatusError(
            f"{self.describe(call)} answered HTTP {status}; IAM documents 201 for a created token",
            vendor=VENDOR,
            code=f"HTTP{status}",
            request_id=answer.request_id,
            http_status=status,
        )

    def redact(self, text: str) -> str:
        """The key's secrets and the exchange's tokens removed."""
        text = super().redact(text)
        for secret in self.hidden:
            if secret:
                text = text.replace(secret, "***")
        return text


def project_id_from(answer: ApiResponse, region: str) -> str:
    """The one project of ``answer`` named ``region``.

    No such project, or several: :class:`ConfigurationError` naming ``project_id`` (the account has to say which).
    An answer that is not Keystone's ``{"projects": [{"name", "id", ...}]}``, or an id that is not 32 hex
    characters: :class:`UnreadableAnswerError` with the request id (not retried: the same answer would come back).
    """
    projects = answer.body.get("projects")
    if not isinstance(projects, list) or not all(isinstance(p, Mapping) for p in projects):
        raise _unreadable(answer, "has no list of project objects under 'projects'")
    named = [p for p in projects if p.get("name") == region]
    where = f"(IAM RequestId: {answer.request_id or 'none'})"
    if not named:
        raise ConfigurationError(
            "project_id", f"IAM lists no project named {region!r} for this access key {where}; set project_id"
        )
    ids = [p.get("id") for p in named]
    if not all(isinstance(i, str) and _PROJECT_ID.fullmatch(i) for i in ids):
        raise _unreadable(answer, f"names project {region!r} with an id that is not 32 lower-case hex characters")
    if len(ids) > 1:
        raise ConfigurationError(
            "project_id",
            f"IAM lists {len(ids)} projects named {region!r} ({', '.join(map(str, ids))}) {where}; set the one to use",
        )
    project_id: str = ids[0]
    return project_id


def _unreadable(answer: ApiResponse, problem: str) -> UnreadableAnswerError:
    return UnreadableAnswerError(
        f"iam:GET /v3/projects {problem}",
        vendor=VENDOR,
        code="UnexpectedProjects",
        request_id=answer.request_id,
        http_status=answer.http_status,
    )


def _cache_key(api: HuaweiIamApi) -> _CacheKey:
    return (api.endpoint, api.account, api.region)


def lookup_project_id(
    credentials: Credentials | CredentialProvider, *, region: str, endpoint: str | None, policy: RetryPolicy
) -> str:
    """The project id of ``region`` for this key, from the cache or one IAM call (worker code: blocking)."""
    api = HuaweiIamApi(credentials, region=region, endpoint=endpoint)
    key = _cache_key(api)
    cached = _PROJECT_IDS.get(key)
    if cached is not None:
        return cached
    # One lookup per key at a time: threads asking together wait for the first answer.
    with _SYNC_LOCKS.setdefault(key, threading.Lock()):
        cached = _PROJECT_IDS.get(key)
        if cached is None:
            answer = CloudClient(api, policy).call(list_projects_call(region), deadline=time.time() + LOOKUP_BUDGET)
            cached = _PROJECT_IDS[key] = project_id_from(answer, region)
    return cached


async def alookup_project_id(
    credentials: Credentials | CredentialProvider, *, region: str, endpoint: str | None, policy: RetryPolicy
) -> str:
    """:func:`lookup_project_id` on the event loop; concurrent lookups of one key share one request.

    The request runs in a task of its own that every caller awaits shielded: a caller cancelled (its
    trigger ended) leaves the lookup running for the others.
    """
    api = HuaweiIamApi(credentials, region=region, endpoint=endpoint)
    key = _cache_key(api)
    cached = _PROJECT_IDS.get(key)
    if cached is not None:
        return cached
    loop = asyncio.get_running_loop()
    flight = (key, loop)
    task = _IN_FLIGHT.get(flight)
    if task is None:
        task = _IN_FLIGHT[flight] = loop.create_task(_alookup(api, policy, key))

        def landed(done: asyncio.Task[str]) -> None:
            _IN_FLIGHT.pop(flight, None)
            if not done.cancelled():
                done.exception()  # retrieved, so an error nobody awaits any more is not logged as lost

        task.add_done_callback(landed)
    return await asyncio.shield(task)


async def _alookup(api: HuaweiIamApi, policy: RetryPolicy, key: _CacheKey) -> str:
    call = list_projects_call(api.region)
    answer = await CloudClient(api, policy).acall(call, deadline=time.time() + LOOKUP_BUDGET)
    project_id = _PROJECT_IDS[key] = project_id_from(answer, api.region)
    return project_id

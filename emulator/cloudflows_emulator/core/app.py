"""The emulator's ASGI application: vendor APIs and the ``/_emulator/`` control API on one port.

Vendor requests go to the first handler that claims them (Tencent: ``X-TC-Action`` header; Alibaba:
``Action`` query parameter or ``x-acs-action`` header; Huawei: ``/v1/`` or ``/v1.0/`` paths). The control
API lets another process (a demo, a user's DAG run) script the emulator over HTTP:

- ``GET  /_emulator/health``: liveness, vendors and services served.
- ``GET  /_emulator/executions`` / ``POST``: list / register executions, either raw
  ``{"service", "key": {key fields}, "timeline": [[at, payload], ...], "events"?, "start_immediately"?}``
  or through a builder ``{"builder": "emr_flow", "args": {...}}``; a JSON list registers several.
- ``GET  /_emulator/faults`` / ``POST`` / ``DELETE``: list / inject (``{"kind", "service"?, "action"?,
  "count"?, "delay"?, "retry_after"?, "interval"?, "skew"?}``) / clear faults.
- ``GET  /_emulator/requests[?service=&action=]``: the request log.
- ``POST /_emulator/reset``: forget executions, faults and log (``{"settings": true}`` also restores
  credentials and rate limits).
- ``POST /_emulator/credentials``: ``{"vendor", "key_id", "secret", "token"?, "account"?}``; the key's
  requests count against ``account``'s quotas (default: the default account).
- ``GET  /_emulator/identity`` / ``POST``: temporary keys issued per vendor / cap their lifetime
  (``{"lifetime": seconds}``; null: as asked).
- ``GET  /_emulator/rate-limits`` / ``POST``: list / set ``{"service", "action", "per_second", "burst"?}``.
- ``POST /_emulator/advance``: ``{"seconds"}`` fast-forwards every execution.

A service name no handler serves is a 400 naming the known ones, wherever a route takes one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import Execution
from cloudflows_emulator.core.handler import EmulatedService
from cloudflows_emulator.core.limits import DEFAULT_ACCOUNT

__all__ = ["CONTROL_PREFIX", "create_app"]

CONTROL_PREFIX = "/_emulator"
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

Endpoint = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    """A control API request that cannot be honoured (answered 400 with the message)."""


def create_app(emulator: Emulator) -> Starlette:
    """Build the ASGI app serving ``emulator``'s vendor APIs and control API."""
    control = _ControlApi(emulator)
    routes = [
        Route(f"{CONTROL_PREFIX}/health", control.health, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/executions", control.executions, methods=["GET", "POST"]),
        Route(f"{CONTROL_PREFIX}/faults", control.faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{CONTROL_PREFIX}/requests", control.requests, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/reset", control.reset, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/credentials", control.credentials, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/identity", control.identity, methods=["GET", "POST"]),
        Route(f"{CONTROL_PREFIX}/rate-limits", control.rate_limits, methods=["GET", "POST"]),
        Route(f"{CONTROL_PREFIX}/advance", control.advance, methods=["POST"]),
        Route("/{path:path}", _vendor_dispatch(emulator), methods=_ALL_METHODS),
    ]
    return Starlette(routes=routes)


def _vendor_dispatch(emulator: Emulator) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        for handler in emulator.handlers:
            if handler.claims(request):
                return await handler.handle(request, emulator)
        return JSONResponse(
            {
                "error": "no emulated cloud API matches this request",
                "hint": "Tencent needs X-TC-Action, Alibaba an Action query parameter or x-acs-action, "
                "Huawei a /v1/ path; the control API is under /_emulator/",
            },
            status_code=404,
        )

    return dispatch


def _guarded(endpoint: Callable[[Any, Request], Awaitable[Response]]) -> Callable[[Any, Request], Awaitable[Response]]:
    # Bad control input must come back as a readable 400, not a 500 traceback in the server log.
    async def wrapper(self: Any, request: Request) -> Response:
        try:
            return await endpoint(self, request)
        except (_BadRequest, ValueError, TypeError, KeyError, LookupError) as exc:
            return JSONResponse({"error": str(exc) or type(exc).__name__}, status_code=400)

    wrapper.__doc__ = endpoint.__doc__
    return wrapper


class _ControlApi:
    """Endpoints under ``/_emulator/``."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    @property
    def _services(self) -> list[EmulatedService]:
        return [spec for handler in self.emulator.handlers for spec in handler.services]

    @_guarded
    async def health(self, request: Request) -> Response:
        """Liveness plus what is served."""
        return JSONResponse(
            {
                "status": "ok",
                # A vendor may be served by several handlers (its APIs, its metadata service).
                "vendors": list(dict.fromkeys(handler.vendor for handler in self.emulator.handlers)),
                "services": sorted({spec.service for spec in self._services}),
                "builders": sorted(name for spec in self._services for name in spec.builders),
            }
        )

    @_guarded
    async def executions(self, request: Request) -> Response:
        """List executions (GET) or register one or several (POST)."""
        if request.method == "GET":
            return JSONResponse({"executions": [e.to_dict() for e in self.emulator.executions]})
        body = await _json_body(request)
        items = body if isinstance(body, list) else [body]
        built = [self._build_execution(item) for item in items]
        registered = self.emulator.add_executions(built)
        return JSONResponse({"executions": [e.to_dict() for e in registered]}, status_code=201)

    def _build_execution(self, item: Any) -> Execution:
        if not isinstance(item, dict):
            raise _BadRequest("each execution must be a JSON object")
        if "builder" in item:
            name = item["builder"]
            for spec in self._services:
                if name in spec.builders:
                    args = item.get("args", {})
                    if not isinstance(args, dict):
                        raise _BadRequest("builder args must be a JSON object")
                    return spec.builders[name](**args)
            raise _BadRequest(f"unknown builder {name!r}")
        service = item.get("service")
        found = next((s for s in self._services if s.service == service), None)
        if found is None:
            raise _BadRequest(f"unknown service {service!r}; known: {sorted(s.service for s in self._services)}")
        spec = found
        raw_key = item.get("key", item)
        if isinstance(raw_key, list):
            keys = [tuple(str(part) for part in raw_key)]
        elif isinstance(raw_key, dict):
            keys = spec.execution_keys(raw_key)
        else:
            raise _BadRequest("key must be an object of key fields or a list")
        return Execution(
            service=spec.service,
            key=keys[0],
            aliases=tuple(keys[1:]),
            timeline=[tuple(step) for step in item.get("timeline", [])],
            events=[tuple(event) for event in item.get("events", [])],
            start_immediately=bool(item.get("start_immediately", False)),
        )

    @_guarded
    async def faults(self, request: Request) -> Response:
        """List (GET), inject (POST) or clear (DELETE) faults."""
        if request.method == "DELETE":
            self.emulator.clear_faults()
            return JSONResponse({"faults": []})
        if request.method == "GET":
            return JSONResponse({"faults": [f.to_dict() for f in self.emulator.faults]})
        body = await _json_body(request)
        if not isinstance(body, dict) or "kind" not in body:
            raise _BadRequest('a fault needs at least {"kind": ...}')
        fault = self.emulator.inject(
            body["kind"],
            service=body.get("service"),
            action=body.get("action"),
            count=body.get("count", 1),
            delay=float(body.get("delay", 0.0)),
            retry_after=body.get("retry_after"),
            **{name: float(body[name]) for name in ("interval", "skew") if name in body},
        )
        return JSONResponse({"fault": fault.to_dict()}, status_code=201)

    @_guarded
    async def requests(self, request: Request) -> Response:
        """The request log, optionally filtered by ``service`` and ``action`` query parameters."""
        service = request.query_params.get("service")
        action = request.query_params.get("action")
        self.emulator.check_service(service)
        records = [
            r.to_dict()
            for r in self.emulator.requests
            if (service is None or r.service == service) and (action is None or r.action == action)
        ]
        return JSONResponse({"count": len(records), "requests": records})

    @_guarded
    async def reset(self, request: Request) -> Response:
        """Reset state (and settings with ``{"settings": true}``)."""
        body = await _json_body(request, default={})
        settings = bool(body.get("settings", False)) if isinstance(body, dict) else False
        self.emulator.reset(settings=settings)
        return JSONResponse({"status": "reset", "settings": settings})

    @_guarded
    async def credentials(self, request: Request) -> Response:
        """Accept another key (and optional session token) for a vendor, counted against ``account``'s quotas."""
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _BadRequest("credentials must be a JSON object")
        account = body.get("account", DEFAULT_ACCOUNT)
        if not isinstance(account, str) or not account:
            raise _BadRequest("account must be a non-empty string")
        self.emulator.add_credentials(
            body["vendor"], body["key_id"], body["secret"], body.get("token"), account=account
        )
        return JSONResponse(
            {"status": "added", "vendor": body["vendor"], "key_id": body["key_id"], "account": account},
            status_code=201,
        )

    @_guarded
    async def identity(self, request: Request) -> Response:
        """Set (POST ``{"lifetime": seconds or null}``) the cap on issued temporary keys' lifetime; both
        methods answer the keys issued per vendor since the last reset."""
        if request.method == "POST":
            body = await _json_body(request)
            if not isinstance(body, dict) or "lifetime" not in body:
                raise _BadRequest('identity settings must be a JSON object with "lifetime"')
            self.emulator.set_identity_lifetime(body["lifetime"])
        vendors = sorted({handler.vendor for handler in self.emulator.handlers})
        return JSONResponse({"issued": {vendor: self.emulator.issued(vendor) for vendor in vendors}})

    @_guarded
    async def rate_limits(self, request: Request) -> Response:
        """List quotas per operation (GET) or set one (POST; ``per_second`` null: unlimited; ``burst``: a
        token bucket of that size)."""
        if request.method == "POST":
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise _BadRequest("a rate limit must be a JSON object")
            self.emulator.set_rate_limit(
                body["service"], body["action"], body.get("per_second"), burst=body.get("burst")
            )
        limits = []
        for handler in self.emulator.handlers:
            for op in handler.operations:
                quota = self.emulator.quota(op.service, op.action)
                limits.append(
                    {
                        "service": op.service,
                        "action": op.action,
                        "per_second": None if quota is None else quota.rate,
                        "burst": None if quota is None else quota.burst,
                    }
                )
        return JSONResponse({"rate_limits": limits})

    @_guarded
    async def advance(self, request: Request) -> Response:
        """Fast-forward every execution's script by ``seconds``."""
        body = await _json_body(request)
        if not isinstance(body, dict) or "seconds" not in body:
            raise _BadRequest('advance needs {"seconds": ...}')
        self.emulator.advance(float(body["seconds"]))
        return JSONResponse({"status": "advanced", "seconds": float(body["seconds"])})


async def _json_body(request: Request, default: Any = None) -> Any:
    raw = await request.body()
    if not raw.strip():
        if default is not None:
            return default
        raise _BadRequest("the request body must be JSON")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _BadRequest(f"the request body is not valid JSON: {exc}") from exc

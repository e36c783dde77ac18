"""HTTP plumbing of the admin API (JSON in, JSON out, errors as {"error": {code, message, details}}).

    PUT  /api/flows/{flowId}            save a validated draft (If-Match: etag -> 409 on mismatch)
    GET  /api/flows/{flowId}            the draft, with its ETag
    POST /api/flows/{flowId}/deploy     publish the draft (or a version) to numbers, all or none
    POST /api/flows/{flowId}/execute    run the flow in the simulator; nothing stored
    POST /api/numbers                   register a number to the caller's tenant

    GET  /api/flows/{flowId}/versions               list published versions
    POST /api/flows/{flowId}/versions               publish the draft {"version": "1.2.0", "message": ...}
    GET  /api/flows/{flowId}/versions/{version}     one version, with its document
    GET  /api/flows/{flowId}/diff?from=1.0.0&to=1.1.0   semantic diff ("draft" names the draft)
    POST /api/flows/{flowId}/promote                {"from": "staging", "to": "production", "phoneNumbers"}
    POST /api/flows/{flowId}/rollback               {"environment", "phoneNumbers", ["deployment" | "version"]}
    GET  /api/deployments?number=&flowId=&environment=   deployment history, newest first
    GET  /api/schedules, PUT|GET|DELETE /api/schedules/{name}, GET /api/schedules/{name}/status?at=
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from common.bootstrap import Services
from common.service.admin import ApiError
from common.service.deployments import version_view

log = logging.getLogger("ivr.api")

MAX_BODY_BYTES = 1024 * 1024
_FLOW_ID = r"[A-Za-z0-9_-]{1,64}"
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
_SEMVER = r"[0-9]+\.[0-9]+\.[0-9]+"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("PUT", re.compile(rf"^/api/flows/({_FLOW_ID})$"), "put_flow"),
    ("GET", re.compile(rf"^/api/flows/({_FLOW_ID})$"), "get_flow"),
    ("POST", re.compile(rf"^/api/flows/({_FLOW_ID})/deploy$"), "deploy"),
    ("POST", re.compile(rf"^/api/flows/({_FLOW_ID})/execute$"), "execute"),
    ("POST", re.compile(r"^/api/numbers$"), "register_number"),
    ("GET", re.compile(rf"^/api/flows/({_FLOW_ID})/versions$"), "list_versions"),
    ("POST", re.compile(rf"^/api/flows/({_FLOW_ID})/versions$"), "publish"),
    ("GET", re.compile(rf"^/api/flows/({_FLOW_ID})/versions/({_SEMVER})$"), "get_version"),
    ("GET", re.compile(rf"^/api/flows/({_FLOW_ID})/diff$"), "diff"),
    ("POST", re.compile(rf"^/api/flows/({_FLOW_ID})/promote$"), "promote"),
    ("POST", re.compile(rf"^/api/flows/({_FLOW_ID})/rollback$"), "rollback"),
    ("GET", re.compile(r"^/api/deployments$"), "history"),
    ("GET", re.compile(r"^/api/schedules$"), "list_schedules"),
    ("PUT", re.compile(rf"^/api/schedules/({_NAME})$"), "put_schedule"),
    ("GET", re.compile(rf"^/api/schedules/({_NAME})$"), "get_schedule"),
    ("DELETE", re.compile(rf"^/api/schedules/({_NAME})$"), "delete_schedule"),
    ("GET", re.compile(rf"^/api/schedules/({_NAME})/status$"), "schedule_status"),
]

Reply = tuple[str, int, dict[str, str]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return json.dumps(body, indent=2), status, {"Content-Type": "application/json", **(headers or {})}


def _body(request: Any) -> Any:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", "the body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: line {exc.lineno} column {exc.colno}: "
                       f"{exc.msg}") from exc  # fmt: skip


def handle(request: Any, svc: Services) -> Reply:
    path = request.path.rstrip("/") or "/"
    matched = [(m, p, a) for m, p, a in _ROUTES if p.match(path)]
    if not matched:
        return _json(ApiError(404, "not_found", f"no API route {path}").body(), 404)
    route = next(((p.match(path), a) for m, p, a in matched if m == request.method), None)
    if route is None:
        allowed = ", ".join(sorted({m for m, _, _ in matched}))
        return _json(ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}; "
                              f"use {allowed}").body(), 405, {"Allow": allowed})  # fmt: skip
    match, action = route
    assert match is not None
    try:
        tenant = svc.admin.authenticate(request.headers.get("Authorization"))
        author = request.headers.get("X-Ivr-Author", "")[:200]
        args = match.groups()
        if action == "put_flow":
            return _json(svc.admin.put_flow(tenant, args[0], _body(request),
                                            request.headers.get("If-Match"), author))  # fmt: skip
        if action == "get_flow":
            document, etag = svc.admin.get_flow(tenant, args[0])
            return _json(document, 200, {"ETag": etag})
        deployments, query = svc.deployments, request.args
        if action == "deploy":
            return _json(deployments.deploy(tenant, args[0], _body(request), author))
        if action == "execute":
            return _json(svc.admin.execute(tenant, args[0], _body(request)))
        if action == "register_number":
            status, body = svc.admin.register_number(tenant, _body(request))
            return _json(body, status)
        if action == "list_versions":
            return _json({"versions": deployments.list_versions(tenant, args[0])})
        if action == "publish":
            return _json(version_view(deployments.publish(tenant, args[0], _body(request), author)), 201)
        if action == "get_version":
            return _json(version_view(deployments.get_version(tenant, args[0], args[1]), with_document=True))
        if action == "diff":
            if not query.get("from") or not query.get("to"):
                raise ApiError(400, "invalid_request", "give ?from=VERSION&to=VERSION (or 'draft')")
            return _json(deployments.diff(tenant, args[0], query["from"], query["to"]))
        if action == "promote":
            return _json(deployments.promote(tenant, args[0], _body(request), author))
        if action == "rollback":
            return _json(deployments.rollback(tenant, args[0], _body(request), author))
        if action == "history":
            return _json({"deployments": deployments.history(
                tenant, query.get("number"), query.get("flowId"), query.get("environment"))})
        if action == "list_schedules":
            return _json({"schedules": deployments.list_schedules(tenant)})
        if action == "put_schedule":
            return _json(deployments.put_schedule(tenant, args[0], _body(request), author))
        if action == "get_schedule":
            return _json(deployments.get_schedule(tenant, args[0]).model_dump(mode="json", by_alias=True))
        if action == "delete_schedule":
            deployments.delete_schedule(tenant, args[0])
            return _json({"deleted": args[0]})
        return _json(deployments.schedule_status(tenant, args[0], query.get("at")))
    except ApiError as exc:
        return _json(exc.body(), exc.status)
    except Exception:
        log.exception("API %s %s failed", request.method, path)
        return _json(ApiError(500, "internal", "unexpected error; check the current state before retrying").body(), 500)

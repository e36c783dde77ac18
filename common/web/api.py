"""HTTP plumbing of the admin API (JSON in, JSON out, errors as {"error": {code, message, details}}).

    PUT  /api/flows/{flowId}            save a validated draft (If-Match: etag -> 409 on mismatch)
    GET  /api/flows/{flowId}            the draft, with its ETag
    POST /api/flows/{flowId}/deploy     publish the draft (or a version) to numbers, all or none
    POST /api/flows/{flowId}/execute    run the flow in the simulator; nothing stored
    POST /api/numbers                   register a number to the caller's tenant
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from common.bootstrap import Services
from common.service.admin import ApiError

log = logging.getLogger("ivr.api")

MAX_BODY_BYTES = 1024 * 1024
_FLOW_ID = r"[A-Za-z0-9_-]{1,64}"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("PUT", re.compile(rf"^/api/flows/({_FLOW_ID})$"), "put_flow"),
    ("GET", re.compile(rf"^/api/flows/({_FLOW_ID})$"), "get_flow"),
    ("POST", re.compile(rf"^/api/flows/({_FLOW_ID})/deploy$"), "deploy"),
    ("POST", re.compile(rf"^/api/flows/({_FLOW_ID})/execute$"), "execute"),
    ("POST", re.compile(r"^/api/numbers$"), "register_number"),
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
        if action == "deploy":
            return _json(svc.admin.deploy(tenant, args[0], _body(request), author))
        if action == "execute":
            return _json(svc.admin.execute(tenant, args[0], _body(request)))
        status, body = svc.admin.register_number(tenant, _body(request))
        return _json(body, status)
    except ApiError as exc:
        return _json(exc.body(), exc.status)
    except Exception:
        log.exception("API %s %s failed", request.method, path)
        return _json(ApiError(500, "internal", "unexpected error; nothing was changed by this request").body(), 500)

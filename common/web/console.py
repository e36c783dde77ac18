"""The operations console: static files under ``/console`` and the two reads the API lacks for it.

    handle(request, svc) -> (body, status, headers)    any /console* request (the admin API delegates)

    GET /console, /console/                      index.html (the app shell; no tenant data in it)
    GET /console/<file>                          a file of console_static/ (ES modules, CSS, SVG)
    GET /console/api/flows/{flowId}/validation   the draft's validation report (role: read)
    GET /console/api/me                          the agent bound to the calling key (role: agent), else null

Rules owned here:
- No build step: the browser loads the plain ES modules as they are in ``console_static/``. Only
  files in that directory with a known suffix are served (no ``..``, no hidden files, no listing);
  anything else is 404. Each gets its exact Content-Type with ``charset=utf-8``.
- Caching: the shell is ``no-cache`` (always revalidated, so a deploy of the console is seen at
  once); the other files are cacheable for a few minutes and carry a strong ETag of their bytes, and
  ``If-None-Match`` with it answers 304.
- Every answer carries a Content-Security-Policy that allows scripts, styles, images and fetches from
  this origin only: no inline script, no inline style, no ``eval``, no framing, no plugins. The
  console builds its DOM with ``textContent`` (never ``innerHTML`` with data), so a tenant's text can
  never become markup, and the policy is the second wall. No cookies are set or read: the API key
  lives in the tab's sessionStorage and travels as a bearer token.
- The two reads authenticate exactly as the admin API does (``common.web.api``) and answer in its
  error shape; they see the caller's tenant only. They take no query parameter: any is 400 naming
  it, as in the admin API. (The static files ignore a query string, which only busts caches.)
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from common.core import validation
from common.service.access import may
from common.service.admin import ApiError
from common.web.api import Reply, dumps

STATIC = Path(__file__).resolve().parent / "console_static"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
}
ASSET_MAX_AGE = 300  # seconds a browser may reuse a file without asking (then revalidates by ETag)

CSP = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
))  # fmt: skip

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_FILE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,80}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,80}){0,3}$")
_VALIDATION = re.compile(r"^/console/api/flows/(?P<flowId>[^/]+)/validation$")


def _json(body: Any, status: int = 200) -> Reply:
    return dumps(body), status, {"Content-Type": "application/json", "Cache-Control": "no-store",
                                 **SECURITY_HEADERS}  # fmt: skip


def _error(exc: ApiError) -> Reply:
    return _json(exc.body(), exc.status)


@cache
def _asset(relative: str) -> tuple[str, str, str] | None:
    """(text, content type, etag) of a file of console_static, or None. Files do not change while an
    instance runs (they ship with the function), so they are read once."""
    if not _FILE.match(relative) or ".." in relative:
        return None
    path = STATIC / relative
    content_type = CONTENT_TYPES.get(path.suffix)
    if content_type is None or not path.is_file() or STATIC not in path.resolve().parents:
        return None
    data = path.read_bytes()
    return data.decode("utf-8"), content_type, '"' + hashlib.sha256(data).hexdigest()[:24] + '"'


def _static(request: Any, relative: str) -> Reply:
    found = _asset(relative)
    if found is None:
        return "not found\n", 404, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store",
                                    **SECURITY_HEADERS}  # fmt: skip
    text, content_type, etag = found
    caching = "no-cache" if relative == "index.html" else f"public, max-age={ASSET_MAX_AGE}"
    headers = {"Content-Type": content_type, "Cache-Control": caching, "ETag": etag, **SECURITY_HEADERS}
    sent = request.headers.get("If-None-Match") or ""
    if etag in [tag.strip() for tag in sent.split(",")]:
        return "", 304, headers
    if request.method == "HEAD":
        return "", 200, headers
    return text, 200, headers


def _principal(request: Any, svc: Any) -> Any:
    if svc.tenants.is_platform_key(request.headers.get("Authorization")):
        raise ApiError(403, "forbidden", "the platform admin key manages tenants under /api/platform; "
                       "use one of the tenant's keys in the console")  # fmt: skip
    return svc.admin.identify(request.headers.get("Authorization"))


def _validation(request: Any, svc: Any, flow_id: str) -> Reply:
    from common.service import ids

    principal = _principal(request, svc)
    if not may(principal.role, "read"):
        raise ApiError(403, "forbidden", f"role {principal.role} may not read flows; roles that may: "
                       "admin, editor, deployer, viewer")  # fmt: skip
    problem = ids.path_problem("flowId", flow_id)
    if problem:
        raise ApiError(404, "not_found", problem)
    document, etag = svc.admin.get_flow(principal.tenant, flow_id)
    report = validation.validate(document)
    return _json({"flowId": flow_id, "etag": etag, **report.model_dump(mode="json")})


def _me(request: Any, svc: Any) -> Reply:
    """An agent key cannot list agents (it may read nothing), yet its panel needs its own agent."""
    principal = _principal(request, svc)
    routing = getattr(svc, "routing", None)
    if principal.role != "agent" or routing is None:
        return _json({"role": principal.role, "agent": None})
    bound = next((a for a in routing.store.list_agents(principal.tenant.id) if a.api_key_id == principal.key_id),
                 None)  # fmt: skip
    view = routing.admin.get_agent(principal.tenant.id, bound.id)[0] if bound else None
    return _json({"role": principal.role, "agent": view})


def _no_query(request: Any) -> None:
    names = list(request.args.keys())
    if names:
        field = f"query.{names[0]}" if names[0] else "query"
        message = f"unknown field {names[0]!r}; remove it" if names[0] else "a parameter without a name"
        raise ApiError(400, "invalid_request", f"{field}: {message} (this read takes no query parameter)",
                       [{"field": f"query.{n}" if n else "query", "message": "not a parameter of this read"}
                        for n in names])  # fmt: skip


def handle(request: Any, svc: Any) -> Reply:
    from common.adapters.ports import StoreUnavailable

    path = request.path
    if path.startswith("/console/api/"):
        try:
            if request.method != "GET":
                raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}; use GET")
            _no_query(request)
            if path == "/console/api/me":
                return _me(request, svc)
            match = _VALIDATION.match(path)
            if match:
                return _validation(request, svc, match["flowId"])
            raise ApiError(404, "not_found", f"no console route {path}")
        except ApiError as exc:
            body, status, headers = _error(exc)
            return body, status, {**headers, "Allow": "GET"} if status == 405 else headers
        except StoreUnavailable:
            body, status, headers = _error(ApiError(503, "store_unavailable", "storage did not answer in time; "
                                                    "retry in a few seconds"))  # fmt: skip
            return body, status, {**headers, "Retry-After": "5"}
    if request.method not in ("GET", "HEAD"):
        body, status, headers = _json({"error": {"code": "method_not_allowed", "message": f"{request.method} is not "
                                                 f"allowed on {path}; the console is read with GET"}}, 405)  # fmt: skip
        return body, status, {**headers, "Allow": "GET, HEAD"}
    if path in ("/console", "/console/"):
        return _static(request, "index.html")
    return _static(request, path[len("/console/"):])


def manifest() -> list[str]:
    """Every file the console serves (for the tests and the docs)."""
    return sorted(str(p.relative_to(STATIC)) for p in STATIC.rglob("*") if p.suffix in CONTENT_TYPES)


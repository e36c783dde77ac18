"""HTTP plumbing of the admin API (JSON in, JSON out, errors as {"error": {code, message, details}}).

The operations (method, path, role, models) are listed in ``common.service.operations``; docs/api.md
is the reference. This module owns what is HTTP about them:

- Routing: a path that matches no operation is 404, a known path with another method 405 (with
  ``Allow``). A path parameter that is not a valid id of its kind is 404: no such resource can exist,
  and it never reaches a store (``common.service.ids``).
- Bodies and answers are JSON, bounded and checked as ``common.web.json_body`` says (413, 415,
  400 ``invalid_json`` / ``too_deep``); ETags are quoted and If-Match compares strongly.
- Every operation needs a key of a role that grants its permission (``common.service.access``):
  401 without a valid key, 403 naming the role otherwise; platform operations need the platform
  admin key, which opens nothing else.
- A store that does not answer (``StoreUnavailable``) is 503 with Retry-After, not 500.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.adapters.ports import StoreUnavailable, Tenant
from common.bootstrap import Services
from common.service import ids
from common.service.access import Principal, may, roles_granting
from common.service.admin import ApiError, parse
from common.service.deployments import version_view
from common.service.operations import Operation, core_operations
from common.service.tenants import tenant_view
from common.web.json_body import (  # noqa: F401  (the limits are part of this module's API)
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    dumps,
    parse_if_match,
    quote_etag,
    read_json,
)

log = logging.getLogger("ivr.api")

RETRY_AFTER_SECONDS = 5

Reply = tuple[str, int, dict[str, str]]


# -- answers ------------------------------------------------------------------------------------------


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return dumps(body), status, {"Content-Type": "application/json", **(headers or {})}


def _error(exc: ApiError, headers: dict[str, str] | None = None) -> Reply:
    return _json(exc.body(), exc.status, headers)


def no_store_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    """JSON that changes with every call (live calls, reports): never cached."""
    return _json(body, status, {"Cache-Control": "no-store", **(headers or {})})


def tenant_reader(request: Any, svc: Services, what: str) -> Any:
    """The principal of a tenant key whose role may read; ``what`` ("read calls (GET /api/calls)")
    completes the 403's sentence. The platform admin key is refused: it manages tenants only."""
    authorization = request.headers.get("Authorization")
    if svc.tenants.is_platform_key(authorization):
        raise ApiError(403, "forbidden", "the platform admin key manages tenants under /api/platform; "
                       "use one of the tenant's keys here")  # fmt: skip
    principal = svc.admin.identify(authorization)
    if not may(principal.role, "read"):
        raise ApiError(403, "forbidden", f"role {principal.role} may not {what}; roles that may: "
                       f"{', '.join(roles_granting('read'))}")  # fmt: skip
    return principal


# -- routing ------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request, authenticated and routed."""

    request: Any
    svc: Services
    principal: Principal | None  # None: the platform admin
    params: dict[str, str]
    operation: Operation

    @property
    def tenant(self) -> Tenant:
        assert self.principal is not None, "a platform operation has no tenant principal"
        return self.principal.tenant

    @property
    def author(self) -> str:
        return str(self.request.headers.get("X-Ivr-Author", ""))[:200]

    def body(self) -> Any:
        return read_json(self.request)

    def query(self) -> Any:
        assert self.operation.query is not None
        return parse(self.operation.query, self.request.args.to_dict(), where="query")


def _compile(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")


_routes: list[tuple[Operation, re.Pattern[str]]] = []


def routes() -> list[tuple[Operation, re.Pattern[str]]]:
    if not _routes:
        _routes.extend((op, _compile(op.path)) for op in core_operations())  # parts are delegated by prefix
    return _routes


def _route(method: str, path: str) -> tuple[Operation, dict[str, str]]:
    matched = [(op, m) for op, pattern in routes() if (m := pattern.match(path))]
    if not matched:
        raise ApiError(404, "not_found", f"no API route {path}")
    found = next(((op, m) for op, m in matched if op.method == method), None)
    if found is None:
        allowed = ", ".join(sorted({op.method for op, _ in matched}))
        raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}; use {allowed}",
                       {"allow": allowed})  # fmt: skip
    operation, match = found
    params = match.groupdict()
    for name, value in params.items():
        problem = ids.path_problem(name, value)
        if problem:
            raise ApiError(404, "not_found", problem)
    return operation, params


def _authorize(authorization: str | None, svc: Services, operation: Operation) -> Principal | None:
    """The tenant principal allowed to run ``operation`` (None for the platform admin), or 401/403."""
    platform = svc.tenants.is_platform_key(authorization)
    if operation.permission == "platform":
        if platform:
            return None
        if svc.settings.platform_admin_key is None:
            raise ApiError(401, "unauthenticated", "platform administration is off here: no platform admin key is "
                           "configured (IVR_PLATFORM_ADMIN_KEY)")  # fmt: skip
        try:
            svc.admin.identify(authorization)
        except ApiError:
            raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <platform admin key>'") from None
        raise ApiError(403, "forbidden", f"{operation.method} {operation.path} is platform administration: it needs "
                       "the platform admin key, and no tenant key opens it")  # fmt: skip
    if platform:
        raise ApiError(403, "forbidden", "the platform admin key manages tenants under /api/platform; "
                       "use one of the tenant's keys here")  # fmt: skip
    principal = svc.admin.identify(authorization)
    if not may(principal.role, operation.permission):
        what = operation.summary[:1].lower() + operation.summary[1:]
        allowed = ", ".join(roles_granting(operation.permission))
        raise ApiError(403, "forbidden", f"role {principal.role} may not {what} ({operation.method} "
                       f"{operation.path}); roles that may: {allowed}")  # fmt: skip
    return principal


#: path prefixes served by a web module of their own, in ``common.web`` (each builds on this module's
#: helpers, so it is imported on first use): department routing, live calls, the event pipeline's
#: tasks, the reports and the operations console.
DELEGATES: tuple[tuple[str, str], ...] = (
    ("/api/departments", "routing_api"),
    ("/api/agents", "routing_api"),
    ("/api/calls", "calls_api"),
    ("/api/events", "events_api"),
    ("/api/reports", "reports_api"),
    ("/console", "console"),
)


def _delegate(path: str) -> Callable[[Any, Services], Reply] | None:
    for prefix, module in DELEGATES:
        if path == prefix or path.startswith(prefix + "/"):
            return importlib.import_module(f"common.web.{module}").handle
    return None


def handle(request: Any, svc: Services) -> Reply:
    path = request.path.rstrip("/") or "/"
    try:
        delegate = _delegate(path)
    except ModuleNotFoundError:  # a part of the API this build does not include yet
        return _error(ApiError(501, "not_implemented", f"{path} is not served by this build"))
    if delegate is not None:
        return delegate(request, svc)
    try:
        operation, params = _route(request.method, path)
    except ApiError as exc:
        allow = exc.details.pop("allow") if isinstance(exc.details, dict) else None
        return _error(ApiError(exc.status, exc.code, exc.message), {"Allow": allow} if allow else None)
    if "" in request.args:  # "?=x": a parameter without a name is malformed, not merely unknown
        return _error(ApiError(400, "invalid_request", "query: a parameter has no name (write name=value)",
                               [{"field": "query", "message": "a parameter without a name"}]))  # fmt: skip
    try:
        if operation.permission == "public":
            return PUBLIC[operation.name](request, svc)
        principal = _authorize(request.headers.get("Authorization"), svc, operation)
        return HANDLERS[operation.name](Call(request, svc, principal, params, operation))
    except ApiError as exc:
        return _error(exc)
    except StoreUnavailable as exc:
        log.error("API %s %s: the store is unavailable: %s", request.method, path, exc)
        return _error(ApiError(503, "store_unavailable", "storage did not answer in time; retry in a few seconds "
                               "(a write may or may not have been applied: read before retrying it)"),
                      {"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip
    except Exception:
        log.exception("API %s %s failed", request.method, path)
        return _error(ApiError(500, "internal", "unexpected error; check the current state before retrying"))


# -- handlers -----------------------------------------------------------------------------------------


def _put_flow(c: Call) -> Reply:
    saved = c.svc.admin.put_flow(c.tenant, c.params["flowId"], c.body(),
                                 parse_if_match(c.request.headers.get("If-Match")), c.author)  # fmt: skip
    return _json(saved, 200, {"ETag": quote_etag(saved["etag"])})


def _import_flow(c: Call) -> Reply:
    from common.service.studio_import import import_studio

    routing = c.svc.routing
    departments = [d["id"] for d in routing.admin.list_departments(c.tenant.id)] if routing is not None else None
    saved = import_studio(c.svc.admin, c.tenant, c.params["flowId"], c.body(), c.author, departments,
                          parse_if_match(c.request.headers.get("If-Match")))  # fmt: skip
    return _json(saved, 200, {"ETag": quote_etag(saved["etag"])})


def _get_flow(c: Call) -> Reply:
    document, etag = c.svc.admin.get_flow(c.tenant, c.params["flowId"])
    return _json(document, 200, {"ETag": quote_etag(etag)})


def _diff(c: Call) -> Reply:
    query = c.query()
    return _json(c.svc.deployments.diff(c.tenant, c.params["flowId"], query.source, query.target))


def _history(c: Call) -> Reply:
    q = c.query()
    return _json({"deployments": c.svc.deployments.history(c.tenant, q.number, q.flow_id, q.environment, q.limit)})


def _register_number(c: Call) -> Reply:
    status, body = c.svc.admin.register_number(c.tenant, c.body())
    return _json(body, status)


def _delete_schedule(c: Call) -> Reply:
    c.svc.deployments.delete_schedule(c.tenant, c.params["name"])
    return _json({"deleted": c.params["name"]})


def _get_schedule(c: Call) -> Reply:
    return _json(c.svc.deployments.get_schedule(c.tenant, c.params["name"]).model_dump(mode="json", by_alias=True))


def _health(request: Any, svc: Services) -> Reply:
    status, body = svc.inventory.health()
    return _json(body, status, {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None)


def _whoami(c: Call) -> Reply:
    assert c.principal is not None
    return _json({"tenant": c.tenant.id, "role": c.principal.role, "keyId": c.principal.key_id})


def _openapi(request: Any, svc: Services) -> Reply:
    from common.service import openapi

    return _json(openapi.document())


PUBLIC: dict[str, Callable[[Any, Services], Reply]] = {
    "health": _health,
    "openapi": _openapi,
}

def _created_tenant(c: Call) -> Reply:
    return _json(c.svc.tenants.create(c.body()), 201)


HANDLERS: dict[str, Callable[[Call], Reply]] = {
    "whoami": _whoami,
    # the tenant's own keys (role admin)
    "list_keys": lambda c: _json({"keys": c.svc.tenants.list_keys(c.tenant.id)}),
    "issue_key": lambda c: _json(c.svc.tenants.issue_key(c.tenant.id, c.body()), 201),
    "revoke_key": lambda c: _json(c.svc.tenants.revoke_key(c.tenant.id, c.params["keyId"])),
    "rotate_key": lambda c: _json(c.svc.tenants.rotate_key(c.tenant.id, c.params["keyId"]), 201),
    # platform administration (the platform admin key)
    "create_tenant": _created_tenant,
    "list_tenants": lambda c: _json({"tenants": c.svc.tenants.list_tenants()}),
    "get_tenant": lambda c: _json(tenant_view(c.svc.tenants.get(c.params["tenantId"]))),
    "link_twilio": lambda c: _json(c.svc.tenants.relink(c.params["tenantId"], c.body())),
    "platform_issue_key": lambda c: _json(c.svc.tenants.issue_key(c.params["tenantId"], c.body()), 201),
    "platform_list_keys": lambda c: _json({"keys": c.svc.tenants.list_keys(c.params["tenantId"])}),
    "platform_revoke_key": lambda c: _json(c.svc.tenants.revoke_key(c.params["tenantId"], c.params["keyId"])),
    "platform_rotate_key": lambda c: _json(c.svc.tenants.rotate_key(c.params["tenantId"], c.params["keyId"]), 201),
    # flows, numbers, deployments, schedules
    "list_flows": lambda c: _json({"flows": c.svc.inventory.list_flows(c.tenant)}),
    "delete_flow": lambda c: _json(c.svc.inventory.delete_flow(c.tenant, c.params["flowId"], c.author)),
    "list_numbers": lambda c: _json({"numbers": c.svc.inventory.list_numbers(c.tenant)}),
    "release_number": lambda c: _json(c.svc.inventory.release_number(c.tenant, c.params["phoneNumber"])),
    "put_flow": _put_flow,
    "import_flow": _import_flow,
    "get_flow": _get_flow,
    "deploy": lambda c: _json(c.svc.deployments.deploy(c.tenant, c.params["flowId"], c.body(), c.author)),
    "execute": lambda c: _json(c.svc.admin.execute(c.tenant, c.params["flowId"], c.body())),
    "register_number": _register_number,
    "list_versions": lambda c: _json({"versions": c.svc.deployments.list_versions(c.tenant, c.params["flowId"])}),
    "publish": lambda c: _json(version_view(c.svc.deployments.publish(c.tenant, c.params["flowId"], c.body(),
                                                                      c.author)), 201),
    "get_version": lambda c: _json(version_view(c.svc.deployments.get_version(
        c.tenant, c.params["flowId"], c.params["version"]), with_document=True)),
    "diff": _diff,
    "promote": lambda c: _json(c.svc.deployments.promote(c.tenant, c.params["flowId"], c.body(), c.author)),
    "rollback": lambda c: _json(c.svc.deployments.rollback(c.tenant, c.params["flowId"], c.body(), c.author)),
    "history": _history,
    "list_schedules": lambda c: _json({"schedules": c.svc.deployments.list_schedules(c.tenant)}),
    "put_schedule": lambda c: _json(c.svc.deployments.put_schedule(c.tenant, c.params["name"], c.body(), c.author)),
    "get_schedule": _get_schedule,
    "delete_schedule": _delete_schedule,
    "schedule_status": lambda c: _json(c.svc.deployments.schedule_status(c.tenant, c.params["name"], c.query().at)),
}  # fmt: skip

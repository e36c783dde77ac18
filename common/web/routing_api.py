"""HTTP plumbing of department routing: departments, agents, a call joining a queue, the timers' tasks.

    handle(request, svc) -> (body, status, headers)    any /api/departments* or /api/agents* request
    handle_function(request, svc)                      route_department's entry: route and tasks only

    method  path                                   who may                      what
    GET     /api/departments                       read                         the tenant's departments
    PUT     /api/departments/{departmentId}        edit                         create or replace (If-Match)
    GET     /api/departments/{departmentId}        read                         one, with its ETag
    DELETE  /api/departments/{departmentId}        edit                         unless used (409 naming by what)
    GET     /api/departments/{departmentId}/stats  read                         waiting, agents, service level
    GET     /api/departments/{departmentId}/live   read                         the console: callers, agents
    GET     /api/agents[?department=D]             read                         the tenant's agents
    PUT     /api/agents/{agentId}                  edit                         create or replace (If-Match)
    GET     /api/agents/{agentId}                  read                         one, with its ETag
    DELETE  /api/agents/{agentId}                  edit                         unless on an offer or a call
    POST    /api/agents/{agentId}/status           admin, editor; its own key   available | away | offline
    POST    /api/departments/route                 admin, editor, deployer      a live call joins a queue
    POST    /api/departments/tasks/{kind}          the tasks' service account   escalate | sweep | callback

Rules owned here (the rest is the admin API's plumbing, imported from ``common.web.api``: body
limits, JSON only, the error shape, quoted ETags and If-Match parsing, 503 when the store is out):
- The operations are ``OPERATIONS`` (``operations.Operation`` with their models), which the admin
  API's table, the OpenAPI document, the role checks and the fuzz test pick up.
- A path that matches no operation is 404; a known path with another method 405 with ``Allow``. The
  literal paths ``route`` and ``tasks/...`` win over ``{departmentId}``, and neither can be a
  department: ``ids.DEPARTMENT_ID`` refuses both, so ``PUT /api/departments/tasks`` is 404.
- A path id that no record can have (``ids.PATH_PARAMS``: the core's id patterns less what
  Firestore reserves, ``.``, ``..``, ``__x__``) is 404 without a store read; the same forms in a
  query or body are 400 or 404 naming the field, never a store error. An unknown query parameter
  is 400 naming it, like the admin API.
- Roles (``common.service.access``): ``read`` for GETs, ``edit`` to manage departments and agents,
  ``route`` (admin, editor, deployer) to route calls, ``status`` (admin, editor: anyone's; an
  ``agent`` key only its own agent's, the agent whose ``apiKeyId`` it is); anything else is 403
  naming who may.
- Task endpoints take no API key: ``common.web.task_auth`` checks the tasks' OIDC token (or a laptop's
  shared secret) before the body is read. The service applies a task delivered twice once.
- ``svc.routing`` (the RoutingService) may be missing from a container: 503 ``routing_not_configured``.
  The tasks' settings come from ``svc.routing_settings``, else from the environment.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from common.adapters.ports import StoreUnavailable
from common.core.routing_model import DepartmentSettings
from common.routing_setup import RoutingSettings
from common.service import access, ids
from common.service import routing_api_models as m
from common.service.access import Principal
from common.service.admin import ApiError, parse
from common.service.operations import IF_MATCH, Operation, Query
from common.service.routing import RouteBody, RoutingService
from common.service.routing_admin import KEEP, Keep
from common.web.api import RETRY_AFTER_SECONDS, Reply, dumps, parse_if_match, quote_etag, read_json
from common.web.task_auth import TaskAuth

log = logging.getLogger("ivr.api.routing")

FUNCTION_PATHS = ("/api/departments/route", "/api/departments/tasks/")  # what route_department serves
_FIRESTORE_RESERVED = re.compile(r"__.*__", re.DOTALL)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return dumps(body), status, {"Content-Type": "application/json", **(headers or {})}


def _error(exc: ApiError, headers: dict[str, str] | None = None) -> Reply:
    return _json(exc.body(), exc.status, headers)


def id_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be the id ``name`` (departmentId, agentId, kind); None when it can."""
    return ids.path_problem(name, value)


# -- operations ---------------------------------------------------------------------------------------


class AgentsQuery(Query):
    department: str | None = Field(None, pattern=ids.DEPARTMENT_ID, description="only the agents serving it")


DEPARTMENT, AGENT = "/api/departments/{departmentId}", "/api/agents/{agentId}"
_ETAG = {"ETag": "the settings' etag, quoted (live status never changes it)"}
_IF_MATCH = {"If-Match": IF_MATCH}
OPERATIONS: tuple[Operation, ...] = (
    Operation("route", "POST", "/api/departments/route", "route", "Put a live call in a department's queue",
              body=RouteBody, success=201, also_ok=(200,), errors=(404, 409), response=m.RouteAnswer),
    Operation("routing_task", "POST", "/api/departments/tasks/{kind}", "task", "Deliver a routing timer (the "
              "tasks' OIDC token, or a laptop's X-Ivr-Task-Secret)", body=m.TaskPayload, response=m.TaskResult),
    Operation("list_departments", "GET", "/api/departments", "read", "List departments",
              response=m.DepartmentList),
    Operation("put_department", "PUT", DEPARTMENT, "edit", "Create or replace a department", body=DepartmentSettings,
              success=201, also_ok=(200,), errors=(409, 422), response=m.DepartmentView, headers=_ETAG,
              request_headers=_IF_MATCH),
    Operation("get_department", "GET", DEPARTMENT, "read", "Read a department", response=m.DepartmentView,
              headers=_ETAG),
    Operation("delete_department", "DELETE", DEPARTMENT, "edit", "Delete a department", errors=(409,),
              response=m.DeletedView, request_headers=_IF_MATCH),
    Operation("department_stats", "GET", DEPARTMENT + "/stats", "read", "Read a department's stats",
              response=m.DepartmentStats),
    Operation("department_live", "GET", DEPARTMENT + "/live", "read", "Watch a department's queue and agents",
              response=m.DepartmentLive),
    Operation("list_agents", "GET", "/api/agents", "read", "List agents", query=AgentsQuery, errors=(404,),
              response=m.AgentList),
    Operation("put_agent", "PUT", AGENT, "edit", "Create or replace an agent", body=m.AgentRequest, success=201,
              also_ok=(200,), errors=(409, 422), response=m.AgentView, headers=_ETAG, request_headers=_IF_MATCH),
    Operation("get_agent", "GET", AGENT, "read", "Read an agent", response=m.AgentView, headers=_ETAG),
    Operation("delete_agent", "DELETE", AGENT, "edit", "Delete an agent", errors=(409,), response=m.DeletedView,
              request_headers=_IF_MATCH),
    Operation("agent_status", "POST", AGENT + "/status", "status", "Set an agent's status", body=m.StatusRequest,
              errors=(409,), response=m.AgentView),
)  # fmt: skip


@dataclass
class Call:
    request: Any
    routing: RoutingService
    principal: Principal | None  # None for a task delivery
    params: dict[str, str]
    operation: Operation

    @property
    def tenant_id(self) -> str:
        assert self.principal is not None
        return self.principal.tenant.id

    @property
    def author(self) -> str:
        given = str(self.request.headers.get("X-Ivr-Author", ""))[:200]
        return given or (self.principal.key_id if self.principal else "")

    def body(self) -> Any:
        return read_json(self.request)

    def query(self) -> Any:
        assert self.operation.query is not None
        return parse(self.operation.query, self.request.args.to_dict(), where="query")

    def if_match(self) -> list[str] | None:
        return parse_if_match(self.request.headers.get("If-Match"))


def _compile(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")


_ROUTES = [(op, _compile(op.path)) for op in OPERATIONS]


def _route(method: str, path: str) -> tuple[Operation, dict[str, str]]:
    matched = [(op, m) for op, pattern in _ROUTES if (m := pattern.match(path))]
    if not matched:
        raise ApiError(404, "not_found", f"no API route {path}")
    fewest = min(len(m.groupdict()) for _, m in matched)  # a literal segment beats a {parameter}
    matched = [(op, m) for op, m in matched if len(m.groupdict()) == fewest]
    found = next(((op, m) for op, m in matched if op.method == method), None)
    if found is None:
        allowed = ", ".join(sorted({op.method for op, _ in matched}))
        raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}; use {allowed}", allowed)
    op, match = found
    params = match.groupdict()
    for name, value in params.items():
        problem = id_problem(name, value)
        if problem:
            raise ApiError(404, "not_found", problem)
    return op, params


def _permit(op: Operation, principal: Principal) -> None:
    """The role must grant the operation's permission; for ``status`` an agent key is let through here
    and the service checks that the agent is the one bound to it."""
    if not access.may(principal.role, op.permission):
        roles = access.roles_granting(op.permission)
        shown = [f"{r} (its own agent only)" if r == "agent" and op.permission == "status" else r for r in roles]
        what = op.summary[:1].lower() + op.summary[1:]
        raise ApiError(403, "forbidden", f"role {principal.role} may not {what} ({op.method} {op.path}); "
                       f"roles that may: {', '.join(shown)}", {"role": principal.role, "allowed": roles})  # fmt: skip


def _identify(svc: Any, authorization: str | None) -> Principal:
    """A tenant key's principal; the platform admin key is refused here as the admin API refuses it."""
    tenants = getattr(svc, "tenants", None)
    if tenants is not None and tenants.is_platform_key(authorization):
        raise ApiError(403, "forbidden", "the platform admin key manages tenants under /api/platform; "
                       "use one of the tenant's keys here")  # fmt: skip
    principal: Principal = svc.admin.identify(authorization)
    return principal


def task_auth(svc: Any) -> TaskAuth:
    given = getattr(svc, "task_auth", None)
    if given is not None:
        return given
    settings = getattr(svc, "routing_settings", None) or RoutingSettings.from_env(environment=svc.settings.environment)
    return TaskAuth(settings, svc.settings.public_base_url)


# -- entry points -------------------------------------------------------------------------------------


def handle(request: Any, svc: Any) -> Reply:
    path = request.path.rstrip("/") or "/"
    try:
        op, params = _route(request.method, path)
    except ApiError as exc:
        allow = exc.details if exc.status == 405 else None
        return _error(ApiError(exc.status, exc.code, exc.message), {"Allow": allow} if allow else None)
    try:
        principal = None
        if "" in request.args:  # "?=x": a parameter without a name is malformed, not merely unknown
            raise ApiError(400, "invalid_request", "query: a parameter has no name (write name=value)",
                           [{"field": "query", "message": "a parameter without a name"}])  # fmt: skip
        if op.permission == "task":
            caller = task_auth(svc).check(request.headers, path)
            log.info("task %s delivered by %s (%s)", params["kind"], caller.who, caller.how)
        else:
            principal = _identify(svc, request.headers.get("Authorization"))
            _permit(op, principal)
        routing = getattr(svc, "routing", None)
        if routing is None:
            raise ApiError(503, "routing_not_configured", "routing is not configured on this stack")
        return HANDLERS[op.name](Call(request, routing, principal, params, op))
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


def handle_function(request: Any, svc: Any) -> Reply:
    """route_department serves joining and the task endpoints; the rest belongs to the admin API."""
    path = request.path.rstrip("/") or "/"
    if path == FUNCTION_PATHS[0] or path.startswith(FUNCTION_PATHS[1]):
        return handle(request, svc)
    return _error(ApiError(405, "method_not_allowed", f"this function serves only POST /api/departments/route and "
                           f"POST /api/departments/tasks/{{kind}}, not {request.method} {path}"), {"Allow": ""})


# -- handlers -----------------------------------------------------------------------------------------


def _reserved_form(value: Any) -> bool:
    return isinstance(value, str) and (value in (".", "..") or _FIRESTORE_RESERVED.fullmatch(value) is not None)


def _put_department(c: Call) -> Reply:
    department_id = c.params["departmentId"]  # never route or tasks: ids.DEPARTMENT_ID refuses them
    status, view = c.routing.admin.put_department(c.tenant_id, department_id, c.body(), c.if_match(), c.author)
    return _json(view, status, {"ETag": quote_etag(view["etag"])})


def _get_department(c: Call) -> Reply:
    view, etag = c.routing.admin.get_department(c.tenant_id, c.params["departmentId"])
    return _json(view, 200, {"ETag": quote_etag(etag)})


def _delete_department(c: Call) -> Reply:
    c.routing.admin.delete_department(c.tenant_id, c.params["departmentId"], c.if_match())
    return _json({"deleted": c.params["departmentId"]})


def _list_agents(c: Call) -> Reply:
    return _json({"agents": c.routing.admin.list_agents(c.tenant_id, c.query().department)})


def _put_agent(c: Call) -> Reply:
    body = c.body()
    key: str | Keep | None = KEEP  # without apiKeyId the binding stays
    if isinstance(body, dict) and "apiKeyId" in body:
        body = dict(body)
        given = body.pop("apiKeyId")
        if given is not None and not (isinstance(given, str) and re.fullmatch(ids.KEY_ID, given)):
            raise ApiError(422, "agent_invalid", "apiKeyId: a key id (key_...) or null",
                           [{"field": "apiKeyId", "message": "a key id (key_...) or null"}])  # fmt: skip
        key = given
    status, view = c.routing.admin.put_agent(c.tenant_id, c.params["agentId"], body, c.if_match(), c.author,
                                             api_key_id=key)  # fmt: skip
    return _json(view, status, {"ETag": quote_etag(view["etag"])})


def _get_agent(c: Call) -> Reply:
    view, etag = c.routing.admin.get_agent(c.tenant_id, c.params["agentId"])
    return _json(view, 200, {"ETag": quote_etag(etag)})


def _delete_agent(c: Call) -> Reply:
    c.routing.admin.delete_agent(c.tenant_id, c.params["agentId"], c.if_match())
    return _json({"deleted": c.params["agentId"]})


def _agent_status(c: Call) -> Reply:
    assert c.principal is not None
    own_key = c.principal.key_id if c.principal.role == "agent" else None
    body = c.body()
    if own_key is None:  # an agent key learns nothing about the body before its binding is checked
        body = parse(m.StatusRequest, body).model_dump()
    return _json(c.routing.admin.set_status(c.tenant_id, c.params["agentId"], body, as_key=own_key))


def _route_call(c: Call) -> Reply:
    body = c.body()
    if isinstance(body, dict) and _reserved_form(body.get("department")):
        raise ApiError(404, "not_found", f"department {body['department']!r} does not exist",
                       [{"field": "department", "message": "no such department"}])  # fmt: skip
    status, view = c.routing.route_request(c.tenant_id, body)
    return _json(view, status)


def _task(c: Call) -> Reply:
    payload = c.body()
    if isinstance(payload, dict):
        for name in ("tenant", "department", "entry"):
            if _reserved_form(payload.get(name)):
                raise ApiError(400, "invalid_request", f"{name}: {payload[name]!r} is not an id",
                               [{"field": name, "message": "not an id"}])  # fmt: skip
    return _json(c.routing.handle_task(c.params["kind"], payload))


HANDLERS: dict[str, Callable[[Call], Reply]] = {
    "route": _route_call,
    "routing_task": _task,
    "list_departments": lambda c: _json({"departments": c.routing.admin.list_departments(c.tenant_id)}),
    "put_department": _put_department,
    "get_department": _get_department,
    "delete_department": _delete_department,
    "department_stats": lambda c: _json(c.routing.admin.stats(c.tenant_id, c.params["departmentId"])),
    "department_live": lambda c: _json(c.routing.admin.console(c.tenant_id, c.params["departmentId"])),
    "list_agents": _list_agents,
    "put_agent": _put_agent,
    "get_agent": _get_agent,
    "delete_agent": _delete_agent,
    "agent_status": _agent_status,
}

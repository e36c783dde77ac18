"""The admin API's operations, as data: method, path, who may call it, and the models of its query and
body. ``common.web.api`` routes by this table and ``common.service.openapi`` documents it, so the
published OpenAPI document and what the API enforces cannot drift apart.

Rules owned here:
- Path parameters are ``{name}`` segments; each name is validated by ``ids.PATH_PARAMS``.
- ``permission`` is what the caller's role must grant (``access.GRANTS``); ``public`` needs no key,
  ``platform`` needs the platform admin key and ``task`` the routing timers' credential (no API key).
- The table is composed: the core operations below, then the ``OPERATIONS`` tuple of each module of
  ``PARTS`` (the web modules ``common.web.api`` delegates a path prefix to), in that order. A part
  that is not in this build (ModuleNotFoundError for that very module) or declares no ``OPERATIONS``
  adds nothing; a part whose own imports fail (a library missing from a bundle) is left out with the
  error logged, and entries that are not ``Operation`` with a warning: one part must not take the
  admin API down. Names are unique across the table. Every part is imported on the table's first
  use, so a part keeps its module import light (heavy libraries imported inside its handlers).

A part declares its operations like this (models imported by the part, not by this module):

    from common.service.operations import Operation
    OPERATIONS: tuple[Operation, ...] = (
        Operation("list_calls", "GET", "/api/calls", "read", "The tenant's calls, newest first",
                  query=CallsQuery, response=CallList),
    )
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.service import ids

log = logging.getLogger("ivr.api")

Permission = Literal["public", "platform", "read", "edit", "deploy", "keys", "whoami", "route", "status", "task"]

#: the web modules that may add operations (``OPERATIONS``), imported on first use of the table
PARTS: tuple[str, ...] = ("common.web.routing_api", "common.web.calls_api", "common.web.events_api",
                          "common.web.reports_api")


class Query(BaseModel):
    """Query parameters. An unknown one is refused with 400 naming it (a misspelt ``?enviroment=`` filter
    silently ignored would answer with everything, which reads as a wrong answer, not an error)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class DiffQuery(Query):
    source: ids.VersionOrDraft = Field(alias="from", description="a version, or 'draft'")
    target: ids.VersionOrDraft = Field(alias="to", description="a version, or 'draft'")


class HistoryQuery(Query):
    number: ids.E164Number | None = None
    flow_id: ids.FlowId | None = Field(None, alias="flowId")
    environment: ids.Environment | None = None
    limit: int = Field(100, ge=1, le=500)


class StatusQuery(Query):
    at: str | None = Field(None, max_length=64, description="ISO 8601 instant with an offset; default now")


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    permission: Permission
    summary: str
    body: Any = None  # the model (or type) the JSON body must match; None: no body
    query: type[Query] | None = None
    success: int = 200
    also_ok: tuple[int, ...] = ()  # other success statuses, same answer (register: 200 when already yours)
    response: Any = None  # the model of the success answer
    errors: tuple[int, ...] = ()  # statuses beyond those its shape implies (see openapi.statuses)
    headers: dict[str, str] = field(default_factory=dict)  # response headers: name -> description
    request_headers: dict[str, str] = field(default_factory=dict)  # optional request headers (If-Match)

    @property
    def params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


IF_MATCH = "the etag(s) the resource must still have, or *; strong comparison"


def _operations() -> list[Operation]:
    from common.core import schedules
    from common.core.flow import Flow
    from common.service import admin, deployments, studio_import, tenants
    from common.service import api_models as m

    op = Operation  # the table reads better with a short name
    flow, tenant, schedule = "/api/flows/{flowId}", "/api/platform/tenants/{tenantId}", "/api/schedules/{name}"
    return [
        # public
        op("health", "GET", "/api/health", "public", "Whether the stack and its store answer", response=m.Health,
          errors=(503,), headers={"Retry-After": "seconds, when degraded"}),
        op("openapi", "GET", "/api/openapi.json", "public", "This document (OpenAPI 3.1)",
          response=m.OpenApiDocument),
        # any key
        op("whoami", "GET", "/api/whoami", "whoami", "The caller's tenant, role and key id", response=m.Whoami),
        # the tenant's keys
        op("list_keys", "GET", "/api/keys", "keys", "The tenant's API keys (never the keys themselves)",
          response=m.KeyList),
        op("issue_key", "POST", "/api/keys", "keys", "Issue an API key with a role (shown once)",
          body=tenants.KeyRequest, success=201, response=m.KeyIssued),
        op("revoke_key", "DELETE", "/api/keys/{keyId}", "keys", "Revoke an API key", response=m.Revoked),
        op("rotate_key", "POST", "/api/keys/{keyId}/rotate", "keys", "Replace an API key by a new one",
          success=201, errors=(409,), response=m.KeyRotated),
        # platform administration
        op("create_tenant", "POST", "/api/platform/tenants", "platform",
          "Create a tenant on its Twilio account, with a first admin key", body=tenants.TenantRequest,
          success=201, errors=(409, 422), response=m.TenantCreated),
        op("list_tenants", "GET", "/api/platform/tenants", "platform", "Every tenant", response=m.TenantList),
        op("get_tenant", "GET", tenant, "platform", "One tenant", response=m.TenantView),
        op("link_twilio", "PUT", tenant + "/twilio", "platform", "Link the tenant to its Twilio account or "
          "sub-account", body=tenants.TwilioLink, errors=(409, 422), response=m.TenantView),
        op("platform_issue_key", "POST", tenant + "/keys", "platform", "Issue an API key for the tenant",
          body=tenants.KeyRequest, success=201, response=m.KeyIssued),
        op("platform_list_keys", "GET", tenant + "/keys", "platform", "The tenant's API keys", response=m.KeyList),
        op("platform_revoke_key", "DELETE", tenant + "/keys/{keyId}", "platform", "Revoke a tenant's key",
          response=m.Revoked),
        op("platform_rotate_key", "POST", tenant + "/keys/{keyId}/rotate", "platform",
          "Replace a tenant's key by a new one", success=201, errors=(409,), response=m.KeyRotated),
        # flows
        op("list_flows", "GET", "/api/flows", "read", "The tenant's flows: versions and where they run",
          response=m.FlowList),
        op("put_flow", "PUT", flow, "edit", "Save a validated draft (If-Match: its etag)", body=Flow,
          errors=(409, 422), response=m.FlowSaved, headers={"ETag": "the new draft's etag, quoted"},
          request_headers={"If-Match": IF_MATCH}),
        op("get_flow", "GET", flow, "read", "The draft, with its ETag", response=m.FlowDocument,
          headers={"ETag": "the draft's etag, quoted"}),
        op("delete_flow", "DELETE", flow, "edit", "Delete a flow nothing runs (draft and versions)", errors=(409,),
          response=m.Deleted),
        op("import_flow", "POST", flow + "/import", "edit", "Import a Twilio Studio export as the draft, with a "
          "report per widget (If-Match: the draft's etag)", body=studio_import.StudioImportRequest,
          errors=(409, 422), response=studio_import.StudioImportResponse,
          headers={"ETag": "the new draft's etag, quoted"}, request_headers={"If-Match": IF_MATCH}),
        op("execute", "POST", flow + "/execute", "edit", "Run the flow in the simulator (nothing stored)",
          body=admin.ExecuteRequest, response=m.ExecuteResult),
        op("list_versions", "GET", flow + "/versions", "read", "Published versions", response=m.VersionList),
        op("publish", "POST", flow + "/versions", "edit", "Freeze the draft as a version",
          body=deployments.PublishRequest, success=201, errors=(409, 422), response=m.VersionView),
        op("get_version", "GET", flow + "/versions/{version}", "read", "One version, with its document",
          response=m.VersionView),
        op("diff", "GET", flow + "/diff", "read", "Semantic diff of two versions (or the draft)", query=DiffQuery,
          response=m.Diff),
        # deployments
        op("deploy", "POST", flow + "/deploy", "deploy", "Point numbers at a version, all or none",
          body=deployments.DeployRequest, errors=(409, 422), response=m.DeploymentView),
        op("promote", "POST", flow + "/promote", "deploy", "Deploy what one environment runs to another",
          body=deployments.PromoteRequest, errors=(409, 422), response=m.DeploymentView),
        op("rollback", "POST", flow + "/rollback", "deploy", "Return numbers to an earlier deployment (or to "
          "nothing: undeploy)", body=deployments.RollbackRequest, errors=(409, 422), response=m.DeploymentView),
        op("history", "GET", "/api/deployments", "read", "Deployment history, newest first", query=HistoryQuery,
          response=m.DeploymentList),
        # numbers
        op("list_numbers", "GET", "/api/numbers", "read", "The tenant's numbers and what they run",
          response=m.NumberList),
        op("register_number", "POST", "/api/numbers", "deploy", "Register a number to the tenant",
          body=admin.NumberRequest, success=201, also_ok=(200,), errors=(409, 422), response=m.NumberView),
        op("release_number", "DELETE", "/api/numbers/{phoneNumber}", "deploy", "Release a number nothing is "
          "deployed to", errors=(409,), response=m.Released),
        # schedules
        op("list_schedules", "GET", "/api/schedules", "read", "The tenant's schedules", response=m.ScheduleList),
        op("put_schedule", "PUT", schedule, "edit", "Create or replace a schedule", body=schedules.Schedule,
          errors=(422,), response=schedules.Schedule),
        op("get_schedule", "GET", schedule, "read", "One schedule", response=schedules.Schedule),
        op("delete_schedule", "DELETE", schedule, "edit", "Delete a schedule nothing running uses", errors=(409,),
          response=m.Deleted),
        op("schedule_status", "GET", schedule + "/status", "read", "Open or closed at an instant, and the next "
          "change", query=StatusQuery, response=m.ScheduleStatusView),
    ]  # fmt: skip


def part_operations(module_name: str) -> tuple[Operation, ...]:
    """The ``OPERATIONS`` a part declares; () when the part is not in this build or declares none."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # not in this build
            return ()
        # the part is here but a library it imports is not (a bundle without it): the rest of the API
        # must keep working, so the part's operations are left out, loudly
        log.exception("%s cannot be imported (%s): its operations are left out of the table", module_name, exc.name)
        return ()
    declared = tuple(getattr(module, "OPERATIONS", ()))
    others = [op for op in declared if not isinstance(op, Operation)]
    if others:  # a table of the part's own kind: not (yet) declared for the document; never break the API
        log.warning("%s.OPERATIONS holds %s, not operations.Operation: left out of the operations table",
                    module_name, type(others[0]).__name__)  # fmt: skip
    return tuple(op for op in declared if isinstance(op, Operation))


_cache: list[Operation] = []
_core: list[Operation] = []


def core_operations() -> list[Operation]:
    """The operations ``common.web.api`` serves itself (no part imported): what its router needs, since
    the parts' paths are handed to them by prefix before any routing."""
    if not _core:
        _core.extend(_operations())
    return _core


def operations() -> list[Operation]:
    """Built on first use: the models import the service modules, which import this one."""
    if not _cache:
        table = _operations()
        for part in PARTS:
            table.extend(part_operations(part))
        names = [op.name for op in table]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"operation names must be unique: {', '.join(twice)}")
        _cache.extend(table)
    return _cache

"""The admin API's operations, as data: method, path, who may call it, and the models of its query and
body. ``common.web.api`` routes by this table and ``common.service.openapi`` documents it, so the
published OpenAPI document and what the API enforces cannot drift apart.

Rules owned here:
- Path parameters are ``{name}`` segments; each name is validated by ``ids.PATH_PARAMS``.
- ``permission`` is what the caller's role must grant (see ``ROLES``); ``public`` needs no key and
  ``platform`` needs the platform admin key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.service import ids

Permission = Literal["public", "platform", "read", "edit", "deploy", "keys", "whoami"]


class Query(BaseModel):
    """Query parameters: unknown ones are ignored, like any HTTP server does."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


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
    response: Any = None  # the model of the success answer
    errors: tuple[int, ...] = ()  # statuses beyond the ones every operation may answer
    headers: dict[str, str] = field(default_factory=dict)  # response headers: name -> description

    @property
    def params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


def _operations() -> list[Operation]:
    from common.core import schedules
    from common.core.flow import Flow
    from common.service import admin, deployments

    flow = "/api/flows/{flowId}"
    return [
        Operation("health", "GET", "/api/health", "public", "Whether the stack and its store answer", errors=(503,),
                  headers={"Retry-After": "seconds, when degraded"}),
        Operation("whoami", "GET", "/api/whoami", "whoami", "The caller's tenant, role and key id"),
        Operation("list_flows", "GET", "/api/flows", "read", "The tenant's flows: versions and where they run"),
        Operation("delete_flow", "DELETE", flow, "edit", "Delete a flow nothing runs (draft and versions)",
                  errors=(404, 409)),
        Operation("list_numbers", "GET", "/api/numbers", "read", "The tenant's numbers and what they run"),
        Operation("release_number", "DELETE", "/api/numbers/{phoneNumber}", "deploy",
                  "Release a number nothing is deployed to", errors=(404, 409)),
        Operation("put_flow", "PUT", flow, "edit", "Save a validated draft (If-Match: its etag)", body=Flow,
                  errors=(409, 422), headers={"ETag": "the new draft's etag, quoted"}),
        Operation("get_flow", "GET", flow, "read", "The draft, with its ETag", errors=(404,),
                  headers={"ETag": "the draft's etag, quoted"}),
        Operation("deploy", "POST", flow + "/deploy", "deploy", "Point numbers at a version, all or none",
                  body=deployments.DeployRequest, errors=(404, 409, 422)),
        Operation("execute", "POST", flow + "/execute", "edit", "Run the flow in the simulator (nothing stored)",
                  body=admin.ExecuteRequest, errors=(404,)),
        Operation("list_versions", "GET", flow + "/versions", "read", "Published versions", errors=(404,)),
        Operation("publish", "POST", flow + "/versions", "edit", "Freeze the draft as a version",
                  body=deployments.PublishRequest, success=201, errors=(404, 409, 422)),
        Operation("get_version", "GET", flow + "/versions/{version}", "read", "One version, with its document",
                  errors=(404,)),
        Operation("diff", "GET", flow + "/diff", "read", "Semantic diff of two versions (or the draft)",
                  query=DiffQuery, errors=(404,)),
        Operation("promote", "POST", flow + "/promote", "deploy", "Deploy what one environment runs to another",
                  body=deployments.PromoteRequest, errors=(404, 409, 422)),
        Operation("rollback", "POST", flow + "/rollback", "deploy", "Return numbers to an earlier deployment",
                  body=deployments.RollbackRequest, errors=(404, 409, 422)),
        Operation("register_number", "POST", "/api/numbers", "deploy", "Register a number to the tenant",
                  body=admin.NumberRequest, success=201, errors=(409, 422, 503)),
        Operation("history", "GET", "/api/deployments", "read", "Deployment history, newest first",
                  query=HistoryQuery),
        Operation("list_schedules", "GET", "/api/schedules", "read", "The tenant's schedules"),
        Operation("put_schedule", "PUT", "/api/schedules/{name}", "edit", "Create or replace a schedule",
                  body=schedules.Schedule, errors=(422,)),
        Operation("get_schedule", "GET", "/api/schedules/{name}", "read", "One schedule", errors=(404,)),
        Operation("delete_schedule", "DELETE", "/api/schedules/{name}", "edit",
                  "Delete a schedule nothing running uses", errors=(404, 409)),
        Operation("schedule_status", "GET", "/api/schedules/{name}/status", "read",
                  "Open or closed at an instant, and the next change", query=StatusQuery, errors=(404,)),
    ]  # fmt: skip


_cache: list[Operation] = []


def operations() -> list[Operation]:
    """Built on first use: the models import the service modules, which import this one."""
    if not _cache:
        _cache.extend(_operations())
    return _cache

"""What the admin API answers, as pydantic models: the response schemas of the OpenAPI document.

The service layer builds its answers as plain dicts (``version_view``, ``deployment_view``, ...);
these models state their shape. They are checked against real answers by the schemathesis run in
tests/functions/test_openapi.py (``response_schema_conformance``), so a view that drifts from its
model fails the suite. ``extra="forbid"`` where the shape is ours; flow documents and simulator
output stay open objects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.adapters.ports import Role


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OpenView(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(OpenView):
    code: str
    message: str
    details: Any = None


class ErrorBody(View):
    error: ErrorDetail


class FlowSaved(View):
    flowId: str
    etag: str
    warnings: list[dict[str, Any]]


class FlowDocument(OpenView):
    """The FlowDesigner document exactly as saved."""

    id: str
    nodes: list[Any]


class VersionView(View):
    flowId: str
    version: str
    contentHash: str
    author: str
    message: str
    createdAt: str
    document: dict[str, Any] | None = Field(None, description="only in GET .../versions/{version}")


class VersionList(View):
    versions: list[VersionView]


class Change(View):
    phoneNumber: str
    from_: str | None = Field(alias="from")
    to: str | None


class DeploymentView(View):
    id: str
    kind: Literal["deploy", "rollback", "promote", "undeploy"]
    flowId: str
    version: str
    environment: str
    phoneNumbers: list[str]
    schedules: list[str]
    fallbackFlow: str | None
    fallbackVersion: str | None
    createdAt: str
    createdBy: str
    message: str
    changes: list[Change]


class DeploymentList(View):
    deployments: list[DeploymentView]


class Diff(OpenView):
    flowId: str
    from_: str = Field(alias="from")
    to: str
    identical: bool


class ExecuteResult(OpenView):
    transcript: list[dict[str, Any]]
    path: list[str]
    variables: dict[str, Any]


class NumberDeployment(View):
    id: str
    flowId: str
    version: str
    schedules: list[str]
    fallbackFlow: str | None
    fallbackVersion: str | None
    createdAt: str
    createdBy: str


class NumberView(View):
    phoneNumber: str
    environment: str
    fallbackDial: str | None
    deployment: NumberDeployment | None


class NumberList(View):
    numbers: list[NumberView]


class DeployedTo(View):
    phoneNumber: str
    environment: str
    version: str | None
    role: Literal["flow", "fallback"]


class FlowSummary(View):
    flowId: str
    name: str
    etag: str
    updatedAt: str
    updatedBy: str
    versions: int
    latestVersion: str | None
    deployedTo: list[DeployedTo]


class FlowList(View):
    flows: list[FlowSummary]


class Deleted(View):
    deleted: str


class Released(View):
    released: str


class Revoked(View):
    revoked: str


class ScheduleList(View):
    schedules: list[dict[str, Any]]


class ScheduleStatusView(View):
    schedule: str
    at: str
    open: bool
    reason: str
    nextChange: str | None


class Health(View):
    status: Literal["ok", "degraded"]
    store: str
    version: str | None = None


class Whoami(View):
    tenant: str
    role: Role
    keyId: str


class KeyView(View):
    keyId: str
    label: str
    role: Role
    createdAt: str
    revoked: bool


class KeyList(View):
    keys: list[KeyView]


class KeyIssued(View):
    keyId: str
    key: str = Field(description="shown once: only its hash is stored")
    role: Role
    label: str


class KeyRotated(View):
    keyId: str
    key: str
    replaces: str


class TenantView(View):
    id: str
    name: str
    twilioAccountSid: str
    createdAt: str


class TenantList(View):
    tenants: list[TenantView]


class AdminKey(View):
    keyId: str
    key: str


class TenantCreated(View):
    tenant: TenantView
    adminKey: AdminKey


class OpenApiDocument(OpenView):
    openapi: str

"""The admin API's service layer: tenants, API keys, flow drafts, numbers and the execute simulator.
(Versions, deployments and schedules: ``deployments``.)

Rules owned here:
- Every request is a tenant's: ``authenticate`` maps ``Authorization: Bearer <key>`` to a tenant via
  the key's HMAC-SHA256 hash (keys are never stored in clear). Every lookup is scoped by that tenant,
  and another tenant's flow or number is reported exactly like a missing one (404), so existence
  does not leak.
- A number can be registered only when Twilio lists it on the tenant's account (``NumberOwnership``;
  local stacks trust every claim): numbers are global, and a claim decides whose flow answers.
- Drafts carry an etag; a write with ``If-Match`` that no longer matches gets 409 and changes nothing.
- ``execute`` runs the in-process simulator: nothing is stored or billed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from common.adapters.ports import (
    ApiKey,
    Conflict,
    FlowDraft,
    NumberOwnership,
    PhoneNumber,
    Store,
    Tenant,
)  # fmt: skip
from common.config import Settings
from common.core import simulator, validation, versioning
from common.core.flow import E164_PATTERN
from common.service import ids
from common.service.access import Principal, key_id_of
from common.service.calls import FlowCache, NumberCache


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class NumberRequest(_Body):
    phone_number: ids.E164Number
    environment: ids.Environment = "production"
    fallback_dial: ids.E164Number | None = None


class HttpMockBody(_Body):
    match: str
    status: int = 200
    body: Any = ""
    method: str | None = None


class ExecuteRequest(_Body):
    inputs: list[str] = Field(default_factory=list, max_length=500)
    version: ids.Version | None = None
    http: list[HttpMockBody] = Field(default_factory=list, max_length=100)
    now: datetime | None = None
    caller: str = Field("+15005550006", alias="from", pattern=E164_PATTERN)
    to: str = Field("+13072249663", pattern=E164_PATTERN)
    schedules: dict[str, bool] = Field(default_factory=dict)
    include_twiml: bool = False


def parse(model: type[BaseModel], body: Any, where: str = "") -> Any:
    """``body`` as ``model``, or a 400 naming every invalid field (prefixed by ``where``: "query")."""
    try:
        return model.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise invalid(exc, 400, "invalid_request", where, model) from exc


def invalid(exc: ValidationError, status: int, code: str, where: str = "",
            model: type[BaseModel] | None = None) -> ApiError:  # fmt: skip
    """An ApiError naming every invalid field (dotted path) and leading with the first; with the
    ``model`` that raised, each message says what is wrong and how to fix it in our words."""
    explained: list[tuple[str, str]] | None = None
    if model is not None:
        from common.core.field_messages import explain

        try:
            explained = explain(model, exc)
        except Exception:  # wording is a courtesy: never let it turn a 400 into a 500
            explained = None
    if explained:
        details = [{"field": ".".join(p for p in (where, path) if p), "message": message}
                   for path, message in explained]  # fmt: skip
    else:
        details = [{"field": ".".join(map(str, (where, *e["loc"]) if where else e["loc"])), "message": e["msg"]}
                   for e in exc.errors(include_url=False)]  # fmt: skip
    return ApiError(status, code, f"{details[0]['field'] or 'body'}: {details[0]['message']}", details)


def hash_key(key: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


class AdminService:
    def __init__(self, store: Store, settings: Settings, now: Callable[[], datetime],
                 flows: FlowCache, numbers: NumberCache, ownership: NumberOwnership) -> None:  # fmt: skip
        self.store, self.settings, self.now = store, settings, now
        self.flows, self.numbers, self.ownership = flows, numbers, ownership

    # -- tenants ---------------------------------------------------------------------------------

    def create_tenant(self, tenant: Tenant, api_key: str | None = None, label: str = "") -> str:
        """Create or update a tenant and give it an admin API key (generated unless given). Returns the key.
        For code and seeding (``seed_demo``); the platform API is ``TenantService.create``."""
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", tenant.id):
            raise ValueError(f"tenant id {tenant.id!r}: use 1-40 lower-case letters, digits, '_' or '-'")
        stamp = self.now().isoformat()
        self.store.put_tenant(tenant if tenant.created_at else tenant.model_copy(update={"created_at": stamp}))
        key = api_key or f"ivr_{tenant.id}_{secrets.token_urlsafe(24)}"
        self.store.put_api_key(ApiKey(key_hash=hash_key(key, self.settings.api_key_pepper), tenant_id=tenant.id,
                                      label=label, created_at=stamp, key_id=f"key_{secrets.token_hex(8)}",
                                      role="admin"))  # fmt: skip
        return key

    def authenticate(self, authorization: str | None) -> Tenant:
        """The tenant of a valid key (any role)."""
        return self.identify(authorization).tenant

    def identify(self, authorization: str | None) -> Principal:
        """Who sends ``Authorization: Bearer <key>``: tenant, role and key id; 401 otherwise."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <API key>'")
        found = self.store.get_api_key(hash_key(key.strip(), self.settings.api_key_pepper))
        if found is not None and found.revoked:
            raise ApiError(401, "unauthenticated", f"the API key {key_id_of(found)} was revoked")
        tenant = self.store.get_tenant(found.tenant_id) if found else None
        if tenant is None or found is None:
            raise ApiError(401, "unauthenticated", "the API key is not valid")
        return Principal(tenant, found.role, key_id_of(found))

    # -- flows -----------------------------------------------------------------------------------

    def put_flow(self, tenant: Tenant, flow_id: str, body: Any, if_match: str | list[str] | None,
                 author: str = "") -> dict[str, Any]:  # fmt: skip
        """Save a draft. ``if_match``: None (unconditional), one etag, or the etags any of which the
        stored draft must carry (``"*"``: any existing draft); otherwise 409 and nothing changes."""
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "the body must be a FlowDesigner flow (a JSON object)")
        if body.get("id", flow_id) != flow_id:
            raise ApiError(400, "invalid_request", f"body id {body.get('id')!r} differs from the URL's {flow_id!r}")
        document = {**body, "id": flow_id}
        report = validation.validate(document)
        if not report.ok:
            raise ApiError(422, "flow_invalid", f"{len(report.errors)} error(s); the flow was not saved",
                           report.model_dump(mode="json"))  # fmt: skip
        etag = versioning.content_hash(document)[:16] + "-" + uuid.uuid4().hex[:8]
        draft = FlowDraft(tenant_id=tenant.id, flow_id=flow_id, etag=etag, updated_by=author,
                          document=json.dumps(document, sort_keys=True), updated_at=self.now().isoformat())  # fmt: skip
        try:
            self.store.save_draft(draft, self._expected_etag(tenant, flow_id, if_match))
        except Conflict as exc:
            raise ApiError(409, "conflict", f"{exc}; reload the flow and apply your change again") from exc
        return {"flowId": flow_id, "etag": etag, "warnings": [w.model_dump(mode="json") for w in report.warnings]}

    def _expected_etag(self, tenant: Tenant, flow_id: str, if_match: str | list[str] | None) -> str | None:
        """The one etag the store's conditional save must check. A single tag goes to the store as it
        is (one read); ``*`` or several tags need the current draft read first, and the store then
        checks that it is still the one read."""
        tags = [if_match] if isinstance(if_match, str) else if_match
        if tags is None:
            return None
        if len(tags) == 1 and tags[0] != "*":
            return tags[0]
        current = self.store.get_draft(tenant.id, flow_id)
        if current is None or not ("*" in tags or current.etag in tags):
            what = "no draft exists" if current is None else "its etag is none of " + ", ".join(tags or ["(none)"])
            raise ApiError(409, "conflict", f"If-Match does not hold for flow '{flow_id}': {what} (weak etags "
                           "never match); reload the flow and apply your change again")  # fmt: skip
        return current.etag

    def get_flow(self, tenant: Tenant, flow_id: str) -> tuple[dict[str, Any], str]:
        draft = self.store.get_draft(tenant.id, flow_id)
        if draft is None:
            raise ApiError(404, "not_found", f"flow '{flow_id}' does not exist")
        return json.loads(draft.document), draft.etag

    # -- numbers and deployments -----------------------------------------------------------------

    def register_number(self, tenant: Tenant, body: Any) -> tuple[int, dict[str, Any]]:
        request: NumberRequest = parse(NumberRequest, body)
        existing = self.store.get_number(request.phone_number)
        if existing is not None:
            if existing.tenant_id != tenant.id:
                raise ApiError(409, "number_taken", f"{request.phone_number} belongs to another tenant")
            return 200, number_view(existing)
        owned = self.ownership.owns(tenant.twilio_account_sid, request.phone_number)
        if owned is None:
            raise ApiError(503, "ownership_unknown", f"could not ask Twilio whether {request.phone_number} belongs "
                           f"to account {tenant.twilio_account_sid}; nothing was changed, try again")  # fmt: skip
        if not owned:
            raise ApiError(422, "number_not_owned", f"{request.phone_number} is not a number of your Twilio "
                           f"account {tenant.twilio_account_sid}; buy or port it there first")  # fmt: skip
        number = PhoneNumber(number=request.phone_number, tenant_id=tenant.id,
                             account_sid=tenant.twilio_account_sid, environment=request.environment,
                             fallback_dial=request.fallback_dial)  # fmt: skip
        try:
            self.store.create_number(number)
        except Conflict as exc:
            raise ApiError(409, "number_taken", f"{request.phone_number} was registered concurrently") from exc
        return 201, number_view(number)

    # -- execute ---------------------------------------------------------------------------------

    def execute(self, tenant: Tenant, flow_id: str, body: Any) -> dict[str, Any]:
        request: ExecuteRequest = parse(ExecuteRequest, body)
        if request.version:
            stored = self.store.get_version(tenant.id, flow_id, request.version)
            if stored is None:
                raise ApiError(404, "not_found", f"flow '{flow_id}' has no version {request.version}")
            compiled = self.flows.get(tenant.id, flow_id, request.version)
        else:
            document, _ = self.get_flow(tenant, flow_id)
            compiled = validation.compile_flow(document)
        mocks = [simulator.HttpMock(m.match, m.status, m.body if isinstance(m.body, str) else json.dumps(m.body),
                                    m.method) for m in request.http]  # fmt: skip
        table = dict(request.schedules)
        try:
            result = simulator.simulate(
                compiled, request.inputs, now=_aware(request.now) or self.now(), http=mocks,
                caller_number=request.caller, dialled_number=request.to,
                version=request.version or "draft", schedules=lambda name, at: table.get(name),
                tenant=tenant.id,
            )  # fmt: skip
        except simulator.ScriptError as exc:
            raise ApiError(400, "invalid_request", f"inputs: {exc}") from exc
        out = result.to_dict()
        if not request.include_twiml:
            out.pop("twiml")
        return out


def _aware(at: datetime | None) -> datetime | None:
    """An ``execute`` clock given without an offset means UTC, not this server's local time."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def number_view(number: PhoneNumber) -> dict[str, Any]:
    d = number.deployment
    return {"phoneNumber": number.number, "environment": number.environment, "fallbackDial": number.fallback_dial,
            "deployment": None if d is None else
            {"id": d.id, "flowId": d.flow_id, "version": d.version, "schedules": d.schedules,
             "fallbackFlow": d.fallback_flow, "fallbackVersion": d.fallback_version, "createdAt": d.created_at,
             "createdBy": d.created_by}}  # fmt: skip

"""Versions, deployments, promotion, rollback and schedules: what the "Promote to Production" button
and the operators behind it need.

Rules owned here:
- Publishing freezes the draft as an immutable version ``MAJOR.MINOR.PATCH`` with a content hash of
  its canonical form (layout excluded). Publishing content identical to an existing version is refused
  (409 ``duplicate_content``) and names that version; a version number is never reused.
- A deployment points a set of numbers of one environment at (flow, version), optionally gated by
  schedules with a fallback flow. Everything is checked first and every problem reported; then all
  numbers switch in one atomic store operation, or none do. A number runs exactly one deployment (the
  latest); a new deployment to it replaces the previous one, which stays in the history.
- Which flow serves a call (decided once, when the call arrives, and pinned for its whole life):
    * no schedules: the deployed flow version;
    * schedules: the deployed flow while ANY of them is open at that instant, else the fallback
      flow's version pinned at deploy time (its highest published version then). A schedule deleted
      after the deploy counts as closed. Deploying schedules without a fallback flow is refused.
- Rollback returns numbers to what they ran before their current deployment (or to a named
  deployment or version) and is itself recorded as a new deployment, so rolling back a rollback
  re-applies the change. Promotion deploys the version an environment runs to another environment.
- Another tenant's flows, numbers, deployments and schedules are reported as not found.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from common.adapters.ports import (
    Conflict,
    Deployment,
    FlowVersion,
    PhoneNumber,
    Store,
    Tenant,
)
from common.config import Settings
from common.core import validation, versioning
from common.core.flow import E164_PATTERN
from common.service import ids
from common.service.admin import ApiError, _Body, parse
from common.service.calls import FlowCache, NumberCache, ScheduleCache
from common.service.schedule_admin import ScheduleAdmin

Kind = Literal["deploy", "rollback", "promote", "undeploy"]


class PublishRequest(_Body):
    version: ids.Version | None = Field(None, description="MAJOR.MINOR.PATCH; default: the next patch")
    message: str = Field("", max_length=500)


class DeployRequest(_Body):
    phone_numbers: list[str] = Field(min_length=1, max_length=100)
    environment: ids.Environment = "production"
    version: ids.Version | None = Field(None, description="default: publish the draft (or reuse its version)")
    schedules: list[ids.ScheduleName] = Field(default_factory=list, max_length=20)
    fallback_flow: ids.FlowId | None = None
    message: str = Field("", max_length=500)


class RollbackRequest(_Body):
    phone_numbers: list[str] = Field(min_length=1, max_length=100)
    environment: ids.Environment = "production"
    deployment: ids.DeploymentId | None = None
    version: ids.Version | None = None
    undeploy: bool = Field(False, description="take the numbers off: afterwards they run nothing")
    message: str = Field("", max_length=500)


class PromoteRequest(_Body):
    phone_numbers: list[str] = Field(min_length=1, max_length=100)
    source: ids.Environment = Field("staging", alias="from")
    target: ids.Environment = Field("production", alias="to")
    message: str = Field("", max_length=500)


def _ref(deployment: Deployment | None) -> dict[str, str] | None:
    if deployment is None:
        return None
    return {"id": deployment.id, "flow_id": deployment.flow_id, "version": deployment.version}


def deployment_view(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id, "kind": d.kind, "flowId": d.flow_id, "version": d.version, "environment": d.environment,
        "phoneNumbers": d.phone_numbers, "schedules": d.schedules, "fallbackFlow": d.fallback_flow,
        "fallbackVersion": d.fallback_version, "createdAt": d.created_at, "createdBy": d.created_by,
        "message": d.message,
        "changes": [{"phoneNumber": n, "from": (f"{p['flow_id']}@{p['version']}" if p else None),
                     "to": None if d.kind == "undeploy" else f"{d.flow_id}@{d.version}"}
                    for n, p in d.previous.items()],
    }  # fmt: skip


def version_view(v: FlowVersion, with_document: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"flowId": v.flow_id, "version": v.version, "contentHash": v.content_hash,
                           "author": v.author, "message": v.message, "createdAt": v.created_at}  # fmt: skip
    if with_document:
        out["document"] = json.loads(v.document)
    return out


_sequence = itertools.count()


def _deployment_id(now: datetime) -> str:
    """Ids that sort by creation (milliseconds, then a per-process sequence for ties), then random."""
    return f"dep_{int(now.timestamp() * 1000):013d}{next(_sequence) % 1_000_000:06d}{uuid.uuid4().hex[:6]}"


def _semver_key(version: str) -> tuple[int, int, int]:
    return versioning.parse_semver(version) or (-1, -1, -1)


class DeploymentService(ScheduleAdmin):
    def __init__(self, store: Store, settings: Settings, now: Callable[[], datetime], flows: FlowCache,
                 numbers: NumberCache, schedules: ScheduleCache) -> None:  # fmt: skip
        self.store, self.settings, self.now = store, settings, now
        self.flows, self.numbers, self.schedules = flows, numbers, schedules
        #: the tenant's department ids, when department routing is wired (bootstrap sets it): publish
        #: and deploy refuse flows that transfer to a department the tenant lacks
        self.departments_of: Callable[[str], set[str]] | None = None

    def _departments(self, tenant: Tenant) -> set[str] | None:
        return self.departments_of(tenant.id) if self.departments_of is not None else None

    # -- versions --------------------------------------------------------------------------------

    def _draft(self, tenant: Tenant, flow_id: str) -> dict[str, Any]:
        draft = self.store.get_draft(tenant.id, flow_id)
        if draft is None:
            raise ApiError(404, "not_found", f"flow '{flow_id}' does not exist")
        document: dict[str, Any] = json.loads(draft.document)
        return document

    def publish(self, tenant: Tenant, flow_id: str, body: Any, author: str) -> FlowVersion:
        request: PublishRequest = parse(PublishRequest, body)
        return self._publish(tenant, flow_id, request.version, request.message, author, reuse=False)

    def _publish(self, tenant: Tenant, flow_id: str, version: str | None, message: str, author: str,
                 reuse: bool) -> FlowVersion:  # fmt: skip
        document = self._draft(tenant, flow_id)
        known = {r.name for r in self.store.list_schedules(tenant.id)}
        report = validation.validate(document, schedules=known, departments=self._departments(tenant))
        if not report.ok:
            raise ApiError(422, "flow_invalid", f"the draft cannot be published: {report.errors[0].render()}",
                           report.model_dump(mode="json"))  # fmt: skip
        digest = versioning.content_hash(document)
        existing = self.store.list_versions(tenant.id, flow_id)
        retired = self.store.get_retired_flow(tenant.id, flow_id)  # a deleted flow's numbers stay used
        taken = [v.version for v in existing] + ([retired.last_version] if retired and retired.last_version else [])
        same = next((v for v in existing if v.content_hash == digest), None)
        if same is not None:
            if reuse and version is None:
                return same
            raise ApiError(409, "duplicate_content", f"version {same.version} already has exactly this "
                           f"content; deploy {same.version} instead of publishing it again")  # fmt: skip
        number = version or versioning.next_patch(taken)
        if versioning.parse_semver(number) is None:
            raise ApiError(400, "invalid_request", f"version {number!r} is not MAJOR.MINOR.PATCH (e.g. 1.2.0)")
        latest = max(taken, key=_semver_key, default=None)
        if latest is not None and _semver_key(number) <= _semver_key(latest):
            raise ApiError(409, "version_not_newer", f"version {number} is not newer than the latest, {latest}")
        published = FlowVersion(tenant_id=tenant.id, flow_id=flow_id, version=number, author=author,
                                document=json.dumps(document, sort_keys=True), content_hash=digest,
                                message=message, created_at=self.now().isoformat())  # fmt: skip
        try:
            self.store.create_version(published)
        except Conflict as exc:
            raise ApiError(409, "version_exists", f"{exc}; pick the next version number") from exc
        return published

    def list_versions(self, tenant: Tenant, flow_id: str) -> list[dict[str, Any]]:
        versions = self.store.list_versions(tenant.id, flow_id)
        if not versions and self.store.get_draft(tenant.id, flow_id) is None:
            raise ApiError(404, "not_found", f"flow '{flow_id}' does not exist")
        return [version_view(v) for v in sorted(versions, key=lambda v: _semver_key(v.version))]

    def get_version(self, tenant: Tenant, flow_id: str, version: str) -> FlowVersion:
        found = self.store.get_version(tenant.id, flow_id, version)
        if found is None:
            raise ApiError(404, "not_found", f"flow '{flow_id}' has no version {version}")
        return found

    def diff(self, tenant: Tenant, flow_id: str, old: str, new: str) -> dict[str, Any]:
        def load(version: str) -> dict[str, Any]:
            if version == "draft":
                return self._draft(tenant, flow_id)
            loaded: dict[str, Any] = json.loads(self.get_version(tenant, flow_id, version).document)
            return loaded

        return {"flowId": flow_id, "from": old, "to": new, **versioning.diff(load(old), load(new))}

    # -- deploy, promote, rollback ---------------------------------------------------------------

    def _numbers(self, tenant: Tenant, raw: list[str], environment: str,
                 problems: list[str]) -> dict[str, PhoneNumber]:  # fmt: skip
        found: dict[str, PhoneNumber] = {}
        for number in raw:
            record = self.store.get_number(number) if re.fullmatch(E164_PATTERN, number) else None
            if not re.fullmatch(E164_PATTERN, number):
                problems.append(f"{number!r} is not an E.164 number (e.g. +14155550123)")
            elif record is None or record.tenant_id != tenant.id:
                problems.append(f"{number} is not one of your numbers; register it with POST /api/numbers")
            elif record.environment != environment:
                problems.append(f"{number} belongs to environment '{record.environment}', not '{environment}'")
            elif number in found:
                problems.append(f"{number} is listed twice")
            else:
                found[number] = record
        return found

    def _fallback_version(self, tenant: Tenant, flow_id: str, fallback: str | None,
                          problems: list[str]) -> str | None:  # fmt: skip
        if fallback is None:
            return None
        if fallback == flow_id:
            problems.append(f"fallbackFlow '{fallback}' is the flow being deployed: it would fall back to itself")
            return None
        versions = self.store.list_versions(tenant.id, fallback)
        if not versions:
            problems.append(f"fallbackFlow '{fallback}' has no published version; publish it first")
            return None
        return max((v.version for v in versions), key=_semver_key)

    def _hours_schedules(self, tenant: Tenant, flow_id: str | None, version: str | None) -> set[str]:
        """Schedule names read by the hoursNodes of one published version (none when it is missing)."""
        if not flow_id or not version:
            return set()
        found = self.store.get_version(tenant.id, flow_id, version)
        if found is None:
            return set()
        nodes = json.loads(found.document).get("nodes", [])
        return {n["data"]["schedule"] for n in nodes if n.get("type") == "hoursNode"}

    def _check_schedules(self, tenant: Tenant, names: list[str], fallback: str | None, problems: list[str],
                         versions: tuple[tuple[str | None, str | None], ...] = ()) -> None:  # fmt: skip
        known = {r.name for r in self.store.list_schedules(tenant.id)}
        for name in names:
            if name not in known:
                problems.append(f"schedule '{name}' does not exist; create it with PUT /api/schedules/{name}")
        if names and fallback is None:
            problems.append("schedules need a fallbackFlow to serve callers while they are closed")
        for flow_id, version in versions:
            for name in sorted(self._hours_schedules(tenant, flow_id, version) - known):
                problems.append(f"{flow_id}@{version} has an hoursNode reading schedule '{name}', which does "
                                "not exist; create it first")  # fmt: skip
        departments = self._departments(tenant)
        if departments is not None:  # a version published earlier may name a department deleted since
            for flow_id, version in versions:
                for name in sorted(self._transfer_departments(tenant, flow_id, version) - departments):
                    problems.append(f"{flow_id}@{version} transfers to department '{name}', which does not "
                                    f"exist; create it with PUT /api/departments/{name}")  # fmt: skip

    def _transfer_departments(self, tenant: Tenant, flow_id: str | None, version: str | None) -> set[str]:
        if not flow_id or not version:
            return set()
        found = self.store.get_version(tenant.id, flow_id, version)
        if found is None:
            return set()
        targets = [n.get("data", {}).get("target", {}) for n in json.loads(found.document).get("nodes", [])
                   if n.get("type") == "transferNode"]  # fmt: skip
        return {t["department"] for t in targets if isinstance(t, dict) and t.get("type") == "department"}

    def _recheck(self, tenant: Tenant, earlier: Deployment, problems: list[str]) -> None:
        """Re-applying an earlier deployment: its schedules may have been deleted since."""
        versions = ((earlier.flow_id, earlier.version), (earlier.fallback_flow, earlier.fallback_version))
        if earlier.kind == "undeploy":
            problems.append(f"deployment {earlier.id} took numbers off; name one that ran a flow")
            return
        for flow_id, version in versions:  # a deleted flow leaves its deployments in the history
            if flow_id and version and self.store.get_version(tenant.id, flow_id, version) is None:
                problems.append(f"{flow_id}@{version} no longer exists (the flow was deleted)")
        self._check_schedules(tenant, earlier.schedules, earlier.fallback_flow, problems, versions)

    def _switch(self, deployment: Deployment, numbers: dict[str, PhoneNumber]) -> dict[str, Any]:
        expected = {n: (r.deployment.id if r.deployment else None) for n, r in numbers.items()}
        try:
            self.store.deploy(deployment, expected)
        except Conflict as exc:
            raise ApiError(409, "conflict", f"{exc}; nothing was changed, retry") from exc
        for number in numbers:
            self.numbers.forget(number)
        return deployment_view(deployment)

    def _new(self, tenant: Tenant, kind: Kind, flow_id: str, version: str, environment: str,
             numbers: dict[str, PhoneNumber], author: str, message: str, schedules: list[str],
             fallback_flow: str | None, fallback_version: str | None) -> Deployment:  # fmt: skip
        previous = {n: _ref(r.deployment) for n, r in numbers.items()}
        return Deployment(
            id=_deployment_id(self.now()), tenant_id=tenant.id, flow_id=flow_id, version=version,
            environment=environment, schedules=schedules, fallback_flow=fallback_flow,
            fallback_version=fallback_version, previous=previous,
            message=message, created_at=self.now().isoformat(), created_by=author,
            phone_numbers=list(numbers), kind=kind,
        )  # fmt: skip

    def deploy(self, tenant: Tenant, flow_id: str, body: Any, author: str) -> dict[str, Any]:
        request: DeployRequest = parse(DeployRequest, body)
        problems: list[str] = []
        numbers = self._numbers(tenant, request.phone_numbers, request.environment, problems)
        if request.version is not None and self.store.get_version(tenant.id, flow_id, request.version) is None:
            problems.append(f"flow '{flow_id}' has no version {request.version}; publish it first")
        fallback_version = self._fallback_version(tenant, flow_id, request.fallback_flow, problems)
        self._check_schedules(tenant, request.schedules, request.fallback_flow, problems,
                              ((flow_id, request.version), (request.fallback_flow, fallback_version)))  # fmt: skip
        if problems:
            raise ApiError(422, "deploy_invalid", problems[0], problems)
        version = request.version or self._publish(tenant, flow_id, None, request.message, author, reuse=True).version
        deployment = self._new(tenant, "deploy", flow_id, version, request.environment, numbers, author,
                               request.message, request.schedules, request.fallback_flow, fallback_version)  # fmt: skip
        return self._switch(deployment, numbers)

    def promote(self, tenant: Tenant, flow_id: str, body: Any, author: str) -> dict[str, Any]:
        request: PromoteRequest = parse(PromoteRequest, body)
        source = next((d for d in self.store.list_deployments(tenant.id, 500) if d.environment == request.source
                       and d.flow_id == flow_id and d.kind != "undeploy"), None)  # fmt: skip
        problems: list[str] = []
        if source is None:
            problems.append(f"flow '{flow_id}' has never been deployed to '{request.source}'")
        numbers = self._numbers(tenant, request.phone_numbers, request.target, problems)
        if source is not None:
            self._recheck(tenant, source, problems)
        if problems or source is None:
            raise ApiError(422, "promote_invalid", problems[0], problems)
        deployment = self._new(tenant, "promote", flow_id, source.version, request.target, numbers, author,
                               request.message or f"promoted from {request.source} ({source.id})",
                               source.schedules, source.fallback_flow, source.fallback_version)  # fmt: skip
        return self._switch(deployment, numbers)

    def rollback(self, tenant: Tenant, flow_id: str, body: Any, author: str) -> dict[str, Any]:
        request: RollbackRequest = parse(RollbackRequest, body)
        problems: list[str] = []
        numbers = self._numbers(tenant, request.phone_numbers, request.environment, problems)
        if request.undeploy:
            return self._undeploy(tenant, flow_id, request, numbers, problems, author)
        targets: dict[str, Deployment | None] = {}
        for number, record in numbers.items():
            current = record.deployment
            if current is None or current.flow_id != flow_id:
                problems.append(f"{number} does not run flow '{flow_id}' now; nothing to roll back")
                continue
            if request.deployment:
                targets[number] = self.store.get_deployment(tenant.id, request.deployment)
            elif request.version:
                targets[number] = current.model_copy(update={"version": request.version})
                if self.store.get_version(tenant.id, flow_id, request.version) is None:
                    problems.append(f"flow '{flow_id}' has no version {request.version}")
            else:
                ref = current.previous.get(number)
                ref_id = ref["id"] if ref else None
                targets[number] = self.store.get_deployment(tenant.id, ref_id) if ref_id else None
                if targets[number] is None:
                    problems.append(f"{number} has no earlier deployment to return to")
        if request.deployment and any(t is None for t in targets.values()):
            problems.append(f"deployment '{request.deployment}' does not exist")
        distinct = {(t.flow_id, t.version, tuple(t.schedules), t.fallback_flow) for t in targets.values() if t}
        if len(distinct) > 1:
            problems.append("these numbers return to different deployments; roll them back in separate "
                            "requests or name the deployment or version to return to")  # fmt: skip
        target = next((t for t in targets.values() if t is not None), None)
        if target is not None:
            self._recheck(tenant, target, problems)
        if problems or target is None:
            raise ApiError(422, "rollback_invalid", problems[0] if problems else "nothing to roll back", problems)
        if target.environment != request.environment:
            raise ApiError(422, "rollback_invalid", f"deployment {target.id} is for '{target.environment}'")
        deployment = self._new(tenant, "rollback", target.flow_id, target.version, request.environment, numbers,
                               author, request.message or f"rollback to {target.flow_id}@{target.version}",
                               target.schedules, target.fallback_flow, target.fallback_version)  # fmt: skip
        return self._switch(deployment, numbers)

    def _undeploy(self, tenant: Tenant, flow_id: str, request: RollbackRequest, numbers: dict[str, PhoneNumber],
                  problems: list[str], author: str) -> dict[str, Any]:  # fmt: skip
        if request.deployment or request.version:
            problems.append("undeploy takes the numbers off: give no deployment or version with it")
        for number, record in numbers.items():
            if record.deployment is None or record.deployment.flow_id != flow_id:
                problems.append(f"{number} does not run flow '{flow_id}' now; nothing to take off")
        if problems:
            raise ApiError(422, "rollback_invalid", problems[0], problems)
        deployment = self._new(tenant, "undeploy", flow_id, "", request.environment, numbers, author,
                               request.message or f"took {flow_id} off", [], None, None)  # fmt: skip
        return self._switch(deployment, numbers)

    def history(self, tenant: Tenant, number: str | None, flow_id: str | None, environment: str | None,
                limit: int = 100) -> list[dict[str, Any]]:  # fmt: skip
        out = []
        for d in self.store.list_deployments(tenant.id, 1000):
            if number and number not in d.phone_numbers:
                continue
            if flow_id and d.flow_id != flow_id:
                continue
            if environment and d.environment != environment:
                continue
            out.append(deployment_view(d))
            if len(out) >= limit:
                break
        return out

"""What a tenant has, and taking things away: list flows and numbers, delete a flow, release a number,
and the health of the stack.

Rules owned here:
- A flow is deleted with its draft and every version; its deployment history stays. It cannot be
  deleted while any number runs it or falls back to it (409 ``flow_deployed``, naming the numbers).
  What remains is a ``RetiredFlow`` marker with its highest version, so a flow later created under the
  same id continues the numbering instead of reusing a version number: compiled versions are cached
  by number on every instance, and a reused number would let an instance serve the old content.
- A number is released (deleted, free for anyone to register again) only while no deployment points
  at it (409 ``number_deployed``, saying how to take it off: a rollback with ``"undeploy": true``).
- Another tenant's flows and numbers are reported as not found.
- Health answers without a key: 200 when the store answers one bounded read, 503 otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from common.adapters.ports import Conflict, PhoneNumber, RetiredFlow, Store, StoreUnavailable, Tenant
from common.config import package_version
from common.core import versioning
from common.service.admin import ApiError, number_view
from common.service.calls import NumberCache


def latest_version(numbers: Sequence[str | None]) -> str | None:
    known = [n for n in numbers if n and versioning.parse_semver(n)]
    return max(known, key=lambda n: versioning.parse_semver(n) or (-1, -1, -1), default=None)


def _uses(number: PhoneNumber, flow_id: str) -> list[tuple[str, str | None]]:
    """(role, version) of ``flow_id`` in what ``number`` runs now: the flow itself, its fallback."""
    d = number.deployment
    if d is None:
        return []
    found: list[tuple[str, str | None]] = []
    if d.flow_id == flow_id:
        found.append(("flow", d.version))
    if d.fallback_flow == flow_id:
        found.append(("fallback", d.fallback_version))
    return found


class InventoryService:
    def __init__(self, store: Store, now: Callable[[], datetime], numbers: NumberCache) -> None:
        self.store, self.now, self.numbers = store, now, numbers

    # -- flows -----------------------------------------------------------------------------------

    def list_flows(self, tenant: Tenant) -> list[dict[str, Any]]:
        numbers = self.store.list_numbers(tenant.id)
        out = []
        for draft in self.store.list_drafts(tenant.id):
            versions = self.store.list_version_numbers(tenant.id, draft.flow_id)
            name = _name_of(draft.document)
            out.append({
                "flowId": draft.flow_id, "name": name, "etag": draft.etag, "updatedAt": draft.updated_at,
                "updatedBy": draft.updated_by, "versions": len(versions), "latestVersion": latest_version(versions),
                "deployedTo": [{"phoneNumber": n.number, "environment": n.environment, "version": version,
                                "role": role} for n in numbers for role, version in _uses(n, draft.flow_id)],
            })  # fmt: skip
        return out

    def delete_flow(self, tenant: Tenant, flow_id: str, author: str) -> dict[str, Any]:
        if self.store.get_draft(tenant.id, flow_id) is None:
            raise ApiError(404, "not_found", f"flow '{flow_id}' does not exist")
        users = [n for n in self.store.list_numbers(tenant.id) if _uses(n, flow_id)]
        if users:
            where = ", ".join(f"{n.number} ({n.environment})" for n in users)
            raise ApiError(409, "flow_deployed", f"flow '{flow_id}' is deployed (or the fallback) on {where}; "
                           "deploy another flow to those numbers, or take them off with POST /api/flows/<flow>/"
                           'rollback {"phoneNumbers": [...], "undeploy": true}, then delete it',
                           [{"phoneNumber": n.number, "environment": n.environment} for n in users])  # fmt: skip
        retired = self.store.get_retired_flow(tenant.id, flow_id)
        last = latest_version([*self.store.list_version_numbers(tenant.id, flow_id),
                               retired.last_version if retired else None])  # fmt: skip
        marker = RetiredFlow(tenant_id=tenant.id, flow_id=flow_id, last_version=last,
                             deleted_at=self.now().isoformat(), deleted_by=author)  # fmt: skip
        try:
            deleted = self.store.delete_flow(marker)
        except Conflict as exc:
            raise ApiError(409, "conflict", f"{exc}; reload and try again") from exc
        if not deleted:
            raise ApiError(404, "not_found", f"flow '{flow_id}' does not exist")
        return {"deleted": flow_id}

    # -- numbers ---------------------------------------------------------------------------------

    def list_numbers(self, tenant: Tenant) -> list[dict[str, Any]]:
        return [number_view(n) for n in self.store.list_numbers(tenant.id)]

    def release_number(self, tenant: Tenant, number: str) -> dict[str, Any]:
        record = self.store.get_number(number)
        if record is None or record.tenant_id != tenant.id:
            raise ApiError(404, "not_found", f"{number} is not one of your numbers")
        try:
            if record.deployment is not None:
                raise Conflict(record.deployment.id)
            released = self.store.release_number(number, tenant.id)
        except Conflict as exc:
            current = self.store.get_number(number)
            d = current.deployment if current else None
            runs = f"runs {d.flow_id}@{d.version} (deployment {d.id})" if d else "changed while being released"
            flow = d.flow_id if d else "<flow>"
            raise ApiError(409, "number_deployed", f"{number} {runs}; take it off first with POST "
                           f"/api/flows/{flow}/rollback {{\"environment\": \"{record.environment}\", "
                           f"\"phoneNumbers\": [\"{number}\"], \"undeploy\": true}}, then release it") from exc
        if not released:
            raise ApiError(404, "not_found", f"{number} is not one of your numbers")
        self.numbers.forget(number)
        return {"released": number}

    # -- health ----------------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            self.store.ping()
        except StoreUnavailable as exc:
            return 503, {"status": "degraded", "store": f"unavailable: {str(exc)[:200]}"}
        except Exception as exc:  # a health check reports what is wrong rather than fail itself
            return 503, {"status": "degraded", "store": f"{type(exc).__name__}: {str(exc)[:200]}"}
        return 200, {"status": "ok", "store": "ok", "version": package_version()}


def _name_of(document: str) -> str:
    import json

    try:
        name = json.loads(document).get("name")
    except (ValueError, AttributeError):
        return ""
    return name if isinstance(name, str) else ""

"""The embedded store: everything in process memory, thread-safe, with the Store contract's semantics.

It is the local default (``make run``, the simulator, most tests). It refuses the ids Firestore
refuses (``check_document_ids``), so a test on this store catches an unchecked id like the emulator.
Documents are kept as the JSON dicts the Firestore adapter would write, so a record that survives
this store survives Firestore. A read answers a copy (no aliasing, like a real read), made by
``_copy``: a JSON-shaped document has only dicts, lists and immutable leaves, which a comprehension
copies in about a third of ``copy.deepcopy``'s time (no memo, no dispatch per object).
Calls, read and written on every webhook, are kept as their JSON text instead (what a read parses,
like a real store's wire format): a read is one ``model_validate_json``, a write one
``model_dump_json``, where a dict would cost a copy, a validation and a dump. The fields their
queries filter on are kept beside the text (``_call_fields``), as a real store keeps an index.
Writes are counted (``writes``, ``reads``) so tests and benchmarks can assert the cost of a step.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.adapters.ports import (
    ApiKey,
    CallRecord,
    Conflict,
    Deployment,
    FlowDraft,
    FlowVersion,
    PhoneNumber,
    RetiredFlow,
    ScheduleRecord,
    Tenant,
    TwilioAccount,
    check_document_ids,
)  # fmt: skip


def _copy(value: Any) -> Any:
    """A deep copy of a JSON-shaped value (dicts, lists, immutable leaves)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _query_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """What the call queries filter and sort on (``calls_with_outbox``, ``active_calls_expired``,
    ``list_calls``), from a call's JSON document: its times as datetimes."""
    since, expires = doc.get("outbox_since"), doc.get("expires_at")
    return {"tenant_id": doc.get("tenant_id"), "status": doc.get("status"), "created_at": doc.get("created_at"),
            "expires_at": None if expires is None else datetime.fromisoformat(expires),
            "outbox_since": None if since is None else datetime.fromisoformat(since)}  # fmt: skip


def _call_fields(call: CallRecord) -> dict[str, Any]:
    """``_query_fields`` of ``call``'s JSON document, from the record (nothing to parse or format)."""
    return {"tenant_id": call.tenant_id, "status": call.status, "created_at": call.created_at,
            "expires_at": call.expires_at, "outbox_since": call.outbox_since}  # fmt: skip


def _key(*ids: str) -> str:
    """The document key of ``ids``, refused like Firestore refuses it (see ``check_document_ids``)."""
    check_document_ids(*ids)
    return "/".join(ids)


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._docs: dict[str, dict[str, Any]] = {}  # kind -> key -> JSON dict (calls: JSON text)
        self._versions: dict[str, int] = {}  # call sid -> write counter (the CAS token)
        self._call_fields: dict[str, dict[str, Any]] = {}  # call sid -> its queried fields (see the docstring)
        self.reads = 0
        self.writes = 0

    # -- plumbing --------------------------------------------------------------------------------

    def _get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            self.reads += 1
            doc = self._docs.get(kind, {}).get(key)
            return None if doc is None else _copy(doc)  # no aliasing, like a real read

    def _put(self, kind: str, key: str, doc: Any) -> None:
        with self._lock:
            self.writes += 1
            self._docs.setdefault(kind, {})[key] = doc

    def _all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            self.reads += 1
            return [_copy(d) for d in self._docs.get(kind, {}).values()]

    # -- tenants and keys ------------------------------------------------------------------------

    def put_tenant(self, tenant: Tenant) -> None:
        self._put("tenants", _key(tenant.id), tenant.model_dump(mode="json"))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        doc = self._get("tenants", _key(tenant_id))
        return None if doc is None else Tenant.model_validate(doc)

    def create_tenant(self, tenant: Tenant) -> bool:
        with self._lock:
            if _key(tenant.id) in self._docs.get("tenants", {}):
                self.reads += 1
                return False
            self._put("tenants", tenant.id, tenant.model_dump(mode="json"))
            return True

    def list_tenants(self) -> list[Tenant]:
        return sorted((Tenant.model_validate(d) for d in self._all("tenants")), key=lambda t: t.id)

    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        check_document_ids(tenant_id)
        keys = [ApiKey.model_validate(d) for d in self._all("api_keys") if d["tenant_id"] == tenant_id]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    def claim_twilio_account(self, link: TwilioAccount) -> bool:
        key = _key(link.account_sid)
        with self._lock:
            current = self._docs.get("twilio_accounts", {}).get(key)
            if current is not None and current["tenant_id"] != link.tenant_id:
                self.reads += 1
                return False
            self._put("twilio_accounts", key, link.model_dump(mode="json"))
            return True

    def get_twilio_account(self, account_sid: str) -> TwilioAccount | None:
        doc = self._get("twilio_accounts", _key(account_sid))
        return None if doc is None else TwilioAccount.model_validate(doc)

    def release_twilio_account(self, account_sid: str, tenant_id: str) -> bool:
        key = _key(account_sid)
        with self._lock:
            current = self._docs.get("twilio_accounts", {}).get(key)
            if current is None or current["tenant_id"] != tenant_id:
                return False
            del self._docs["twilio_accounts"][key]
            self.writes += 1
            return True

    def put_api_key(self, key: ApiKey) -> None:
        self._put("api_keys", _key(key.key_hash), key.model_dump(mode="json"))

    def get_api_key(self, key_hash: str) -> ApiKey | None:
        doc = self._get("api_keys", _key(key_hash))
        return None if doc is None else ApiKey.model_validate(doc)

    # -- flows -----------------------------------------------------------------------------------

    def get_draft(self, tenant_id: str, flow_id: str) -> FlowDraft | None:
        doc = self._get("drafts", _key(tenant_id, flow_id))
        return None if doc is None else FlowDraft.model_validate(doc)

    def list_drafts(self, tenant_id: str) -> list[FlowDraft]:
        prefix = _key(tenant_id) + "/"
        with self._lock:
            self.reads += 1
            docs = [_copy(d) for k, d in self._docs.get("drafts", {}).items() if k.startswith(prefix)]
        return sorted((FlowDraft.model_validate(d) for d in docs), key=lambda d: d.flow_id)

    def save_draft(self, draft: FlowDraft, expected_etag: str | None) -> None:
        key = _key(draft.tenant_id, draft.flow_id)
        with self._lock:
            current = self._docs.get("drafts", {}).get(key)
            if expected_etag is not None and (current or {}).get("etag") != expected_etag:
                raise Conflict(f"flow '{draft.flow_id}' changed since etag {expected_etag}")
            self._put("drafts", key, draft.model_dump(mode="json"))

    def get_version(self, tenant_id: str, flow_id: str, version: str) -> FlowVersion | None:
        doc = self._get("versions", _key(tenant_id, flow_id, version))
        return None if doc is None else FlowVersion.model_validate(doc)

    def list_versions(self, tenant_id: str, flow_id: str) -> list[FlowVersion]:
        prefix = _key(tenant_id, flow_id) + "/"
        with self._lock:
            self.reads += 1
            docs = [d for k, d in self._docs.get("versions", {}).items() if k.startswith(prefix)]
        return sorted((FlowVersion.model_validate(d) for d in docs), key=lambda v: v.created_at)

    def create_version(self, version: FlowVersion) -> None:
        key = _key(version.tenant_id, version.flow_id, version.version)
        with self._lock:
            if key in self._docs.get("versions", {}):
                raise Conflict(f"version {version.version} of flow '{version.flow_id}' exists already")
            self._put("versions", key, version.model_dump(mode="json"))

    def list_version_numbers(self, tenant_id: str, flow_id: str) -> list[str]:
        return [v.version for v in self.list_versions(tenant_id, flow_id)]

    def delete_flow(self, retired: RetiredFlow) -> bool:
        draft_key = _key(retired.tenant_id, retired.flow_id)
        with self._lock:
            if draft_key not in self._docs.get("drafts", {}):
                return False
            versions = self._docs.get("versions", {})
            doomed = [k for k in versions if k.startswith(draft_key + "/")]
            for key in doomed:
                del versions[key]
            del self._docs["drafts"][draft_key]
            self._put("retired_flows", draft_key, retired.model_dump(mode="json"))
            self.writes += len(doomed) + 1
            return True

    def get_retired_flow(self, tenant_id: str, flow_id: str) -> RetiredFlow | None:
        doc = self._get("retired_flows", _key(tenant_id, flow_id))
        return None if doc is None else RetiredFlow.model_validate(doc)

    # -- schedules -------------------------------------------------------------------------------

    def put_schedule(self, record: ScheduleRecord) -> None:
        self._put("schedules", _key(record.tenant_id, record.name), record.model_dump(mode="json"))

    def get_schedule(self, tenant_id: str, name: str) -> ScheduleRecord | None:
        doc = self._get("schedules", _key(tenant_id, name))
        return None if doc is None else ScheduleRecord.model_validate(doc)

    def list_schedules(self, tenant_id: str) -> list[ScheduleRecord]:
        check_document_ids(tenant_id)
        docs = [d for d in self._all("schedules") if d["tenant_id"] == tenant_id]
        return sorted((ScheduleRecord.model_validate(d) for d in docs), key=lambda r: r.name)

    def delete_schedule(self, tenant_id: str, name: str) -> bool:
        with self._lock:
            found = self._docs.get("schedules", {}).pop(_key(tenant_id, name), None)
            self.writes += found is not None
            return found is not None

    # -- numbers and deployments -----------------------------------------------------------------

    def get_number(self, number: str) -> PhoneNumber | None:
        doc = self._get("numbers", _key(number))
        return None if doc is None else PhoneNumber.model_validate(doc)

    def create_number(self, number: PhoneNumber) -> None:
        with self._lock:
            if _key(number.number) in self._docs.get("numbers", {}):
                raise Conflict(f"{number.number} is already registered")
            self._put("numbers", number.number, number.model_dump(mode="json"))

    def list_numbers(self, tenant_id: str) -> list[PhoneNumber]:
        check_document_ids(tenant_id)
        docs = [d for d in self._all("numbers") if d["tenant_id"] == tenant_id]
        return sorted((PhoneNumber.model_validate(d) for d in docs), key=lambda n: n.number)

    def release_number(self, number: str, tenant_id: str) -> bool:
        key = _key(number)
        with self._lock:
            self.reads += 1
            doc = self._docs.get("numbers", {}).get(key)
            if doc is None or doc["tenant_id"] != tenant_id:
                return False
            if doc.get("deployment") is not None:
                raise Conflict(f"{number} runs deployment {doc['deployment']['id']}")
            del self._docs["numbers"][key]
            self.writes += 1
            return True

    def deploy(self, deployment: Deployment, expected: dict[str, str | None]) -> None:
        check_document_ids(deployment.tenant_id, deployment.id, *deployment.phone_numbers)
        with self._lock:
            numbers = self._docs.get("numbers", {})
            for number in deployment.phone_numbers:
                doc = numbers.get(number)
                if doc is None or doc["tenant_id"] != deployment.tenant_id:
                    raise Conflict(f"{number} is not registered to tenant {deployment.tenant_id}")
                current = (doc.get("deployment") or {}).get("id")
                if current != expected.get(number):
                    raise Conflict(f"{number} was redeployed concurrently (now {current})")
            dumped = deployment.model_dump(mode="json")
            pointer = None if deployment.kind == "undeploy" else dumped
            for number in deployment.phone_numbers:
                self._put("numbers", number, {**numbers[number], "deployment": pointer})
            self._put("deployments", _key(deployment.tenant_id, deployment.id), dumped)

    def list_deployments(self, tenant_id: str, limit: int = 100) -> list[Deployment]:
        check_document_ids(tenant_id)
        docs = [d for d in self._all("deployments") if d["tenant_id"] == tenant_id]
        docs.sort(key=lambda d: (d["created_at"], d["id"]), reverse=True)
        return [Deployment.model_validate(d) for d in docs[:limit]]

    def get_deployment(self, tenant_id: str, deployment_id: str) -> Deployment | None:
        doc = self._get("deployments", _key(tenant_id, deployment_id))
        return None if doc is None else Deployment.model_validate(doc)

    # -- calls -----------------------------------------------------------------------------------

    def create_call(self, call: CallRecord) -> bool:
        return self.save_call(call, None) is not None

    def save_call(self, call: CallRecord, token: Any | None) -> Any | None:
        with self._lock:
            if token is None:
                if _key(call.call_sid) in self._docs.get("calls", {}):
                    self.reads += 1
                    return None
            elif self._versions.get(call.call_sid) != token:
                return None
            self._put_call(call.call_sid, call.model_dump_json(), _call_fields(call))
            self._versions[call.call_sid] = (token or 0) + 1
            return self._versions[call.call_sid]

    def _put_call(self, call_sid: str, text: str, fields: dict[str, Any]) -> None:
        self._put("calls", call_sid, text)  # calls are kept as text (see the module docstring)
        self._call_fields[call_sid] = fields

    def update_outbox(self, call_sid: str, outbox: list[dict[str, Any]], token: Any) -> Any | None:
        with self._lock:
            text = self._docs.get("calls", {}).get(_key(call_sid))
            if text is None or self._versions.get(call_sid) != token:
                return None
            doc = json.loads(text)
            doc["outbox"] = _copy(outbox)
            doc["outbox_since"] = min((r["occurred_at"] for r in outbox), default=None)
            self._put_call(call_sid, json.dumps(doc), _query_fields(doc))
            self._versions[call_sid] = token + 1
            return token + 1

    def calls_with_outbox(self, older_than: datetime, limit: int = 200) -> list[tuple[str, datetime]]:
        with self._lock:
            found = [(sid, f["outbox_since"]) for sid, f in self._call_fields.items() if f["outbox_since"]]
        found = sorted((f for f in found if f[1] <= older_than), key=lambda f: (f[1], f[0]))[:limit]
        self.reads += len(found)
        return found

    def read_call(self, call_sid: str) -> tuple[CallRecord, Any] | None:
        with self._lock:
            key = _key(call_sid)
            self.reads += 1
            text = self._docs.get("calls", {}).get(key)
            if text is None:
                return None
            token = self._versions[call_sid]
        return CallRecord.model_validate_json(text), token  # parsed outside the lock: text is immutable

    def write_call(self, call: CallRecord, token: Any) -> bool:
        return token is not None and self.save_call(call, token) is not None

    def active_calls_expired(self, now: datetime, limit: int = 500) -> Sequence[str]:
        with self._lock:
            found = [sid for sid, f in self._call_fields.items()
                     if f["status"] == "active" and f["expires_at"] <= now]  # fmt: skip
        return found[:limit]

    def list_calls(self, tenant_id: str, active: bool | None = None, limit: int = 50) -> list[CallRecord]:
        check_document_ids(tenant_id)
        with self._lock:
            chosen = [(f["created_at"], sid, self._docs["calls"][sid]) for sid, f in self._call_fields.items()
                      if f["tenant_id"] == tenant_id
                      and (active is None or (f["status"] == "active") == active)]  # fmt: skip
        chosen.sort(reverse=True)
        found = [CallRecord.model_validate_json(text) for _, _, text in chosen[:max(0, limit)]]
        self.reads += len(found)
        return found

    # -- health ----------------------------------------------------------------------------------

    def ping(self) -> None:
        """Process memory is always there."""

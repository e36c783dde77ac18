"""Builders for Store records, shared by the adapter tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from common.adapters.ports import (
    CallRecord,
    Deployment,
    FlowDraft,
    FlowVersion,
    PhoneNumber,
    ScheduleRecord,
    Tenant,
)
from common.core.call import CallState

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def tenant(tenant_id: str = "acme") -> Tenant:
    return Tenant(id=tenant_id, name=f"{tenant_id} inc", twilio_account_sid=f"AC{tenant_id}")


def draft(etag: str, tenant_id: str = "acme", flow_id: str = "main", body: str = "{}") -> FlowDraft:
    return FlowDraft(tenant_id=tenant_id, flow_id=flow_id, document=body, etag=etag,
                     updated_at=NOW.isoformat(), updated_by="ana")  # fmt: skip


def version(v: str, created_at: str, tenant_id: str = "acme", flow_id: str = "main",
            body: str = '{"states":[]}') -> FlowVersion:  # fmt: skip
    return FlowVersion(tenant_id=tenant_id, flow_id=flow_id, version=v, document=body,
                       content_hash="sha256:" + hashlib.sha256(body.encode()).hexdigest(),
                       author="ana", message=f"v{v}",
                       created_at=created_at)  # fmt: skip


def schedule(name: str, tenant_id: str = "acme", zone: str = "Europe/Paris") -> ScheduleRecord:
    return ScheduleRecord(tenant_id=tenant_id, name=name, updated_at=NOW.isoformat(), updated_by="ana",
                          schedule={"name": name, "timezone": zone,
                                    "weekly": {"mon": [{"start": "09:00", "end": "17:00"}]},
                                    "holidays": [], "overrides": []})  # fmt: skip


def number(e164: str, tenant_id: str = "acme") -> PhoneNumber:
    return PhoneNumber(number=e164, tenant_id=tenant_id, account_sid=f"AC{tenant_id}",
                       fallback_dial="+15550000000")  # fmt: skip


def deployment(dep_id: str, numbers: list[str], created_at: str = "2026-03-01T12:00:00+00:00",
               tenant_id: str = "acme", v: str = "1.0.0") -> Deployment:  # fmt: skip
    return Deployment(id=dep_id, tenant_id=tenant_id, flow_id="main", version=v, phone_numbers=numbers,
                      schedules=["office"], created_at=created_at, created_by="ana",
                      previous={n: None for n in numbers}, message=f"deploy {dep_id}")  # fmt: skip


def state_of(sid: str, **fields: Any) -> CallState:
    """A call's state with these fields (the rest as a new call of flow main 1.0.0 has them)."""
    return CallState(call_sid=sid, flow_id="main", flow_version="1.0.0", **fields)


def call(sid: str, expires_in: timedelta = timedelta(hours=4), status: Literal["active", "ended"] = "active",
         state: dict[str, Any] | None = None, seq: int = 0) -> CallRecord:  # fmt: skip
    """``state``: the state's fields (``state_of``)."""
    return CallRecord(
        call_sid=sid, tenant_id="acme", number="+15551230001", account_sid="ACacme", flow_id="main",
        flow_version="1.0.0", seq=seq, twiml="<Response><Say>Hi</Say></Response>",
        state=state_of(sid, **(state if state is not None else {"cursor": "welcome", "variables": {"lang": "en"}})),
        status=status, created_at=NOW.isoformat(), updated_at=NOW.isoformat(),
        expires_at=NOW + expires_in, events=[{"type": "call.started", "node": "trigger", "seq": 0}],
        pending_http=None,
    )

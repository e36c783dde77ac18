"""The routing test harness: the service on the memory store, small real stand-ins for its ports, a hand-moved clock.

``Harness``      the service plus its parts: ``clock`` (advance with ``tick``), ``calls`` (a recording
                 CallControl whose answers tests can choose), ``timers`` (records schedules; ``due``
                 delivers what has come due through the service's task handler, like a timer would),
                 ``phone`` (the call store the service looks calls up in)
Helpers build departments and agents through the admin service, as the API would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from common.adapters.routing_store import MemoryRoutingStore, QueueEntry
from common.core.queue_twiml import QueueUrls
from common.core.routing_model import entry_id
from common.service.routing import RoutingService
from common.service.routing_base import CallInfo, RoutingDeps

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE = "https://ivr.example.com"
MUSIC = "https://cdn.example.com/hold.mp3"


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def tick(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


@dataclass
class RecordingCallControl:
    """A CallControl that records every request; ``redirect_ok``/``dial_ok`` choose its answers."""

    redirect_ok: bool = True
    dial_ok: bool = True
    redirects: list[tuple[str, str, str]] = field(default_factory=list)
    dials: list[dict[str, str]] = field(default_factory=list)

    def redirect(self, account_sid: str, call_sid: str, url: str) -> bool:
        self.redirects.append((account_sid, call_sid, url))
        return self.redirect_ok

    def dial_out(self, account_sid: str, to: str, from_: str, url: str, status_callback: str) -> str | None:
        self.dials.append({"account": account_sid, "to": to, "from": from_, "url": url, "status": status_callback})
        return f"CAout{len(self.dials)}" if self.dial_ok else None


@dataclass
class RecordingTimers:
    """Timers with the port's naming rule (a name is scheduled once) and manual delivery."""

    scheduled: dict[str, tuple[datetime, str, dict[str, Any]]] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)

    def schedule(self, name: str, at: datetime, path: str, payload: dict[str, Any]) -> bool:
        if name in self.scheduled:
            return False
        self.scheduled[name] = (at, path, payload)
        return True

    def pending(self, path_end: str = "") -> list[tuple[datetime, str, dict[str, Any]]]:
        return sorted((v for k, v in self.scheduled.items() if k not in self.delivered and v[1].endswith(path_end)),
                      key=lambda v: v[0])  # fmt: skip


@dataclass
class Harness:
    service: RoutingService
    store: MemoryRoutingStore
    clock: Clock
    calls: RecordingCallControl
    timers: RecordingTimers
    phone: dict[str, CallInfo]
    urls: QueueUrls
    open_schedules: dict[str, bool]

    def tick(self, seconds: float) -> datetime:
        return self.clock.tick(seconds)

    def due(self, only: str = "") -> list[dict[str, Any]]:
        """Deliver every timer whose time has come (in time order), as the Timers adapter would;
        ``only``: just the timers of that kind (escalate, sweep, callback)."""
        results: list[dict[str, Any]] = []
        while True:
            now = self.clock()
            ready = sorted((at, name) for name, (at, path, _) in self.timers.scheduled.items()
                           if name not in self.timers.delivered and at <= now and path.endswith(only))  # fmt: skip
            if not ready:
                return results
            _, name = ready[0]
            self.timers.delivered.add(name)
            _, path, payload = self.timers.scheduled[name]
            results.append(self.service.handle_task(path.rsplit("/", 1)[1], payload, self.clock()))

    def department(self, dept: str = "sales", tenant: str = "acme", **settings: Any) -> dict[str, Any]:
        body = {"name": dept.title(), **settings}
        return self.service.admin.put_department(tenant, dept, body)[1]

    def agent(self, agent_id: str, depts: dict[str, int] | tuple[str, ...] = ("sales",), tenant: str = "acme",
              status: str | None = "available", contact: str | None = None) -> dict[str, Any]:  # fmt: skip
        tiers = depts if isinstance(depts, dict) else dict.fromkeys(depts, 1)
        number = contact or f"+1555000{abs(hash(agent_id)) % 10000:04d}"
        body = {"name": agent_id.title(), "contact": number,
                "departments": [{"department": d, "tier": t} for d, t in tiers.items()]}  # fmt: skip
        view = self.service.admin.put_agent(tenant, agent_id, body)[1]
        if status and status != "offline":
            view = self.service.admin.set_status(tenant, agent_id, {"status": status})
        return view

    def call(self, call_sid: str, tenant: str = "acme", caller: str = "+15557770000") -> str:
        self.phone[call_sid] = CallInfo(tenant, "AC" + tenant, "active", caller, "+13072249663")
        return call_sid

    def hang_up(self, call_sid: str) -> None:
        info = self.phone[call_sid]
        self.phone[call_sid] = CallInfo(info.tenant_id, info.account_sid, "ended", info.caller, info.called)

    def route(self, call_sid: str, dept: str = "sales", priority: int | str = "normal", tenant: str = "acme",
              **kw: Any) -> Any:  # fmt: skip
        if call_sid not in self.phone:
            self.call(call_sid, tenant)
        return self.service.route(tenant, call_sid, "AC" + tenant, dept, priority, kw.pop("context", None),
                                  self.clock(), **kw)  # fmt: skip

    def entry(self, call_sid: str, dept: str = "sales", tenant: str = "acme") -> QueueEntry:
        found = self.store.get_entry(tenant, dept, entry_id(call_sid, dept))
        assert found is not None, f"no entry for {call_sid} in {dept}"
        return found

    def agent_record(self, agent_id: str, tenant: str = "acme") -> Any:
        found = self.store.get_agent(tenant, agent_id)
        assert found is not None
        return found


def make_harness() -> Harness:
    store, clock = MemoryRoutingStore(), Clock()
    calls, timers = RecordingCallControl(), RecordingTimers()
    phone: dict[str, CallInfo] = {}
    schedules: dict[str, bool] = {}
    urls = QueueUrls(BASE, MUSIC)
    deps = RoutingDeps(store=store, timers=timers, calls=calls, urls=urls, clock=clock,
                       call_lookup=phone.get, schedule_open=lambda t, name, at: schedules.get(name),
                       rng=Random(7))  # fmt: skip
    return Harness(RoutingService(deps), store, clock, calls, timers, phone, urls, schedules)

"""Department routing on the live stack, for the tests of live calls (tests/functions, tests/e2e).

    routed = attach(stack)                     # svc.routing and svc.calls.routing, on the stack's store kind
    routed.department("sales", hold=...)       # through the routing admin service, as the API would
    routed.agent("ann", "sales")               # available, contact +1555..., tier 1
    routed.advance(30)                         # move the stack's clock and deliver the timers now due
    routed.hook("hold", entry, call_sid)       # a signed POST to /webhook/departments/hold?t=&d=&e=

``attach`` does what the bootstrap will do once routing is wired in (``build_routing`` on the stack's
settings, store and clock) with two test-friendly ports: ``SteppedTimers`` (the Timers port: a name is
scheduled once, delivery at or after its time, through the routing service's task handler, made by
``run_due`` on the test's own thread whenever the clock moves: no sleeps, no races with the test)
and ``LaptopCallControl`` (a laptop's call control: a redirect is refused, so the hold loop alone
brings callers to agents; a dial-out is accepted and handed to the test, which places it with the
call simulator's ``outbound``). The routing store is the stack's kind: memory, or Firestore on the
same emulator.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from livestack import ACCOUNT_A, DEMO_NUMBER, TENANT_A, Stack

from common.adapters.routing_store import MemoryRoutingStore, QueueEntry
from common.core.queue_twiml import PREFIX
from common.routing_setup import RoutingSettings, build_routing
from common.service.routing import RoutingService

MUSIC = "https://cdn.example.test/hold.mp3"


class SteppedTimers:
    """The Timers port, delivered when the test says time has passed (``run_due``)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.deliver: Callable[[str, dict[str, Any]], Any] | None = None
        self._heap: list[tuple[datetime, int, str, str, dict[str, Any]]] = []
        self._names: dict[str, datetime | None] = {}  # pending: None; delivered: refused until then
        self._seq = itertools.count()
        self.delivered: list[tuple[str, dict[str, Any], Any]] = []

    def schedule(self, name: str, at: datetime, path: str, payload: dict[str, Any]) -> bool:
        refused_until = self._names.get(name, datetime.min.replace(tzinfo=at.tzinfo))
        if name in self._names and (refused_until is None or refused_until > self.clock()):
            return False
        self._names[name] = None
        heapq.heappush(self._heap, (at, next(self._seq), name, path, dict(payload)))
        return True

    def run_due(self, limit: int = 10_000) -> int:
        """Deliver every timer due by the clock (those scheduled meanwhile too, when due)."""
        done = 0
        while self._heap and self._heap[0][0] <= self.clock() and done < limit:
            _, _, name, path, payload = heapq.heappop(self._heap)
            self._names[name] = self.clock() + timedelta(hours=1)
            assert self.deliver is not None
            self.delivered.append((path, payload, self.deliver(path, payload)))
            done += 1
        return done

    def pending(self) -> list[tuple[datetime, str, dict[str, Any]]]:
        return [(at, path, payload) for at, _, _, path, payload in sorted(self._heap)]


@dataclass
class LaptopCallControl:
    redirects: list[tuple[str, str, str]] = field(default_factory=list)
    dialled: list[dict[str, str]] = field(default_factory=list)  # dial-outs not yet placed by the test

    def redirect(self, account_sid: str, call_sid: str, url: str) -> bool:
        self.redirects.append((account_sid, call_sid, url))
        return False  # like NullCallControl: the caller's hold loop picks the assignment up

    def dial_out(self, account_sid: str, to: str, from_: str, url: str, status_callback: str) -> str | None:
        sid = f"CA{len(self.dialled) + 1:032x}"
        self.dialled.append({"sid": sid, "account": account_sid, "to": to, "from": from_, "url": url,
                             "status": status_callback})  # fmt: skip
        return sid


@dataclass
class Routed:
    stack: Stack
    service: RoutingService
    store: Any  # the RoutingStore
    timers: SteppedTimers
    calls: LaptopCallControl
    tenant: str = TENANT_A

    def department(self, department_id: str, **settings: Any) -> None:
        body = {"name": department_id.title(), "joinWhenEmpty": "always", "ringTimeoutSeconds": 20,
                "wrapUpSeconds": 0, "hold": {"musicUrl": MUSIC}, **settings}  # fmt: skip
        status, _ = self.service.admin.put_department(self.tenant, department_id, body)
        assert status in (200, 201)

    def agent(self, agent_id: str, *departments: str, contact: str | None = None, status: str = "available",
              tier: int = 1) -> None:  # fmt: skip
        number = contact or f"+1555{abs(hash(agent_id)) % 10_000_000:07d}"
        body = {"name": agent_id.title(), "contact": number,
                "departments": [{"department": d, "tier": tier} for d in departments]}  # fmt: skip
        status_code, _ = self.service.admin.put_agent(self.tenant, agent_id, body)
        assert status_code in (200, 201)
        if status != "offline":
            self.service.admin.set_status(self.tenant, agent_id, {"status": status})

    def advance(self, seconds: float) -> int:
        self.stack.clock.at += timedelta(seconds=seconds)
        return self.timers.run_due()

    def entry(self, department_id: str, entry_id: str) -> QueueEntry:
        found = self.store.get_entry(self.tenant, department_id, entry_id)
        assert found is not None, f"no entry {department_id}/{entry_id}"
        return found

    def entries(self, department_id: str, statuses: tuple[str, ...] = ()) -> list[QueueEntry]:
        every = statuses or ("waiting", "assigned", "connected", "completed", "abandoned", "overflowed", "timeout",
                             "voicemail", "callbackFailed", "ended")  # fmt: skip
        return [e for s in every for e in self.store.list_entries(self.tenant, department_id, s, 5000)]

    def waiting_of(self, call_sid: str) -> QueueEntry:
        """The entry a call's document says it holds in."""
        wait = self.stack.stored(call_sid).state.department_wait
        assert wait, f"call {call_sid} is not holding in a department"
        return self.entry(wait["department"], wait["entry"])

    def hook(self, kind: str, entry: QueueEntry, call_sid: str, params: Mapping[str, str] | None = None,
             token: str | None = None, account: str = ACCOUNT_A, tenant: str | None = None,
             **query: str) -> Any:  # fmt: skip
        """A signed routing webhook for ``entry`` on the call ``call_sid``, as Twilio would post it."""
        target = hook_target(kind, tenant or entry.tenant_id, entry.department_id, entry.id, **query)
        body = {"CallSid": call_sid, "AccountSid": account, "From": "+15005550006", "To": DEMO_NUMBER,
                "CallStatus": "in-progress", **dict(params or {})}  # fmt: skip
        return self.stack.signed_post(target, body, token=token) if token else self.stack.signed_post(target, body)


def hook_target(kind: str, tenant: str, department: str, entry: str, **extra: str) -> str:
    return f"{PREFIX}/{kind}?" + urlencode({"t": tenant, "d": department, "e": entry, **extra})


def routing_store_for(stack: Stack) -> Any:
    inner = getattr(stack.store, "_client", None)
    if type(stack.store).__name__ == "FirestoreStore" and inner is not None:
        from common.adapters.routing_firestore import FirestoreRoutingStore

        return FirestoreRoutingStore(inner)
    return MemoryRoutingStore()


def attach(stack: Stack, routing_store: Any = None) -> Routed:
    """Department routing for the stack's container, as the bootstrap will wire it (see the module)."""
    timers = SteppedTimers(stack.clock)
    control = LaptopCallControl()
    store = routing_store if routing_store is not None else routing_store_for(stack)
    calendars = stack.svc.calls.calendars
    service = build_routing(stack.svc.settings, stack.store, stack.clock,
                            routing=RoutingSettings(hold_music_url=MUSIC), routing_store=store, timers=timers,
                            call_control=control,
                            schedule_open=lambda tenant, name, at: calendars.lookup(tenant)(name, at))  # fmt: skip
    timers.deliver = lambda path, payload: service.handle_task(path.rstrip("/").rsplit("/", 1)[-1], payload)
    stack.svc.routing = service
    stack.svc.calls.routing = service
    return Routed(stack, service, store, timers, control)


def detach(stack: Stack) -> None:
    """No department routing: transfers to a department are Twilio <Enqueue>s, as before routing."""
    stack.svc.routing = None
    stack.svc.calls.routing = None


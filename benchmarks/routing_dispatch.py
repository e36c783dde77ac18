"""Department routing costs: document reads and writes per assignment and per hold-loop iteration, and
the time to pick the next caller with 1,000 waiting in one department.

    python benchmarks/routing_dispatch.py [--agents 10] [--waiting 1000] [--repeat 200]

Runs the routing service on the embedded MemoryRoutingStore, which counts reads and writes the way
Firestore bills them (a get is 1 read, a query 1 per document returned, a count 1 per 1,000 counted,
a commit reads and writes each of its documents once). Timers and CallControl are in-process
recorders, so the times are the service's and the store's own, without network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.adapters.routing_store import MemoryRoutingStore, QueueEntry  # noqa: E402
from common.core import routing  # noqa: E402
from common.core.queue_twiml import QueueUrls  # noqa: E402
from common.core.routing_model import entry_id, iso  # noqa: E402
from common.service.routing import RoutingService  # noqa: E402
from common.service.routing_base import CallInfo, RoutingDeps  # noqa: E402

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


class Calls:
    def redirect(self, account_sid: str, call_sid: str, url: str) -> bool:
        return True

    def dial_out(self, account_sid: str, to: str, from_: str, url: str, status_callback: str) -> str | None:
        return "CAout"


class Timers:
    def __init__(self) -> None:
        self.names: set[str] = set()

    def schedule(self, name: str, at: datetime, path: str, payload: dict[str, Any]) -> bool:
        fresh = name not in self.names
        self.names.add(name)
        return fresh


def build(agents: int) -> tuple[RoutingService, MemoryRoutingStore, Clock, dict[str, CallInfo]]:
    store, clock = MemoryRoutingStore(), Clock()
    phone: dict[str, CallInfo] = {}
    deps = RoutingDeps(store=store, timers=Timers(), calls=Calls(), urls=QueueUrls("https://ivr.example.test", "https://m.example/h.mp3"),
                       clock=clock, call_lookup=phone.get, rng=Random(1))  # fmt: skip
    service = RoutingService(deps)
    service.admin.put_department("acme", "sales", {"name": "Sales", "joinWhenEmpty": "always",
                                                   "escalation": [{"afterSeconds": 60, "action": "raisePriority",
                                                                   "by": 10}]})  # fmt: skip
    for i in range(agents):
        service.admin.put_agent("acme", f"agent{i:03d}", {"name": f"Agent {i}", "contact": f"+1555100{i:04d}",
                                                          "departments": [{"department": "sales"}]})  # fmt: skip
        service.admin.set_status("acme", f"agent{i:03d}", {"status": "away"})
    return service, store, clock, phone


def measured(store: MemoryRoutingStore, work: Callable[[], Any]) -> tuple[int, int, Any]:
    reads, writes = store.reads, store.writes
    result = work()
    return store.reads - reads, store.writes - writes, result


def join(service: RoutingService, phone: dict[str, CallInfo], clock: Clock, sid: str, priority: str = "normal") -> Any:
    phone[sid] = CallInfo("acme", "ACacme", "active", "+15557770000", "+13072249663")
    return service.route("acme", sid, "ACacme", "sales", priority, {"customerInfo": {"id": sid}}, clock())


def costs(agents: int) -> None:
    service, store, clock, phone = build(agents)
    for i in range(20):
        join(service, phone, clock, f"CAw{i:03d}")
    r, w, _ = measured(store, lambda: join(service, phone, clock, "CAjoin"))
    print(f"join (route, {agents} agents, 20 waiting, nobody free): {r} reads, {w} writes")

    me = service.store.get_entry("acme", "sales", entry_id("CAjoin", "sales"))
    assert me is not None
    clock.at += timedelta(seconds=5)
    r, w, _ = measured(store, lambda: service.hold("acme", "sales", me.id, clock()))
    print(f"hold-loop iteration, nothing to announce: {r} reads, {w} writes")
    clock.at += timedelta(seconds=60)
    service.dispatcher.deps.departments.forget("acme", "sales")  # type: ignore[union-attr]
    r, w, _ = measured(store, lambda: service.hold("acme", "sales", me.id, clock()))
    print(f"hold-loop iteration, department settings not cached, a ladder step due: {r} reads, {w} writes")
    clock.at += timedelta(seconds=60)
    r, w, _ = measured(store, lambda: service.hold("acme", "sales", me.id, clock()))
    print(f"hold-loop iteration, announcement due but nothing changed (place and wait recomputed): {r} reads, "
          f"{w} writes")  # fmt: skip
    join(service, phone, clock, "CAvip", "high")  # someone joins ahead: the place changes
    clock.at += timedelta(seconds=60)
    r, w, _ = measured(store, lambda: service.hold("acme", "sales", me.id, clock()))
    print(f"hold-loop iteration, announcing a new place: {r} reads, {w} writes")

    store.commit([store.get_agent("acme", "agent000").model_copy(  # type: ignore[union-attr]
        update={"status": "available", "revision": store.get_agent("acme", "agent000").revision + 1})])  # type: ignore[union-attr]
    r, w, made = measured(store, lambda: service.dispatcher.dispatch("acme", "sales", clock()))
    [assignment] = made
    print(f"assignment (dispatch: pick + one commit over entry and agent + redirect): {r} reads, {w} writes")
    entry, offer = assignment.entry, assignment.entry.offer_id or ""
    r, w, _ = measured(store, lambda: service.connect("acme", "sales", entry.id, clock()))
    print(f"connect document (the redirect's target): {r} reads, {w} writes")
    r, w, _ = measured(store, lambda: service.dispatcher.whisper("acme", "sales", entry.id, offer, "agent000"))
    print(f"whisper: {r} reads, {w} writes")
    r, w, _ = measured(store, lambda: service.dispatcher.accept("acme", "sales", entry.id, offer, "agent000", "1",
                                                                clock()))  # fmt: skip
    print(f"accept (entry connected, agent busy): {r} reads, {w} writes")
    clock.at += timedelta(seconds=120)
    r, w, _ = measured(store, lambda: service.dial_ended("acme", "sales", entry.id, offer, "completed", 120, clock()))
    print(f"call ended (entry completed, agent to wrap-up, stats): {r} reads, {w} writes")


def pick_time(waiting: int, repeat: int, agent_count: int) -> None:
    service, store, clock, phone = build(agents=agent_count)
    rng = Random(5)
    entries = []
    for i in range(waiting):  # written straight to the store: the join path is measured above
        at = iso(clock() + timedelta(milliseconds=10 * i))
        entries.append(QueueEntry(tenant_id="acme", department_id="sales", id=entry_id(f"CA{i:05d}", "sales"),
                                  call_sid=f"CA{i:05d}", account_sid="ACacme", arrived_at=at, joined_at=at,
                                  priority=rng.choice([100, 50, 10])))  # fmt: skip
        phone[f"CA{i:05d}"] = CallInfo("acme", "ACacme", "active", "+15557770000", "+13072249663")
    store.commit(entries)
    clock.at += timedelta(seconds=20)
    agents = store.list_agents("acme", "sales")
    pick: list[float] = []
    for _ in range(repeat):
        began = time.perf_counter()
        front = store.list_entries("acme", "sales", "waiting", 5)
        entry = routing.next_entry(front, clock())
        assert entry is not None
        free = [a.model_copy(update={"status": "available"}) for a in agents]
        routing.choose_agents("longestIdle", free, {a.id: 1 for a in free}, rng=rng)
        pick.append(time.perf_counter() - began)
    full: list[float] = []
    reads: list[int] = []
    agent = store.get_agent("acme", agents[0].id)
    assert agent is not None
    store.commit([agent.model_copy(update={"status": "available", "revision": agent.revision + 1})])
    for _ in range(repeat):
        r0 = store.reads
        began = time.perf_counter()
        [made] = service.dispatcher.dispatch("acme", "sales", clock())
        full.append(time.perf_counter() - began)
        reads.append(store.reads - r0)
        # the offer goes unanswered: the caller back at the front, the agent free again, for the next round
        service.dispatcher.release("acme", "sales", made.entry.id, made.entry.offer_id or "", clock(), "bench",
                                   miss=False)  # fmt: skip
    left = store.count_entries("acme", "sales", "waiting")
    print(f"pick the next caller with {waiting} waiting (the front 5 in queue order + strategy over "
          f"{len(agents)} agents): p50 {ms(pick, 0.5)} ms, p99 {ms(pick, 0.99)} ms")  # fmt: skip
    print(f"full dispatch of one caller, {left} waiting, {len(agents)} agents: p50 {ms(full, 0.5)} ms, "
          f"p99 {ms(full, 0.99)} ms, {statistics.median(reads):.0f} reads (the agents, the front of the queue, "
          "the commit's 2)")  # fmt: skip


def ms(samples: list[float], q: float) -> str:
    ordered = sorted(samples)
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    costs(args.agents)
    pick_time(args.waiting, args.repeat, args.agents)


if __name__ == "__main__":
    main()

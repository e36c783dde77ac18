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
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.adapters.routing_store import Agent, MemoryRoutingStore, QueueEntry  # noqa: E402
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


class ReadsEveryAgent:
    """The store as the service read it before agent reads were filtered by status: every agent of
    the department is read, and the status filter applied afterwards. The "before" column."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def list_agents(self, tenant_id: str, department_id: str | None = None, *,
                    statuses: Collection[str] | None = None) -> list[Agent]:  # fmt: skip
        agents = self._inner.list_agents(tenant_id, department_id)
        return agents if statuses is None else [a for a in agents if a.status in statuses]


def set_status(store: Any, agent_id: str, status: str) -> None:
    agent = store.get_agent("acme", agent_id)
    assert agent is not None
    assert store.commit([agent.model_copy(update={"status": status, "revision": agent.revision + 1})])


def build(agents: int, every_agent: bool = False) -> tuple[RoutingService, Any, Clock, dict[str, CallInfo]]:
    """The department ``sales`` with ``agents`` agents: 2 busy (on calls), agent000 away until the
    assignment is measured, the rest half away, half offline, as in a department staffed in shifts."""
    memory, clock = MemoryRoutingStore(), Clock()
    store: Any = ReadsEveryAgent(memory) if every_agent else memory
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
        status = "away" if i == 0 else "busy" if i <= 2 else ("away" if i % 2 else "offline")
        set_status(store, f"agent{i:03d}", status)
    return service, store, clock, phone


def measured(store: Any, work: Callable[[], Any]) -> tuple[int, int, Any]:
    reads, writes = store.reads, store.writes
    result = work()
    return store.reads - reads, store.writes - writes, result


def join(service: RoutingService, phone: dict[str, CallInfo], clock: Clock, sid: str, priority: str = "normal") -> Any:
    phone[sid] = CallInfo("acme", "ACacme", "active", "+15557770000", "+13072249663")
    return service.route("acme", sid, "ACacme", "sales", priority, {"customerInfo": {"id": sid}}, clock())


def costs(agents: int, every_agent: bool) -> list[tuple[str, int, int]]:
    """Reads and writes of each step of one caller's way through the queue."""
    service, store, clock, phone = build(agents, every_agent)
    rows: list[tuple[str, int, int]] = []

    def row(label: str, work: Callable[[], Any]) -> Any:
        r, w, result = measured(store, work)
        rows.append((label, r, w))
        return result

    for i in range(20):
        join(service, phone, clock, f"CAw{i:03d}")
    row("join (20 waiting, nobody free)", lambda: join(service, phone, clock, "CAjoin"))
    me = service.store.get_entry("acme", "sales", entry_id("CAjoin", "sales"))
    assert me is not None
    clock.at += timedelta(seconds=5)
    row("waiting-loop iteration, nothing to announce", lambda: service.hold("acme", "sales", me.id, clock()))
    clock.at += timedelta(seconds=60)
    service.dispatcher.deps.departments.forget("acme", "sales")  # type: ignore[union-attr]
    row("waiting-loop iteration, settings reread, a ladder step due", lambda: service.hold("acme", "sales", me.id,
                                                                                          clock()))  # fmt: skip
    clock.at += timedelta(seconds=60)
    row("waiting-loop iteration, announcement due, nothing new", lambda: service.hold("acme", "sales", me.id,
                                                                                     clock()))  # fmt: skip
    join(service, phone, clock, "CAvip", "high")  # someone joins ahead: the place changes
    clock.at += timedelta(seconds=60)
    row("waiting-loop iteration, announcing a new place", lambda: service.hold("acme", "sales", me.id, clock()))

    set_status(store, "agent000", "available")
    made = row("assignment (pick + one commit over entry and agent + redirect)",
               lambda: service.dispatcher.dispatch("acme", "sales", clock()))  # fmt: skip
    [assignment] = made
    entry, offer = assignment.entry, assignment.entry.offer_id or ""
    row("connect document (the redirect's target)", lambda: service.connect("acme", "sales", entry.id, clock()))
    row("whisper", lambda: service.dispatcher.whisper("acme", "sales", entry.id, offer, "agent000"))
    row("accept (entry connected, agent busy)",
        lambda: service.dispatcher.accept("acme", "sales", entry.id, offer, "agent000", "1", clock()))  # fmt: skip
    clock.at += timedelta(seconds=120)
    row("call ended (entry completed, agent to wrap-up)",
        lambda: service.dial_ended("acme", "sales", entry.id, offer, "completed", 120, clock()))  # fmt: skip
    clock.at += timedelta(seconds=90)
    row("sweep (21 waiting, nobody stuck)", lambda: service.handle_task("sweep", {"tenant": "acme",
                                                                                  "department": "sales"}, clock()))
    return rows


def print_costs(agents: int) -> None:
    before, after = costs(agents, every_agent=True), costs(agents, every_agent=False)
    print(f"reads / writes per step, department of {agents} agents (2 busy, 1 becoming free, "
          f"{agents - 3} away or offline); before: every agent read, after: only the statuses each decision needs")
    print(f"  {'step':62} {'before':>13} {'after':>13}")
    for (label, r0, w0), (_, r1, w1) in zip(before, after, strict=True):
        print(f"  {label:62} {r0:5} r {w0:3} w {r1:5} r {w1:3} w")


def pick_time(waiting: int, repeat: int, agent_count: int) -> None:
    for every_agent in (True, False):
        service, store, clock, phone = build(agent_count, every_agent)
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
        set_status(store, "agent000", "available")
        pick: list[float] = []
        for _ in range(repeat):  # the pick alone: the front of the queue, the free agents, the strategy
            began = time.perf_counter()
            free = routing.available_agents(store.list_agents("acme", "sales", statuses=routing.MAY_BE_AVAILABLE),
                                            clock())  # fmt: skip
            entry = routing.next_entry(store.list_entries("acme", "sales", "waiting", 5), clock())
            assert entry is not None and free
            routing.choose_agents("longestIdle", free, {a.id: 1 for a in free}, rng=rng)
            pick.append(time.perf_counter() - began)
        full: list[float] = []
        reads: list[int] = []
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
        label = "before (every agent read)" if every_agent else "after (free agents only) "
        print(f"{label}: {left} waiting, {agent_count} agents: pick the next caller and agent p50 {ms(pick, 0.5)} ms, "
              f"p99 {ms(pick, 0.99)} ms; whole dispatch p50 {ms(full, 0.5)} ms, p99 {ms(full, 0.99)} ms, "
              f"{statistics.median(reads):.0f} reads")  # fmt: skip


def ms(samples: list[float], q: float) -> str:
    ordered = sorted(samples)
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print_costs(args.agents)
    pick_time(args.waiting, args.repeat, args.agents)


if __name__ == "__main__":
    main()

"""Department routing on Google's Firestore emulator: what an assignment and a hold iteration cost.

    python benchmarks/routing_firestore.py [--waiting 1000] [--repeat 50] [--memory]

Runs the routing service (common/service/routing.py) on FirestoreRoutingStore and prints, from the
store's own counters (documents, as Firestore bills them):
  - reads/writes per assignment: one ``dispatch`` that offers the head of the queue to a free agent
    (longestIdle, 4 agents, 10 waiting), and the assignment commit alone;
  - reads/writes per hold-loop iteration: a waiting caller's ``hold`` when nothing is due, and when
    a position/wait announcement is due (which counts its place and records what it said);
  - with ``--waiting`` callers in one department: the time to pick the head of the queue
    (``list_entries`` of 1, 5 and 50: the dispatcher's pick windows), to count the waiting, and to
    count how many are ahead of the last caller (one aggregation over the same index).
Latencies are wall clock on a loopback emulator (p50/p99 over ``--repeat`` runs): they show the
shape (what grows with the queue, what does not), not production latency. ``--memory`` prints the
same counts on MemoryRoutingStore, which must agree.
"""

from __future__ import annotations

import argparse
import os
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

from common.adapters.call_control import NullCallControl  # noqa: E402
from common.adapters.routing_store import QueueEntry, RoutingRecord, RoutingStore, queue_key  # noqa: E402
from common.adapters.timers import EmbeddedTimers  # noqa: E402
from common.core.queue_twiml import QueueUrls  # noqa: E402
from common.core.routing_model import entry_id, iso  # noqa: E402
from common.service.routing import RoutingService  # noqa: E402
from common.service.routing_base import CallInfo, RoutingDeps  # noqa: E402

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT, ACCOUNT = "acme", "AC" + "a" * 32


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


class Costs:
    def __init__(self, store: Any) -> None:
        self.store = store

    def __call__(self, fn: Callable[[], Any]) -> tuple[int, int, Any]:
        self.store.reads = self.store.writes = 0
        result = fn()
        return self.store.reads, self.store.writes, result


def build(store: RoutingStore, now: list[datetime]) -> tuple[RoutingService, dict[str, CallInfo]]:
    phone: dict[str, CallInfo] = {}
    clock = lambda: now[0]  # noqa: E731
    timers = EmbeddedTimers(lambda path, payload: None, clock)  # a frozen clock: nothing fires mid-run
    deps = RoutingDeps(store=store, timers=timers, calls=NullCallControl(),
                       urls=QueueUrls("https://ivr.example.com", "https://cdn.example.com/hold.mp3"),
                       clock=clock, call_lookup=phone.get, rng=Random(7))  # fmt: skip
    return RoutingService(deps), phone


def scenario(store: RoutingStore, label: str) -> None:
    now = [T0]
    service, phone = build(store, now)
    costs = Costs(store)
    service.admin.put_department(TENANT, "sales", {"name": "Sales"})
    for i in range(4):
        service.admin.put_agent(TENANT, f"agent{i}", {"name": f"Agent {i}", "contact": f"+1555000000{i}",
                                                      "departments": [{"department": "sales", "tier": 1}]})
        service.admin.set_status(TENANT, f"agent{i}", {"status": "away"})  # logged in, not taking calls
    for i in range(10):
        sid = f"CA{i:032d}"
        phone[sid] = CallInfo(TENANT, ACCOUNT, "active", "+15557770000", "+13072249663")
        now[0] = T0 + timedelta(seconds=i)
        service.route(TENANT, sid, ACCOUNT, "sales", "normal", None, now[0], answering=True)
    now[0] = T0 + timedelta(seconds=30)
    head = entry_id(f"CA{0:032d}", "sales")

    print(f"[{label}]")
    reads, writes, _ = costs(lambda: service.hold(TENANT, "sales", entry_id(f"CA{5:032d}", "sales"), now[0]))
    print(f"  hold iteration, nothing due               {reads:3} reads {writes:3} writes")
    now[0] = T0 + timedelta(seconds=120)  # past announce_every_seconds (60)
    reads, writes, _ = costs(lambda: service.hold(TENANT, "sales", entry_id(f"CA{6:032d}", "sales"), now[0]))
    print(f"  hold iteration, announcement due, no news {reads:3} reads {writes:3} writes  (stays quiet)")

    agent = store.get_agent(TENANT, "agent0")
    assert agent is not None
    free = agent.model_copy(update={"status": "available", "idle_since": iso(T0), "revision": agent.revision + 1})
    assert store.commit([free])
    reads, writes, made = costs(lambda: service.dispatcher.dispatch(TENANT, "sales", now[0]))
    assigned = store.get_entry(TENANT, "sales", head)
    assert len(made) == 1 and assigned is not None and assigned.status == "assigned", (made, assigned)
    print(f"  dispatch making 1 assignment (10 waiting) {reads:3} reads {writes:3} writes")
    reads, writes, _ = costs(lambda: service.hold(TENANT, "sales", head, now[0]))
    print(f"  hold iteration of the assigned caller     {reads:3} reads {writes:3} writes  (connect document)")
    now[0] = T0 + timedelta(seconds=240)
    reads, writes, _ = costs(lambda: service.hold(TENANT, "sales", entry_id(f"CA{7:032d}", "sales"), now[0]))
    print(f"  hold iteration, announcing a new position {reads:3} reads {writes:3} writes")
    entry = store.get_entry(TENANT, "sales", entry_id(f"CA{1:032d}", "sales"))
    agent = store.get_agent(TENANT, "agent1")
    assert entry is not None and agent is not None
    pair: list[RoutingRecord] = [entry.model_copy(update={"status": "assigned", "revision": entry.revision + 1}),
                                 agent.model_copy(update={"status": "offered", "revision": agent.revision + 1})]
    reads, writes, ok = costs(lambda: store.commit(pair))
    assert ok
    print(f"  the assignment commit alone (entry+agent) {reads:3} reads {writes:3} writes")


def long_queue(store: RoutingStore, waiting: int, repeat: int) -> None:
    seeded: list[QueueEntry] = []
    for i in range(waiting):
        at = iso(T0 + timedelta(milliseconds=i))
        sid = f"CB{i:032d}"
        seeded.append(QueueEntry(tenant_id=TENANT, department_id="big", id=entry_id(sid, "big"), call_sid=sid,
                                 account_sid=ACCOUNT, priority=(10, 50, 100)[i % 3], arrived_at=at, joined_at=at,
                                 history=({"at": at, "event": "joined"},)))  # fmt: skip
    began = time.perf_counter()
    for start in range(0, waiting, 250):
        assert store.commit(seeded[start:start + 250])
    print(f"[{waiting} waiting in one department]  seeded in {time.perf_counter() - began:.1f} s")
    line = sorted(seeded, key=queue_key)
    last = line[-1]  # the back of the queue
    costs = Costs(store)
    def head(limit: int) -> Callable[[], Any]:
        return lambda: store.list_entries(TENANT, "big", "waiting", limit)

    measured: list[tuple[str, Callable[[], Any]]] = [
        *((f"head of queue, list_entries(limit={n})", head(n)) for n in (1, 5, 50)),
        ("count_entries(waiting)", lambda: store.count_entries(TENANT, "big", "waiting")),
        ("count_ahead(last caller)", lambda: store.count_ahead(last)),
    ]
    for name, fn in measured:
        reads, _, result = costs(fn)
        p50, p99 = timed(fn, repeat)
        shown = len(result) if isinstance(result, list) else result
        print(f"  {name:44} p50 {ms(p50)}  p99 {ms(p99)}  {reads:3} reads  -> {shown}")
    assert store.list_entries(TENANT, "big", "waiting", 1) == line[:1]
    assert store.count_ahead(last) == waiting - 1
    now = [T0 + timedelta(minutes=5)]
    service, _ = build(store, now)
    service.admin.put_department(TENANT, "big", {"name": "Big"})
    service.admin.put_agent(TENANT, "solo", {"name": "Solo", "contact": "+15550000009",
                                             "departments": [{"department": "big", "tier": 1}]})  # fmt: skip
    reads, writes, _ = costs(lambda: service.admin.set_status(TENANT, "solo", {"status": "available"}))
    assigned = store.get_entry(TENANT, "big", line[0].id)
    assert assigned is not None and assigned.status == "assigned", assigned
    print(f"  agent set available -> dispatch of the head   {reads:3} reads {writes:3} writes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="routing costs on the Firestore emulator")
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--memory", action="store_true", help="also count on MemoryRoutingStore")
    args = parser.parse_args(argv)

    from common.adapters.emulator import FirestoreEmulator, warm_up
    from common.adapters.routing_firestore import FirestoreRoutingStore

    with FirestoreEmulator() as emulator:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        from google.cloud import firestore

        client = firestore.Client(project="ivr-bench")
        warm_up(client)
        scenario(FirestoreRoutingStore(client), "Firestore emulator")
        long_queue(FirestoreRoutingStore(client), args.waiting, args.repeat)
        client.close()
    if args.memory:
        from common.adapters.routing_store import MemoryRoutingStore

        scenario(MemoryRoutingStore(), "memory (must agree)")
        long_queue(MemoryRoutingStore(), args.waiting, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

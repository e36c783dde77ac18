"""Department routing on Google's Firestore emulator: what an assignment and a hold iteration cost.

    python benchmarks/routing_firestore.py [--waiting 1000] [--repeat 50] [--memory]

Runs the routing service (common/service/routing.py) on FirestoreRoutingStore and prints, from the
store's own counters (documents, as Firestore bills them):
  - reads/writes per assignment: one ``dispatch`` that offers the head of the queue to a free agent
    (longestIdle, 12 agents of whom 2 busy and 1 free, 10 waiting), and the assignment commit alone;
  - reads/writes per waiting-loop iteration: a waiting caller's ``hold`` when nothing is due, and
    when a position/wait announcement is due (which counts its place and records what it said);
  - each of those "before" (every agent of the department read, as the service did before agent
    reads were filtered by status) and "after" (only the statuses each decision needs);
  - with ``--waiting`` callers in one department: the time to pick the head of the queue
    (``list_entries`` of 1, 5 and 50: the dispatcher's pick windows), to count the waiting, to
    count how many are ahead of the last caller (one aggregation over the same index), and to pick
    the next caller and agent as the dispatcher does (the free agents + the front 5 + the strategy).
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

from routing_dispatch import ReadsEveryAgent  # noqa: E402  (benchmarks/: the script's own directory)

from common.adapters.call_control import NullCallControl  # noqa: E402
from common.adapters.routing_store import QueueEntry, RoutingRecord, RoutingStore, queue_key  # noqa: E402
from common.adapters.timers import EmbeddedTimers  # noqa: E402
from common.core import routing  # noqa: E402
from common.core.queue_twiml import QueueUrls  # noqa: E402
from common.core.routing_model import entry_id, iso  # noqa: E402
from common.service.routing import RoutingService  # noqa: E402
from common.service.routing_base import CallInfo, RoutingDeps  # noqa: E402

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT, ACCOUNT = "acme", "AC" + "a" * 32
AGENTS = 12


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
        reads, writes = self.store.reads, self.store.writes
        result = fn()
        return self.store.reads - reads, self.store.writes - writes, result


def build(store: RoutingStore, now: list[datetime]) -> tuple[RoutingService, dict[str, CallInfo]]:
    phone: dict[str, CallInfo] = {}
    clock = lambda: now[0]  # noqa: E731
    timers = EmbeddedTimers(lambda path, payload: None, clock)  # a frozen clock: nothing fires mid-run
    deps = RoutingDeps(store=store, timers=timers, calls=NullCallControl(),
                       urls=QueueUrls("https://ivr.example.com", "https://cdn.example.com/hold.mp3"),
                       clock=clock, call_lookup=phone.get, rng=Random(7))  # fmt: skip
    return RoutingService(deps), phone


def set_status(store: Any, agent_id: str, status: str, **more: Any) -> None:
    agent = store.get_agent(TENANT, agent_id)
    assert agent is not None
    assert store.commit([agent.model_copy(update={"status": status, "revision": agent.revision + 1, **more})])


def scenario(store: Any) -> list[tuple[str, int, int]]:
    """10 waiting, 12 agents: 2 busy, agent0 away until the assignment, 9 away or offline."""
    now = [T0]
    service, phone = build(store, now)
    costs = Costs(store)
    rows: list[tuple[str, int, int]] = []

    def row(label: str, fn: Callable[[], Any]) -> Any:
        reads, writes, result = costs(fn)
        rows.append((label, reads, writes))
        return result

    service.admin.put_department(TENANT, "sales", {"name": "Sales"})
    for i in range(AGENTS):
        service.admin.put_agent(TENANT, f"agent{i}", {"name": f"Agent {i}", "contact": f"+155500000{i:02d}",
                                                      "departments": [{"department": "sales", "tier": 1}]})
        set_status(store, f"agent{i}", "away" if i == 0 else "busy" if i <= 2 else ("away" if i % 2 else "offline"))
    for i in range(10):
        sid = f"CA{i:032d}"
        phone[sid] = CallInfo(TENANT, ACCOUNT, "active", "+15557770000", "+13072249663")
        now[0] = T0 + timedelta(seconds=i)
        service.route(TENANT, sid, ACCOUNT, "sales", "normal", None, now[0], answering=True)
    now[0] = T0 + timedelta(seconds=30)
    head = entry_id(f"CA{0:032d}", "sales")

    row("waiting-loop iteration, nothing due", lambda: service.hold(TENANT, "sales", entry_id(f"CA{5:032d}", "sales"),
                                                                    now[0]))  # fmt: skip
    now[0] = T0 + timedelta(seconds=120)  # past announce_every_seconds (60)
    row("waiting-loop iteration, announcement due, no news",
        lambda: service.hold(TENANT, "sales", entry_id(f"CA{6:032d}", "sales"), now[0]))  # fmt: skip
    set_status(store, "agent0", "available", idle_since=iso(T0))
    made = row("assignment: dispatch of 1 caller (10 waiting)",
               lambda: service.dispatcher.dispatch(TENANT, "sales", now[0]))  # fmt: skip
    assigned = store.get_entry(TENANT, "sales", head)
    assert len(made) == 1 and assigned is not None and assigned.status == "assigned", (made, assigned)
    row("waiting-loop iteration of the assigned caller (connect)", lambda: service.hold(TENANT, "sales", head, now[0]))
    now[0] = T0 + timedelta(seconds=240)
    row("waiting-loop iteration, announcing a new position",
        lambda: service.hold(TENANT, "sales", entry_id(f"CA{7:032d}", "sales"), now[0]))  # fmt: skip
    entry = store.get_entry(TENANT, "sales", entry_id(f"CA{1:032d}", "sales"))
    agent = store.get_agent(TENANT, "agent1")
    assert entry is not None and agent is not None
    pair: list[RoutingRecord] = [entry.model_copy(update={"status": "assigned", "revision": entry.revision + 1}),
                                 agent.model_copy(update={"status": "offered", "revision": agent.revision + 1})]
    assert row("the assignment commit alone (entry+agent)", lambda: store.commit(pair))
    return rows


def print_scenario(label: str, before: list[tuple[str, int, int]], after: list[tuple[str, int, int]]) -> None:
    print(f"[{label}] {AGENTS} agents (2 busy, 1 becoming free, {AGENTS - 3} away or offline); before: every agent "
          "of the department read, after: only the statuses each decision needs")  # fmt: skip
    print(f"  {'':56} {'before':>13} {'after':>13}")
    for (name, r0, w0), (_, r1, w1) in zip(before, after, strict=True):
        print(f"  {name:56} {r0:5} r {w0:3} w {r1:5} r {w1:3} w")


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
    for i in range(AGENTS):  # 2 busy, 1 free, the rest away or offline, as in scenario()
        service.admin.put_agent(TENANT, f"big{i}", {"name": f"Big {i}", "contact": f"+155500001{i:02d}",
                                                    "departments": [{"department": "big", "tier": 1}]})  # fmt: skip
        set_status(store, f"big{i}", "available" if i == 0 else "busy" if i <= 2 else ("away" if i % 2 else "offline"))
    for label, reader in (("before", ReadsEveryAgent(store)), ("after ", store)):
        def pick(reader: Any = reader) -> Any:
            """The dispatcher's pick: the free agents, the front of the queue, the strategy."""
            free = routing.available_agents(reader.list_agents(TENANT, "big", statuses=routing.MAY_BE_AVAILABLE),
                                            now[0])  # fmt: skip
            entry = routing.next_entry(reader.list_entries(TENANT, "big", "waiting", 5), now[0])
            assert entry is not None and free
            return routing.choose_agents("longestIdle", free, {a.id: 1 for a in free}, rng=Random(1))

        reads, _, _ = Costs(reader)(pick)
        p50, p99 = timed(pick, repeat)
        print(f"  pick the next caller and agent, {label}           p50 {ms(p50)}  p99 {ms(p99)}  {reads:3} reads")
    set_status(store, "big0", "away")
    reads, writes, _ = costs(lambda: service.admin.set_status(TENANT, "big0", {"status": "available"}))
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
        before = scenario(ReadsEveryAgent(FirestoreRoutingStore(client)))
        emulator.reset("ivr-bench")
        print_scenario("Firestore emulator", before, scenario(FirestoreRoutingStore(client)))
        emulator.reset("ivr-bench")
        long_queue(FirestoreRoutingStore(client), args.waiting, args.repeat)
        client.close()
    if args.memory:
        from common.adapters.routing_store import MemoryRoutingStore

        print_scenario("memory (must agree)", scenario(ReadsEveryAgent(MemoryRoutingStore())),
                       scenario(MemoryRoutingStore()))  # fmt: skip
        long_queue(MemoryRoutingStore(), args.waiting, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

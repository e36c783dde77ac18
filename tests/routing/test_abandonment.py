"""Abandonment, the sweep, stats, and a busy hour whose books must balance (memory store)."""

from __future__ import annotations

import itertools
import random
from collections import Counter

from routing_harness import Harness

from common.core.routing_model import iso
from common.service.routing_base import bump


def test_hanging_up_while_waiting_leaves_the_queue_at_once(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    harness.route("CA1")
    harness.route("CA2")
    harness.tick(42)
    harness.hang_up("CA1")
    [closed] = harness.service.call_ended("acme", "CA1", harness.clock())
    assert (closed.status, closed.wait_seconds, closed.closed_at) == ("abandoned", 42, iso(harness.clock()))
    assert harness.store.count_entries("acme", "sales", "waiting") == 1
    assert harness.store.count_ahead(harness.entry("CA2")) == 0
    assert harness.service.call_ended("acme", "CA1", harness.clock()) == []  # a duplicate callback: nothing


def test_hanging_up_while_an_agent_rings_frees_the_agent_without_a_miss(harness: Harness) -> None:
    harness.department("sales")
    harness.agent("ann")
    harness.route("CA1")
    harness.route("CA2")
    harness.service.call_ended("acme", "CA1", harness.clock())
    assert harness.entry("CA1").status == "abandoned"
    ann = harness.agent_record("ann")
    assert ann.missed_in_a_row == 0 and ann.status == "offered" and ann.entry_id == harness.entry("CA2").id
    entry = harness.entry("CA1")
    assert "no longer waiting" in harness.service.dispatcher.whisper("acme", "sales", entry.id, "o2", "ann")


def test_hanging_up_during_the_conversation_completes_it(harness: Harness) -> None:
    harness.department("sales", wrapUpSeconds=10)
    harness.agent("ann")
    harness.route("CA1")
    entry = harness.entry("CA1")
    harness.service.dispatcher.accept("acme", "sales", entry.id, entry.offer_id or "", "ann", "1", harness.clock())
    harness.tick(75)
    harness.service.call_ended("acme", "CA1", harness.clock())
    assert harness.entry("CA1").status == "completed" and harness.entry("CA1").talk_seconds == 75
    assert harness.agent_record("ann").status == "wrap-up"
    late = harness.service.dial_ended("acme", "sales", entry.id, entry.offer_id or "", "completed", 75, harness.clock())
    assert late.outcome == "completed" and harness.agent_record("ann").calls_handled == 1  # counted once


def test_the_sweep_repairs_what_lost_webhooks_left(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always", ringTimeoutSeconds=20)
    harness.agent("ann")
    harness.agent("bob")
    harness.agent("cat", status="away")
    for sid in ("CA1", "CA2", "CA3", "CA4"):
        harness.route(sid)
    e1, e2 = harness.entry("CA1"), harness.entry("CA2")  # offered to ann and bob
    harness.service.dispatcher.accept("acme", "sales", e2.id, e2.offer_id or "", e2.agent_ids[0], "1", harness.clock())
    harness.hang_up("CA2")  # its status callback is lost: the entry stays connected
    harness.hang_up("CA3")  # its status callback is lost: a ghost in the queue
    stuck = harness.agent_record("cat")  # cat is stuck "busy" for a call that does not exist
    harness.store.commit([bump(stuck, status="busy", status_since=iso(harness.clock()), entry_department="sales",
                               entry_id="gone", offer_id="o9")])  # fmt: skip
    harness.tick(51)  # past the ring timeout and the grace: CA1's offer got no outcome
    done = harness.service.handle_task("sweep", {"tenant": "acme", "department": "sales"}, harness.clock())
    assert done == {"abandoned": 1, "released": 1, "completed": 1, "agentsRepaired": 1, "escalated": 0, "assigned": 2}
    assert harness.entry("CA3").status == "abandoned" and harness.entry("CA2").status == "completed"
    assert harness.agent_record("cat").status in ("available", "offered")
    statuses = Counter(e.status for e in harness.store.entries_for_call("acme", "CA1")
                       + harness.store.entries_for_call("acme", "CA4"))  # fmt: skip
    assert statuses == Counter({"assigned": 2})  # re-offered after the repair
    offered = [a for a in harness.store.list_agents("acme", "sales") if a.status == "offered"]
    assert sorted(a.entry_id for a in offered) == sorted([e1.id, harness.entry("CA4").id])  # type: ignore[type-var]
    assert harness.timers.pending("/sweep")  # still work queued: the next sweep is scheduled


def test_stats(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always", serviceLevelSeconds=20)
    harness.agent("ann")
    harness.route("CA1")  # answered within 5 s
    harness.tick(5)
    entry = harness.entry("CA1")
    harness.service.dispatcher.accept("acme", "sales", entry.id, entry.offer_id or "", "ann", "1", harness.clock())
    harness.route("CA2", priority="high")
    harness.route("CA3", priority="low")
    harness.route("CA4", priority="low")
    harness.tick(30)
    harness.service.call_ended("acme", "CA3", harness.clock())  # abandoned after 30 s
    stats = harness.service.admin.stats("acme", "sales", harness.clock())
    assert (stats["waiting"], stats["waitingByPriority"], stats["longestWaitSeconds"]) == (2, {"100": 1, "10": 1}, 30)
    assert stats["agents"]["busy"] == 1 and stats["answered"] == 0  # CA1 is still talking: not closed yet
    assert stats["abandoned"] == 1 and stats["abandonmentRate"] == 1.0 and stats["serviceLevel"] == 0.0
    harness.service.dial_ended("acme", "sales", entry.id, entry.offer_id or "", "completed", 30, harness.clock())
    stats = harness.service.admin.stats("acme", "sales", harness.clock())
    assert (stats["answered"], stats["answeredWithin"], stats["serviceLevel"], stats["abandonmentRate"]) == \
        (1, 1, 0.5, 0.5)  # fmt: skip
    harness.tick(3601)
    assert harness.service.admin.stats("acme", "sales", harness.clock())["answered"] == 0  # out of the hour
    # ann's wrap-up is over (nobody delivered the timer yet): free, with two waiting and a 60 s handle time
    live = harness.service.admin.live("acme", "sales", harness.clock())
    assert live == {"available": 1, "staffed": 1, "waiting": 2, "expectedWait": 120}


def test_a_busy_hour_books_balance(harness: Harness) -> None:
    """30 callers, mixed priorities, 4 agents who answer, miss or decline; a few hang up, one asks for a
    callback: served in priority-then-arrival order, nobody double-booked, every entry accounted for."""
    rng = random.Random(11)
    harness.department("sales", joinWhenEmpty="always", wrapUpSeconds=5, autopauseAfter=0,
                       escalation=[{"afterSeconds": 900, "action": "timeout"}])  # fmt: skip
    for name in ("ann", "bob", "cat", "dan"):
        harness.agent(name, status="away")  # everyone queues first, so the order is the queue's alone
    levels = ["high", "normal", "low"]
    for i in range(30):
        harness.route(f"CA{i:02d}", priority=levels[rng.randrange(3)])
        harness.tick(1)
    priority = {f"CA{i:02d}": harness.entry(f"CA{i:02d}").priority for i in range(30)}
    arrival = {sid: harness.entry(sid).arrived_at for sid in priority}
    harness.service.request_callback("acme", "sales", harness.entry("CA29").id, "+15557770000", harness.clock())
    for name in ("ann", "bob", "cat", "dan"):
        harness.service.admin.set_status("acme", name, {"status": "available"})
    served: list[str] = []
    for _ in range(400):
        harness.tick(7)
        harness.due()
        offered: dict[str, list[str]] = {}
        for agent in harness.store.list_agents("acme", "sales"):
            assert agent.status in ("available", "offered", "busy", "wrap-up", "away")
            if agent.status in ("offered", "busy"):
                offered.setdefault(agent.entry_id or "", []).append(agent.id)
        assert all(len(v) == 1 for v in offered.values()), offered  # nobody reaches two agents
        for entry in harness.store.list_entries("acme", "sales", "assigned"):
            roll = rng.random()
            offer, agent_id = entry.offer_id or "", entry.agent_ids[0]
            if roll < 0.1 and entry.kind == "call":
                harness.hang_up(entry.call_sid)
                harness.service.call_ended("acme", entry.call_sid, harness.clock())
            elif roll < 0.25:
                harness.service.dial_ended("acme", "sales", entry.id, offer, "no-answer", None, harness.clock())
            elif roll < 0.35:
                harness.service.dispatcher.accept("acme", "sales", entry.id, offer, agent_id, "0", harness.clock())
                harness.service.dial_ended("acme", "sales", entry.id, offer, "completed", 0, harness.clock())
            else:
                harness.service.dispatcher.accept("acme", "sales", entry.id, offer, agent_id, "1", harness.clock())
                served.append(entry.call_sid)
        for entry in harness.store.list_entries("acme", "sales", "connected"):
            if entry.kind == "callback":
                harness.service.dispatcher.callback_result("acme", "sales", entry.id, entry.offer_id or "",
                                                           "completed", 30, harness.clock())  # fmt: skip
            else:
                harness.service.dial_ended("acme", "sales", entry.id, entry.offer_id or "", "completed", 30,
                                           harness.clock())  # fmt: skip
        if not any(harness.store.count_entries("acme", "sales", s) for s in ("waiting", "assigned", "connected")):
            break
    closed = Counter(harness.entry(sid).status for sid in priority)
    assert sum(closed.values()) == 30 and set(closed) <= {"completed", "abandoned", "timeout"}
    assert closed["completed"] == len(set(served)) and closed["abandoned"] >= 1
    assert harness.entry("CA29").kind == "callback" and harness.entry("CA29").status == "completed"
    # priority-then-arrival: callers first offered at one instant all come before those first offered later
    offered_at = {sid: min(h["at"] for h in harness.entry(sid).history if h["event"] == "offered")
                  for sid in priority if any(h["event"] == "offered" for h in harness.entry(sid).history)}  # fmt: skip
    instants = sorted(set(offered_at.values()))
    groups = [[(-priority[s], arrival[s]) for s, at in offered_at.items() if at == instant] for instant in instants]
    assert len(groups) > 5 and len(offered_at) >= closed["completed"]
    for earlier, later in itertools.pairwise(groups):
        assert max(earlier) < min(later), (earlier, later)
    assert all(a.status in ("available", "wrap-up") for a in harness.store.list_agents("acme", "sales"))

"""The RoutingStore contract (common/adapters/routing_store.py), run against every implementation.

Each implementation named in the ``routing_store`` fixture's params runs the same tests: the
embedded MemoryRoutingStore here, and a Firestore one on Google's emulator once it provides a
``<name>_routing_store`` fixture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.adapters.routing_store import Agent, Department, MemoryRoutingStore, QueueEntry, RoutingStore
from common.core.routing_model import AgentSettings, DepartmentSettings, entry_id, iso

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def routing_store(request: pytest.FixtureRequest) -> RoutingStore:
    if request.param == "memory":
        return MemoryRoutingStore()
    if request.param == "firestore":  # on the session's emulator (tests/conftest.py), emptied first
        from routing_fixtures import firestore_routing_store

        return firestore_routing_store(request.getfixturevalue("firestore_emulator"),
                                       request.getfixturevalue("firestore_client"))  # fmt: skip
    found: RoutingStore = request.getfixturevalue(f"{request.param}_routing_store")
    return found


def department(tenant: str = "acme", dept: str = "sales", revision: int = 1, **settings: Any) -> Department:
    return Department(tenant_id=tenant, id=dept, settings=DepartmentSettings(**{"name": dept.title(), **settings}),
                      etag=f"etag-{revision}", revision=revision, updated_at=iso(NOW))  # fmt: skip


def agent(agent_id: str = "ann", depts: tuple[str, ...] = ("sales",), tenant: str = "acme", revision: int = 1,
          **live: Any) -> Agent:  # fmt: skip
    settings = AgentSettings(name=agent_id.title(), contact="+15551230000",
                             departments=tuple({"department": d, "tier": 1} for d in depts))  # fmt: skip
    return Agent(tenant_id=tenant, id=agent_id, settings=settings, department_ids=depts, etag="e",
                 revision=revision, **live)  # fmt: skip


def entry(call_sid: str, dept: str = "sales", priority: int = 50, arrived: int = 0, tenant: str = "acme",
          revision: int = 1, **fields: Any) -> QueueEntry:  # fmt: skip
    at = iso(NOW + timedelta(seconds=arrived))
    return QueueEntry(tenant_id=tenant, department_id=dept, id=entry_id(call_sid, dept), call_sid=call_sid,
                      account_sid="AC1", priority=priority, arrived_at=at, joined_at=at, revision=revision,
                      **fields)  # fmt: skip


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a concurrent store call hung"
    return results


# -- departments and agents ----------------------------------------------------------------------


def test_department_round_trip_listing_and_tenant_scope(routing_store: RoutingStore) -> None:
    assert routing_store.get_department("acme", "sales") is None
    sales = department(escalation=[{"afterSeconds": 60, "action": "overflow", "department": "support"}])
    assert routing_store.commit([sales, department(dept="support")])
    assert routing_store.get_department("acme", "sales") == sales
    assert [d.id for d in routing_store.list_departments("acme")] == ["sales", "support"]
    assert routing_store.get_department("other", "sales") is None
    assert routing_store.list_departments("other") == []


def test_create_twice_and_stale_revisions_are_refused(routing_store: RoutingStore) -> None:
    assert routing_store.commit([department()])
    assert not routing_store.commit([department(name="Again")])  # revision 1 = create: it exists
    assert not routing_store.commit([department(revision=3, name="Skips")])  # must be stored + 1
    assert routing_store.commit([department(revision=2, name="Second")])
    stored = routing_store.get_department("acme", "sales")
    assert stored is not None and stored.settings.name == "Second" and stored.revision == 2


def test_commit_is_all_or_nothing(routing_store: RoutingStore) -> None:
    assert routing_store.commit([agent("ann"), entry("CA1")])
    stale_agent = agent("ann", revision=1, status="offered")  # stored is 1: needs 2
    fresh_entry = entry("CA1", revision=2, status="assigned")
    assert not routing_store.commit([fresh_entry, stale_agent])
    got = routing_store.get_entry("acme", "sales", entry_id("CA1", "sales"))
    assert got is not None and got.status == "waiting" and got.revision == 1


def test_one_document_twice_in_a_commit_is_a_programming_error(routing_store: RoutingStore) -> None:
    with pytest.raises(ValueError, match="twice"):
        routing_store.commit([agent("ann"), agent("ann", revision=2)])


def test_agents_by_department(routing_store: RoutingStore) -> None:
    assert routing_store.commit([agent("bob", ("sales", "support")), agent("ann", ("sales",)),
                                 agent("cat", ("support",)), agent("dan", ("sales",), tenant="other")])  # fmt: skip
    assert [a.id for a in routing_store.list_agents("acme", "sales")] == ["ann", "bob"]
    assert [a.id for a in routing_store.list_agents("acme", "support")] == ["bob", "cat"]
    assert [a.id for a in routing_store.list_agents("acme")] == ["ann", "bob", "cat"]
    assert [a.id for a in routing_store.list_agents("other", "sales")] == ["dan"]


def test_agent_live_fields_round_trip(routing_store: RoutingStore) -> None:
    ann = agent("ann", status="wrap-up", wrap_up_until=iso(NOW), missed_in_a_row=2, handle_ewma_seconds=95.5,
                entry_department="sales", entry_id="e1", offer_id="o3", calls_handled=7)  # fmt: skip
    assert routing_store.commit([ann])
    assert routing_store.get_agent("acme", "ann") == ann
    assert routing_store.get_agent("other", "ann") is None


def test_delete_checks_the_revision(routing_store: RoutingStore) -> None:
    assert routing_store.commit([agent("ann")])
    assert not routing_store.delete(agent("ann", revision=2))
    assert routing_store.delete(agent("ann"))
    assert routing_store.get_agent("acme", "ann") is None
    assert not routing_store.delete(agent("ann"))


# -- entries -------------------------------------------------------------------------------------


def test_waiting_entries_in_queue_order(routing_store: RoutingStore) -> None:
    entries = [entry("CA-low", priority=10, arrived=0), entry("CA-late-high", priority=100, arrived=30),
               entry("CA-early-high", priority=100, arrived=10), entry("CA-normal", priority=50, arrived=5),
               entry("CA-gone", priority=999, status="abandoned"),
               entry("CA-x", dept="support", priority=999)]  # fmt: skip
    assert routing_store.commit(entries)
    order = [e.call_sid for e in routing_store.list_entries("acme", "sales", "waiting")]
    assert order == ["CA-early-high", "CA-late-high", "CA-normal", "CA-low"]
    assert [e.call_sid for e in routing_store.list_entries("acme", "sales", "waiting", limit=2)] == order[:2]
    assert routing_store.count_entries("acme", "sales", "waiting") == 4
    assert routing_store.count_entries("acme", "sales", "abandoned") == 1
    assert routing_store.count_entries("acme", "nowhere", "waiting") == 0


def test_equal_priority_and_arrival_are_ordered_by_id(routing_store: RoutingStore) -> None:
    tied = [entry(f"CA{i}") for i in range(5)]
    assert routing_store.commit(tied)
    listed = routing_store.list_entries("acme", "sales", "waiting")
    assert [e.id for e in listed] == sorted(e.id for e in tied)
    assert [routing_store.count_ahead(e) for e in listed] == [0, 1, 2, 3, 4]


def test_count_ahead(routing_store: RoutingStore) -> None:
    a, b, c = entry("A", priority=100, arrived=20), entry("B", priority=50, arrived=0), entry("C", arrived=5)
    assert routing_store.commit([a, b, c, entry("D", priority=999, status="assigned")])
    assert [routing_store.count_ahead(e) for e in (a, b, c)] == [0, 1, 2]
    # an entry not (or no longer) waiting is placed where it would be
    assert routing_store.count_ahead(entry("Z", priority=60, arrived=99, status="assigned")) == 1


def test_closed_since_is_bounded_and_newest_first(routing_store: RoutingStore) -> None:
    closed = [entry(f"CA{i}", status="abandoned", closed_at=iso(NOW + timedelta(minutes=i))) for i in range(5)]
    assert routing_store.commit([*closed, entry("CA-open")])
    found = routing_store.closed_since("acme", "sales", iso(NOW + timedelta(minutes=2)))
    assert [e.call_sid for e in found] == ["CA4", "CA3", "CA2"]
    assert [e.call_sid for e in routing_store.closed_since("acme", "sales", iso(NOW), limit=2)] == ["CA4", "CA3"]
    assert routing_store.closed_since("other", "sales", iso(NOW)) == []


def test_entries_for_call_across_departments(routing_store: RoutingStore) -> None:
    first = entry("CA1", dept="sales", status="overflowed", overflowed_to="support/x")
    second = entry("CA1", dept="support", arrived=0).model_copy(update={"joined_at": iso(NOW + timedelta(seconds=60))})
    assert routing_store.commit([second, first, entry("CA2"), entry("CA1", tenant="other")])
    found = routing_store.entries_for_call("acme", "CA1")
    assert [(e.department_id, e.status) for e in found] == [("sales", "overflowed"), ("support", "waiting")]
    assert routing_store.entries_for_call("acme", "CA9") == []


def test_entry_round_trip_keeps_every_field(routing_store: RoutingStore) -> None:
    full = entry("CA1", status="connected", kind="callback",
                 context={"customerInfo": {"tier": "gold"}, "flowPath": ["a"]},
                 applied_steps=(0, 2), offer_id="o4", agent_ids=("ann", "bob"), missed_by=("cat",),
                 callback_number="+15551112222", callback_attempts=({"at": iso(NOW), "result": "no-answer"},),
                 history=({"at": iso(NOW), "event": "joined"},), expires_at=NOW + timedelta(days=30),
                 announced_position=3, announced_wait=120, callback_offered=True)  # fmt: skip
    assert routing_store.commit([full])
    assert routing_store.get_entry("acme", "sales", full.id) == full
    assert routing_store.get_entry("acme", "support", full.id) is None


# -- races ---------------------------------------------------------------------------------------


def test_two_dispatchers_one_agent_exactly_one_assignment(routing_store: RoutingStore) -> None:
    callers = [entry(f"CA{i}", arrived=i) for i in range(6)]
    assert routing_store.commit([agent("ann", status="available"), *callers])

    def assign(i: int) -> bool:
        offered = agent("ann", revision=2, status="offered", entry_department="sales", entry_id=callers[i].id)
        return routing_store.commit([callers[i].model_copy(update={"status": "assigned", "revision": 2}), offered])

    results = race(6, assign)
    assert results.count(True) == 1 and results.count(False) == 5
    winner = results.index(True)
    ann = routing_store.get_agent("acme", "ann")
    assert ann is not None and ann.entry_id == callers[winner].id
    assert routing_store.count_entries("acme", "sales", "assigned") == 1
    assert routing_store.count_entries("acme", "sales", "waiting") == 5


def test_one_caller_two_agents_racing_exactly_one_assignment(routing_store: RoutingStore) -> None:
    caller = entry("CA1")
    names = [f"agent{i}" for i in range(4)]
    assert routing_store.commit([caller, *(agent(n, status="available") for n in names)])

    def assign(i: int) -> bool:
        return routing_store.commit([caller.model_copy(update={"status": "assigned", "revision": 2,
                                                                "agent_ids": (names[i],)}),
                                     agent(names[i], revision=2, status="offered", entry_id=caller.id)])  # fmt: skip

    results = race(4, assign)
    assert results.count(True) == 1
    offered = [a.id for a in routing_store.list_agents("acme") if a.status == "offered"]
    stored = routing_store.get_entry("acme", "sales", caller.id)
    assert stored is not None and list(stored.agent_ids) == offered

"""Agent reads by status: ``RoutingStore.list_agents(..., statuses=...)`` on both stores, and what the
dispatcher and the hold loop read with it (the agents who can matter, not the whole department)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from routing_harness import Harness, make_harness

from common.adapters.routing_store import Agent, Department, MemoryRoutingStore, RoutingStore
from common.core import routing
from common.core.routing_model import AgentSettings, DepartmentSettings, entry_id, iso

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def store(request: pytest.FixtureRequest) -> RoutingStore:
    if request.param == "memory":
        return MemoryRoutingStore()
    from common.adapters.routing_firestore import FirestoreRoutingStore

    request.getfixturevalue("firestore_emulator").reset("ivr-test")
    return FirestoreRoutingStore(request.getfixturevalue("firestore_client"))


def _agent(agent_id: str, status: str, depts: tuple[str, ...] = ("sales",), tenant: str = "acme") -> Agent:
    settings = AgentSettings(name=agent_id.title(), contact="+15551230000",
                             departments=tuple({"department": d, "tier": 1} for d in depts))  # fmt: skip
    return Agent(tenant_id=tenant, id=agent_id, settings=settings, department_ids=depts, etag="e", status=status,
                 status_since=iso(NOW))  # fmt: skip


def _seed(store: RoutingStore) -> None:
    assert store.commit([
        Department(tenant_id="acme", id="sales", settings=DepartmentSettings(name="Sales"), etag="e"),
        _agent("ann", "available"), _agent("bob", "busy"), _agent("cat", "offline"),
        _agent("dan", "wrap-up", ("sales", "support")), _agent("eve", "available", ("support",)),
        _agent("fay", "away"), _agent("gus", "available", tenant="other"),
    ])  # fmt: skip


def test_list_agents_filters_by_stored_status_within_the_department(store: RoutingStore) -> None:
    _seed(store)

    def ids(department: str | None, statuses: Any) -> list[str]:
        return [a.id for a in store.list_agents("acme", department, statuses=statuses)]

    assert ids("sales", None) == ["ann", "bob", "cat", "dan", "fay"]
    assert ids("sales", routing.MAY_BE_AVAILABLE) == ["ann", "dan"]
    assert ids("sales", routing.WORKING) == ["ann", "bob", "dan"]
    assert ids("sales", routing.LOGGED_IN) == ["ann", "bob", "dan", "fay"]
    assert ids("sales", ["offline"]) == ["cat"]  # a single status (an equality filter on Firestore)
    assert ids("support", ["available"]) == ["eve"]
    assert ids(None, ["available"]) == ["ann", "eve"]  # the tenant's own only: not gus
    assert ids("sales", ["offered"]) == []


def test_reads_are_counted_per_agent_returned_and_an_empty_filter_reads_nothing(store: RoutingStore) -> None:
    _seed(store)
    counted: Any = store  # both stores count reads as Firestore bills them
    before = counted.reads
    store.list_agents("acme", "sales", statuses=routing.MAY_BE_AVAILABLE)
    assert counted.reads - before == 2
    store.list_agents("acme", "sales", statuses=["offered"])
    assert counted.reads - before == 3  # an empty answer still costs one read
    assert store.list_agents("acme", "sales", statuses=()) == []
    assert counted.reads - before == 3


def test_an_unknown_status_is_refused_not_matched_against_nobody(store: RoutingStore) -> None:
    with pytest.raises(ValueError, match="unknown agent status"):
        store.list_agents("acme", "sales", statuses=["availble"])


# -- what the service reads --------------------------------------------------------------------------


def _staffed(h: Harness, free: int, busy: int, away: int, offline: int) -> None:
    h.department("sales", joinWhenEmpty="always")
    n = 0
    for status, count in (("available", free), ("busy", busy), ("away", away), ("offline", offline)):
        for _ in range(count):
            agent_id = f"agent{n:02d}"
            h.agent(agent_id, ("sales",), status="offline")
            stored = h.store.get_agent("acme", agent_id)
            assert stored is not None
            assert h.store.commit([stored.model_copy(update={"status": status, "revision": stored.revision + 1})])
            n += 1


def _reads(h: Harness, work: Any) -> int:
    before = h.store.reads
    work()
    return h.store.reads - before


@pytest.mark.parametrize("idle", [0, 40])
def test_an_assignment_reads_the_free_agents_only(idle: int) -> None:
    """One free agent among 2 busy and ``idle`` away or offline: the same cost either way."""
    h = make_harness()
    _staffed(h, free=0, busy=2, away=idle // 2, offline=idle - idle // 2)
    for i in range(3):
        h.route(f"CA{i}")
    stored = h.store.get_agent("acme", "agent00")
    assert stored is not None
    assert h.store.commit([stored.model_copy(update={"status": "available", "revision": stored.revision + 1})])
    h.service.deps.department("acme", "sales")  # settings cached, as between a hold loop's iterations
    before = h.store.writes
    reads = _reads(h, lambda: h.service.dispatcher.dispatch("acme", "sales", h.clock()))
    assert h.entry("CA0").status == "assigned"
    # 1 free agent + the front of the queue (a window of 5 holding 2 more callers: 3 documents) + the commit's 2
    assert (reads, h.store.writes - before) == (1 + 3 + 2, 2)


@pytest.mark.parametrize("idle", [0, 40])
def test_an_announcing_hold_iteration_reads_the_working_agents_only(idle: int) -> None:
    h = make_harness()
    _staffed(h, free=0, busy=2, away=idle // 2, offline=idle - idle // 2)
    h.route("CA0")
    h.route("CA1")
    h.clock.tick(120)  # an announcement is due
    h.route("CAvip", priority="high")  # ahead of CA1: its place changes, so it is announced
    h.service.deps.department("acme", "sales")  # settings cached, as between a hold loop's iterations
    reads = _reads(h, lambda: h.service.hold("acme", "sales", entry_id("CA1", "sales"), h.clock()))
    # the entry + the count ahead + the 2 busy agents (the commit of what was announced: 1 more)
    assert reads == 1 + 1 + 2 + 1
    assert h.entry("CA1").announced_position == 3


def test_a_wrap_up_that_has_ended_is_still_found_free() -> None:
    """Its stored status stays wrap-up (ended by time, never written): the dispatcher must ask for it."""
    h = make_harness()
    _staffed(h, free=0, busy=0, away=0, offline=0)
    h.agent("ann", ("sales",), status="offline")
    stored = h.store.get_agent("acme", "ann")
    assert stored is not None
    ended = stored.model_copy(update={"status": "wrap-up", "wrap_up_until": iso(h.clock() - timedelta(seconds=1)),
                                      "revision": stored.revision + 1})  # fmt: skip
    assert h.store.commit([ended])
    h.route("CA0")
    assert h.entry("CA0").agent_ids == ("ann",)

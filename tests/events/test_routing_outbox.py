"""The routing outbox on both stores (memory, and Firestore on Google's emulator): queue and agent
events written in the routing commit that caused them (common/service/queue_events_store.py,
``commit_outbox`` in common/adapters/routing_store.py and routing_firestore.py), published after,
acknowledged, and swept; no extra document read or written per commit."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters"))

from routing_fixtures import agent, bump, entry

from common.adapters.events_sinks import MemoryPublisher
from common.adapters.memory import MemoryStore
from common.adapters.routing_store import Department, MemoryRoutingStore, path_of
from common.core.routing_model import DepartmentSettings
from common.service.event_outbox import EventOutbox
from common.service.queue_events_store import EventingRoutingStore

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SALES = Department(tenant_id="acme", id="sales", settings=DepartmentSettings(name="Sales", service_level_seconds=20),
                   etag="e")  # fmt: skip


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def inner(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryRoutingStore()
    from common.adapters.routing_firestore import FirestoreRoutingStore

    request.getfixturevalue("firestore_emulator").reset("ivr-test")
    return FirestoreRoutingStore(request.getfixturevalue("firestore_client"))


def eventing(inner: Any, dispatch: bool = False) -> tuple[EventingRoutingStore, EventOutbox, MemoryPublisher]:
    publisher = MemoryPublisher()
    outbox = EventOutbox(MemoryStore(), publisher, lambda: NOW, start_dispatcher=dispatch)
    return EventingRoutingStore(inner, outbox), outbox, publisher


def answered_visit(store: Any) -> list[Any]:
    """A caller joins sales, is offered to ann, ann answers after 12 s: three commits."""
    assert store.commit([SALES])
    ann = agent("ann", status="available")
    joined = entry("CA1", history=({"at": "2026-03-02T09:00:00.000Z", "event": "joined"},))
    assert store.commit([ann, joined])
    offered = bump(joined, status="assigned", agent_ids=("ann",), history=(*joined.history, {
        "at": "2026-03-02T09:00:05.000Z", "event": "offered", "agents": ["ann"]}))  # fmt: skip
    ringing = bump(ann, status="offered", entry_department="sales", entry_id=joined.id)
    assert store.commit([offered, ringing])
    connected = bump(offered, status="connected", wait_seconds=12, connected_agent="ann", history=(
        *offered.history, {"at": "2026-03-02T09:00:12.000Z", "event": "connected", "agent": "ann"}))  # fmt: skip
    busy = bump(ringing, status="busy")
    assert store.commit([connected, busy])
    return [connected, busy]


def stored_outbox(inner: Any, record: Any) -> list[dict[str, Any]]:
    found = inner.read_outbox(path_of(record))
    assert found is not None
    return found[0]


def test_events_are_written_in_the_commit_and_published_once_after(inner: Any) -> None:
    store, outbox, publisher = eventing(inner)
    connected, busy = answered_visit(store)
    held = stored_outbox(inner, connected)  # not published yet: the rows wait in the entry document
    assert [r["type"] for r in held] == ["queue.joined", "queue.offered", "queue.answered"]
    answered = held[-1]
    assert answered["data"] == {"wait_seconds": 12, "service_level_seconds": 20} and answered["agent_id"] == "ann"
    assert [r["data"]["to_status"] for r in stored_outbox(inner, busy)] == ["available", "offered", "busy"]
    assert [r["event_index"] for r in held] == sorted(r["event_index"] for r in held)
    outbox.drain()
    assert sorted(r["type"] for r in publisher.rows) == ["agent.status_changed"] * 3 + [
        "queue.answered", "queue.joined", "queue.offered"]  # fmt: skip
    assert stored_outbox(inner, connected) == [] and stored_outbox(inner, busy) == []  # acknowledged
    assert outbox.sweep(older_than_seconds=0)["republished"] == 0
    assert store.get_entry("acme", "sales", connected.id) == connected  # the record is routing's, unchanged


def test_a_refused_commit_writes_no_events(inner: Any) -> None:
    store, outbox, publisher = eventing(inner)
    joined = entry("CA1")
    assert store.commit([joined])
    stale = joined.model_copy(update={"revision": 5, "status": "abandoned", "closed_at": "2026-03-02T09:01:00.000Z"})
    assert not store.commit([stale])  # not the next revision: refused
    outbox.drain()
    assert [r["type"] for r in publisher.rows] == ["queue.joined"]


def test_a_crash_between_the_commit_and_the_publish_is_swept_once(inner: Any) -> None:
    store, outbox, publisher = eventing(inner)
    answered_visit(store)
    outbox.forget_queued()  # the instance stopped after answering: the hand-offs are gone
    later = EventOutbox(MemoryStore(), publisher, lambda: NOW + timedelta(minutes=5), start_dispatcher=False)
    later.add_routing(inner)  # another instance's sweeper
    swept = later.sweep(older_than_seconds=120)
    assert (swept["routing_documents"], swept["republished"], swept["unpublished"]) == (2, 6, 0)
    assert swept["oldest_unpublished_seconds"] == 300.0
    assert later.sweep(older_than_seconds=0)["republished"] == 0
    assert len(publisher.rows) == len(publisher.unique()) == 6


def test_a_publisher_outage_keeps_the_rows_until_the_sweeper(inner: Any) -> None:
    store, outbox, publisher = eventing(inner)
    publisher.fail = True
    connected, _ = answered_visit(store)
    outbox.drain()
    assert len(stored_outbox(inner, connected)) == 3
    assert outbox.sweep(older_than_seconds=0)["unpublished"] == 6
    publisher.fail = False
    release = bump(connected, status="completed", closed_at="2026-03-02T09:03:00.000Z")
    assert store.commit([release])  # a later commit keeps the unpublished rows and adds none
    assert len(stored_outbox(inner, release)) == 3
    assert outbox.sweep(older_than_seconds=0)["republished"] == 6
    assert len(publisher.unique()) == 6 and stored_outbox(inner, release) == []


def test_published_unacknowledged_rows_leave_with_the_next_commit(inner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store, outbox, publisher = eventing(inner)
    monkeypatch.setattr(inner, "ack_outbox", lambda *args: False)  # every acknowledgement is lost
    connected, _ = answered_visit(store)
    outbox.drain()
    assert len(stored_outbox(inner, connected)) == 3  # published, still there
    monkeypatch.undo()
    release = bump(connected, status="completed", closed_at="2026-03-02T09:03:00.000Z")
    assert store.commit([release])
    assert stored_outbox(inner, release) == []  # this process knows they went out
    assert len(publisher.unique()) == 6


def test_no_extra_document_is_read_or_written_per_commit(inner: Any, request: pytest.FixtureRequest) -> None:
    if isinstance(inner, MemoryRoutingStore):
        plain: Any = MemoryRoutingStore()
    else:
        from common.adapters.routing_firestore import FirestoreRoutingStore

        plain = FirestoreRoutingStore(inner.client)
    answered_visit(plain)
    if not isinstance(inner, MemoryRoutingStore):
        request.getfixturevalue("firestore_emulator").reset("ivr-test")
    store, outbox, _ = eventing(inner)
    answered_visit(store)
    assert (inner.reads, inner.writes) == (plain.reads, plain.writes) == (7, 7)  # the same documents
    outbox.drain()
    assert inner.writes - plain.writes == 2  # one batch: one acknowledgement per document (entry, agent)


def test_an_acknowledgement_between_a_commits_read_and_write_does_not_fail_it(inner: Any) -> None:
    store, outbox, _ = eventing(inner)
    joined = entry("CA1")
    assert store.commit([joined])
    [handed] = list(outbox._queue.queue)
    path, rows, token, _ = handed
    if isinstance(inner, MemoryRoutingStore):  # one lock: an acknowledgement cannot land inside a commit
        assert inner.ack_outbox(path, rows, {rows[0]["event_id"]}, token)
        assert store.commit([bump(joined, status="abandoned", wait_seconds=3, closed_at="2026-03-02T09:00:03Z")])
        return
    real = inner.client.get_all
    acked: list[bool] = []

    def read_then_ack(refs: Any, **kw: Any) -> Any:
        snaps = list(real(refs, **kw))
        if not acked:  # the dispatcher's acknowledgement lands after this read, before the write
            acked.append(inner.ack_outbox(path, rows, {rows[0]["event_id"]}, token))
        return snaps

    inner.client.get_all = read_then_ack
    try:
        abandoned = bump(joined, status="abandoned", wait_seconds=3, closed_at="2026-03-02T09:00:03Z")
        assert store.commit([abandoned]) and acked == [True]
    finally:
        del inner.client.get_all
    assert [r["type"] for r in stored_outbox(inner, abandoned)] == ["queue.abandoned"]
    assert stored_outbox(inner, abandoned)[0]["data"]["service_level_seconds"] is None  # no department read

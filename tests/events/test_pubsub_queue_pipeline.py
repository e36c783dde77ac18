"""Queue and agent events on Google's Pub/Sub emulator, on both stores: routed calls over HTTP ->
the routing outbox (entry and agent documents) -> PubSubPublisher -> the emulator -> a pull
subscription standing in for the BigQuery subscription -> DuckDB -> the reports' dedup view. A
Pub/Sub outage then the sweeper, a crash between the routing commit and the publish, and duplicate
publishes (lost acknowledgements) each end with every queue and agent event exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from callkit import Routed, attach, routing_store_for
from livestack import ACCOUNT_A, TOKEN_A, Stack, deploy, transport
from test_pubsub_pipeline import Topic, fail_fast, pubsub_stack
from test_queue_events import FLOW, NUMBER

from common import bootstrap
from common.adapters.memory import MemoryStore
from common.callsim import TwilioCallSimulator
from common.service.queue_events_store import EventingRoutingStore

# One routed call (the agent lets the first offer ring out, answers the second): its queue and agent
# events; the agent's sign-in (made.agent: offline -> available) is one more, once.
ROUTED = Counter({"queue.joined": 1, "queue.offered": 2, "queue.declined": 1, "queue.answered": 1,
                  "agent.status_changed": 5})  # fmt: skip


@pytest.fixture
def topic(pubsub_emulator: Any) -> Iterator[Topic]:
    made = Topic()
    yield made
    made.connection.close()


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def routed(request: pytest.FixtureRequest, topic: Topic) -> Iterator[Routed]:
    store = request.getfixturevalue("firestore_store") if request.param == "firestore" else MemoryStore()
    stack = pubsub_stack(store, topic)
    assert stack.svc.events is not None
    made = attach(stack, EventingRoutingStore(routing_store_for(stack), stack.svc.events))
    made.department("sales", ringTimeoutSeconds=20, serviceLevelSeconds=45)
    made.agent("ann", "sales", contact="+15552220001")
    deploy(stack.svc, stack.svc.admin.authenticate("Bearer ivr_dev_demo_key_not_secret"), FLOW, NUMBER)
    try:
        yield made
    finally:
        bootstrap.install(None)


def routed_call(routed: Routed) -> str:
    stack: Stack = routed.stack
    sim = TwilioCallSimulator("https://ivr.example.test", TOKEN_A, ACCOUNT_A, post=transport(stack.app))
    result = sim.call(NUMBER, "+15550001234", ["agent:no-answer", "agent:answer:30"], advance=routed.advance)
    assert result.problems == [] and all(e.status == 200 for e in result.exchanges)
    return result.call_sid


def queue_rows(topic: Topic) -> list[tuple[str, str, str, Any]]:
    """(event_id, type, call sid, service level) of the queue and agent events in the dedup view."""
    from common.reports.local import Reports

    Reports(topic.connection)
    query = ("SELECT event_id, type, call_sid, json_extract(data, '$.service_level_seconds') FROM call_events_unique "
             "WHERE type LIKE 'queue.%' OR type LIKE 'agent.%' ORDER BY event_id")  # fmt: skip
    return [(str(r[0]), str(r[1]), str(r[2]), r[3]) for r in topic.connection.execute(query).fetchall()]


def expect_each_once(topic: Topic, calls: int) -> None:
    rows = queue_rows(topic)
    expected = Counter({t: n * calls for t, n in ROUTED.items()}) + Counter({"agent.status_changed": 1})
    assert Counter(t for _, t, _, _ in rows) == expected
    assert len({event_id for event_id, _, _, _ in rows}) == len(rows)
    assert {str(level) for _, t, _, level in rows if t == "queue.answered"} == {"45"}


def routing_outboxes(routed: Routed) -> int:
    events = routed.stack.svc.events
    return sum(len(held) for path, _ in routed.store.outboxes_since(events.now(), 1000)
               if (held := routed.store.read_outbox(path)) is not None)


def test_a_pubsub_outage_during_routed_calls_then_the_sweeper(routed: Routed, topic: Topic,
                                                              pubsub_emulator: Any) -> None:  # fmt: skip
    outbox = routed.stack.svc.events
    routed_call(routed)
    outbox.drain(timeout=30)
    topic.sink()
    assert routing_outboxes(routed) == 0
    fail_fast(routed.stack)
    pubsub_emulator.stop()  # the calls go on; their queue and agent events stay in the routing documents
    try:
        routed_call(routed)
        outbox.drain(timeout=30)
        assert routing_outboxes(routed) > 0
    finally:
        pubsub_emulator.start()
        topic.create()
    swept = outbox.sweep(older_than_seconds=0)
    assert swept["unpublished"] == 0 and swept["routing_documents"] >= 2  # the entry and the agent
    assert routing_outboxes(routed) == 0
    topic.sink()
    expect_each_once(topic, calls=2)


def test_a_crash_between_the_routing_commit_and_the_publish(routed: Routed, topic: Topic,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    outbox = routed.stack.svc.events
    outbox.drain(timeout=30)
    topic.sink()  # the department and the agent's sign-in
    monkeypatch.setattr(outbox, "_hand_off", lambda *args: None)  # the instance stops after every commit
    routed_call(routed)
    assert topic.sink() == 0 and routing_outboxes(routed) > 0
    first = outbox.sweep(older_than_seconds=0)
    assert first["routing_documents"] >= 2 and first["unpublished"] == 0
    again = outbox.sweep(older_than_seconds=0)
    assert (again["routing_documents"], again["republished"]) == (0, 0)
    topic.sink()
    expect_each_once(topic, calls=1)


def test_duplicate_queue_event_publishes_are_dropped_by_the_view(routed: Routed, topic: Topic,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    outbox = routed.stack.svc.events
    inner = routed.store.inner
    monkeypatch.setattr(inner, "ack_outbox", lambda *args: False)  # every acknowledgement is lost
    monkeypatch.setattr(outbox, "was_published", lambda event_id: False)  # and another instance commits next
    routed_call(routed)
    outbox.drain(timeout=30)
    assert routing_outboxes(routed) > 0  # published, still held
    outbox.sweep(older_than_seconds=0)  # a second copy of each
    monkeypatch.undo()
    assert outbox.sweep(older_than_seconds=0)["republished"] > 0  # a third, acknowledged
    assert routing_outboxes(routed) == 0
    topic.sink()
    assert topic.rows() > len(queue_rows(topic))  # duplicates arrived
    expect_each_once(topic, calls=1)

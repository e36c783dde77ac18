"""The whole path on Google's Pub/Sub emulator: calls over HTTP -> outbox -> PubSubPublisher -> the
emulator -> a pull subscription standing in for the BigQuery subscription -> the local DuckDB table
-> the reports' dedup view (common/reports, read only). Each failure mode ends with every event
exactly once as that view sees it: a Pub/Sub outage during calls (the emulator stopped) then the
sweeper, a crash between the write and the publish, and duplicate publishes (lost
acknowledgements, replayed webhooks)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from event_scripts import SALES, SALES_TYPES
from livestack import DEMO_NUMBER, Stack, build_stack, warm_up

from common import bootstrap
from common.adapters.events_sinks import insert_rows
from common.adapters.memory import MemoryStore
from common.adapters.pubsub import PubSubPublisher, decode
from common.reports.local import Reports

PROJECT = "ivr-events-test"
EVENTS_PER_SALES_CALL = len(SALES_TYPES)
_names = itertools.count()


class Topic:
    """A topic and a pull subscription on the emulator; ``sink`` appends what arrives to DuckDB."""

    def __init__(self) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        n = next(_names)
        self.topic = f"projects/{PROJECT}/topics/call-events-{n}"
        self.subscription = f"projects/{PROJECT}/subscriptions/to-bigquery-{n}"
        self.subscriber = pubsub_v1.SubscriberClient()
        self.connection = duckdb.connect(":memory:")
        self.create()

    def create(self) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        pubsub_v1.PublisherClient().create_topic(name=self.topic)
        self.subscriber.create_subscription(name=self.subscription, topic=self.topic, ack_deadline_seconds=60)

    def sink(self) -> int:
        """Pull until nothing comes; append each message's row (duplicates too). The rows appended."""
        count = 0
        while True:
            got = self.subscriber.pull(subscription=self.subscription, max_messages=500, timeout=10)
            if not got.received_messages:
                return count
            insert_rows(self.connection, [decode(m.message.data) for m in got.received_messages])
            self.subscriber.acknowledge(subscription=self.subscription,
                                        ack_ids=[m.ack_id for m in got.received_messages])  # fmt: skip
            count += len(got.received_messages)

    def rows(self) -> int:
        found = self.connection.execute("SELECT COUNT(*) FROM call_events").fetchone()
        return int(found[0]) if found else 0

    def unique(self) -> list[tuple[str, str]]:
        """(call sid, type) of every event in the dedup view, in time then id order."""
        Reports(self.connection)  # the reports' views over this connection
        query = "SELECT call_sid, type FROM call_events_unique ORDER BY call_sid, occurred_at, event_id"
        return [(str(r[0]), str(r[1])) for r in self.connection.execute(query).fetchall()]

    def billed_calls(self) -> int:
        return sum(int(row["calls"]) for row in Reports(self.connection).billing())


@pytest.fixture
def topic(pubsub_emulator: Any) -> Iterator[Topic]:
    made = Topic()
    yield made
    made.connection.close()


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "firestore":
        warm_up(request.getfixturevalue("firestore_client"))
        return request.getfixturevalue("firestore_store")
    return MemoryStore()


def pubsub_stack(store: Any, topic: Topic) -> Stack:
    stack = build_stack(store, IVR_EVENTS="pubsub", IVR_EVENTS_TOPIC=topic.topic, GOOGLE_CLOUD_PROJECT=PROJECT)
    assert stack.svc.events is not None
    stack.svc.events.publisher = PubSubPublisher(topic.topic, timeout=10.0)  # a cold client's first batch is slow
    return stack


def fail_fast(stack: Stack) -> None:
    assert stack.svc.events is not None
    stack.svc.events.publisher.timeout = 1.0


def sales_calls(stack: Stack, count: int) -> list[str]:
    sids = []
    for _ in range(count):
        result = stack.call(DEMO_NUMBER, SALES)
        assert [e.status for e in result.exchanges] == [200] * 4
        assert result.transcript[-1] == "IVR hangs up"
        sids.append(result.call_sid)
    return sids


def expect_each_once(topic: Topic, sids: list[str]) -> None:
    seen = topic.unique()
    assert sorted({sid for sid, _ in seen}) == sorted(sids)
    for sid in sids:
        types = [t for s, t in seen if s == sid]
        assert sorted(types) == sorted(SALES_TYPES)  # the stack's clock is frozen: order by type, not time
    assert topic.billed_calls() == len(sids)


def test_a_pubsub_outage_during_calls_then_the_sweeper(store: Any, topic: Topic, pubsub_emulator: Any) -> None:
    stack = pubsub_stack(store, topic)
    try:
        outbox = stack.svc.events
        assert outbox is not None
        before = sales_calls(stack, 1)
        outbox.drain(timeout=30)
        assert topic.sink() >= EVENTS_PER_SALES_CALL and stack.stored(before[0]).outbox == []
        fail_fast(stack)
        pubsub_emulator.stop()  # Pub/Sub is gone: the calls go on, the events stay in the outboxes
        try:
            during = sales_calls(stack, 2)
            outbox.drain(timeout=30)
            assert all(len(stack.stored(sid).outbox) == EVENTS_PER_SALES_CALL for sid in during)
            assert outbox.sweep(older_than_seconds=0)["unpublished"] == 2 * EVENTS_PER_SALES_CALL  # still down
        finally:
            pubsub_emulator.start()
            topic.create()  # the emulator forgets its topics on restart; what it held was sunk above
        swept = outbox.sweep(older_than_seconds=0)
        assert (swept["calls"], swept["republished"], swept["unpublished"]) == (2, 2 * EVENTS_PER_SALES_CALL, 0)
        assert all(stack.stored(sid).outbox == [] for sid in during)
        topic.sink()
        expect_each_once(topic, before + during)
    finally:
        bootstrap.install(None)


def test_a_crash_between_the_write_and_the_publish(store: Any, topic: Topic) -> None:
    stack = pubsub_stack(store, topic)
    try:
        outbox = stack.svc.events
        assert outbox is not None
        outbox._dispatch = False  # the instance stops after every answer: its dispatcher never runs
        sids = sales_calls(stack, 2)
        outbox.forget_queued()
        assert topic.sink() == 0 and all(stack.stored(sid).outbox for sid in sids)
        assert outbox.sweep(older_than_seconds=0)["republished"] == 2 * EVENTS_PER_SALES_CALL
        assert outbox.sweep(older_than_seconds=0)["republished"] == 0
        topic.sink()
        expect_each_once(topic, sids)
    finally:
        bootstrap.install(None)


def test_duplicate_publishes_are_dropped_by_the_view(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    stack = pubsub_stack(store, topic)
    try:
        outbox = stack.svc.events
        assert outbox is not None
        monkeypatch.setattr(store, "update_outbox", lambda *args: None)  # every acknowledgement is lost
        lost = sales_calls(stack, 1)
        outbox.drain(timeout=30)
        assert len(stack.stored(lost[0]).outbox) == EVENTS_PER_SALES_CALL  # published, not acknowledged
        outbox.sweep(older_than_seconds=0)  # republished: a second copy of each
        monkeypatch.undo()
        assert outbox.sweep(older_than_seconds=0)["republished"] == EVENTS_PER_SALES_CALL  # a third, acknowledged
        assert stack.stored(lost[0]).outbox == []
        replayed = stack.call(DEMO_NUMBER, SALES, replays=2, concurrent_replays=2)  # Twilio's retries
        outbox.drain(timeout=30)
        topic.sink()
        assert topic.rows() > 3 * EVENTS_PER_SALES_CALL  # duplicates arrived
        expect_each_once(topic, [*lost, replayed.call_sid])
    finally:
        bootstrap.install(None)

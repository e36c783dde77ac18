"""The call queries see the latest write of each call, on every Store.

The embedded store keeps a call as its JSON text with the queried fields beside it (memory.py); these
tests pin that the fields follow every kind of write (a step's compare-and-set, the status callback's
end, an outbox acknowledgement), as Firestore's indexes follow its documents.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_records import NOW, call

from common.adapters.ports import Store


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def store(request: pytest.FixtureRequest) -> Store:
    found: Store = request.getfixturevalue(f"{request.param}_store")
    return found


def _read(store: Store, sid: str):  # type: ignore[no-untyped-def]
    found = store.read_call(sid)
    assert found is not None
    return found


def test_an_ended_call_leaves_the_active_queries(store: Store) -> None:
    store.create_call(call("CA-q1", expires_in=timedelta(minutes=-5)))
    store.create_call(call("CA-q2", expires_in=timedelta(minutes=-5)))
    assert sorted(store.active_calls_expired(NOW)) == ["CA-q1", "CA-q2"]
    record, token = _read(store, "CA-q1")
    assert store.write_call(record.model_copy(update={"status": "ended", "seq": 1}), token)
    assert store.active_calls_expired(NOW) == ["CA-q2"]
    assert [c.call_sid for c in store.list_calls("acme", active=True)] == ["CA-q2"]
    ended = store.list_calls("acme", active=False)
    assert [(c.call_sid, c.seq, c.status) for c in ended] == [("CA-q1", 1, "ended")]


def test_a_later_expiry_takes_the_call_out_of_the_sweep(store: Store) -> None:
    store.create_call(call("CA-q3", expires_in=timedelta(minutes=-5)))
    record, token = _read(store, "CA-q3")
    assert store.write_call(record.model_copy(update={"expires_at": NOW + timedelta(hours=1), "seq": 1}), token)
    assert store.active_calls_expired(NOW) == []
    assert store.active_calls_expired(NOW + timedelta(hours=2)) == ["CA-q3"]


def test_the_outbox_query_follows_writes_and_acknowledgements(store: Store) -> None:
    store.create_call(call("CA-q4"))
    assert store.calls_with_outbox(NOW + timedelta(days=1)) == []
    record, token = _read(store, "CA-q4")
    rows = [{"event_id": "e1", "occurred_at": "2026-03-01T12:00:01Z"},
            {"event_id": "e2", "occurred_at": "2026-03-01T12:00:00Z"}]  # fmt: skip
    since = NOW.replace(microsecond=0)
    written = record.model_copy(update={"outbox": rows, "outbox_since": since, "seq": 1})
    assert store.write_call(written, token)
    assert store.calls_with_outbox(NOW + timedelta(days=1)) == [("CA-q4", since)]
    assert store.calls_with_outbox(since - timedelta(seconds=1)) == []
    _, token = _read(store, "CA-q4")
    assert store.update_outbox("CA-q4", rows[:1], token) is not None  # e2 published: e1 remains
    later = since + timedelta(seconds=1)
    assert store.calls_with_outbox(NOW + timedelta(days=1)) == [("CA-q4", later)]
    assert _read(store, "CA-q4")[0].outbox == rows[:1]
    _, token = _read(store, "CA-q4")
    assert store.update_outbox("CA-q4", [], token) is not None
    assert store.calls_with_outbox(NOW + timedelta(days=1)) == []
    assert _read(store, "CA-q4")[0].seq == 1  # the acknowledgement changed the outbox only

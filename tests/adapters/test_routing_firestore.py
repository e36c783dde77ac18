"""What only FirestoreRoutingStore has to prove: layout, storage types, bounded RPCs, costs, outages,
and commits that lose (or seem to lose) between their read and their write.

The behaviour every RoutingStore shares is in test_routing_contract.py; the dispatcher races are
in test_routing_races.py. All run on Google's Firestore emulator.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from routing_fixtures import NOW, agent, bump, department, entry, firestore_routing_store

from common.adapters import firestore as fs
from common.adapters.emulator import FirestoreEmulator, warm_up
from common.adapters.ports import StoreUnavailable
from common.adapters.routing_firestore import JSON_FIELDS, FirestoreRoutingStore
from common.core.routing_model import iso

pytestmark = pytest.mark.emulator


@pytest.fixture
def store(firestore_emulator: FirestoreEmulator, firestore_client: Any) -> FirestoreRoutingStore:
    return firestore_routing_store(firestore_emulator, firestore_client)


class RpcSpy:
    """Stands in for the client's GAPIC API object and records the keyword arguments of every RPC;
    ``lose_next_commit_reply()`` makes the next commit apply and then answer UNAVAILABLE (a reply lost
    on its way back), beneath the client's retry, so the retry runs as it would."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commit_attempts = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return attr(*args, **kwargs)

        return recorded

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def lose_next_commit_reply(self) -> None:
        from google.api_core.exceptions import ServiceUnavailable

        transport = self._real._transport
        wrapped = transport._wrapped_methods[transport.commit]  # the RPC the retry decorator wraps
        real = wrapped._target

        def applied_but_unanswered(*args: Any, **kwargs: Any) -> Any:
            wrapped._target = counted
            self.commit_attempts += 1
            real(*args, **kwargs)
            raise ServiceUnavailable("the reply was lost")

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.commit_attempts += 1
            return real(*args, **kwargs)

        wrapped._target = applied_but_unanswered


@pytest.fixture
def spied(store: FirestoreRoutingStore) -> Iterator[tuple[FirestoreRoutingStore, RpcSpy]]:
    import os

    from google.cloud import firestore

    client = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])  # not the shared one
    spy = RpcSpy(client._firestore_api)
    client._firestore_api_internal = spy
    yield FirestoreRoutingStore(client), spy
    client.close()


# -- layout and storage --------------------------------------------------------------------------


def test_documents_live_at_the_designed_paths(store: FirestoreRoutingStore, firestore_client: Any) -> None:
    waiting = entry("CA1", expires_at=NOW + timedelta(days=30))
    assert store.commit([department(), agent("ann", ("sales", "support")), waiting])
    db = firestore_client
    assert db.document("tenants/acme/departments/sales").get().to_dict()["settings"]["name"] == "Sales"
    raw_agent = db.document("tenants/acme/agents/ann").get().to_dict()
    assert raw_agent["department_ids"] == ["sales", "support"]  # an array: array-contains queries
    raw = db.document(f"tenants/acme/departments/sales/entries/{waiting.id}").get().to_dict()
    assert (raw["status"], raw["priority"], raw["arrived_at"], raw["call_sid"]) == \
        ("waiting", 50, iso(NOW), "CA1")
    assert raw["expires_at"] == waiting.expires_at and type(raw["expires_at"]).__name__ == "DatetimeWithNanoseconds"
    assert raw[JSON_FIELDS] == []
    found = store.get_entry("acme", "sales", waiting.id)
    assert found == waiting and found is not None and type(found.expires_at) is type(NOW)


def test_context_firestore_cannot_hold_is_stored_as_json_text(store: FirestoreRoutingStore,
                                                              firestore_client: Any) -> None:  # fmt: skip
    foreign = {"customerInfo": {"route": [[48.85, 2.35], [51.5, -0.12]], "": "empty key"}, "flowPath": ["a"]}
    first = entry("CA1", context=foreign)
    assert store.commit([first])
    ref = firestore_client.document(f"tenants/acme/departments/sales/entries/{first.id}")
    raw = ref.get().to_dict()
    assert isinstance(raw["context"], str) and raw[JSON_FIELDS] == ["context"]
    assert store.get_entry("acme", "sales", first.id) == first
    assert store.list_entries("acme", "sales", "waiting") == [first]
    plain = bump(first, context={"customerInfo": {"tier": "gold"}})
    assert store.commit([plain])
    raw = ref.get().to_dict()
    assert raw["context"] == {"customerInfo": {"tier": "gold"}} and raw[JSON_FIELDS] == []
    assert store.get_entry("acme", "sales", first.id) == plain


@pytest.mark.parametrize("bad", ["a/b", "", "__x__", ".", ".."])
def test_ids_that_are_not_document_ids_are_refused(store: FirestoreRoutingStore, bad: str) -> None:
    with pytest.raises(ValueError, match="document id"):
        store.get_agent("acme", bad)
    with pytest.raises(ValueError, match="document id"):
        store.list_entries(bad, "sales", "waiting")
    with pytest.raises(ValueError, match="document id"):
        store.entries_for_call(bad, "CA1")


def test_entries_for_call_reads_only_the_tenants_department_entries(store: FirestoreRoutingStore,
                                                                    firestore_client: Any) -> None:  # fmt: skip
    mine = entry("CA1")
    assert store.commit([mine, entry("CA1", tenant="other")])
    firestore_client.document("entries/stray").set({"call_sid": "CA1"})  # another "entries" collection
    firestore_client.document("tenants/acme/entries/stray").set({"call_sid": "CA1"})
    assert store.entries_for_call("acme", "CA1") == [mine]


def test_count_ahead_counts_only_what_sorts_before(store: FirestoreRoutingStore) -> None:
    tied = [entry(f"CA{i}", priority=70, arrived=5) for i in range(4)]
    line = [entry("HI", priority=100, arrived=50), *tied, entry("LO", priority=10), entry("X", priority=999,
                                                                                         status="assigned")]
    assert store.commit(line)
    ordered = sorted(tied, key=lambda e: e.id)
    assert [store.count_ahead(e) for e in ordered] == [1, 2, 3, 4]
    assert store.count_ahead(entry("NEW", priority=70, arrived=5.000001)) == 5  # not stored: where it would go
    assert store.count_ahead(entry("TOP", priority=999, status="assigned")) == 0


# -- every RPC bounded, and what each costs ------------------------------------------------------


def test_every_rpc_carries_an_explicit_timeout_and_a_bounded_retry(
        spied: tuple[FirestoreRoutingStore, RpcSpy]) -> None:  # fmt: skip
    from google.api_core.retry import Retry

    store, spy = spied
    ann, caller = agent("ann"), entry("CA1", closed_at=iso(NOW))
    assert store.commit([department(), ann, caller])
    assert not store.commit([department()])
    store.get_department("acme", "sales")
    store.list_departments("acme")
    store.get_agent("acme", "ann")
    store.list_agents("acme", "sales")
    store.list_agents("acme")
    store.get_entry("acme", "sales", caller.id)
    store.list_entries("acme", "sales", "waiting")
    store.count_entries("acme", "sales", "waiting")
    store.count_ahead(caller)
    store.closed_since("acme", "sales", iso(NOW))
    store.entries_for_call("acme", "CA1")
    assert store.delete(ann) is True
    assert {"batch_get_documents", "commit", "run_query", "run_aggregation_query"} <= set(spy.names())
    for name, kwargs in spy.calls:
        timeout, retry = kwargs.get("timeout"), kwargs.get("retry")
        assert isinstance(timeout, float) and 0 < timeout <= fs.COMMIT_TIMEOUT, (name, kwargs)
        assert isinstance(retry, Retry) and retry.timeout is not None and retry.timeout <= 2.0, (name, kwargs)
        assert timeout == (fs.COMMIT_TIMEOUT if name == "commit" else fs.READ_TIMEOUT), name


def test_an_assignment_costs_one_batched_read_and_one_commit(spied: tuple[FirestoreRoutingStore, RpcSpy]) -> None:
    store, spy = spied
    ann, caller = agent("ann", status="available"), entry("CA1")
    assert store.commit([ann, caller])
    store.reads = store.writes = 0
    spy.calls.clear()
    assert store.commit([bump(caller, status="assigned", agent_ids=("ann",)),
                         bump(ann, status="offered", entry_id=caller.id)])  # fmt: skip
    assert spy.names() == ["batch_get_documents", "commit"]
    assert (store.reads, store.writes) == (2, 2)


def test_reads_are_counted_as_firestore_bills_them(store: FirestoreRoutingStore) -> None:
    assert store.commit([entry(f"CA{i}") for i in range(3)])
    assert (store.reads, store.writes) == (3, 3)
    store.get_entry("acme", "sales", "missing")
    store.list_entries("acme", "sales", "waiting")
    store.list_entries("acme", "sales", "abandoned")  # nothing found: still one read
    store.count_entries("acme", "sales", "waiting")
    store.count_ahead(entry("CA9"))
    assert store.reads == 3 + 1 + 3 + 1 + 1 + 1


# -- a commit that loses, or seems to, between its read and its write ----------------------------


def test_a_write_between_the_read_and_the_commit_fails_it_all(store: FirestoreRoutingStore,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    ann, caller = agent("ann", status="available"), entry("CA1")
    assert store.commit([ann, caller])
    real_get_all = store.client.get_all

    def get_all_then_someone_writes(refs: Any, **kw: Any) -> Any:
        snaps = list(real_get_all(refs, **kw))
        monkeypatch.undo()  # the other writer reads unhindered
        assert FirestoreRoutingStore(store.client).commit([bump(ann, status="offline")])  # the agent logs off
        return snaps

    monkeypatch.setattr(store.client, "get_all", get_all_then_someone_writes)
    assert store.commit([bump(caller, status="assigned"), bump(ann, status="offered")]) is False
    stored_agent, stored_entry = store.get_agent("acme", "ann"), store.get_entry("acme", "sales", caller.id)
    assert stored_agent is not None and (stored_agent.status, stored_agent.revision) == ("offline", 2)
    assert stored_entry == caller  # untouched: all or nothing


def test_a_create_raced_by_another_create_fails(store: FirestoreRoutingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real_get_all = store.client.get_all
    theirs = entry("CA1", priority=100)

    def get_all_then_someone_creates(refs: Any, **kw: Any) -> Any:
        snaps = list(real_get_all(refs, **kw))
        monkeypatch.undo()
        assert FirestoreRoutingStore(store.client).commit([theirs])
        return snaps

    monkeypatch.setattr(store.client, "get_all", get_all_then_someone_creates)
    assert store.commit([entry("CA1", priority=10)]) is False
    assert store.get_entry("acme", "sales", theirs.id) == theirs


def test_a_commit_whose_reply_was_lost_is_reported_done(spied: tuple[FirestoreRoutingStore, RpcSpy]) -> None:
    store, spy = spied
    ann, caller = agent("ann", status="available"), entry("CA1")
    assert store.commit([ann, caller])
    spy.lose_next_commit_reply()  # applied, then UNAVAILABLE: retried, and the retry fails its preconditions
    offered = [bump(caller, status="assigned"), bump(ann, status="offered")]
    assert store.commit(offered) is True
    assert spy.commit_attempts == 2
    assert store.get_agent("acme", "ann") == offered[1]


def test_a_lost_reply_does_not_hide_a_real_loss(spied: tuple[FirestoreRoutingStore, RpcSpy]) -> None:
    store, spy = spied
    ann = agent("ann", status="available")
    assert store.commit([ann])
    spy.lose_next_commit_reply()
    assert store.commit([bump(ann, status="away")]) is True
    assert store.commit([bump(ann, status="offline")]) is False  # stale: revision 2 is stored
    stored = store.get_agent("acme", "ann")
    assert stored is not None and stored.status == "away"


def test_delete_whose_reply_was_lost_is_reported_done(spied: tuple[FirestoreRoutingStore, RpcSpy]) -> None:
    store, spy = spied
    ann = agent("ann")
    assert store.commit([ann])
    spy.lose_next_commit_reply()
    assert store.delete(ann) is True
    assert spy.commit_attempts == 2
    assert store.get_agent("acme", "ann") is None


# -- outages -------------------------------------------------------------------------------------

BOUND = 4.0  # seconds: a dispatcher inside a webhook gives up at 3 s; an outage must fail fast


@pytest.fixture
def own_emulator(firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[FirestoreEmulator, FirestoreRoutingStore]]:  # fmt: skip
    """A second emulator, so stopping it leaves the session's one alone, and a store on it."""
    from google.cloud import firestore

    emulator = FirestoreEmulator().start()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    client = firestore.Client(project="ivr-outage")
    warm_up(client)
    try:
        yield emulator, FirestoreRoutingStore(client)
    finally:
        emulator.kill()
        client.close()


def test_an_outage_is_store_unavailable_and_fast(
        own_emulator: tuple[FirestoreEmulator, FirestoreRoutingStore]) -> None:  # fmt: skip
    emulator, store = own_emulator
    ann, caller = agent("ann", status="available"), entry("CA1")
    assert store.commit([ann, caller])
    calls = {
        "get_agent": lambda: store.get_agent("acme", "ann"),
        "list_entries": lambda: store.list_entries("acme", "sales", "waiting"),
        "count_ahead": lambda: store.count_ahead(caller),
        "commit": lambda: store.commit([bump(caller, status="assigned"), bump(ann, status="offered")]),
    }
    for outage, cause in ((emulator.pause, "hung"), (emulator.kill, "killed")):  # one emulator, both outages
        outage()
        for name, call in calls.items():
            began = time.monotonic()
            with pytest.raises(StoreUnavailable, match=name) as raised:
                call()
            assert time.monotonic() - began < BOUND, (cause, name)
            assert raised.value.__cause__ is not None  # the client's own error is chained
        emulator.resume()

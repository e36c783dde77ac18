"""Dispatcher races on Google's Firestore emulator, each round a real race.

Every racer has its own FirestoreRoutingStore on a client that, after the commit's batched read,
waits until every racer has read too: all of them see the same revisions and all of them send a
commit, so the round is decided by the commits' preconditions, not by who read first. Contention
stays at 2-3 writers per document (the emulator livelocks with many more).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from routing_fixtures import agent, bump, entry, firestore_routing_store

from common.adapters.emulator import FirestoreEmulator
from common.adapters.routing_firestore import FirestoreRoutingStore
from common.adapters.routing_store import RoutingRecord

pytestmark = pytest.mark.emulator

ROUNDS = 20


class ReadsThenWaits:
    """One racer's Firestore client: its first batched read waits for every racer's before returning."""

    def __init__(self, client: Any, barrier: threading.Barrier) -> None:
        self._client = client
        self._barrier = barrier
        self._waited = False
        self.seen: dict[str, int] = {}  # path -> revision read (0: absent)

    def get_all(self, refs: Any, **kw: Any) -> list[Any]:
        snaps = list(self._client.get_all(refs, **kw))
        for snap in snaps:
            self.seen[snap.reference.path] = (snap.to_dict() or {}).get("revision", 0) if snap.exists else 0
        if not self._waited:
            self._waited = True
            self._barrier.wait(timeout=10)
        return snaps

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def store(firestore_emulator: FirestoreEmulator, firestore_client: Any) -> FirestoreRoutingStore:
    return firestore_routing_store(firestore_emulator, firestore_client)


def race(client: Any, commits: Sequence[Sequence[RoutingRecord]]) -> tuple[list[bool], list[ReadsThenWaits]]:
    """Each racer commits its records at once; results in racer order, and what each one read."""
    barrier = threading.Barrier(len(commits))
    clients = [ReadsThenWaits(client, barrier) for _ in commits]
    results: list[Any] = [None] * len(commits)
    start = threading.Barrier(len(commits))

    def run(i: int) -> None:
        start.wait(timeout=10)
        try:
            results[i] = FirestoreRoutingStore(clients[i]).commit(commits[i])
        except Exception as exc:  # reported by the assert below, with the racer's number
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commits))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    assert all(isinstance(r, bool) for r in results), results
    return results, clients


def rounds(play: Callable[[int], None]) -> None:
    for n in range(ROUNDS):
        play(n)


def _read_alike(clients: list[ReadsThenWaits]) -> bool:
    """Every racer read the same revision of every document they share: the race was real."""
    shared = set.intersection(*(set(c.seen) for c in clients))
    return bool(shared) and all(len({c.seen[p] for c in clients}) == 1 for p in shared)


# -- two dispatchers -----------------------------------------------------------------------------


def test_two_dispatchers_one_free_agent_exactly_one_wins(store: FirestoreRoutingStore, firestore_client: Any) -> None:
    def play(n: int) -> None:
        ann = agent(f"ann{n}", status="available")
        callers = [entry(f"CA{n}-{i}", arrived=i) for i in range(2)]
        assert store.commit([ann, *callers])
        offers = [[bump(c, status="assigned", agent_ids=(ann.id,), offer_id=f"o{n}-{i}"),
                   bump(ann, status="offered", entry_department="sales", entry_id=c.id, offer_id=f"o{n}-{i}")]
                  for i, c in enumerate(callers)]  # fmt: skip
        results, clients = race(firestore_client, offers)
        assert _read_alike(clients), f"round {n} was not a race"
        assert sorted(results) == [False, True], f"round {n}: {results}"
        winner, loser = callers[results.index(True)], callers[results.index(False)]
        stored = store.get_agent("acme", ann.id)
        assert stored is not None and (stored.status, stored.entry_id, stored.revision) == ("offered", winner.id, 2)
        won, lost = store.get_entry("acme", "sales", winner.id), store.get_entry("acme", "sales", loser.id)
        assert won is not None and (won.status, won.agent_ids) == ("assigned", (ann.id,))
        assert lost == loser  # still waiting, untouched: the next dispatch finds it

    rounds(play)


def test_one_caller_two_dispatchers_two_agents_reaches_one(store: FirestoreRoutingStore,
                                                           firestore_client: Any) -> None:  # fmt: skip
    def play(n: int) -> None:
        caller, agents = entry(f"CA{n}"), [agent(f"a{n}-{i}", status="available") for i in range(2)]
        assert store.commit([caller, *agents])
        offers = [[bump(caller, status="assigned", agent_ids=(a.id,)), bump(a, status="offered", entry_id=caller.id)]
                  for a in agents]  # fmt: skip
        results, clients = race(firestore_client, offers)
        assert _read_alike(clients) and sorted(results) == [False, True], f"round {n}: {results}"
        chosen = agents[results.index(True)]
        stored = store.get_entry("acme", "sales", caller.id)
        assert stored is not None and stored.agent_ids == (chosen.id,)
        statuses = {a.id: (store.get_agent("acme", a.id) or a).status for a in agents}
        assert statuses == {a.id: "offered" if a is chosen else "available" for a in agents}

    rounds(play)


# -- the agent or the caller changes their mind at the moment of assignment ----------------------


def test_an_agent_going_offline_while_being_offered(store: FirestoreRoutingStore, firestore_client: Any) -> None:
    outcomes = {"dispatcher": 0, "agent": 0}

    def play(n: int) -> None:
        ann, caller = agent(f"ann{n}", status="available"), entry(f"CA{n}")
        assert store.commit([ann, caller])
        offer = [bump(caller, status="assigned", agent_ids=(ann.id,)), bump(ann, status="offered", entry_id=caller.id)]
        results, clients = race(firestore_client, [offer, [bump(ann, status="offline")]])
        assert _read_alike(clients) and sorted(results) == [False, True], f"round {n}: {results}"
        stored_agent, stored_entry = store.get_agent("acme", ann.id), store.get_entry("acme", "sales", caller.id)
        assert stored_agent is not None and stored_entry is not None
        if results[0]:  # the offer won; the agent's request re-reads, and going offline releases the caller
            outcomes["dispatcher"] += 1
            assert (stored_agent.status, stored_entry.status) == ("offered", "assigned")
            assert store.commit([bump(stored_agent, status="offline", entry_id=None),
                                 bump(stored_entry, status="waiting", agent_ids=())])  # fmt: skip
        else:  # offline won; the offer changed nothing and the caller still waits
            outcomes["agent"] += 1
            assert (stored_agent.status, stored_entry) == ("offline", caller)
        final_agent, final_entry = store.get_agent("acme", ann.id), store.get_entry("acme", "sales", caller.id)
        assert final_agent is not None and final_agent.status == "offline" and final_agent.entry_id is None
        assert final_entry is not None and final_entry.status == "waiting"  # nobody lost

    rounds(play)
    assert sum(outcomes.values()) == ROUNDS


def test_a_caller_hanging_up_at_the_moment_of_assignment(store: FirestoreRoutingStore,
                                                         firestore_client: Any) -> None:  # fmt: skip
    def play(n: int) -> None:
        ann, caller = agent(f"ann{n}", status="available"), entry(f"CA{n}")
        assert store.commit([ann, caller])
        offer = [bump(caller, status="assigned", agent_ids=(ann.id,)), bump(ann, status="offered", entry_id=caller.id)]
        hang_up = [bump(caller, status="abandoned", closed_at=caller.arrived_at)]
        results, clients = race(firestore_client, [offer, hang_up])
        assert _read_alike(clients) and sorted(results) == [False, True], f"round {n}: {results}"
        if results[0]:  # the status callback re-reads: an assigned caller who left frees the agent
            stored_agent, stored_entry = store.get_agent("acme", ann.id), store.get_entry("acme", "sales", caller.id)
            assert stored_agent is not None and stored_entry is not None and stored_entry.status == "assigned"
            assert store.commit([bump(stored_entry, status="abandoned", closed_at=caller.arrived_at),
                                 bump(stored_agent, status="available", entry_id=None)])  # fmt: skip
        else:
            stored_agent = store.get_agent("acme", ann.id)
            assert stored_agent == ann  # never offered a caller who was gone
        final_agent, final_entry = store.get_agent("acme", ann.id), store.get_entry("acme", "sales", caller.id)
        assert final_agent is not None and final_agent.status == "available"  # no agent stuck in offered
        assert final_entry is not None and final_entry.status == "abandoned"

    rounds(play)


# -- duplicates ----------------------------------------------------------------------------------


def test_duplicate_creates_of_one_entry_make_one(store: FirestoreRoutingStore, firestore_client: Any) -> None:
    def play(n: int) -> None:
        copies = [entry(f"CA{n}", priority=p) for p in (10, 50, 100)]  # one webhook delivered three times
        results, clients = race(firestore_client, [[c] for c in copies])
        assert _read_alike(clients) and results.count(True) == 1, f"round {n}: {results}"
        assert store.get_entry("acme", "sales", copies[0].id) == copies[results.index(True)]

    rounds(play)


def test_a_ladder_step_delivered_twice_applies_once(store: FirestoreRoutingStore, firestore_client: Any) -> None:
    def play(n: int) -> None:
        caller = entry(f"CA{n}")
        assert store.commit([caller])
        raised = bump(caller, priority=100, applied_steps=(0,))
        results, clients = race(firestore_client, [[raised], [raised]])
        assert _read_alike(clients) and sorted(results) == [False, True], f"round {n}: {results}"
        stored = store.get_entry("acme", "sales", caller.id)
        assert stored is not None and (stored.priority, stored.applied_steps, stored.revision) == (100, (0,), 2)

    rounds(play)

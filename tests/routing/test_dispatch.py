"""Dispatch and the agents' legs (common/service/routing_dispatch.py) on the memory store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from routing_harness import T0, Harness

from common.core.routing_model import iso
from common.service.admin import ApiError
from common.service.routing_base import bump


def set_live(harness: Harness, agent_id: str, **fields: Any) -> None:
    assert harness.store.commit([bump(harness.agent_record(agent_id), **fields)])


def accept(harness: Harness, call_sid: str, agent_id: str, digits: str = "1") -> str:
    entry = harness.entry(call_sid)
    return harness.service.dispatcher.accept("acme", "sales", entry.id, entry.offer_id or "", agent_id, digits,
                                             harness.clock())  # fmt: skip


def dial_ended(harness: Harness, call_sid: str, status: str, duration: int | None = None,
               offer: str | None = None) -> Any:  # fmt: skip
    entry = harness.entry(call_sid)
    return harness.service.dial_ended("acme", "sales", entry.id, offer or entry.offer_id or "", status, duration,
                                      harness.clock())  # fmt: skip


AGENT_STATS = {  # idle since (s before T0), last offered (s before T0 or None), calls handled, talk seconds
    "ann": (300, 10, 9, 900), "bob": (600, 50, 2, 1500), "cat": (60, None, 5, 100), "dan": (900, 30, 2, 700),
}


@pytest.mark.parametrize(("strategy", "offered"), [
    ("longestIdle", ("dan",)), ("roundRobin", ("cat",)), ("fewestCalls", ("dan",)), ("leastTalkTime", ("cat",)),
    ("ringAll", ("dan", "bob", "ann", "cat")), ("linear", ("bob",)), ("random", None),
])  # fmt: skip
def test_each_strategy_offers_the_caller_to_its_agent(harness: Harness, strategy: str,
                                                      offered: tuple[str, ...] | None) -> None:  # fmt: skip
    harness.department("sales", strategy=strategy, agentOrder=["bob", "ann"], joinWhenEmpty="always")
    for agent_id, (idle, offered_ago, calls, talk) in AGENT_STATS.items():
        harness.agent(agent_id)
        last = None if offered_ago is None else iso(T0 - timedelta(seconds=offered_ago))
        set_live(harness, agent_id, idle_since=iso(T0 - timedelta(seconds=idle)), calls_handled=calls,
                 talk_seconds=talk, last_offered_at=last)  # fmt: skip
    harness.route("CA1")
    entry = harness.entry("CA1")
    assert entry.status == "assigned"
    if offered is None:
        assert len(entry.agent_ids) == 1 and entry.agent_ids[0] in AGENT_STATS
    else:
        assert entry.agent_ids == offered
    for agent_id in AGENT_STATS:
        record = harness.agent_record(agent_id)
        assert (record.status == "offered") == (agent_id in entry.agent_ids)
        if agent_id in entry.agent_ids:
            assert (record.entry_id, record.offer_id, record.last_offered_at) == (entry.id, entry.offer_id, iso(T0))


def test_tiers_lower_first_higher_only_when_the_lower_are_busy(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    harness.agent("senior", {"sales": 2})
    harness.agent("junior", {"sales": 1})
    harness.route("CA1")
    harness.route("CA2")
    assert harness.entry("CA1").agent_ids == ("junior",) and harness.entry("CA2").agent_ids == ("senior",)


def test_callers_are_served_by_priority_then_arrival(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    for i, level in enumerate(["low", "normal", "high", "normal", "high"]):
        harness.route(f"CA{i}", priority=level)
        harness.tick(1)
    served = []
    harness.agent("ann")
    for _ in range(5):
        current = next(e for e in harness.store.list_entries("acme", "sales", "assigned"))
        served.append(current.call_sid)
        accept(harness, current.call_sid, "ann")
        harness.tick(60)
        dial_ended(harness, current.call_sid, "completed", 60)
        harness.tick(30)  # wrap-up ends
        harness.due()  # the wrap-up timer dispatches the next caller
    assert served == ["CA2", "CA4", "CA1", "CA3", "CA0"]


def test_answered_then_hung_up_wraps_up_and_counts(harness: Harness) -> None:
    harness.department("sales", wrapUpSeconds=45)
    harness.agent("ann")
    harness.route("CA1")
    harness.tick(4)
    assert accept(harness, "CA1", "ann").endswith("<Response />")
    assert accept(harness, "CA1", "ann").endswith("<Response />")  # a retried delivery: the same answer
    entry = harness.entry("CA1")
    assert (entry.status, entry.connected_agent, entry.wait_seconds) == ("connected", "ann", 4)
    assert harness.agent_record("ann").status == "busy"
    harness.tick(200)
    left = dial_ended(harness, "CA1", "completed", 200)
    assert left.outcome == "completed" and dial_ended(harness, "CA1", "completed", 200).outcome == "completed"
    ann, entry = harness.agent_record("ann"), harness.entry("CA1")
    assert (entry.status, entry.talk_seconds, entry.closed_at) == ("completed", 200, iso(harness.clock()))
    assert (ann.status, ann.calls_handled, ann.talk_seconds, ann.handle_ewma_seconds) == ("wrap-up", 1, 200, 245.0)
    assert ann.wrap_up_until == iso(harness.clock() + timedelta(seconds=45)) and ann.entry_id is None
    sweep_at = [at for at, path, _ in harness.timers.pending("/sweep") if at == harness.clock() + timedelta(seconds=45)]
    assert sweep_at  # a timer at the end of the wrap-up dispatches whoever waits then


def test_no_answer_puts_the_caller_back_at_their_place_and_tries_the_next_agent(harness: Harness) -> None:
    harness.department("sales")
    harness.agent("ann")
    harness.agent("bob")
    harness.route("CA1")  # bob (idle longer? no: by id, both idle since the same instant)
    harness.route("CA2")
    first, second = harness.entry("CA1").agent_ids[0], harness.entry("CA2").agent_ids[0]
    accept(harness, "CA2", second)  # the other agent is on a call
    harness.tick(1)
    harness.route("CA3")  # waits behind CA1
    arrived = harness.entry("CA1").arrived_at
    harness.tick(20)
    answer = dial_ended(harness, "CA1", "no-answer")
    entry = harness.entry("CA1")
    # back at its place (ahead of CA3, arrival kept) and offered again at once: the only free agent is the
    # one who missed it (avoided only while someone else is free); autopause stops an absent agent
    assert entry.arrived_at == arrived and entry.missed_by == (first,) and entry.status == "assigned"
    assert harness.entry("CA3").status == "waiting"
    assert answer.twiml and "<Dial" in answer.twiml
    assert harness.agent_record(first).missed_in_a_row == 1
    history = [h["event"] for h in entry.history]
    assert history == ["joined", "offered", "released", "offered"]


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled", "completed"])
def test_every_unanswered_outcome_is_a_miss_and_a_retry(harness: Harness, status: str) -> None:
    harness.department("sales")
    harness.agent("ann")
    harness.agent("bob")
    harness.route("CA1")
    first = harness.entry("CA1").agent_ids[0]
    answer = dial_ended(harness, "CA1", status)
    entry = harness.entry("CA1")
    assert entry.status == "assigned" and entry.agent_ids != (first,) and first in entry.missed_by
    assert answer.twiml and "<Dial" in answer.twiml  # the next agent is dialled in the same answer
    assert harness.calls.redirects == []  # it is this caller's own webhook: no redirect
    assert harness.agent_record(first).missed_in_a_row == 1


def test_decline_in_the_whisper_counts_a_miss_once(harness: Harness) -> None:
    harness.department("sales")
    harness.agent("ann")
    harness.route("CA1")
    assert "<Hangup />" in accept(harness, "CA1", "ann", digits="9")
    assert harness.agent_record("ann").missed_in_a_row == 1
    assert harness.entry("CA1").status == "assigned"  # until the caller's Dial ends
    dial_ended(harness, "CA1", "completed", 0)  # Twilio reports the declined leg; no second miss
    assert harness.agent_record("ann").missed_in_a_row == 1
    entry = harness.entry("CA1")  # back in line, and offered again to the only agent there is
    assert entry.status == "assigned" and entry.missed_by == ("ann",) and entry.offer_id == "o5"


def test_autopause_after_three_missed_offers(harness: Harness) -> None:
    harness.department("sales", autopauseAfter=3, joinWhenEmpty="always")
    harness.agent("ann")
    harness.route("CA1")
    for _ in range(3):
        dial_ended(harness, "CA1", "no-answer")
    assert harness.agent_record("ann").status == "away" and harness.entry("CA1").status == "waiting"
    harness.service.admin.set_status("acme", "ann", {"status": "available"})
    assert harness.agent_record("ann").missed_in_a_row == 0 and harness.entry("CA1").status == "assigned"


def test_ring_all_offers_ten_and_the_first_to_accept_wins(harness: Harness) -> None:
    harness.department("sales", strategy="ringAll")
    for i in range(12):
        harness.agent(f"a{i:02d}")
    result = harness.route("CA1")
    entry = harness.entry("CA1")
    assert len(entry.agent_ids) == 10 and result.caller and (result.caller.twiml or "").count("<Number") == 10
    winner, loser = entry.agent_ids[3], entry.agent_ids[4]
    assert accept(harness, "CA1", winner).endswith("<Response />")
    assert "no longer waiting" in accept(harness, "CA1", loser)
    statuses = {a.id: a.status for a in harness.store.list_agents("acme", "sales")}
    assert statuses.pop(winner) == "busy" and set(statuses.values()) == {"available"}
    assert all(harness.agent_record(a).missed_in_a_row == 0 for a in entry.agent_ids)


def test_a_lost_redirect_is_caught_by_the_hold_loop(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    harness.route("CA1")
    harness.calls.redirect_ok = False
    harness.agent("ann")
    entry = harness.entry("CA1")
    assert entry.status == "assigned" and len(harness.calls.redirects) == 1
    answer = harness.service.hold("acme", "sales", entry.id, harness.clock())
    assert answer.twiml and "<Dial" in answer.twiml


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
    return results


def test_two_dispatchers_one_free_agent(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    for i in range(5):
        harness.route(f"CA{i}")
    harness.agent("ann", status="away")
    set_live(harness, "ann", status="available")  # free, with no dispatch run yet: four race for her
    results = race(4, lambda i: harness.service.dispatcher.dispatch("acme", "sales", harness.clock()))
    assert sum(len(r) for r in results) == 1
    [assigned] = harness.store.list_entries("acme", "sales", "assigned")
    assert harness.agent_record("ann").entry_id == assigned.id and assigned.agent_ids == ("ann",)
    assert harness.store.count_entries("acme", "sales", "waiting") == 4


def test_caller_hanging_up_at_the_moment_of_assignment(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    for round_ in range(10):
        call_sid = f"CA{round_}"
        harness.route(call_sid)
        harness.agent(f"agent{round_}", status="away")
        harness.hang_up(call_sid)

        def both(i: int, name: str = f"agent{round_}", sid: str = call_sid) -> Any:
            if i == 0:
                return harness.service.admin.set_status("acme", name, {"status": "available"})
            return harness.service.call_ended("acme", sid, harness.clock())

        race(2, both)
        entry, agent = harness.entry(call_sid), harness.agent_record(f"agent{round_}")
        assert entry.status == "abandoned"
        assert agent.status == "available" and agent.entry_id is None  # never left offered to a ghost


def test_an_agent_going_offline_while_being_offered(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    for round_ in range(10):
        harness.route(f"CA{round_}")
        name = f"agent{round_}"
        harness.agent(name, status="away")

        def on_and_off(i: int, agent_id: str = name) -> Any:
            wanted = "available" if i == 0 else "offline"
            return harness.service.admin.set_status("acme", agent_id, {"status": wanted})

        results = race(2, on_and_off)
        agent, entry = harness.agent_record(name), harness.entry(f"CA{round_}")
        if agent.status == "offered":
            assert entry.status == "assigned" and entry.agent_ids == (name,)
            lost = isinstance(results[1], ApiError) and results[1].status == 409  # offline came too late
            first = isinstance(results[1], dict) and results[1]["status"] == "offline"  # or came first, then undone
            assert lost or first
        else:
            assert agent.status == "offline" and entry.status == "waiting"
        assert harness.store.count_entries("acme", "sales", "assigned") <= 1
        harness.service.call_ended("acme", f"CA{round_}", harness.clock())  # clear the round
        harness.service.admin.set_status("acme", name, {"status": "offline"})
        assert harness.agent_record(name).status == "offline"

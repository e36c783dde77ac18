"""Routing rules (common/core/routing.py): transitions, strategies, expected wait, the ladder."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.core import routing
from common.core.routing_model import IllegalTransition, LadderStep, iso

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return iso(NOW + timedelta(seconds=seconds))


@dataclass(frozen=True)
class A:
    """An agent as the rules read it (any record with these attributes will do)."""

    id: str
    status: Any = "available"
    status_since: str = at(-3600)
    wrap_up_until: str | None = None
    idle_since: str | None = None
    last_offered_at: str | None = None
    missed_in_a_row: int = 0
    calls_handled: int = 0
    talk_seconds: int = 0
    handle_ewma_seconds: float | None = None


@dataclass(frozen=True)
class E:
    id: str
    priority: int = 50
    arrived_at: str = at(0)
    not_before: str | None = None


STATUSES = ("available", "offered", "busy", "wrap-up", "away", "offline")
EVENTS = ("offer", "answer", "miss", "withdraw", "hangup", "release", "repair")
SYSTEM = {("available", "offer"): "offered", ("offered", "answer"): "busy", ("offered", "miss"): "available",
          ("offered", "withdraw"): "available", ("offered", "repair"): "available", ("busy", "hangup"): "wrap-up",
          ("busy", "release"): "available", ("busy", "repair"): "available",
          ("wrap-up", "offer"): "offered"}  # a wrap-up that has ended reads as available  # fmt: skip


def agent_in(status: str) -> A:
    # wrap-up: ended a second ago, so it reads as available
    return A("ann", status=status, wrap_up_until=at(-1) if status == "wrap-up" else None)


@pytest.mark.parametrize(("status", "event"), [(s, e) for s in STATUSES for e in EVENTS])
def test_system_transition_table(status: str, event: routing.AgentEvent) -> None:
    agent = agent_in(status)
    expected = SYSTEM.get((status, event))
    if expected is None:
        with pytest.raises(IllegalTransition) as caught:
            routing.agent_event(agent, event, NOW)
        assert caught.value.field == "status" and "allowed:" in str(caught.value)
        current = routing.effective_status(agent, NOW)
        assert caught.value.allowed == tuple(e for (s, e) in routing.SYSTEM_TRANSITIONS if s == current)
        assert agent == agent_in(status)  # untouched (frozen input, nothing returned)
    else:
        changes = routing.agent_event(agent, event, NOW, wrap_up_seconds=30)
        assert changes["status"] == expected and changes["status_since"] == iso(NOW)


API = {"available": {"away", "offline"}, "away": {"available", "offline"}, "offline": {"available", "away"},
       "offered": set(), "busy": set()}  # fmt: skip


@pytest.mark.parametrize(("status", "requested"), [(s, r) for s in STATUSES for r in ("available", "away", "offline",
                                                                                      "busy", "offered")])  # fmt: skip
def test_api_transition_table(status: str, requested: str) -> None:
    agent = A("ann", status=status, wrap_up_until=at(60) if status == "wrap-up" else None)  # wrap-up still running
    allowed = {"available", "away", "offline"} if status == "wrap-up" else API[status]
    if requested == status and requested in ("available", "away", "offline"):
        assert routing.api_status(agent, requested, NOW) == {}  # idempotent, no write
    elif requested in allowed:
        changes = routing.api_status(agent, requested, NOW)
        assert changes["status"] == requested and changes["wrap_up_until"] is None
    else:
        with pytest.raises(IllegalTransition) as caught:
            routing.api_status(agent, requested, NOW)
        assert set(caught.value.allowed) == allowed and caught.value.current == status
        for name in allowed:
            assert name in str(caught.value)


def test_becoming_available_resets_misses_and_starts_idle() -> None:
    changes = routing.api_status(A("ann", status="away", missed_in_a_row=3), "available", NOW)
    assert changes["missed_in_a_row"] == 0 and changes["idle_since"] == iso(NOW)


@pytest.mark.parametrize(("missed_before", "autopause", "status"), [
    (0, 3, "available"), (1, 3, "available"), (2, 3, "away"), (5, 3, "away"), (7, 0, "available"), (0, 1, "away"),
])  # fmt: skip
def test_autopause_after_n_missed_offers(missed_before: int, autopause: int, status: str) -> None:
    agent = A("ann", status="offered", missed_in_a_row=missed_before, idle_since=at(-100))
    changes = routing.agent_event(agent, "miss", NOW, autopause_after=autopause)
    assert changes["status"] == status and changes["missed_in_a_row"] == missed_before + 1
    assert changes["idle_since"] == at(-100)  # a miss keeps the agent's place for longestIdle


def test_answer_resets_misses_withdraw_does_not_count() -> None:
    offered = A("ann", status="offered", missed_in_a_row=2)
    assert routing.agent_event(offered, "answer", NOW)["missed_in_a_row"] == 0
    assert "missed_in_a_row" not in routing.agent_event(offered, "withdraw", NOW)


def test_hangup_starts_wrap_up_and_updates_stats() -> None:
    busy = A("ann", status="busy", calls_handled=4, talk_seconds=400, handle_ewma_seconds=100.0)
    changes = routing.agent_event(busy, "hangup", NOW, wrap_up_seconds=30, talk_seconds=170)
    assert changes["status"] == "wrap-up" and changes["wrap_up_until"] == at(30)
    assert (changes["calls_handled"], changes["talk_seconds"]) == (5, 570)
    assert changes["handle_ewma_seconds"] == pytest.approx(0.3 * 200 + 0.7 * 100)
    wrapped = replace(busy, **{k: v for k, v in changes.items() if k in A.__dataclass_fields__})
    assert routing.effective_status(wrapped, NOW + timedelta(seconds=29)) == "wrap-up"
    assert routing.effective_status(wrapped, NOW + timedelta(seconds=30)) == "available"
    assert routing.idle_since(wrapped) == at(30)  # free since the wrap-up ended


def test_hangup_without_wrap_up_is_available_at_once_and_first_ewma_is_the_sample() -> None:
    changes = routing.agent_event(A("ann", status="busy"), "hangup", NOW, wrap_up_seconds=0, talk_seconds=90)
    assert changes["status"] == "available" and changes["idle_since"] == iso(NOW)
    assert changes["handle_ewma_seconds"] == 90.0


def test_release_and_repair_free_without_counting_a_call() -> None:
    for event in ("release", "repair"):
        changes = routing.agent_event(A("ann", status="busy", calls_handled=3), event, NOW)
        assert changes["status"] == "available" and "calls_handled" not in changes
        assert changes["idle_since"] == iso(NOW)


# --- strategies ------------------------------------------------------------------------------------

POOL = [
    A("ann", idle_since=at(-300), last_offered_at=at(-10), calls_handled=9, talk_seconds=900),
    A("bob", idle_since=at(-600), last_offered_at=at(-50), calls_handled=2, talk_seconds=1500),
    A("cat", idle_since=at(-60), last_offered_at=None, calls_handled=5, talk_seconds=100),
    A("dan", idle_since=at(-900), last_offered_at=at(-30), calls_handled=2, talk_seconds=700),
]
TIER1 = {a.id: 1 for a in POOL}


@pytest.mark.parametrize(("strategy", "expected"), [
    ("longestIdle", ["dan"]),
    ("roundRobin", ["cat"]),            # never offered first, then least recently offered
    ("fewestCalls", ["dan"]),           # bob and dan have 2; dan has been idle longer
    ("leastTalkTime", ["cat"]),
    ("ringAll", ["dan", "bob", "ann", "cat"]),  # everyone, longest idle first
    ("linear", ["cat"]),                # configured order: cat, ann, ...
])  # fmt: skip
def test_strategies(strategy: Any, expected: list[str]) -> None:
    chosen = routing.choose_agents(strategy, POOL, TIER1, rng=random.Random(1), linear_order=("cat", "ann"))
    assert [a.id for a in chosen] == expected


def test_round_robin_rotates_through_everyone() -> None:
    agents = {a.id: a for a in POOL}
    order = []
    for i in range(8):
        [pick] = routing.choose_agents("roundRobin", list(agents.values()), TIER1, rng=random.Random())
        order.append(pick.id)
        agents[pick.id] = replace(pick, last_offered_at=at(i))
    assert order == ["cat", "bob", "dan", "ann", "cat", "bob", "dan", "ann"]


def test_random_uses_the_rng_passed_in_and_covers_everyone() -> None:
    picks = [routing.choose_agents("random", POOL, TIER1, rng=random.Random(seed))[0].id for seed in range(40)]
    assert set(picks) == {"ann", "bob", "cat", "dan"}
    again = [routing.choose_agents("random", POOL, TIER1, rng=random.Random(seed))[0].id for seed in range(40)]
    assert picks == again


def test_linear_puts_unlisted_agents_last_by_id() -> None:
    chosen = routing.choose_agents("linear", POOL[:2], TIER1, rng=random.Random(), linear_order=("zed",))
    assert [a.id for a in chosen] == ["ann"]


def test_ring_all_rings_at_most_ten() -> None:
    many = [A(f"a{i:02d}", idle_since=at(-i)) for i in range(14)]
    chosen = routing.choose_agents("ringAll", many, {a.id: 1 for a in many}, rng=random.Random())
    assert [a.id for a in chosen] == [f"a{i:02d}" for i in range(13, 3, -1)]


@pytest.mark.parametrize("strategy", ["longestIdle", "roundRobin", "fewestCalls", "leastTalkTime", "ringAll",
                                      "random", "linear"])  # fmt: skip
def test_only_the_lowest_tier_with_someone_available_is_considered(strategy: Any) -> None:
    tiers = {"ann": 2, "bob": 3, "cat": 2, "dan": 3}
    chosen = routing.choose_agents(strategy, POOL, tiers, rng=random.Random(3), linear_order=("dan", "bob"))
    assert chosen and {a.id for a in chosen} <= {"ann", "cat"}
    only_tier3 = [a for a in POOL if tiers[a.id] == 3]
    assert {a.id for a in routing.choose_agents(strategy, only_tier3, tiers, rng=random.Random(3))} <= {"bob", "dan"}


def test_agents_who_let_this_caller_go_are_avoided_while_others_exist() -> None:
    first = routing.choose_agents("longestIdle", POOL, TIER1, rng=random.Random(), avoid=["dan", "bob"])
    assert [a.id for a in first] == ["ann"]
    everyone_missed = routing.choose_agents("longestIdle", POOL, TIER1, rng=random.Random(),
                                            avoid=[a.id for a in POOL])  # fmt: skip
    assert [a.id for a in everyone_missed] == ["dan"]


def test_no_candidates_no_choice() -> None:
    assert routing.choose_agents("longestIdle", [], {}, rng=random.Random()) == []


def test_only_available_agents_are_candidates() -> None:
    agents = [A("a"), A("b", status="busy"), A("c", status="wrap-up", wrap_up_until=at(-1)),
              A("d", status="wrap-up", wrap_up_until=at(5)), A("e", status="away"),
              A("f", status="offered")]  # fmt: skip
    assert [a.id for a in routing.available_agents(agents, NOW)] == ["a", "c"]


# --- queue order -----------------------------------------------------------------------------------


def test_queue_order_priority_then_arrival_then_id() -> None:
    entries = [E("e3", 50, at(5)), E("e1", 100, at(30)), E("e2", 50, at(5)), E("e0", 10, at(-100)),
               E("e4", 100, at(10))]  # fmt: skip
    assert [e.id for e in sorted(entries, key=routing.queue_key)] == ["e4", "e1", "e2", "e3", "e0"]
    assert routing.next_entry(entries, NOW).id == "e4"  # type: ignore[union-attr]


def test_next_entry_skips_callbacks_not_yet_due() -> None:
    entries = [E("later", 100, at(0), not_before=at(60)), E("now", 50, at(10), not_before=at(-1)),
               E("plain", 50, at(20))]
    assert routing.next_entry(entries, NOW).id == "now"  # type: ignore[union-attr]
    assert routing.next_entry(entries, NOW + timedelta(seconds=60)).id == "later"  # type: ignore[union-attr]
    assert routing.next_entry([], NOW) is None


# --- expected wait and joining ---------------------------------------------------------------------


@pytest.mark.parametrize(("ahead", "agents", "expected"), [
    (0, [A("a")], 0),                                                      # an agent is free for them
    (1, [A("a"), A("b")], 0),
    (2, [A("a"), A("b")], 180),                                            # default handle time
    (0, [A("a", status="busy")], 180),
    (3, [A("a", status="busy"), A("b", status="busy")], 360),              # ceil(4 / 2) rounds
    (4, [A("a", status="busy", handle_ewma_seconds=100), A("b", status="busy", handle_ewma_seconds=200)], 450),
    (2, [A("a", status="busy", handle_ewma_seconds=60), A("x", status="away"), A("y", status="offline")], 180),
    (0, [], 180),                                                          # nobody staffed: one default round
    (-3, [A("a", status="busy")], 180),                                    # never negative
])  # fmt: skip
def test_expected_wait(ahead: int, agents: list[A], expected: int) -> None:
    assert routing.expected_wait(ahead, agents, NOW) == expected


@pytest.mark.parametrize(("rule", "statuses", "joins"), [
    ("always", [], True), ("always", ["offline"], True),
    ("staffed", [], False), ("staffed", ["offline"], False), ("staffed", ["away"], True), ("staffed", ["busy"], True),
    ("staffed", ["wrap-up"], True), ("available", ["busy", "offered"], False), ("available", ["available"], True),
])  # fmt: skip
def test_join_when_empty(rule: str, statuses: list[str], joins: bool) -> None:
    agents = [A(f"a{i}", status=s, wrap_up_until=at(60) if s == "wrap-up" else None) for i, s in enumerate(statuses)]
    assert routing.can_join(rule, agents, NOW) is joins


# Every stored state an agent can be in: each status, and a wrap-up both still running and ended.
STORED = [A("x", status=s) for s in STATUSES if s != "wrap-up"] + [
    A("x", status="wrap-up", wrap_up_until=at(60), handle_ewma_seconds=90),
    A("x", status="wrap-up", wrap_up_until=at(-1), handle_ewma_seconds=300)]  # fmt: skip


def _staffings() -> list[list[A]]:
    """Every department of up to three agents drawn from STORED (with distinct ids and handle times)."""
    found: list[list[A]] = [[]]
    for size in (1, 2, 3):
        for picks in itertools.product(range(len(STORED)), repeat=size):
            found.append([replace(STORED[p], id=f"a{i}", handle_ewma_seconds=STORED[p].handle_ewma_seconds
                                  or 60.0 * (i + 1)) for i, p in enumerate(picks)])  # fmt: skip
    return found


def test_each_decision_reads_only_the_statuses_it_names() -> None:
    """The store is asked only for the statuses a decision needs (the module's table); over every
    staffing of up to three agents, the answer on that subset is the answer on everyone."""
    def only(agents: list[A], statuses: frozenset[str]) -> list[A]:
        return [a for a in agents if a.status in statuses]

    staffings = _staffings()
    assert len(staffings) == 1 + 7 + 49 + 343
    for agents in staffings:
        available = routing.available_agents(agents, NOW)
        assert routing.available_agents(only(agents, routing.MAY_BE_AVAILABLE), NOW) == available
        for ahead in (0, 1, 2, 5):
            expected = routing.expected_wait(ahead, agents, NOW)
            assert routing.expected_wait(ahead, only(agents, routing.WORKING), NOW) == expected, (agents, ahead)
        for rule in ("always", "staffed", "available"):
            joins = routing.can_join(rule, agents, NOW)
            assert routing.can_join(rule, only(agents, routing.join_statuses(rule)), NOW) is joins, (rule, agents)


def test_join_rule_always_needs_no_agents_and_subsets_are_proper() -> None:
    assert routing.join_statuses("always") == frozenset()
    assert routing.MAY_BE_AVAILABLE < routing.WORKING < routing.LOGGED_IN < set(STATUSES)
    assert routing.join_statuses("available") == routing.MAY_BE_AVAILABLE
    assert routing.join_statuses("staffed") == routing.LOGGED_IN


# --- ladder ----------------------------------------------------------------------------------------

LADDER = (LadderStep(after_seconds=30, action="raisePriority", by=20),
          LadderStep(after_seconds=60, action="offerCallback"),
          LadderStep(after_seconds=120, action="overflow", department="support"),
          LadderStep(after_seconds=300, action="timeout"))  # fmt: skip


@pytest.mark.parametrize(("waited", "applied", "due"), [
    (0, (), []), (29, (), []), (30, (), [0]), (61, (), [0, 1]), (61, (0,), [1]), (500, (0, 1, 2), [3]),
    (500, (0, 1, 2, 3), []), (500, (), [0, 1, 2, 3]),
])  # fmt: skip
def test_due_steps(waited: int, applied: tuple[int, ...], due: list[int]) -> None:
    found = routing.due_steps(LADDER, at(0), NOW + timedelta(seconds=waited), applied)
    assert [i for i, _ in found] == due


@pytest.mark.parametrize(("current", "step", "expected"), [
    (50, {"to": 90}, 90), (95, {"to": 90}, 95), (50, {"by": 20}, 70), (990, {"by": 20}, 999), (0, {"to": 0}, 0),
])  # fmt: skip
def test_raise_priority_never_lowers_and_caps(current: int, step: dict[str, int], expected: int) -> None:
    assert routing.raised_priority(current, LadderStep(after_seconds=1, action="raisePriority", **step)) == expected


def test_max_wait_counts_from_first_arrival() -> None:
    assert not routing.waited_out(at(0), 300, NOW + timedelta(seconds=299))
    assert routing.waited_out(at(0), 300, NOW + timedelta(seconds=300))


def _overflow(*targets: str) -> tuple[LadderStep, ...]:
    return tuple(LadderStep(after_seconds=10 * (i + 1), action="overflow", department=t) for i, t in enumerate(targets))


@pytest.mark.parametrize(("ladder", "others", "problems"), [
    (_overflow("support"), {"support": ()}, []),
    (_overflow("nowhere"), {}, [("escalation[0].department", "department 'nowhere' does not exist")]),
    (_overflow("sales"), {}, [("escalation[0].department", "overflow from 'sales' to itself")]),
    (_overflow("support"), {"support": _overflow("sales")},
     [("escalation[0].department", "overflow loop: sales -> support -> sales")]),
    (_overflow("a"), {"a": _overflow("b"), "b": _overflow("c"), "c": _overflow("sales")},
     [("escalation[0].department", "overflow loop: sales -> a -> b -> c -> sales")]),
    (_overflow("a"), {"a": _overflow("b"), "b": _overflow("a")}, []),  # a loop elsewhere is theirs to fix
    ((LadderStep(after_seconds=5, action="timeout"), *_overflow("x", "support")), {"support": ()},
     [("escalation[1].department", "department 'x' does not exist")]),
])  # fmt: skip
def test_check_ladders(ladder: tuple[LadderStep, ...], others: dict[str, tuple[LadderStep, ...]],
                       problems: list[tuple[str, str]]) -> None:  # fmt: skip
    found = routing.check_ladders("sales", ladder, {**others, "sales": ladder})
    assert [(p.field, p.message) for p in found] == problems


def test_task_names_are_deterministic_and_cloud_tasks_safe() -> None:
    name = routing.task_name("esc", "acme", "sales", "e" * 32, "2")
    assert name == routing.task_name("esc", "acme", "sales", "e" * 32, "2")
    assert name != routing.task_name("esc", "acme", "sales", "e" * 32, "3")
    assert name.startswith("esc-") and len(name) == 44 and name.replace("-", "").isalnum()
    assert routing.offer_id(7) == "o7"

"""Department routing end to end over HTTP, on both stores: the Twilio-like call simulator
(common/callsim.py) calls the function apps, holds in the department's own loop, and scripts the agents'
legs (answer, no answer, busy, decline); the stack's clock is moved by hand and the timers it has come
due for are delivered (no sleeps).

The busy hour: 30 callers with mixed priorities against 4 agents whose legs answer, miss or decline,
some callers leaving by the escape menu (callback, voicemail), some hanging up, some timing out. It
checks that callers are served in priority-then-arrival order (at every assignment, nobody still
waiting ranks ahead of the caller assigned), that the books balance (entered = served + abandoned +
callbacks + voicemails + timeouts, from the entries and from the calls' own outcomes), and that no
agent is ever offered or talking to two callers at once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from callkit import Routed, attach
from livestack import ACCOUNT_A, DEMO_NUMBER, TENANT_A, TOKEN_A, Stack, deploy, problems_in, transport

from common.adapters.routing_store import QueueEntry
from common.callsim import CallResult, CallSession, TwilioCallSimulator
from common.core.call import CallState
from common.core.routing import queue_key
from common.core.routing_model import iso

NUMBER = "+13072240099"
BASE = "https://ivr.example.test"
REC = "record:https://api.twilio.com/2010-04-01/Accounts/ACa/Recordings/RE9:10"

BUSY_HOUR = {"id": "busy_hour", "name": "Busy hour", "settings": {"language": "en-US"}, "nodes": [
    {"id": "start", "type": "startNode", "data": {}},
    {"id": "tier", "type": "collectNode", "data": {"variable": "tier", "numDigits": 1, "maxAttempts": 1,
                                                   "prompt": "Press 1 for gold, 2 for silver, 3 for bronze."}},
    {"id": "queue", "type": "transferNode", "data": {"message": "Please hold.", "target": {
        "type": "department", "department": "sales",
        "priority": "{% if flow.variables.tier == '1' %}high{% elsif flow.variables.tier == '2' %}normal"
                    "{% else %}low{% endif %}",
        "context": {"tier": "{{ flow.variables.tier }}"}}}},
    {"id": "message", "type": "voicemailNode", "data": {"prompt": "Leave a message.", "maxLength": 60}},
    {"id": "bye", "type": "hangupNode", "data": {"message": "Goodbye."}},
    {"id": "later", "type": "hangupNode", "data": {"message": "We will call you back. Goodbye."}},
    {"id": "sorry", "type": "hangupNode", "data": {"message": "Sorry, nobody could take your call."}}],
    "edges": [{"id": "e1", "source": "start", "target": "tier"},
              {"id": "e2", "source": "tier", "sourceHandle": "success", "target": "queue"},
              {"id": "e3", "source": "tier", "sourceHandle": "noInput", "target": "sorry"},
              *({"id": f"q-{o}", "source": "queue", "sourceHandle": o, "target": t} for o, t in (
                  ("completed", "bye"), ("timeout", "sorry"), ("callbackRequested", "later"),
                  ("voicemail", "message"), ("closed", "sorry"), ("noAgents", "sorry"), ("busy", "sorry"),
                  ("failed", "sorry"))),
              {"id": "m1", "source": "message", "sourceHandle": "recorded", "target": "bye"},
              {"id": "m2", "source": "message", "sourceHandle": "noAudio", "target": "bye"}]}  # fmt: skip

SALES = {"strategy": "longestIdle", "ringTimeoutSeconds": 20, "wrapUpSeconds": 5, "maxWaitSeconds": 300,
         "autopauseAfter": 0, "callback": {"attempts": 2, "retryDelaySeconds": 60},
         "hold": {"musicUrl": "https://cdn.example.test/hold.mp3", "announceEverySeconds": 60,
                  "escapeMenu": {"callback": True, "voicemail": True}}}  # fmt: skip
AGENTS = ("ann", "bob", "cy", "dee")


class Watched:
    """The routing store, watched: after every commit that offers a caller to agents, nobody still
    waiting may rank ahead of that caller, and no agent may be held by two open entries."""

    def __init__(self, inner: Any, clock: Any) -> None:
        self.inner, self.clock = inner, clock
        self.assignments: list[tuple[str, str, tuple[str, ...]]] = []  # (entry, at, agents)
        self.violations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def commit(self, records: Any) -> bool:
        done = bool(self.inner.commit(records))
        offered = [r for r in records if isinstance(r, QueueEntry) and r.status == "assigned"
                   and r.history and r.history[-1].get("event") == "offered"]  # fmt: skip
        if done and offered:
            for entry in offered:
                self._check_order(entry)
                self.assignments.append((entry.id, entry.offered_at or "", entry.agent_ids))
            self._check_agents(entry.tenant_id, entry.department_id)
        return done

    def _check_order(self, entry: QueueEntry) -> None:
        at = iso(self.clock())
        for other in self.inner.list_entries(entry.tenant_id, entry.department_id, "waiting", 5000):
            eligible = other.not_before is None or other.not_before <= at
            if eligible and queue_key(other) < queue_key(entry):
                said = f"{entry.id} (priority {entry.priority}, {entry.arrived_at}) was offered before"
                self.violations.append(f"{said} {other.id} (priority {other.priority}, {other.arrived_at})")

    def _check_agents(self, tenant: str, department: str) -> None:
        held: Counter[str] = Counter()
        for status in ("assigned", "connected"):
            for entry in self.inner.list_entries(tenant, department, status, 5000):
                agents = entry.agent_ids if status == "assigned" else (entry.connected_agent,)
                held.update(a for a in agents if a)
        self.violations += [f"agent {a} held by {n} entries at {iso(self.clock())}" for a, n in held.items() if n > 1]


def simulator(stack: Stack, **options: Any) -> TwilioCallSimulator:
    return TwilioCallSimulator(BASE, TOKEN_A, ACCOUNT_A, post=transport(stack.app), **options)


def sales_stack(stack: Stack, watch: bool = False, **settings: Any) -> tuple[Routed, Watched | None]:
    routed = attach(stack)
    watched = Watched(routed.store, stack.clock) if watch else None
    if watched is not None:
        routed = attach(stack, watched)
    routed.department("sales", **{**SALES, **settings})
    for i, agent in enumerate(AGENTS):
        routed.agent(agent, "sales", contact=f"+1555222000{i}")
    deploy(stack.svc, stack.svc.admin.authenticate("Bearer ivr_dev_demo_key_not_secret"), BUSY_HOUR, NUMBER)
    return routed, watched


def clean(result: CallResult) -> None:
    assert result.problems == [], result.problems
    for exchange in result.exchanges:
        assert exchange.status == 200, (exchange.url, exchange.body)
        if "/status" not in exchange.url and "callback-status" not in exchange.url:
            assert problems_in(exchange.body) == [], (exchange.url, exchange.body)


# -- one caller at a time -------------------------------------------------------------------------------


def test_a_caller_waits_hears_their_place_and_is_connected(stack: Stack) -> None:
    routed, _ = sales_stack(stack)
    for agent in AGENTS:
        routed.service.admin.set_status(TENANT_A, agent, {"status": "away"})
    session = simulator(stack, play_seconds=20).start(NUMBER, "+15550001111", ["2", "agent:no-answer",
                                                                                "agent:answer:45"])  # fmt: skip
    t = 0.0
    while session.live and t < 600:
        session.step(t)
        if t == 60:  # a minute in, ann comes back; the hold loop's own check connects the caller
            routed.service.admin.set_status(TENANT_A, "ann", {"status": "available"})
            routed.service.admin.set_status(TENANT_A, "bob", {"status": "available"})
        routed.advance(1)
        t += 1
    result = session.result
    clean(result)
    said = result.transcript
    assert said[:3] == ["IVR: Press 1 for gold, 2 for silver, 3 for bronze.", "CALLER presses 2", "IVR: Please hold."]
    assert said[3].startswith("IVR: You are next in line.")
    assert any(line.startswith("rings agent +155522200") and line.endswith(": no-answer") for line in said)
    assert any("AGENT hears: Call for Sales, normal priority, from 1 5 5 5 0 0 0 1 1 1 1. tier: 2." in line
               for line in said)  # fmt: skip
    assert said[-2:] == ["IVR: Goodbye.", "IVR hangs up"]
    record = stack.stored(result.call_sid)
    state = CallState.model_validate(record.state)
    assert state.path == ["start", "tier", "queue", "bye"]
    assert state.widgets["queue"]["outcome"] == "completed" and state.widgets["queue"]["waitSeconds"] > 60
    entry = routed.entries("sales", ("completed",))[0]
    assert len(entry.missed_by) == 1 and entry.talk_seconds == 45
    assert record.status == "ended" and record.call_status == "completed"


@pytest.mark.parametrize(
    ("inputs", "path", "status"),
    [
        pytest.param(["3", "press:1", "press:1"], ["start", "tier", "queue", "later"], "waiting", id="callback"),
        pytest.param(["3", "press:2", REC], ["start", "tier", "queue", "message", "bye"], "voicemail",
                     id="voicemail"),
        pytest.param(["3", "hold:2"], ["start", "tier", "queue"], "abandoned", id="hangs-up-holding"),
        pytest.param(["3"], ["start", "tier", "queue", "sorry"], "timeout", id="waits-out"),
    ],
)  # fmt: skip
def test_leaving_the_queue(stack: Stack, inputs: list[str], path: list[str], status: str) -> None:
    routed, _ = sales_stack(stack, maxWaitSeconds=60)
    for agent in AGENTS:
        routed.service.admin.set_status(TENANT_A, agent, {"status": "away"})
    result = simulator(stack, play_seconds=15).call(NUMBER, "+15550002222", inputs, advance=routed.advance)
    clean(result)
    assert result.unused_inputs == []
    assert stack.stored(result.call_sid).state.path == path
    (entry,) = routed.entries("sales")
    assert entry.status == status
    if status == "waiting":
        assert entry.kind == "callback" and entry.callback_number == "+15550002222"
        assert "CALLER hangs up" not in " ".join(result.transcript)


def test_duplicate_and_concurrent_deliveries_of_every_webhook(stack: Stack) -> None:
    routed, _ = sales_stack(stack)
    routed.service.admin.set_status(TENANT_A, "ann", {"status": "away"})
    for agent in AGENTS[1:]:
        routed.service.admin.set_status(TENANT_A, agent, {"status": "offline"})
    session = simulator(stack, play_seconds=20, replays=1, concurrent_replays=2).start(
        NUMBER, "+15550003333", ["1", "agent:decline", "agent:answer:30"])
    t = 0.0
    while session.live and t < 300:
        session.step(t)
        if t == 30:
            for agent in AGENTS[:2]:
                routed.service.admin.set_status(TENANT_A, agent, {"status": "available"})
        routed.advance(1)
        t += 1
    result = session.result
    clean(result)  # every duplicate answered alike (the hold loop's announcement is made once)
    routing_hooks = {e.url.split("?")[0].rsplit("/", 1)[-1] for e in result.exchanges if "/departments/" in e.url}
    assert {"hold", "whisper", "accept", "dial-result"} <= routing_hooks
    record = stack.stored(result.call_sid)
    assert [e["data"]["outcome"] for e in record.events if e["type"] == "transfer.ended"] == ["completed"]
    assert record.seq == 3  # incoming, the transfer, the outcome: each once although delivered 4 times
    (entry,) = routed.entries("sales")
    assert entry.status == "completed" and len(entry.missed_by) == 1


# -- the busy hour ------------------------------------------------------------------------------------------


def script(i: int) -> list[str]:
    tier = "123"[i % 3]
    talk = 60 + (i * 17) % 70
    if i % 10 == 7:
        return [tier, "hold:4"]  # hangs up after four music clips if nobody took them
    if i % 10 == 9:
        return [tier, "press:1", "press:1"]  # asks for a callback at the first menu
    if i % 13 == 6:
        return [tier, "press:2", REC]  # leaves a message
    if i % 7 == 3:
        return [tier, "agent:no-answer", f"agent:answer:{talk}"]
    if i % 7 == 5:
        return [tier, "agent:decline", f"agent:answer:{talk}"]
    if i % 11 == 4:
        return [tier, "agent:busy", f"agent:answer:{talk}"]
    return [tier, f"agent:answer:{talk}"]


def test_the_busy_hour(stack: Stack) -> None:
    routed, watched = sales_stack(stack, watch=True)
    assert watched is not None
    sim = simulator(stack, play_seconds=20, max_hold=200)
    arrivals = [(i * 3.0, f"+1555100{i:04d}", script(i)) for i in range(30)]
    callers: list[CallSession] = []
    agents_legs: list[CallSession] = []
    placed = 0
    t = 0.0
    while (arrivals or any(s.live for s in callers + agents_legs)) and t < 4000:
        while arrivals and arrivals[0][0] <= t:
            _, number, inputs = arrivals.pop(0)
            callers.append(sim.start(NUMBER, number, inputs, at=t))
        for session in callers + agents_legs:
            for _ in range(20):  # everything due at this instant
                if not session.live or session.due > t:
                    break
                session.step(t)
        for dialled in routed.calls.dialled[placed:]:  # a callback: the stack asked Twilio to call the agent
            agents_legs.append(sim.outbound(dialled["url"], dialled["status"], dialled["to"], dialled["from"],
                                            ["agent:answer", "customer:answer:40"], call_sid=dialled["sid"], at=t))
            placed += 1
        routed.advance(1)
        t += 1
    assert t < 4000, "the busy hour did not end"
    routed.advance(600)  # every callback retry and sweep still due
    for session in callers + agents_legs:
        clean(session.result)
    assert watched.violations == []

    entries = routed.entries("sales")
    calls = {s.result.call_sid: CallState.model_validate(stack.stored(s.result.call_sid).state) for s in callers}
    books = Counter("callbacks" if e.kind == "callback" else {"completed": "served"}.get(e.status, e.status)
                    for e in entries)  # fmt: skip
    print(f"\nbusy hour: {dict(books)}; {len(watched.assignments)} assignments, {placed} callbacks dialled, "
          f"{sum(len(s.result.exchanges) for s in callers + agents_legs)} webhooks, {t:.0f} s simulated")
    assert sum(books.values()) == len(entries) == len(callers) == 30  # everyone entered, once
    assert set(books) <= {"served", "abandoned", "callbacks", "voicemail", "timeout"}, books
    for kind in ("served", "abandoned", "callbacks", "voicemail", "timeout"):
        assert books[kind] >= 1, books  # the hour exercised every way out
    # the same books from the calls' own side: the transfer's outcome, or a caller who hung up holding
    outcomes = Counter(state.widgets.get("queue", {}).get("outcome", "hung up") for state in calls.values())
    assert outcomes == Counter({"completed": books["served"], "hung up": books["abandoned"],
                                "callbackRequested": books["callbacks"], "voicemail": books["voicemail"],
                                "timeout": books["timeout"]})  # fmt: skip
    callbacks = [e for e in entries if e.kind == "callback"]
    assert all(e.status == "completed" and e.callback_attempts for e in callbacks)  # each called back
    # priority then arrival held at every assignment (Watched); and it mattered: callers who came later
    # with a higher priority were offered before earlier callers of a lower one
    offered = {e.id: next((h["at"] for h in e.history if h["event"] == "offered"), None) for e in entries}
    assert len(watched.assignments) >= sum(1 for at in offered.values() if at)
    overtaken = [(a.id, b.id) for a in entries for b in entries
                 if a.priority > b.priority and a.arrived_at > b.arrived_at and offered[a.id] and offered[b.id]
                 and (offered[a.id] or "") < (offered[b.id] or "")]  # fmt: skip
    assert overtaken
    # every agent is free again, nobody is left in the queue
    for agent in AGENTS:
        record = routed.store.get_agent(TENANT_A, agent)
        assert record is not None and record.status in ("available", "wrap-up"), (agent, record.status)
        assert record.entry_id is None
    assert routed.entries("sales", ("waiting", "assigned", "connected")) == []
    assert max(stack.stored(s.result.call_sid).seq for s in callers) <= 4


# -- the watch itself, and what a call costs ------------------------------------------------------------------


def test_the_watch_sees_a_wrong_order_and_a_double_booking() -> None:
    from datetime import UTC, datetime

    from common.adapters.routing_store import MemoryRoutingStore

    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    store = MemoryRoutingStore()
    watched = Watched(store, lambda: at)

    def entry(sid: str, priority: int, **fields: Any) -> QueueEntry:
        return QueueEntry(tenant_id="t", department_id="d", id=sid, call_sid=sid, account_sid="AC1",
                          priority=priority, arrived_at=iso(at), joined_at=iso(at), **fields)  # fmt: skip

    assert watched.commit([entry("high", 100), entry("low", 10)])
    low = store.get_entry("t", "d", "low")
    assert low is not None
    offer = {"status": "assigned", "agent_ids": ("ann",), "offer_id": "o1", "offered_at": iso(at),
             "history": ({"event": "offered"},), "revision": 2}  # fmt: skip
    assert watched.commit([low.model_copy(update=offer)])
    assert watched.violations == [f"low (priority 10, {iso(at)}) was offered before high (priority 100, {iso(at)})"]
    high = store.get_entry("t", "d", "high")
    assert high is not None
    assert watched.commit([high.model_copy(update=offer)])
    assert watched.violations[-1].startswith("agent ann held by 2 entries")


def test_what_a_routed_call_costs(stack: Stack) -> None:
    """Reads and writes of both stores: a quiet hold iteration, and a whole call answered by an agent."""
    routed, _ = sales_stack(stack, hold={"musicUrl": "https://cdn.example.test/hold.mp3",
                                         "announceEverySeconds": 0})  # fmt: skip
    for agent in AGENTS:
        routed.service.admin.set_status(TENANT_A, agent, {"status": "away"})
    calls, queue = stack.store, routed.store
    holding = simulator(stack).start(NUMBER, "+15550004444", ["1", "hold:6"])
    for t in (0.0, 0.0, 10.0):  # the menu, the transfer, a first iteration (the tenant's account read once)
        holding.step(t)
    before = (calls.reads, calls.writes, queue.reads, queue.writes)
    for t in (20.0, 30.0, 40.0):
        holding.step(t)
    per_iteration = [(after - was) / 3 for after, was in zip((calls.reads, calls.writes, queue.reads, queue.writes),
                                                             before, strict=True)]  # fmt: skip
    holding.run()
    routed.service.admin.set_status(TENANT_A, "ann", {"status": "available"})
    before = (calls.reads, calls.writes, queue.reads, queue.writes)
    served = simulator(stack).call(NUMBER, "+15550005555", ["1", "agent:answer:30"], advance=routed.advance)
    clean(served)
    whole = [after - was for after, was in zip((calls.reads, calls.writes, queue.reads, queue.writes), before,
                                               strict=True)]  # fmt: skip
    hooks = len(served.exchanges)
    print(f"\n{type(calls).__name__}: hold iteration: call store {per_iteration[0]:.1f} reads {per_iteration[1]:.1f} "
          f"writes, routing store {per_iteration[2]:.1f} reads {per_iteration[3]:.1f} writes; a call answered by "
          f"an agent ({hooks} webhooks): call store {whole[0]} reads {whole[1]} writes, routing store {whole[2]} "
          f"reads {whole[3]} writes")  # fmt: skip
    assert per_iteration[:2] == [0, 0]  # the hold loop never touches the call document
    assert per_iteration[2] <= 2 and per_iteration[3] == 0
    assert whole[1] <= 4  # the call document: created, the transfer, the outcome, the status callback


# -- the example support line with its departments --------------------------------------------------------

SUPPORT_LINE = {
    "answered": (["1", "agent:answer:40"], {}, "bye", "completed"),
    "callback": (["1", "press:1", "press:1"], {"away": True}, "thanks", "callbackRequested"),
    "voicemail": (["1", "press:2", REC], {"away": True}, "thanks", "voicemail"),
    "timeout": (["2", REC], {"away": True, "maxWaitSeconds": 60}, "thanks", "timeout"),
    "noAgents": (["2", REC], {"joinWhenEmpty": "available", "away": True}, "thanks", "noAgents"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SUPPORT_LINE))
def test_the_support_line_with_departments(stack: Stack, case: str) -> None:
    inputs, options, last, outcome = SUPPORT_LINE[case]
    routed = attach(stack)
    settings = {k: v for k, v in options.items() if k != "away"}
    menu = {"musicUrl": "https://cdn.example.test/hold.mp3", "escapeMenu": {"callback": True, "voicemail": True}}
    for department in ("sales", "support"):
        routed.department(department, hold=menu, **settings)
        routed.agent(f"{department}_agent", department, status="away" if options.get("away") else "available")
    result = simulator(stack, play_seconds=15).call(DEMO_NUMBER, "+15550006666", inputs, advance=routed.advance)
    clean(result)
    assert result.unused_inputs == []
    state = CallState.model_validate(stack.stored(result.call_sid).state)
    transfer = state.path[4]
    assert transfer in ("to_sales", "to_support") and state.widgets[transfer]["outcome"] == outcome
    assert state.path[-1] == last

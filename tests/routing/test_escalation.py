"""The escalation ladder through timers (common/service/routing_upkeep.py) on the memory store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from routing_harness import T0, Harness

from common.core.routing_model import entry_id, iso


def ladder_department(harness: Harness, *steps: dict[str, Any], dept: str = "sales", **settings: Any) -> None:
    harness.department(dept, joinWhenEmpty="always", escalation=list(steps), **settings)


def escalate(harness: Harness, call_sid: str, step: int | str, dept: str = "sales") -> dict[str, Any]:
    payload = {"tenant": "acme", "department": dept, "entry": entry_id(call_sid, dept), "step": step}
    return harness.service.handle_task("escalate", payload, harness.clock())


def test_one_timer_per_step_with_deterministic_names(harness: Harness) -> None:
    ladder_department(harness, {"afterSeconds": 30, "action": "raisePriority", "by": 10},
                      {"afterSeconds": 90, "action": "timeout"}, maxWaitSeconds=600)  # fmt: skip
    harness.route("CA1")
    escalations = harness.timers.pending("/escalate")
    assert [(at, payload["step"]) for at, _, payload in escalations] == [
        (T0.replace(second=30), 0), (T0.replace(minute=10), "max")]  # the next step, and max wait
    names = set(harness.timers.scheduled)
    harness.route("CA1")  # a retried join schedules nothing new
    assert set(harness.timers.scheduled) == names
    harness.tick(30)
    assert harness.due("escalate")[0] == {"result": "applied"}
    assert [p["step"] for _, _, p in harness.timers.pending("/escalate")] == [1, "max"]  # the chain goes on


@pytest.mark.parametrize(("step", "status", "check"), [
    ({"action": "raisePriority", "by": 25}, "waiting", lambda e: e.priority == 75),
    ({"action": "raisePriority", "to": 90}, "waiting", lambda e: e.priority == 90),
    ({"action": "raisePriority", "to": 20}, "waiting", lambda e: e.priority == 50),  # never lowers
    ({"action": "offerCallback"}, "waiting", lambda e: e.callback_offered and e.announced_at is None),
    ({"action": "voicemail"}, "voicemail", lambda e: e.wait_seconds == 60 and e.closed_at is not None),
    ({"action": "timeout"}, "timeout", lambda e: e.wait_seconds == 60),
])  # fmt: skip
def test_each_ladder_step(harness: Harness, step: dict[str, Any], status: str, check: Any) -> None:
    ladder_department(harness, {"afterSeconds": 60, **step})
    harness.route("CA1")
    harness.tick(60)
    assert escalate(harness, "CA1", 0) == {"result": "applied"}
    entry = harness.entry("CA1")
    assert entry.status == status and entry.applied_steps == (0,) and check(entry)
    assert entry.history[-1]["event"] == "escalated" and entry.history[-1]["action"] == step["action"]
    writes = harness.store.writes
    assert escalate(harness, "CA1", 0)["result"] in ("nothing due", "closed")  # delivered twice: applied once
    assert harness.store.writes == writes and harness.entry("CA1") == entry
    if status != "waiting" or step["action"] == "offerCallback":  # the caller hears it now, not after the clip
        assert harness.calls.redirects[-1][2].startswith("https://ivr.example.com/webhook/departments/hold?")


def test_voicemail_and_timeout_leave_by_the_transfer_outcome(harness: Harness) -> None:
    ladder_department(harness, {"afterSeconds": 60, "action": "voicemail"})
    me = harness.route("CA1").entry
    harness.tick(60)
    harness.due("escalate")
    assert harness.service.hold("acme", "sales", me.id, harness.clock()).outcome == "voicemail"


def test_max_wait_times_out_even_without_a_ladder(harness: Harness) -> None:
    ladder_department(harness, maxWaitSeconds=120)
    me = harness.route("CA1", max_wait_seconds=90).entry  # the transfer's own max wait is shorter
    harness.tick(89)
    assert harness.due("escalate") == []
    harness.tick(1)
    assert harness.due("escalate") == [{"result": "applied"}]
    assert harness.entry("CA1").status == "timeout"
    assert harness.service.hold("acme", "sales", me.id, harness.clock()).outcome == "timeout"


def test_the_hold_loop_applies_due_steps_when_a_timer_is_lost(harness: Harness) -> None:
    ladder_department(harness, {"afterSeconds": 30, "action": "raisePriority", "by": 10},
                      {"afterSeconds": 60, "action": "timeout"})  # fmt: skip
    me = harness.route("CA1").entry
    harness.tick(61)  # no timer delivered at all
    assert harness.service.hold("acme", "sales", me.id, harness.clock()).outcome == "timeout"
    entry = harness.entry("CA1")
    assert entry.applied_steps == (0, 1) and entry.priority == 60
    assert harness.due("escalate") == [{"result": "closed"}]  # the late timer (step 0) changes nothing
    assert harness.calls.redirects == []  # its own webhook answered: no redirect needed


def test_overflow_keeps_the_original_arrival_and_priority(harness: Harness) -> None:
    harness.department("support", joinWhenEmpty="always", escalation=[{"afterSeconds": 120, "action": "timeout"}])
    ladder_department(harness, {"afterSeconds": 10, "action": "raisePriority", "to": 80},
                      {"afterSeconds": 60, "action": "overflow", "department": "support"})  # fmt: skip
    me = harness.route("CA1").entry
    harness.tick(30)
    harness.route("CA2", dept="support")  # already waiting there, but arrived later
    harness.tick(30)
    harness.due("escalate")
    old, new = harness.entry("CA1"), harness.entry("CA1", dept="support")
    assert old.status == "overflowed" and old.overflowed_to == f"support/{new.id}"
    assert (new.arrived_at, new.joined_at, new.priority) == (iso(T0), iso(harness.clock()), 80)
    assert new.overflowed_from == f"sales/{old.id}" and new.applied_steps == ()
    assert harness.store.count_ahead(new) == 0  # ahead of CA2, who arrived later
    holding = harness.service.hold("acme", "sales", me.id, harness.clock())  # the old loop follows the overflow
    assert holding.twiml and f"e={new.id}" in holding.twiml
    # the new department's ladder counts from joining it
    assert [p["step"] for _, _, p in harness.timers.pending("/escalate") if p["department"] == "support"
            and p["entry"] == new.id] == [0, "max"]  # fmt: skip


@pytest.mark.parametrize(("target_settings", "reason"), [
    ({"schedule": "closed-hours"}, "department is closed"),
    ({"maxQueueSize": 1}, "queue is full"),
    ({"joinWhenEmpty": "staffed"}, "no agents per its join rule"),
])  # fmt: skip
def test_overflow_is_skipped_when_the_target_cannot_take_the_caller(harness: Harness, target_settings: dict[str, Any],
                                                                   reason: str) -> None:  # fmt: skip
    harness.open_schedules["closed-hours"] = False
    harness.department("support", **{"joinWhenEmpty": "always", **target_settings})
    if "maxQueueSize" in target_settings:
        harness.route("CAfull", dept="support")
    ladder_department(harness, {"afterSeconds": 60, "action": "overflow", "department": "support"})
    harness.route("CA1")
    harness.tick(60)
    harness.due("escalate")
    entry = harness.entry("CA1")
    assert entry.status == "waiting" and entry.applied_steps == (0,)
    assert entry.history[-1]["skipped"] == reason


def test_a_step_due_during_an_offer_waits_for_the_offer(harness: Harness) -> None:
    ladder_department(harness, {"afterSeconds": 10, "action": "timeout"}, autopauseAfter=1)
    harness.agent("ann")
    harness.route("CA1")  # offered to ann at once
    harness.tick(10)
    assert harness.due("escalate") == [{"result": "postponed"}]
    entry = harness.entry("CA1")
    assert entry.status == "assigned" and entry.applied_steps == ()
    later = [at for at, _, p in harness.timers.pending("/escalate") if p["step"] == 0]
    assert later == [T0 + timedelta(seconds=10 + 20 + 30)]  # after the ring timeout and a grace
    answer = harness.service.dial_ended("acme", "sales", entry.id, entry.offer_id or "", "no-answer", None,
                                        harness.clock())  # fmt: skip
    assert answer.outcome == "timeout"  # back in line, the due step applies in the same answer
    harness.tick(50)
    assert harness.due("escalate") == [{"result": "closed"}]


def test_callback_entries_keep_their_place(harness: Harness) -> None:
    ladder_department(harness, {"afterSeconds": 30, "action": "raisePriority", "by": 5},
                      {"afterSeconds": 60, "action": "timeout"}, maxWaitSeconds=60)  # fmt: skip
    me = harness.route("CA1").entry
    harness.service.request_callback("acme", "sales", me.id, "+15557770000", harness.clock())
    harness.tick(120)
    harness.due("escalate")
    entry = harness.entry("CA1")
    assert entry.status == "waiting" and entry.kind == "callback" and entry.priority == 55
    assert entry.history[-1]["skipped"] == "callback entries keep their place"


@pytest.mark.parametrize(("payload", "field"), [
    ({"department": "sales", "entry": "e", "step": 0}, "tenant"),
    ({"tenant": "acme", "department": "sales", "step": 0}, "entry"),
    ({"tenant": "acme", "department": "sales", "entry": "e", "step": -1}, "step"),
    ({"tenant": "acme", "department": "sales", "entry": "e", "step": True}, "step"),
])  # fmt: skip
def test_bad_task_payloads_are_400_naming_the_field(harness: Harness, payload: dict[str, Any], field: str) -> None:
    from common.service.admin import ApiError

    with pytest.raises(ApiError) as caught:
        harness.service.handle_task("escalate", payload, harness.clock())
    assert caught.value.status == 400 and caught.value.details[0]["field"] == field
    with pytest.raises(ApiError) as caught:
        harness.service.handle_task("explode", payload, harness.clock())
    assert caught.value.status == 404

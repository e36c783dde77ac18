"""Joining a queue and holding in it (common/service/routing.py) on the memory store."""

from __future__ import annotations

from typing import Any

import pytest
from routing_harness import MUSIC, Harness

from common.core.routing_model import entry_id
from common.service.admin import ApiError


def test_route_returns_position_and_expected_wait(harness: Harness) -> None:
    harness.department("sales")
    harness.agent("ann", status="away")  # logged in, not free: callers queue
    harness.service.admin.set_status("acme", "ann", {"status": "available"})
    first = harness.route("CA1")
    assert first.outcome == "queued" and first.created and first.entry.status == "assigned" and first.position == 0
    assert first.caller is not None and first.caller.twiml and "<Dial" in first.caller.twiml  # connect right away
    assert harness.calls.redirects == []  # its own webhook answers: no REST redirect
    second = harness.route("CA2", priority="low")
    third = harness.route("CA3", priority="high")
    assert (second.position, third.position) == (1, 1)  # high jumps the queue
    assert harness.service.hold("acme", "sales", second.entry.id, harness.clock()).twiml
    assert third.expected_wait_seconds == 180 and third.entry.priority == 100
    assert "You are next in line." in (third.caller.twiml or "")
    later = harness.route("CA4")
    assert later.position == 2 and later.expected_wait_seconds == 360


def test_route_is_idempotent_per_call_and_department(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    harness.department("support", joinWhenEmpty="always")
    first = harness.route("CA1", priority=70, context={"customerInfo": {"name": "Lee"}, "flowPath": ["menu"]})
    writes = harness.store.writes
    again = harness.route("CA1", priority=10)
    assert not again.created and again.entry.id == first.entry.id == entry_id("CA1", "sales")
    assert again.entry.priority == 70 and harness.store.writes == writes  # nothing written the second time
    assert harness.store.count_entries("acme", "sales", "waiting") == 1
    other = harness.route("CA1", dept="support")
    assert other.created and other.entry.id != first.entry.id
    assert harness.entry("CA1").context == {"customerInfo": {"name": "Lee"}, "flowPath": ["menu"]}


@pytest.mark.parametrize(("setup", "status", "code", "field"), [
    (lambda h: None, 404, "not_found", "department"),
    (lambda h: h.department("sales") and h.call("CAx", tenant="globex"), 404, "not_found", "callSid"),
    (lambda h: h.department("sales"), 404, "not_found", "callSid"),  # a call we never saw
    (lambda h: h.department("sales") and (h.call("CAx"), h.hang_up("CAx")), 409, "call_ended", "callSid"),
])  # fmt: skip
def test_route_refusals_name_the_field_and_store_nothing(harness: Harness, setup: Any, status: int, code: str,
                                                         field: str) -> None:  # fmt: skip
    setup(harness)
    with pytest.raises(ApiError) as caught:
        harness.service.route("acme", "CAx", None, "sales", "normal", None, harness.clock())
    assert (caught.value.status, caught.value.code, caught.value.details[0]["field"]) == (status, code, field)
    assert harness.store.entries_for_call("acme", "CAx") == []


@pytest.mark.parametrize(("priority", "fragment"), [(1000, "out of range"), ("urgent", "not high"), (-1, "range")])
def test_bad_priorities_are_400(harness: Harness, priority: Any, fragment: str) -> None:
    harness.department("sales")
    with pytest.raises(ApiError) as caught:
        harness.route("CA1", priority=priority)
    assert caught.value.status == 400 and fragment in caught.value.message
    assert caught.value.details[0]["field"] == "priority"


def test_context_must_be_small_json(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    with pytest.raises(ApiError, match="larger than"):
        harness.route("CA1", context={"customerInfo": {"notes": "x" * 9000}})
    with pytest.raises(ApiError, match="must be an object"):
        harness.route("CA2", context=["no"])


@pytest.mark.parametrize(("rule", "agents", "outcome"), [
    ("staffed", {}, "noAgents"), ("staffed", {"ann": "offline"}, "noAgents"), ("staffed", {"ann": "away"}, "queued"),
    ("available", {"ann": "away"}, "noAgents"), ("available", {"ann": "available"}, "queued"),
    ("always", {}, "queued"),
])  # fmt: skip
def test_join_when_empty_rule(harness: Harness, rule: str, agents: dict[str, str], outcome: str) -> None:
    harness.department("sales", joinWhenEmpty=rule)
    for agent_id, status in agents.items():
        harness.agent(agent_id, status=status)
    result = harness.route("CA1")
    assert result.outcome == outcome
    assert (harness.store.get_entry("acme", "sales", entry_id("CA1", "sales")) is not None) == (outcome == "queued")


def test_closed_department_and_full_queue(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always", schedule="office", maxQueueSize=2)
    harness.open_schedules["office"] = False
    assert harness.route("CA1").outcome == "closed"
    harness.open_schedules["office"] = True
    assert [harness.route(f"CA{i}").outcome for i in range(2, 6)] == ["queued", "queued", "full", "full"]
    del harness.open_schedules["office"]  # an unknown schedule is treated as open
    harness.service.call_ended("acme", "CA2", harness.clock())
    assert harness.route("CA9").outcome == "queued"


def test_route_api(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    harness.call("CA1")
    body = {"callSid": "CA1", "department": "sales", "priority": "high",
            "context": {"customerInfo": {"id": 7}, "flowPath": ["start", "menu"]}}  # fmt: skip
    status, view = harness.service.route_request("acme", body, harness.clock())
    assert status == 201 and view["position"] == 1 and view["priority"] == 100 and view["status"] == "waiting"
    assert view["expectedWaitSeconds"] == 180 and view["outcome"] == "queued"
    # the API is not the caller's webhook: the call is sent to its hold loop
    assert harness.calls.redirects == [("ACacme", "CA1", harness.urls.url("hold", _ref(view)))]
    assert harness.service.route_request("acme", body, harness.clock())[0] == 200
    with pytest.raises(ApiError) as caught:
        harness.service.route_request("acme", {"callSid": "CA1", "department": "sales", "extra": 1})
    assert caught.value.status == 400 and caught.value.details[0]["field"] == "extra"
    with pytest.raises(ApiError) as caught:
        harness.service.route_request("globex", body)
    assert caught.value.status == 404


def test_route_api_refusals_are_409_with_the_outcome(harness: Harness) -> None:
    harness.department("sales")
    harness.call("CA1")
    with pytest.raises(ApiError) as caught:
        harness.service.route_request("acme", {"callSid": "CA1", "department": "sales"})
    assert (caught.value.status, caught.value.code, caught.value.details) == (409, "no_agents", {"outcome": "noAgents"})


def _ref(view: dict[str, Any]) -> Any:
    from common.core.queue_twiml import EntryRef

    return EntryRef("acme", view["department"], view["entryId"])


# --- the hold loop ---------------------------------------------------------------------------------


def test_hold_announces_when_due_and_changed(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always", hold={"announceEverySeconds": 60})
    harness.route("CA0")
    joined = harness.route("CA1")
    me = joined.entry
    assert "You are number 2 in line." in (joined.caller.twiml or "")  # the join's own document announces

    def hold() -> str:
        return harness.service.hold("acme", "sales", me.id, harness.clock()).twiml or ""

    harness.tick(20)
    quiet = hold()
    assert "<Say" not in quiet and f"<Play>{MUSIC}</Play>" in quiet
    harness.tick(45)
    assert "<Say" not in hold()  # due, but the same place and wait: nothing new to say
    harness.service.call_ended("acme", "CA0", harness.clock())
    assert "You are next in line." in hold()
    harness.tick(10)
    reads = harness.store.reads
    assert "<Say" not in hold()
    assert harness.store.reads - reads == 1  # an iteration that cannot announce reads the entry only


def test_hold_connects_when_an_assignment_waits(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    me = harness.route("CA1").entry
    harness.calls.redirect_ok = False  # the REST redirect is lost
    harness.agent("ann")
    assert harness.entry("CA1").status == "assigned" and harness.calls.redirects  # it was tried
    answer = harness.service.hold("acme", "sales", me.id, harness.clock())
    assert answer.twiml and "<Dial" in answer.twiml and "whisper" in answer.twiml  # the safety net


def test_escape_menu(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always", hold={"escapeMenu": {"callback": True, "voicemail": True}})
    me = harness.route("CA1").entry
    assert 'numDigits="1"' in (harness.service.hold("acme", "sales", me.id).twiml or "")
    assert "<Play>" in (harness.service.menu("acme", "sales", me.id, "7").twiml or "")  # not on offer: hold on
    confirm = harness.service.menu("acme", "sales", me.id, "1")
    assert confirm.twiml and "We will call you back at 1 5 5 5 7 7 7 0 0 0 0" in confirm.twiml
    left = harness.service.menu("acme", "sales", me.id, "2")
    assert left.outcome == "voicemail" and harness.entry("CA1").status == "voicemail"
    assert harness.entry("CA1").wait_seconds == 0


def test_unknown_entries_fail_politely(harness: Harness) -> None:
    harness.department("sales")
    assert harness.service.hold("acme", "sales", "nope").outcome == "failed"
    assert harness.service.hold("globex", "sales", "nope").outcome == "failed"

"""Callbacks that keep their place: request, agent first, then the customer, attempts recorded."""

from __future__ import annotations

from datetime import timedelta

from routing_harness import Harness

from common.adapters.routing_store import QueueEntry
from common.core.routing_model import iso


def callback_department(harness: Harness, **callback: int) -> None:
    harness.department("sales", joinWhenEmpty="always", hold={"escapeMenu": {"callback": True}},
                       callback={"attempts": 2, "retryDelaySeconds": 300, **callback})  # fmt: skip


def request(harness: Harness, call_sid: str) -> QueueEntry:
    me = harness.entry(call_sid)
    confirm = harness.service.menu("acme", "sales", me.id, "1", harness.clock())
    assert confirm.twiml and "n=%2B15557770000" in confirm.twiml  # the calling number, read back
    done = harness.service.callback_confirm("acme", "sales", me.id, "+15557770000", "1", harness.clock())
    assert done.outcome == "callbackRequested" and done.say and "keep your place" in done.say
    return harness.entry(call_sid)


def test_a_callback_keeps_its_place_after_the_caller_hangs_up(harness: Harness) -> None:
    callback_department(harness)
    for i in range(3):
        harness.route(f"CA{i}")
        harness.tick(1)
    before = harness.store.count_ahead(harness.entry("CA1"))
    entry = request(harness, "CA1")
    assert (entry.kind, entry.status, entry.callback_number) == ("callback", "waiting", "+15557770000")
    harness.hang_up("CA1")
    assert harness.service.call_ended("acme", "CA1", harness.clock()) == []  # not abandoned
    assert harness.store.count_ahead(harness.entry("CA1")) == before == 1
    harness.tick(600)
    assert harness.service.handle_task("sweep", {"tenant": "acme", "department": "sales"}, harness.clock())
    assert harness.entry("CA1").status == "waiting"  # the sweep leaves callbacks alone


def test_a_keyed_in_number(harness: Harness) -> None:
    callback_department(harness)
    me = harness.route("CA1").entry
    entry_doc = harness.service.callback_confirm("acme", "sales", me.id, "+15557770000", "2", harness.clock())
    assert entry_doc.twiml and "callback-number" in entry_doc.twiml
    retry = harness.service.callback_number("acme", "sales", me.id, "12", harness.clock())
    assert retry.twiml and "not a number we can call" in retry.twiml
    confirm = harness.service.callback_number("acme", "sales", me.id, "442079460958#", harness.clock())
    assert confirm.twiml and "n=%2B442079460958" in confirm.twiml
    done = harness.service.callback_confirm("acme", "sales", me.id, "+442079460958", "1", harness.clock())
    assert done.outcome == "callbackRequested" and harness.entry("CA1").callback_number == "+442079460958"


def test_the_agent_is_called_first_then_the_customer(harness: Harness) -> None:
    callback_department(harness, attempts=2)
    harness.route("CA1")
    entry = request(harness, "CA1")
    harness.agent("ann", contact="sip:ann@pbx.example.com")
    [dial] = harness.calls.dials
    entry = harness.entry("CA1")
    assert entry.status == "assigned" and entry.agent_ids == ("ann",)
    assert (dial["to"], dial["from"], dial["account"]) == ("sip:ann@pbx.example.com", "+13072249663", "ACacme")
    assert "/webhook/departments/callback-agent?" in dial["url"] and "callback-status" in dial["status"]
    whisper = harness.service.dispatcher.whisper("acme", "sales", entry.id, entry.offer_id or "", "ann")
    assert "Callback request for Sales" in whisper and "1 5 5 5 7 7 7 0 0 0 0" in whisper
    bridge = harness.service.dispatcher.accept("acme", "sales", entry.id, entry.offer_id or "", "ann", "1",
                                               harness.clock())  # fmt: skip
    assert "<Number>+15557770000</Number>" in bridge and 'callerId="+13072249663"' in bridge
    assert harness.entry("CA1").status == "connected" and harness.agent_record("ann").status == "busy"
    harness.tick(240)
    harness.service.dispatcher.callback_result("acme", "sales", entry.id, entry.offer_id or "", "completed", 240,
                                               harness.clock())  # fmt: skip
    done = harness.entry("CA1")
    assert (done.status, done.talk_seconds) == ("completed", 240)
    assert [a["result"] for a in done.callback_attempts] == ["completed"]
    assert harness.agent_record("ann").status == "wrap-up" and harness.agent_record("ann").calls_handled == 1


def test_attempts_with_a_delay_then_failed(harness: Harness) -> None:
    callback_department(harness, attempts=2, retryDelaySeconds=300)
    harness.route("CA1")
    request(harness, "CA1")
    harness.agent("ann")
    for attempt in range(2):
        entry = harness.entry("CA1")
        assert entry.status == "assigned", attempt
        harness.service.dispatcher.accept("acme", "sales", entry.id, entry.offer_id or "", "ann", "1", harness.clock())
        answer = harness.service.dispatcher.callback_result("acme", "sales", entry.id, entry.offer_id or "",
                                                            "no-answer", 0, harness.clock())  # fmt: skip
        assert "did not answer" in answer
        assert harness.agent_record("ann").status == "available"  # released, no wrap-up, no call counted
        if attempt == 0:
            waiting = harness.entry("CA1")
            assert waiting.status == "waiting" and waiting.not_before == iso(harness.clock() + timedelta(seconds=300))
            assert harness.service.dispatcher.dispatch("acme", "sales", harness.clock()) == []  # not before the delay
            harness.tick(300)
            assert harness.due("callback") == [{"assigned": 1}]
    failed = harness.entry("CA1")
    assert failed.status == "callbackFailed" and [a["result"] for a in failed.callback_attempts] == ["no-answer"] * 2
    assert harness.agent_record("ann").calls_handled == 0 and len(harness.calls.dials) == 2


def test_an_unreachable_or_declining_agent_releases_the_callback(harness: Harness) -> None:
    callback_department(harness)
    harness.route("CA1")
    request(harness, "CA1")
    harness.calls.dial_ok = False  # Twilio refuses, or a laptop stack has no call control
    harness.agent("ann")
    entry = harness.entry("CA1")
    assert entry.status == "waiting" and entry.not_before == iso(harness.clock() + timedelta(seconds=300))
    assert harness.agent_record("ann").missed_in_a_row == 0  # not her miss
    assert harness.service.dispatcher.dispatch("acme", "sales", harness.clock()) == []  # not before the delay
    harness.calls.dial_ok = True
    harness.tick(300)
    assert harness.due("callback") == [{"assigned": 1}]
    entry = harness.entry("CA1")
    harness.service.dispatcher.callback_status("acme", "sales", entry.id, entry.offer_id or "", "ann", "no-answer",
                                               harness.clock())  # fmt: skip
    assert harness.agent_record("ann").missed_in_a_row == 1
    entry = harness.entry("CA1")  # offered again (ann is the only agent)
    assert "Declined" in harness.service.dispatcher.accept("acme", "sales", entry.id, entry.offer_id or "", "ann",
                                                           "3", harness.clock())  # fmt: skip
    assert harness.agent_record("ann").missed_in_a_row == 2
    entry = harness.entry("CA1")  # released and, ann being the only agent, offered to her once more
    assert entry.missed_by == ("ann",) and entry.status == "assigned" and entry.callback_attempts == ()
    assert len(harness.calls.dials) == 4  # refused, no answer, declined, and this one: the customer never rung
    assert [h.get("reason") for h in entry.history if h["event"] == "released"] == \
        ["agent-unreachable", "agent-no-answer", "declined"]  # fmt: skip

"""Department transfers on live calls over HTTP, through the function apps: joining a queue from a flow,
the routing webhooks (/webhook/departments/<kind>) of the caller's and the agents' legs, the flow
resuming with each outcome, duplicates, signatures and tenants, failures and the budget."""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from callkit import MUSIC, Routed, attach, detach, hook_target
from livestack import (
    ACCOUNT_A,
    ACCOUNT_B,
    BASE,
    BUSINESS_HOURS,
    CLOSED_AT,
    DEMO_NUMBER,
    TENANT_A,
    TOKEN_B,
    Stack,
    client,
    deploy,
    example,
    problems_in,
)  # fmt: skip

from common.core.call import CallState
from common.core.routing_model import entry_id

SID = "CA" + "d" * 32
CONNECTING_SALES = '<Say language="en-US" voice="Polly.Joanna">Connecting you to sales.</Say>'
GOODBYE = '<Say language="en-US" voice="Polly.Joanna">Thanks for calling Acme. Goodbye.</Say><Hangup />'
VOICEMAIL_PROMPT = "Sorry, everyone is busy. Please leave a message after the tone."
THANKS = "Thank you. We will call you back soon. Goodbye."


def params(sid: str = SID, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": DEMO_NUMBER,
            "Caller": "+15005550006", "Called": DEMO_NUMBER, "Direction": "inbound", "ApiVersion": "2010-04-01",
            "CallStatus": "in-progress", **extra}  # fmt: skip


def press(stack: Stack, digits: str, sid: str = SID) -> str:
    """Answer the call's current Gather (a step of the flow) with ``digits``."""
    seq = stack.stored(sid).seq + 1
    response = stack.signed_post(f"/webhook/voice/step?seq={seq}", params(sid, Digits=digits))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert problems_in(body) == [], body
    return body


def to_sales(stack: Stack, sid: str = SID) -> str:
    """A support_line call that pressed 1 (sales): the answer to that step."""
    assert stack.signed_post("/webhook/voice/incoming", params(sid, CallStatus="ringing")).status_code == 200
    return press(stack, "1", sid)


def ok(response: Any) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/xml")
    body = response.get_data(as_text=True)
    assert problems_in(body) == [], body
    return str(body)


def urls_of(document: str, tag: str) -> list[str]:
    root = ET.fromstring(document)
    return [el.get("action") or el.get("url") or (el.text or "") for el in root.iter(tag)]


@pytest.fixture
def routed(stack: Stack) -> Routed:
    r = attach(stack)
    r.department("sales")
    r.department("support")
    return r


# -- joining from the flow ----------------------------------------------------------------------------------


def test_a_free_agent_is_dialled_in_the_transfer_answer(stack: Stack, routed: Routed) -> None:
    routed.agent("ann", "sales", contact="+15551110001")
    body = to_sales(stack)
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response>' + CONNECTING_SALES + "<Dial ")
    assert "Enqueue" not in body and "/webhook/voice/step" not in body
    whisper = urls_of(body, "Number")
    held = routed.waiting_of(SID)
    assert whisper == [f"{BASE}/webhook/departments/whisper?t=demo&d=sales&e={held.id}&o={held.offer_id}&a=ann"
                       "#ct=2000&rt=5000&tt=12000&rc=2&rp=ct,rt,5xx"]  # fmt: skip
    record = stack.stored(SID)
    state = CallState.model_validate(record.state)
    entry = routed.waiting_of(SID)
    assert (state.waiting, state.cursor) == ("queue", "to_sales")
    assert state.department_wait == {"department": "sales", "entry": entry.id, "arrivedAt": entry.arrived_at}
    assert (entry.status, entry.agent_ids, entry.priority, entry.call_sid) == ("assigned", ("ann",), 100, SID)
    assert entry.context["customerInfo"] == {"caller": "+15005550006", "reason": "menu"}
    assert entry.context["flowPath"] == ["start", "greeting", "menu", "route", "to_sales"]
    joined = [e for e in record.events if e["type"] == "department.joined"]
    assert joined[0]["data"] == {"department": "sales", "priority": 100, "entry": entry.id, "position": 0,
                                 "expectedWaitSeconds": 0, "created": True}  # fmt: skip
    assert record.twiml == body


def test_with_nobody_free_the_caller_holds_in_our_loop(stack: Stack, routed: Routed) -> None:
    routed.agent("ann", "sales", status="away")
    body = to_sales(stack)
    entry = routed.waiting_of(SID)
    assert entry.status == "waiting"
    assert CONNECTING_SALES + '<Say language="en-US">You are next in line.' in body
    assert f"<Play>{MUSIC}</Play>" in body
    assert urls_of(body, "Redirect") == [f"{BASE}/webhook/departments/hold?t=demo&d=sales&e={entry.id}"
                                         "#ct=2000&rt=5000&tt=12000&rc=2&rp=ct,rt,5xx"]  # fmt: skip
    reads, writes = stack.store.reads, stack.store.writes
    again = ok(routed.hook("hold", entry, SID))  # one more iteration: nothing new to say
    assert again.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Play>')
    assert (stack.store.reads, stack.store.writes) == (reads + 1, writes)  # the tenant's account, once
    assert ok(routed.hook("hold", entry, SID)) == again
    assert (stack.store.reads, stack.store.writes) == (reads + 1, writes)  # cached: no call-store I/O per loop
    routed.service.admin.set_status(TENANT_A, "ann", {"status": "available"})  # dispatch assigns; no redirect
    assert routed.calls.redirects == [(ACCOUNT_A, SID, routed.calls.redirects[0][2])]
    connect = ok(routed.hook("hold", entry, SID))  # the loop's own check connects
    assert "<Dial " in connect and "whisper" in connect


def test_the_whole_conversation_then_the_flow_goes_on(stack: Stack, routed: Routed) -> None:
    routed.agent("ann", "sales")
    to_sales(stack)
    entry = routed.waiting_of(SID)
    leg = {"CallSid": "CA" + "a" * 32, "ParentCallSid": SID, "To": "+15551110001", "Direction": "outbound-dial"}
    whisper = ok(routed.hook("whisper", entry, "CA" + "a" * 32, leg, o=entry.offer_id or "", a="ann"))
    said = "Call for Sales, high priority, from 1 5 0 0 5 5 5 0 0 0 6. caller: +15005550006; reason: menu."
    assert said in whisper
    accepted = ok(routed.hook("accept", entry, "CA" + "a" * 32, {**leg, "Digits": "1"}, o=entry.offer_id or "",
                              a="ann"))  # fmt: skip
    assert accepted == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert routed.entry("sales", entry.id).status == "connected"
    routed.advance(95)
    seq = stack.stored(SID).seq
    ended = ok(routed.hook("dial-result", entry, SID, {"DialCallStatus": "completed", "DialCallDuration": "90"},
                           o=entry.offer_id or ""))  # fmt: skip
    assert ended == '<?xml version="1.0" encoding="UTF-8"?><Response>' + GOODBYE + "</Response>"
    record = stack.stored(SID)
    assert record.seq == seq + 1 and record.twiml == ended and record.status == "ended"  # bye hangs up
    state = CallState.model_validate(record.state)
    assert state.widgets["to_sales"] == {"outcome": "completed", "waitSeconds": 0, "department": "sales"}
    assert state.path[-2:] == ["to_sales", "bye"] and state.department_wait is None
    done = routed.entry("sales", entry.id)
    assert (done.status, done.talk_seconds, done.connected_agent) == ("completed", 90, "ann")


def test_a_duplicate_outcome_advances_the_call_once(stack: Stack, routed: Routed) -> None:
    routed.agent("ann", "sales")
    to_sales(stack)
    entry = routed.waiting_of(SID)
    routed.service.dispatcher.accept(TENANT_A, "sales", entry.id, entry.offer_id or "", "ann", "1")
    seq = stack.stored(SID).seq
    result = {"DialCallStatus": "completed", "DialCallDuration": "40"}
    with ThreadPoolExecutor(6) as pool:  # Twilio retrying at once: six deliveries of one webhook
        bodies = list(pool.map(lambda _: ok(routed.hook("dial-result", entry, SID, result, o=entry.offer_id or "")),
                               range(6)))  # fmt: skip
    assert len(set(bodies)) == 1 and GOODBYE in bodies[0]
    writes = stack.store.writes
    assert ok(routed.hook("dial-result", entry, SID, result, o=entry.offer_id or "")) == bodies[0]  # later again
    assert ok(routed.hook("hold", entry, SID)) == bodies[0]  # a stale hold iteration of that entry
    record = stack.stored(SID)
    assert record.seq == seq + 1 and stack.store.writes == writes
    assert [e["data"]["outcome"] for e in record.events if e["type"] == "transfer.ended"] == ["completed"]


@pytest.mark.parametrize(
    ("setup", "outcome"),
    [
        pytest.param({"schedule": "business_hours"}, "closed", id="closed"),
        pytest.param({"joinWhenEmpty": "staffed"}, "noAgents", id="noAgents"),
        pytest.param({"maxQueueSize": 1}, "busy", id="full"),
        pytest.param(None, "failed", id="no-such-department"),
    ],
)  # fmt: skip
def test_an_outcome_at_joining_resumes_the_flow_in_the_same_webhook(stack: Stack, routed: Routed,
                                                                    setup: dict[str, Any] | None,
                                                                    outcome: str) -> None:  # fmt: skip
    tenant = stack.svc.admin.authenticate("Bearer ivr_dev_demo_key_not_secret")
    stack.svc.deployments.put_schedule(tenant, "business_hours", BUSINESS_HOURS, author="tests")
    stack.clock.at = CLOSED_AT
    if setup is None:
        routed.service.admin.delete_department(TENANT_A, "sales")
    else:
        routed.department("sales", **setup)
        if "maxQueueSize" in setup:  # someone already waits
            to_sales(stack, "CA" + "e" * 32)
    writes = stack.store.writes
    body = to_sales(stack)
    assert VOICEMAIL_PROMPT in body and "<Record " in body  # support_line sends every refusal to voicemail
    assert stack.store.writes == writes + 2  # the call document: created, then one write for both turns
    record = stack.stored(SID)
    state = CallState.model_validate(record.state)
    assert state.path[-2:] == ["to_sales", "voicemail"] and state.waiting == "record"
    assert state.widgets["to_sales"]["outcome"] == outcome
    assert [e["data"] for e in record.events if e["type"] == "department.refused"] == [
        {"department": "sales", "priority": 100, "outcome": outcome}]
    assert routed.store.get_entry(TENANT_A, "sales", entry_id(SID, "sales", "2")) is None  # nobody queued


def test_timeout_by_max_wait_leaves_the_loop_for_the_flow(stack: Stack, routed: Routed) -> None:
    routed.department("support", maxWaitSeconds=60)
    routed.agent("bob", "support", status="away")
    stack.signed_post("/webhook/voice/incoming", params(CallStatus="ringing"))
    press(stack, "2")
    entry = routed.waiting_of(SID)
    routed.advance(61)  # the max-wait timer fires
    assert routed.entry("support", entry.id).status == "timeout"
    body = ok(routed.hook("hold", entry, SID))
    assert VOICEMAIL_PROMPT in body  # to_support: timeout -> voicemail
    assert CallState.model_validate(stack.stored(SID).state).widgets["to_support"] == {
        "outcome": "timeout", "waitSeconds": 61, "department": "support"}


def test_the_escape_menu_callback_and_voicemail(stack: Stack, routed: Routed) -> None:
    routed.department("sales", hold={"musicUrl": MUSIC, "escapeMenu": {"callback": True, "voicemail": True}})
    routed.agent("ann", "sales", status="away")
    hold = to_sales(stack)
    entry = routed.waiting_of(SID)
    assert urls_of(hold, "Gather")[0].startswith(f"{BASE}/webhook/departments/menu?t=demo&d=sales&e={entry.id}")
    confirm = ok(routed.hook("menu", entry, SID, {"Digits": "1"}))
    assert "We will call you back at 1 5 0 0 5 5 5 0 0 0 6." in confirm
    target = urls_of(confirm, "Gather")[0]
    assert "callback-confirm" in target and "n=%2B15005550006" in target
    body = ok(routed.hook("callback-confirm", entry, SID, {"Digits": "1"}, n="+15005550006"))
    assert THANKS in body  # the flow's own goodbye for callbackRequested; routing's line is not repeated
    kept = routed.entry("sales", entry.id)
    assert (kept.status, kept.kind, kept.callback_number) == ("waiting", "callback", "+15005550006")
    # a second caller leaves a message instead
    other = "CA" + "f" * 32
    to_sales(stack, other)
    second = routed.waiting_of(other)
    body = ok(routed.hook("menu", second, other, {"Digits": "2"}))
    assert VOICEMAIL_PROMPT in body and routed.entry("sales", second.id).status == "voicemail"


def test_routing_says_its_line_when_the_flow_has_no_edge_for_the_outcome(stack: Stack, routed: Routed) -> None:
    flow = example("support_line")
    flow["edges"] = [e for e in flow["edges"]
                     if (e["source"], e.get("sourceHandle")) != ("to_sales", "callbackRequested")]
    deploy(stack.svc, stack.svc.admin.authenticate("Bearer ivr_dev_demo_key_not_secret"), flow, DEMO_NUMBER)
    routed.department("sales", hold={"escapeMenu": {"callback": True}})
    routed.agent("ann", "sales", status="away")
    to_sales(stack)
    entry = routed.waiting_of(SID)
    body = ok(routed.hook("callback-confirm", entry, SID, {"Digits": "1"}, n="+15005550006"))
    assert body.index("you keep your place in line") < body.index("Thank you for calling. Goodbye.")


def test_hanging_up_while_holding_is_abandonment(stack: Stack, routed: Routed) -> None:
    routed.agent("ann", "sales", status="away")
    to_sales(stack)
    entry = routed.waiting_of(SID)
    routed.advance(42)
    status = {**params(CallStatus="completed"), "CallDuration": "50"}
    for _ in range(2):  # the duplicate finds nothing more to close
        assert stack.signed_post("/webhook/voice/status", status).status_code == 200
    gone = routed.entry("sales", entry.id)
    assert (gone.status, gone.wait_seconds) == ("abandoned", 42)
    assert stack.stored(SID).status == "ended"


def test_an_agent_who_declines_sends_the_caller_back_to_their_place(stack: Stack, routed: Routed) -> None:
    routed.agent("ann", "sales", contact="+15551110001")
    routed.agent("bob", "sales", contact="+15551110002")
    to_sales(stack)
    entry = routed.waiting_of(SID)
    first = entry.agent_ids[0]
    leg = {"CallSid": "CA" + "a" * 32, "To": "+15551110001"}
    declined = ok(routed.hook("accept", entry, "CA" + "a" * 32, {**leg, "Digits": "2"}, o=entry.offer_id or "",
                              a=first))  # fmt: skip
    assert "Declined. Goodbye." in declined and "<Hangup />" in declined
    again = ok(routed.hook("accept", entry, "CA" + "a" * 32, {**leg, "Digits": "2"}, o=entry.offer_id or "",
                           a=first))  # fmt: skip
    assert again == declined  # a retried decline answers the same
    back = ok(routed.hook("dial-result", entry, SID, {"DialCallStatus": "no-answer"}, o=entry.offer_id or ""))
    other = "bob" if first == "ann" else "ann"
    assert f"a={other}" in urls_of(back, "Number")[0]  # back at their place, and the next agent is tried at once
    current = routed.entry("sales", entry.id)
    assert (current.status, current.missed_by, current.arrived_at) == ("assigned", (first,), entry.arrived_at)
    assert current.agent_ids == (other,)
    assert stack.stored(SID).seq == 2  # the flow did not move


def test_a_second_transfer_to_the_same_department_is_a_new_entry(stack: Stack, routed: Routed) -> None:
    flow = example("support_line")
    for e in flow["edges"]:
        if e["source"] == "to_sales" and e.get("sourceHandle") == "timeout":
            e["target"] = "menu"  # a caller who timed out may choose again
    deploy(stack.svc, stack.svc.admin.authenticate("Bearer ivr_dev_demo_key_not_secret"), flow, DEMO_NUMBER)
    routed.department("sales", maxWaitSeconds=30)
    routed.agent("ann", "sales", status="away")
    to_sales(stack)
    first = routed.waiting_of(SID)
    routed.advance(31)
    menu = ok(routed.hook("hold", first, SID))
    assert "For sales, press 1" in menu
    press(stack, "1")
    second = routed.waiting_of(SID)
    assert second.id != first.id and second.status == "waiting"
    assert routed.entry("sales", first.id).status == "timeout"


def test_templated_priority_and_live_state_in_a_decision(stack: Stack, routed: Routed) -> None:
    flow = {"id": "staffing", "name": "Staffing", "nodes": [
        {"id": "start", "type": "startNode", "data": {}},
        {"id": "check", "type": "decisionNode", "data": {"input": "{{ departments.sales.available }}", "rules": [
            {"id": "free", "operator": "greater_than", "value": "0"}]}},
        {"id": "xfer", "type": "transferNode", "data": {"target": {
            "type": "department", "department": "sales",
            "priority": "{% if caller.from == '+15005550006' %}high{% else %}low{% endif %}"}}},
        {"id": "none", "type": "hangupNode", "data": {"message": "Nobody is free."}}],
        "edges": [{"id": "a", "source": "start", "target": "check"},
                  {"id": "b", "source": "check", "sourceHandle": "free", "target": "xfer"},
                  {"id": "c", "source": "check", "sourceHandle": "default", "target": "none"}]}  # fmt: skip
    deploy(stack.svc, stack.svc.admin.authenticate("Bearer ivr_dev_demo_key_not_secret"), flow, DEMO_NUMBER)
    nobody = ok(stack.signed_post("/webhook/voice/incoming", params("CA" + "0" * 32, CallStatus="ringing")))
    assert "Nobody is free." in nobody
    routed.agent("ann", "sales")
    joined = ok(stack.signed_post("/webhook/voice/incoming", params(CallStatus="ringing")))
    assert "<Dial " in joined
    assert routed.waiting_of(SID).priority == 100


# -- signatures, tenants, bad requests -------------------------------------------------------------------


def test_hooks_are_refused_without_a_valid_signature_or_for_another_tenant(stack: Stack, routed: Routed) -> None:
    routed.agent("ann", "sales", status="away")
    to_sales(stack)
    entry = routed.waiting_of(SID)
    before = json.dumps(routed.entry("sales", entry.id).model_dump(mode="json"), sort_keys=True)
    target = hook_target("menu", TENANT_A, "sales", entry.id)
    unsigned = stack.post(target, params(Digits="2"))
    wrong = stack.post(target, params(Digits="2"), {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    other_account = routed.hook("menu", entry, SID, {"Digits": "2"}, token=TOKEN_B, account=ACCOUNT_B)
    other_tenant = routed.hook("menu", entry, SID, {"Digits": "2"}, tenant="tenant_b")
    for response in (unsigned, wrong, other_account, other_tenant):
        assert response.status_code == 403, response.get_data(as_text=True)
    assert "does not own account" in other_account.get_data(as_text=True)
    assert json.dumps(routed.entry("sales", entry.id).model_dump(mode="json"), sort_keys=True) == before
    missing = stack.signed_post("/webhook/departments/hold?t=demo&d=sales", params())
    assert missing.status_code == 400 and "'e'" in missing.get_data(as_text=True)
    assert stack.signed_post(hook_target("nope", TENANT_A, "sales", entry.id), params()).status_code == 404
    assert client(stack.app).get(target, base_url=BASE).status_code == 405
    fragment = BASE + target + "#ct=2000&rt=5000&tt=12000&rc=2&rp=ct,rt,5xx"
    assert stack.signed_post(target, params(), sign_url=fragment).status_code == 200  # as we emitted it


def test_without_routing_the_hooks_are_not_served_and_transfers_enqueue(stack: Stack) -> None:
    detach(stack)
    assert stack.signed_post(hook_target("hold", TENANT_A, "sales", "e" * 32), params()).status_code == 404
    body = to_sales(stack)
    assert "<Enqueue " in body and ">demo.sales</Enqueue>" in body


def test_a_step_cannot_move_a_call_that_holds_in_a_department(stack: Stack, routed: Routed) -> None:
    routed.agent("ann", "sales", status="away")
    first = to_sales(stack)
    writes = stack.store.writes
    late = ok(stack.signed_post("/webhook/voice/step?seq=3", params(QueueResult="bridged")))
    assert late == first and stack.store.writes == writes
    assert routed.waiting_of(SID).status == "waiting"


def test_a_call_waiting_in_a_twilio_queue_still_resumes_by_its_step(stack: Stack, routed: Routed) -> None:
    detach(stack)
    to_sales(stack)  # enqueued before routing was switched on
    attach(stack, routed.store)
    body = ok(stack.signed_post("/webhook/voice/step?seq=3", params(QueueResult="leave", QueueTime="40")))
    assert VOICEMAIL_PROMPT in body  # leave -> timeout -> voicemail


# -- failures ---------------------------------------------------------------------------------------------


class Failing:
    """A routing store that fails on demand, delegating everything else."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.fail, self.delay = inner, False, 0.0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.delay:
                time.sleep(self.delay)
            if self.fail:
                raise RuntimeError(f"routing store down ({name})")
            return real(*args, **kwargs)

        return call


def test_a_routing_failure_is_the_failed_outcome_never_an_error(stack: Stack, routed: Routed) -> None:
    failing = Failing(routed.store)
    r = attach(stack, failing)
    r.agent("ann", "sales", status="away")
    failing.fail = True
    body = to_sales(stack)  # the join fails: the flow's failed branch
    assert VOICEMAIL_PROMPT in body
    failing.fail = False
    other = "CA" + "5" * 32
    to_sales(stack, other)
    entry = r.waiting_of(other)
    failing.fail = True
    caller = ok(r.hook("hold", entry, other))  # a hold iteration fails: the failed outcome, the flow goes on
    assert VOICEMAIL_PROMPT in caller
    agent = ok(r.hook("whisper", entry, "CA" + "a" * 32, o="o1", a="ann"))  # an agent's leg: apology, hang up
    assert "could not be connected" in agent and "<Hangup />" in agent and "<Dial" not in agent


def test_a_routing_store_that_hangs_gets_the_fallback_within_the_budget(stack: Stack, routed: Routed) -> None:
    slow = Failing(routed.store)
    r = attach(stack, slow)
    r.agent("ann", "sales", status="away")
    to_sales(stack)
    entry = r.waiting_of(SID)
    slow.delay = 1.5  # every read takes 1.5 s: a hold iteration takes more than the 2.5 s budget
    started = time.monotonic()
    body = ok(r.hook("dial-result", entry, SID, {"DialCallStatus": "no-answer"}, o="o1"))
    assert time.monotonic() - started < 3.0
    assert "trouble connecting your call" in body  # the number's fallback, never a 5xx
    slow.delay = 0.0
    threading.Event().wait(0)  # (the worker left behind finishes on its own)

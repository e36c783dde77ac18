"""The voice webhooks over HTTP, through the function apps: incoming, step, status, fallback."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from callkit import detach
from livestack import (
    ACCOUNT_A,
    ACCOUNT_B,
    AFTER_HOURS_NUMBER,
    BASE,
    CLOSED_AT,
    DEMO_NUMBER,
    STEP_FRAGMENT,
    UNKNOWN_NUMBER,
    XML_HEADER,
    ExplodingStore,
    Stack,
    build_stack,
    env,
    problems_in,
    sign,
)  # fmt: skip

from common import bootstrap, config
from common.web import voice

FIRST_PROMPT = (
    XML_HEADER + '<Response><Say language="en-US" voice="Polly.Joanna">Thanks for calling Acme.</Say>'
    '<Gather action="https://ivr.example.test/webhook/voice/step?seq=2#ct=2000&amp;rt=5000&amp;tt=12000'
    '&amp;rc=2&amp;rp=ct,rt,5xx" actionOnEmptyResult="true" finishOnKey="#" hints="sales, support" '
    'input="dtmf speech" language="en-US" method="POST" numDigits="1" speechTimeout="auto" timeout="5">'
    '<Say language="en-US" voice="Polly.Joanna">For sales, press 1 or say sales. For support, press 2 or '
    "say support.</Say></Gather></Response>"
)
EMPTY_RESPONSE = XML_HEADER + "<Response />"


def call_params(sid: str = "CA" + "1" * 32, to: str = DEMO_NUMBER, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": to, "Caller": "+15005550006",
            "Called": to, "Direction": "inbound", "ApiVersion": "2010-04-01", "CallStatus": "ringing",
            **extra}  # fmt: skip


def action_urls(document: str) -> list[str]:
    root = ET.fromstring(document)
    return [el.get("action") or (el.text or "") for el in root.iter() if el.get("action") or el.tag == "Redirect"]


def test_incoming_answers_the_first_prompt_of_the_support_line(stack: Stack) -> None:
    writes = stack.store.writes
    response = stack.signed_post("/webhook/voice/incoming", call_params())
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.get_data(as_text=True) == FIRST_PROMPT
    assert stack.store.writes == writes + 1  # the call document, created once
    record = stack.stored("CA" + "1" * 32)
    assert (record.status, record.seq, record.twiml) == ("active", 1, FIRST_PROMPT)
    assert record.tenant_id == "demo" and record.flow_id == "support_line"


def test_every_action_url_is_absolute_carries_seq_and_the_connection_overrides(stack: Stack) -> None:
    detach(stack)  # without department routing a transfer is a Twilio queue, whose action is a step too
    documents = []
    first = stack.signed_post("/webhook/voice/incoming", call_params()).get_data(as_text=True)
    documents.append(first)
    second = stack.signed_post("/webhook/voice/step?seq=2", call_params(Digits="2", CallStatus="in-progress"))
    documents.append(second.get_data(as_text=True))
    for document in documents:
        urls = action_urls(document)
        assert urls, document
        for url in urls:
            assert url.startswith(BASE + "/webhook/voice/step?seq=")
            assert url.endswith(STEP_FRAGMENT)
    assert action_urls(documents[0]) == [f"{BASE}/webhook/voice/step?seq=2{STEP_FRAGMENT}"]
    assert action_urls(documents[1]) == [f"{BASE}/webhook/voice/step?seq=3{STEP_FRAGMENT}"]
    assert "<Enqueue" in documents[1] and "demo.support" in documents[1]


def test_unknown_number_is_not_in_service_and_stores_nothing(stack: Stack) -> None:
    writes = stack.store.writes
    response = stack.signed_post("/webhook/voice/incoming", call_params(to=UNKNOWN_NUMBER))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert problems_in(body) == []
    assert "not in service" in body and "<Hangup />" in body
    assert stack.store.writes == writes
    assert stack.store.read_call("CA" + "1" * 32) is None


@pytest.mark.parametrize("route", ["incoming", "step?seq=2", "status"])
def test_signed_request_without_call_sid_gets_valid_twiml(stack: Stack, route: str) -> None:
    writes = stack.store.writes
    params = {k: v for k, v in call_params().items() if k != "CallSid"}
    response = stack.signed_post(f"/webhook/voice/{route}", params)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    if route == "status":
        assert body == EMPTY_RESPONSE
    else:
        assert problems_in(body) == [] and "<Hangup />" in body
    assert stack.store.writes == writes


def test_step_for_an_unknown_call_gets_a_polite_goodbye(stack: Stack) -> None:
    response = stack.signed_post("/webhook/voice/step?seq=2", call_params(Digits="1"))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert problems_in(body) == [] and "<Hangup />" in body


def test_oversized_body_is_refused_before_anything_else(stack: Stack) -> None:
    writes, reads = stack.store.writes, stack.store.reads
    params = call_params(Padding="x" * (voice.MAX_BODY_BYTES + 10))
    response = stack.signed_post("/webhook/voice/incoming", params)
    assert response.status_code == 413
    assert f"at most {voice.MAX_BODY_BYTES} bytes" in response.get_data(as_text=True)
    assert (stack.store.writes, stack.store.reads) == (writes, reads)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("route", ["incoming", "step?seq=2", "status", "fallback"])
def test_other_methods_are_405(stack: Stack, method: str, route: str) -> None:
    from livestack import client

    response = client(stack.app).open(f"/webhook/voice/{route}", method=method, base_url=BASE)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_unknown_webhook_path_is_404(stack: Stack) -> None:
    response = stack.signed_post("/webhook/voice/steps", call_params())
    assert response.status_code == 404
    response = stack.signed_post("/webhook/voice/nothing", call_params())
    assert response.status_code == 404


def test_status_callback_finalises_the_call_once(stack: Stack) -> None:
    sid = "CA" + "2" * 32
    stack.signed_post("/webhook/voice/incoming", call_params(sid))
    stack.signed_post("/webhook/voice/step?seq=2", call_params(sid, Digits="1", CallStatus="in-progress"))
    writes = stack.store.writes
    done = call_params(sid, CallStatus="completed", CallDuration="42")
    response = stack.signed_post("/webhook/voice/status", done)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.get_data(as_text=True) == EMPTY_RESPONSE
    assert stack.store.writes == writes + 1
    record = stack.stored(sid)
    assert (record.status, record.call_status, record.duration_seconds) == ("ended", "completed", 42)
    assert record.outcome == "caller_completed"  # the caller hung up while waiting in the queue
    assert record.events[-1]["type"] == "call.completed"

    for _ in range(2):  # duplicates, and a late different status, change nothing
        again = stack.signed_post("/webhook/voice/status", done)
        late = stack.signed_post("/webhook/voice/status", {**done, "CallStatus": "failed", "CallDuration": "1"})
        assert again.get_data(as_text=True) == late.get_data(as_text=True) == EMPTY_RESPONSE
    assert stack.store.writes == writes + 1
    assert stack.stored(sid) == record


def test_status_for_an_unknown_call_is_200_and_writes_nothing(stack: Stack) -> None:
    writes = stack.store.writes
    response = stack.signed_post("/webhook/voice/status", call_params(CallStatus="completed"))
    assert (response.status_code, response.get_data(as_text=True)) == (200, EMPTY_RESPONSE)
    assert stack.store.writes == writes


def test_step_after_the_call_ended_replays_the_last_document(stack: Stack) -> None:
    sid = "CA" + "3" * 32
    stack.signed_post("/webhook/voice/incoming", call_params(sid))
    stack.signed_post("/webhook/voice/status", call_params(sid, CallStatus="completed", CallDuration="3"))
    writes = stack.store.writes
    late = stack.signed_post("/webhook/voice/step?seq=2", call_params(sid, Digits="1"))
    assert late.status_code == 200
    assert late.get_data(as_text=True) == FIRST_PROMPT
    assert stack.store.writes == writes


@pytest.fixture
def storeless() -> Stack:
    """A container whose store raises on any use: the fallback must not need it."""
    from livestack import FakeFetcher, FrozenClock, wsgi_app

    settings = config.from_env(env())
    svc = bootstrap.build(settings, store=ExplodingStore(), now=FrozenClock(), fetcher=FakeFetcher())  # type: ignore[arg-type]
    bootstrap.install(svc)
    yield Stack(svc, FakeFetcher(), wsgi_app(), FrozenClock())
    bootstrap.install(None)


FALLBACK_PARAMS = {"CallSid": "CA" + "4" * 32, "AccountSid": ACCOUNT_A, "From": "+15005550006",
                   "To": DEMO_NUMBER, "ErrorCode": "11205", "ErrorUrl": BASE + "/webhook/voice/incoming"}  # fmt: skip


@pytest.mark.parametrize("query", ["?dial=%2B15551234567", "?dial=+15551234567"])
def test_fallback_dials_the_number_in_its_url_without_the_store(storeless: Stack, query: str) -> None:
    # Fallback URLs are typed into Twilio's console: "+" may arrive unencoded (a space in form encoding).
    response = storeless.signed_post("/webhook/voice/fallback" + query, FALLBACK_PARAMS)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert problems_in(body) == []
    root = ET.fromstring(body)
    dial = root.find("Dial")
    assert dial is not None and (dial.text or "").strip() == "+15551234567", body
    assert [el.tag for el in root] == ["Say", "Dial", "Hangup"]


def test_fallback_without_a_destination_apologises_and_hangs_up(storeless: Stack) -> None:
    response = storeless.signed_post("/webhook/voice/fallback", FALLBACK_PARAMS)
    assert response.status_code == 200
    root = ET.fromstring(response.get_data(as_text=True))
    assert [el.tag for el in root] == ["Say", "Hangup"]
    assert "trouble" in (root[0].text or "")


@pytest.mark.parametrize("query", ["?dial=1234", "?dial=%2B0123", "?dial=sip:evil@example.com"])
def test_fallback_ignores_an_invalid_destination(storeless: Stack, query: str) -> None:
    response = storeless.signed_post("/webhook/voice/fallback" + query, FALLBACK_PARAMS)
    assert response.status_code == 200
    assert "<Dial" not in response.get_data(as_text=True)


def test_fallback_uses_the_configured_destination(memory_store: object) -> None:
    from livestack import FakeFetcher, FrozenClock, wsgi_app

    settings = config.from_env(env(IVR_FALLBACK_DIAL="+15557654321"))
    svc = bootstrap.build(settings, store=ExplodingStore(), now=FrozenClock(), fetcher=FakeFetcher())  # type: ignore[arg-type]
    bootstrap.install(svc)
    try:
        stack = Stack(svc, FakeFetcher(), wsgi_app(), FrozenClock())
        body = stack.signed_post("/webhook/voice/fallback", FALLBACK_PARAMS).get_data(as_text=True)
        assert ET.fromstring(body).findtext("Dial", "").strip() == "+15557654321"
    finally:
        bootstrap.install(None)


def test_fallback_is_signature_checked_too(storeless: Stack) -> None:
    signed_without_query = sign(BASE + "/webhook/voice/fallback", FALLBACK_PARAMS)
    response = storeless.post(
        "/webhook/voice/fallback?dial=%2B15551234567", FALLBACK_PARAMS, {"X-Twilio-Signature": signed_without_query}
    )
    assert response.status_code == 403


def test_sub_account_call_is_served_and_stored_for_its_own_tenant(memory_store: object) -> None:
    from livestack import B_NUMBER, TOKEN_B

    stack = build_stack(memory_store)
    try:
        params = {**call_params("CA" + "5" * 32, to=B_NUMBER), "AccountSid": ACCOUNT_B}
        response = stack.signed_post("/webhook/voice/incoming", params, token=TOKEN_B)
        assert response.status_code == 200
        assert "Thanks for calling Acme." in response.get_data(as_text=True)
        record = stack.stored("CA" + "5" * 32)
        assert (record.tenant_id, record.account_sid) == ("tenant_b", ACCOUNT_B)
        assert "tenant_b.support" in stack.signed_post(
            "/webhook/voice/step?seq=2", {**params, "Digits": "2"}, token=TOKEN_B
        ).get_data(as_text=True)
    finally:
        bootstrap.install(None)


def test_registered_number_without_a_deployment_is_not_in_service(stack: Stack) -> None:
    assert stack.api("POST", "/api/numbers", json={"phoneNumber": "+15550004444"}).status_code == 201
    writes = stack.store.writes
    response = stack.signed_post("/webhook/voice/incoming", call_params(to="+15550004444"))
    assert response.status_code == 200
    assert "not in service" in response.get_data(as_text=True)
    assert stack.store.writes == writes


# -- voicemail: an empty recording must come back to us ------------------------------------------------

VOICEMAIL_SID = "CA" + "7" * 32
RECORDED = {"RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/ACa/Recordings/RE1",
            "RecordingDuration": "20", "RecordingSid": "RE" + "1" * 32, "Digits": "#"}  # fmt: skip


def _at_the_voicemail(stack: Stack) -> str:
    """after_hours_voicemail on a Saturday: press 1, and the call waits in <Record> (its seq is 2)."""
    stack.clock.at = CLOSED_AT
    params = call_params(VOICEMAIL_SID, to=AFTER_HOURS_NUMBER)
    assert stack.signed_post("/webhook/voice/incoming", params).status_code == 200
    answer = stack.signed_post("/webhook/voice/step?seq=2", {**params, "CallStatus": "in-progress", "Digits": "1"})
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_voicemail_is_followed_by_a_redirect_to_the_same_step(stack: Stack) -> None:
    """Twilio does not request Record's action when nothing was recorded: it plays the next verb, and
    with none it hangs up. The redirect after <Record> is what brings an empty recording back."""
    root = ET.fromstring(_at_the_voicemail(stack))
    assert [child.tag for child in root][-2:] == ["Record", "Redirect"]
    record, redirect = root[-2], root[-1]
    assert record.get("action") == redirect.text == f"{BASE}/webhook/voice/step?seq=3{STEP_FRAGMENT}"
    assert redirect.get("method") == "POST"
    assert problems_in(ET.tostring(root, encoding="unicode")) == []


def test_an_empty_recording_comes_back_through_the_redirect_and_takes_no_audio(stack: Stack) -> None:
    _at_the_voicemail(stack)
    params = call_params(VOICEMAIL_SID, to=AFTER_HOURS_NUMBER, CallStatus="in-progress")
    answer = stack.signed_post("/webhook/voice/step?seq=3", params)  # the redirect: no Recording* fields
    assert answer.status_code == 200
    assert "We did not hear a message. Goodbye." in answer.get_data(as_text=True)
    record = stack.stored(VOICEMAIL_SID)
    assert record.state.path[-2:] == ["record", "nothing"]
    assert record.state.widgets["record"]["RecordingUrl"] == ""


@pytest.mark.parametrize("first", ["record action", "redirect"])
def test_the_record_action_and_the_redirect_advance_the_call_once(stack: Stack, first: str) -> None:
    """Both present seq 3: whichever arrives first advances the call; the other is a duplicate and gets
    the stored document byte for byte, with no write."""
    _at_the_voicemail(stack)
    params = call_params(VOICEMAIL_SID, to=AFTER_HOURS_NUMBER, CallStatus="in-progress")
    requests = [{**params, **RECORDED}, params]
    if first == "redirect":
        requests.reverse()
    winner = stack.signed_post("/webhook/voice/step?seq=3", requests[0]).get_data(as_text=True)
    stored, writes = stack.stored(VOICEMAIL_SID), stack.store.writes
    late = stack.signed_post("/webhook/voice/step?seq=3", requests[1])
    assert late.status_code == 200 and late.get_data(as_text=True) == winner
    assert stored.seq == 3
    assert stored.state.path[-1] == ("saved" if first == "record action" else "nothing")
    after = stack.stored(VOICEMAIL_SID)
    assert (after.seq, after.state, after.twiml) == (stored.seq, stored.state, stored.twiml)
    if first == "record action":
        assert stack.store.writes == writes and after == stored
    else:  # the recording came after the redirect took noAudio: kept on the call, the flow not moved
        assert stack.store.writes == writes + 1
        assert _late_recordings(after) == [RECORDED["RecordingUrl"]]


def _late_recordings(record: object) -> list[str]:
    events = getattr(record, "events")  # noqa: B009 - a CallRecord
    return [e["data"]["url"] for e in events if e["type"] == "recording.ended" and e["data"].get("late")]


@pytest.mark.parametrize("order", ["status, action", "status, action, action again", "redirect, action twice"])
def test_a_recording_arriving_after_the_call_moved_on_is_kept(stack: Stack, order: str) -> None:
    """A caller hanging up mid-message: Twilio may deliver the status callback (or the Redirect) before
    Record's action. The recording is kept on the call as a late recording.ended, once."""
    _at_the_voicemail(stack)
    params = call_params(VOICEMAIL_SID, to=AFTER_HOURS_NUMBER, CallStatus="completed")
    action = {**params, **RECORDED, "Digits": "hangup"}
    if order.startswith("status"):
        assert stack.signed_post("/webhook/voice/status", {**params, "CallDuration": "30"}).status_code == 200
    else:
        stack.signed_post("/webhook/voice/step?seq=3", params)
    ended = stack.stored(VOICEMAIL_SID)
    writes = stack.store.writes
    copies = 2 if ("again" in order or "twice" in order) else 1
    answers = [stack.signed_post("/webhook/voice/step?seq=3", action) for _ in range(copies)]
    assert all(a.status_code == 200 and a.get_data(as_text=True) == ended.twiml for a in answers)
    after = stack.stored(VOICEMAIL_SID)
    assert stack.store.writes == writes + 1
    assert _late_recordings(after) == [RECORDED["RecordingUrl"]]
    assert (after.seq, after.state, after.status, after.outcome) == (ended.seq, ended.state, ended.status,
                                                                     ended.outcome)  # fmt: skip


def test_a_late_action_without_a_recording_writes_nothing(stack: Stack) -> None:
    _at_the_voicemail(stack)
    params = call_params(VOICEMAIL_SID, to=AFTER_HOURS_NUMBER, CallStatus="completed")
    stack.signed_post("/webhook/voice/status", {**params, "CallDuration": "30"})
    writes = stack.store.writes
    stack.signed_post("/webhook/voice/step?seq=3", {**params, "RecordingDuration": "0", "Digits": "hangup"})
    assert stack.store.writes == writes


def _request_with_query(raw: bytes) -> Any:
    """A werkzeug request with this query string: what ``voice._step_query`` reads."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    return Request(EnvironBuilder(query_string=raw.decode("latin-1")).get_environ())


@pytest.mark.parametrize("raw, seq, handed_back", [
    (b"seq=3", "3", None),  # our own callback: read as is, nothing to hand back
    (b"seq=12", "12", None),
    (b"seq=%33", "3", {"seq": "3"}),  # percent-encoded: parsed like any other query
    (b"seq=3&choice=2", "3", {"seq": "3", "choice": "2"}),  # a redirect's return hands back its query
    (b"choice=2&seq=4", "4", {"choice": "2", "seq": "4"}),
    (b"seq=", "", {"seq": ""}),
    (b"seq=3x", "3x", {"seq": "3x"}),  # not a seq: the step answers the stored TwiML
    (b"", "", {}),
])  # fmt: skip
def test_the_step_query_is_read_as_werkzeug_parses_it(raw: bytes, seq: str, handed_back: dict[str, str] | None) -> None:
    request = _request_with_query(raw)
    got_seq, query = voice._step_query(request)
    assert got_seq == seq == request.args.get("seq", "")
    assert (None if query is None else dict(query.items())) == handed_back


@pytest.mark.parametrize("query", ["seq=" + "9" * 5000, "seq=1", "seq=3x", "seq=", "seq=%32%32"])
def test_a_step_with_a_seq_that_is_not_the_next_answers_the_stored_twiml_unchanged(stack: Stack, query: str) -> None:
    """Hostile or stale seqs over HTTP, on both ways the query is read (as is, and parsed)."""
    first = stack.signed_post("/webhook/voice/incoming", call_params()).get_data(as_text=True)
    writes = stack.store.writes
    answer = stack.signed_post(f"/webhook/voice/step?{query}", call_params(CallStatus="in-progress", Digits="1"))
    assert answer.status_code == 200 and answer.get_data(as_text=True) == first
    assert stack.store.writes == writes and stack.stored("CA" + "1" * 32).seq == 1

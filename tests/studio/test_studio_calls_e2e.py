"""Imported Studio flows on the live stack, over the webhooks: send-message sends the SMS through the
account's REST API (a Twilio stand-in on 127.0.0.1, reached with the real fetcher), and
add-twiml-redirect hands the call to other TwiML and takes it back with what that TwiML hands back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from livestack import ACCOUNT_A, API_KEY_A, TOKEN_A, Stack, build_stack, deploy
from studiokit import definition, imported, widget
from twilio_standin import MESSAGE_SID, TwilioStandIn

from common import bootstrap
from common.adapters.http_fetch import RequestsFetcher
from common.service.twilio_requests import TwilioApi

SMS_NUMBER = "+13072240201"
REDIRECT_NUMBER = "+13072240202"
CALLER = "+15005550006"


def say(name: str, text: str) -> dict[str, Any]:
    return widget(name, "say-play", [("audioComplete", None)], say=text)


SMS_FLOW = definition(
    widget("sms", "send-message", [("sent", "texted"), ("failed", "not_texted")], to="{{contact.channel.address}}",
           body="Your ticket is 42.", **{"from": "{{flow.channel.address}}"}),
    say("texted", "We texted you: {{widgets.sms.sid}} is {{widgets.sms.status}}."),
    say("not_texted", "No text: {{widgets.sms.error}}"), description="Text me")  # fmt: skip
REDIRECT_FLOW = definition(
    widget("survey", "add-twiml-redirect", [("return", "back"), ("timeout", None)],
           url="https://apps.example.com/survey"),
    say("back", "You chose {{widgets.survey.choice}}."), description="Survey")  # fmt: skip


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    server = TwilioStandIn(ACCOUNT_A, TOKEN_A)
    yield server
    server.close()


@pytest.fixture
def stack(memory_store: Any, twilio: TwilioStandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("IVR_TWILIO_API_BASE", twilio.base)
    built = build_stack(memory_store, fetcher=RequestsFetcher(allow_hosts=("127.0.0.1",)), all_examples=False)
    tenant = built.svc.admin.authenticate(f"Bearer {API_KEY_A}")
    for document, flow_id, number in ((SMS_FLOW, "text_me", SMS_NUMBER), (REDIRECT_FLOW, "survey", REDIRECT_NUMBER)):
        result = imported(document, flow_id=flow_id)
        assert result.report["ok"], result.report["validation"]
        deploy(built.svc, tenant, result.flow, number)
    bootstrap.install(built.svc)
    yield built
    bootstrap.install(None)


def said(transcript: list[str]) -> list[str]:
    return [line[5:] for line in transcript if line.startswith("IVR: ")]


def test_send_message_sends_the_sms_through_the_accounts_rest_api(stack: Stack, twilio: TwilioStandIn) -> None:
    result = stack.sim(replays=1).call(SMS_NUMBER, CALLER, inputs=[])
    assert result.problems == []
    assert said(result.transcript) == [f"We texted you: {MESSAGE_SID} is queued."]
    assert len(twilio.requests) == 1  # the replayed step answers what the first one wrote: one SMS
    sent = twilio.requests[0]
    assert sent["path"] == f"/2010-04-01/Accounts/{ACCOUNT_A}/Messages.json"
    assert sent["form"] == {"To": [CALLER], "From": [SMS_NUMBER], "Body": ["Your ticket is 42."]}
    events = [e["type"] for e in stack.stored(result.call_sid).events]
    assert "message.requested" in events and "message.sent" in events


def test_without_the_accounts_token_the_message_fails_with_the_reason(stack: Stack, twilio: TwilioStandIn) -> None:
    stack.svc.calls.twilio = TwilioApi(lambda sid: None, twilio.base)
    result = stack.sim().call(SMS_NUMBER, CALLER, inputs=[])
    assert result.problems == []
    assert said(result.transcript) == [f"No text: the Twilio message was not sent: no auth token for account "
                                       f"{ACCOUNT_A} here (link it: PUT /api/platform/tenants/{{id}}/twilio)"]
    assert twilio.requests == []


def test_twilios_refusal_is_the_failed_outcome(stack: Stack, twilio: TwilioStandIn) -> None:
    stack.svc.calls.twilio = TwilioApi(lambda sid: "a-revoked-token", twilio.base)
    result = stack.sim().call(SMS_NUMBER, CALLER, inputs=[])
    assert said(result.transcript) == ["No text: Authenticate"] and len(twilio.requests) == 1


def test_a_redirect_comes_back_with_what_the_script_hands_back(stack: Stack) -> None:
    result = stack.sim().call(REDIRECT_NUMBER, CALLER, inputs=["redirect:return:choice=2"])
    assert result.problems == [] and result.unused_inputs == []
    assert said(result.transcript) == ["You chose 2."]
    assert "the other TwiML returns the call with {'choice': '2'}" in result.transcript


def test_the_simulator_follows_a_redirect_to_other_twiml_and_back(stack: Stack) -> None:
    requested: list[str] = []

    def other_app(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        requested.append(url)
        back = parse_qs(urlsplit(url).query)["ReturnUrl"][0]
        base, _, fragment = back.partition("#")
        again = (base + "&choice=3" + "#" + fragment).replace("&", "&amp;")
        return 200, f'<?xml version="1.0"?><Response><Say>Press 3 for yes.</Say><Redirect>{again}</Redirect></Response>'

    sim = stack.sim()
    sim.elsewhere = other_app
    result = sim.call(REDIRECT_NUMBER, CALLER, inputs=[])
    assert result.problems == []
    assert [u.split("?", 1)[0] for u in requested] == ["https://apps.example.com/survey"]
    assert said(result.transcript) == ["Press 3 for yes.", "You chose 3."]
    widgets = stack.stored(result.call_sid).state.widgets["survey"]
    assert widgets["choice"] == "3" and widgets["CallSid"] == result.call_sid


def test_a_redirect_whose_other_twiml_ends_the_call(stack: Stack) -> None:
    result = stack.sim().call(REDIRECT_NUMBER, CALLER, inputs=["redirect:timeout"])
    assert said(result.transcript) == [] and "the other TwiML ends the call (redirect:timeout)" in result.transcript

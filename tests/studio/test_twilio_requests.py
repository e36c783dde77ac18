"""A flow's Twilio REST requests (messageNode's SMS, recordCallNode's recording) as the host makes them:
common/service/twilio_requests.py, sent with the real fetcher to a Twilio stand-in on 127.0.0.1 that
checks the path, the Basic auth and the form the way api.twilio.com would."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from twilio_standin import ACCOUNT, TOKEN, TwilioStandIn

from common.adapters.http_fetch import RequestsFetcher
from common.core.call import HttpCompleted, HttpRequest, RedirectEnded, TwilioRequest
from common.service.twilio_requests import TwilioApi, pending_request, redirect_return

MESSAGE = TwilioRequest("POST", "Messages.json", (("To", "+15005550006"), ("From", "+13072249663"),
                                                  ("Body", "Your code: 42 & more"), ("MediaUrl", "https://x.example/a.png"),
                                                  ("MediaUrl", "https://x.example/b.png")), "message")  # fmt: skip


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    server = TwilioStandIn()
    yield server
    server.close()


def perform(api: TwilioApi, pending: dict[str, Any], account: str = ACCOUNT) -> HttpCompleted:
    request = api.request(pending, account)
    if isinstance(request, HttpCompleted):
        return request
    fetcher = RequestsFetcher(allow_hosts=("127.0.0.1",))
    return HttpCompleted(*fetcher.fetch(request.method, request.url, request.headers, request.body, 2.0))


def test_the_pending_request_keeps_the_twilio_request_without_credentials() -> None:
    pending = pending_request([MESSAGE])
    assert pending == {"twilio": "Messages.json", "method": "POST", "purpose": "message", "timeout_seconds": 3.0,
                       "params": [["To", "+15005550006"], ["From", "+13072249663"], ["Body", "Your code: 42 & more"],
                                  ["MediaUrl", "https://x.example/a.png"], ["MediaUrl", "https://x.example/b.png"]]}
    assert TOKEN not in json.dumps(pending)
    http = HttpRequest("GET", "https://api.example.com/x", {"A": "1"}, None, "application/json", 3.0)
    assert pending_request([http]) == {"method": "GET", "url": "https://api.example.com/x", "headers": {"A": "1"},
                                       "body": None, "content_type": "application/json", "timeout_seconds": 3.0}
    assert pending_request([]) is None
    # an httpRequestNode's stored request comes back as it was
    assert TwilioApi(lambda sid: TOKEN).request(pending_request([http]) or {}, ACCOUNT) == http


def test_a_recording_request_is_made_for_the_calls_own_path() -> None:
    start = TwilioRequest("POST", "Calls/CA" + "c" * 32 + "/Recordings.json", (("RecordingChannels", "dual"),),
                          "recording")  # fmt: skip
    stop = TwilioRequest("POST", "Calls/CA" + "c" * 32 + "/Recordings/Twilio.CURRENT.json", (("Status", "stopped"),),
                         "recording")  # fmt: skip
    api = TwilioApi(lambda sid: TOKEN, "https://api.twilio.example")
    made = [api.request(pending_request([r]) or {}, ACCOUNT) for r in (start, stop)]
    assert [(m.url, m.body) for m in made if isinstance(m, HttpRequest)] == [
        (f"https://api.twilio.example/2010-04-01/Accounts/{ACCOUNT}/Calls/CA{'c' * 32}/Recordings.json",
         "RecordingChannels=dual"),
        (f"https://api.twilio.example/2010-04-01/Accounts/{ACCOUNT}/Calls/CA{'c' * 32}/Recordings/Twilio.CURRENT.json",
         "Status=stopped")]


def test_a_message_is_posted_to_the_accounts_messages_with_basic_auth_and_the_form(twilio: TwilioStandIn) -> None:
    api = TwilioApi(lambda sid: TOKEN if sid == ACCOUNT else None, twilio.base)
    answer = perform(api, pending_request([MESSAGE]) or {})
    assert (answer.status_code, answer.error) == (201, None)
    assert json.loads(answer.body)["sid"] == "SM" + "1" * 32
    sent = twilio.requests[0]
    assert sent["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sent["form"] == {"To": ["+15005550006"], "From": ["+13072249663"], "Body": ["Your code: 42 & more"],
                            "MediaUrl": ["https://x.example/a.png", "https://x.example/b.png"]}


def test_the_default_origin_is_twilios_and_the_environment_can_move_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_TWILIO_API_BASE", raising=False)
    request = TwilioApi(lambda sid: TOKEN).request(pending_request([MESSAGE]) or {}, ACCOUNT)
    assert isinstance(request, HttpRequest)
    assert request.url == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    monkeypatch.setenv("IVR_TWILIO_API_BASE", "http://127.0.0.1:8081/")
    assert TwilioApi(None).url(ACCOUNT, "Messages.json") == f"http://127.0.0.1:8081/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    with pytest.raises(ValueError, match="IVR_TWILIO_API_BASE"):
        TwilioApi(None, "ftp://twilio.example")


def test_a_wrong_token_is_twilios_401_which_the_node_reads_as_failed(twilio: TwilioStandIn) -> None:
    answer = perform(TwilioApi(lambda sid: "not-the-token", twilio.base), pending_request([MESSAGE]) or {})
    assert answer.status_code == 401 and json.loads(answer.body)["code"] == 20003


@pytest.mark.parametrize(("token_for", "account", "pending", "reason"), [
    (lambda sid: None, ACCOUNT, {}, "no auth token for account " + ACCOUNT),
    (None, ACCOUNT, {}, "no auth token for account " + ACCOUNT),
    (lambda sid: "", ACCOUNT, {}, "no auth token"),
    (lambda sid: TOKEN, "ACnot-a-sid", {}, "'ACnot-a-sid' is not an AccountSid"),
    (lambda sid: TOKEN, ACCOUNT, {"twilio": "../../Accounts/ACother/Messages.json"}, "is not a REST API path"),
    (lambda sid: TOKEN, ACCOUNT, {"twilio": "https://evil.example/x"}, "is not a REST API path"),
    (lambda sid: TOKEN, ACCOUNT, {"twilio": ""}, "is not a REST API path"),
])  # fmt: skip
def test_a_request_that_cannot_be_made_fails_with_the_reason_and_sends_nothing(
        twilio: TwilioStandIn, token_for: Any, account: str, pending: dict[str, Any], reason: str) -> None:  # fmt: skip
    answer = perform(TwilioApi(token_for, twilio.base), {**(pending_request([MESSAGE]) or {}), **pending}, account)
    assert answer.status_code == 0 and reason in (answer.error or "")
    assert "the Twilio message was not sent" in (answer.error or "")
    assert twilio.requests == []


def test_a_redirect_return_hands_back_the_query_first_then_twilios_parameters() -> None:
    ended = redirect_return({"CallSid": "CA1", "choice": "form"}, {"seq": "4", "choice": "2", "lang": "fr"})
    assert ended == RedirectEnded("return", {"choice": "2", "lang": "fr", "CallSid": "CA1"})
    assert list(ended.params) == ["choice", "lang", "CallSid"]
    assert redirect_return({"CallSid": "CA1"}) == RedirectEnded("return", {"CallSid": "CA1"})

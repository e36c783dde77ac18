"""TwilioCallControl through the real twilio client against a local stand-in for Twilio's REST API.

The stand-in is a real HTTP server on 127.0.0.1 (tests/adapters/local_http.py) that records each
request (path, form fields, basic auth) and answers from a script: 429 then 200, 404, a 5 s hang.
"""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from local_http import Recorder

from common.adapters import call_control as cc
from common.adapters.call_control import CallControl, NullCallControl, TwilioCallControl

AC = "AC" + "a" * 32
SUB = "AC" + "b" * 32
CA = "CA" + "1" * 32
TOKENS = {AC: "token-main", SUB: "token-sub"}
URL = "https://ivr.example.com/webhook/voice/queue/connect?entry=e1#ct=3000"
CALL_JSON = {"sid": CA, "account_sid": AC, "status": "in-progress"}
CALL_PATH = f"/2010-04-01/Accounts/{AC}/Calls/{CA}.json"
BOUND = 3.5  # seconds: the 2 s budget, one attempt's overrun and a loaded machine; never 60


def basic(account: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()


@pytest.fixture
def twilio() -> Iterator[Recorder]:
    with Recorder(default_body=CALL_JSON) as server:
        yield server


@pytest.fixture
def control(twilio: Recorder) -> TwilioCallControl:
    return TwilioCallControl(TOKENS.get, twilio.url)


def test_both_implementations_satisfy_the_port() -> None:
    ports: list[CallControl] = [TwilioCallControl(TOKENS.get), NullCallControl()]
    assert all(callable(p.redirect) and callable(p.dial_out) for p in ports)


# -- redirect ------------------------------------------------------------------------------------


def test_redirect_posts_url_and_method_to_the_call_with_basic_auth(control: TwilioCallControl,
                                                                   twilio: Recorder) -> None:  # fmt: skip
    assert control.redirect(AC, CA, URL) is True
    (request,) = twilio.requests
    assert (request.method, request.path) == ("POST", CALL_PATH)
    assert request.form == {"Url": [URL], "Method": ["POST"]}
    assert request.headers["authorization"] == basic(AC, "token-main")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["user-agent"].startswith("twilio-python/")


def test_each_account_uses_its_own_token(control: TwilioCallControl, twilio: Recorder) -> None:
    assert control.redirect(SUB, CA, URL) is True
    (request,) = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{SUB}/Calls/{CA}.json"
    assert request.headers["authorization"] == basic(SUB, "token-sub")


def test_an_account_without_a_token_sends_nothing(control: TwilioCallControl, twilio: Recorder,
                                                  caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    with caplog.at_level(logging.ERROR, "ivr.twilio"):
        assert control.redirect("AC" + "c" * 32, CA, URL) is False
        assert control.dial_out("AC" + "c" * 32, "+15551230001", "+15559870000", URL, URL) is None
    assert twilio.requests == [] and "no auth token" in caplog.text


@pytest.mark.parametrize("status,body", [
    (429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
    (503, {"code": 20503, "message": "Service Unavailable", "status": 503}),
    (500, {"code": 20500, "message": "Internal Server Error", "status": 500}),
])  # fmt: skip
def test_a_rate_limit_or_server_error_is_retried_then_succeeds(control: TwilioCallControl, twilio: Recorder,
                                                               status: int, body: dict[str, object]) -> None:
    twilio.answer(status, body)
    assert control.redirect(AC, CA, URL) is True
    first, second = twilio.requests
    assert first.form == second.form == {"Url": [URL], "Method": ["POST"]}


def test_error_20429_is_a_rate_limit_whatever_the_status(control: TwilioCallControl, twilio: Recorder) -> None:
    twilio.answer(400, {"code": 20429, "message": "Too Many Requests", "status": 400})
    assert control.redirect(AC, CA, URL) is True
    assert len(twilio.requests) == 2


@pytest.mark.parametrize("status,code", [(404, 20404), (400, 21220)])
def test_a_call_that_is_gone_is_false_at_once(control: TwilioCallControl, twilio: Recorder,
                                              caplog: pytest.LogCaptureFixture, status: int, code: int) -> None:
    twilio.answer(status, {"code": code, "message": "gone", "status": status})
    with caplog.at_level(logging.INFO, "ivr.twilio"):
        assert control.redirect(AC, CA, URL) is False
    assert len(twilio.requests) == 1  # not retried
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert record.levelno == logging.INFO and f"Twilio error {code}" in record.getMessage()


def test_other_refusals_are_false_and_logged_as_errors(control: TwilioCallControl, twilio: Recorder,
                                                       caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    twilio.answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
    with caplog.at_level(logging.ERROR, "ivr.twilio"):
        assert control.redirect(AC, CA, URL) is False
    assert len(twilio.requests) == 1 and "HTTP 401 (Twilio error 20003)" in caplog.text


def test_persistent_rate_limits_give_up_within_the_budget(control: TwilioCallControl, twilio: Recorder) -> None:
    for _ in range(50):
        twilio.answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429})
    began = time.monotonic()
    assert control.redirect(AC, CA, URL) is False
    assert time.monotonic() - began < BOUND
    assert 3 <= len(twilio.requests) <= 12  # a handful of spaced attempts, not a hammering


def test_a_hung_api_times_out_within_the_budget(control: TwilioCallControl, twilio: Recorder) -> None:
    for _ in range(5):
        twilio.answer(200, CALL_JSON, delay=5.0)
    began = time.monotonic()
    assert control.redirect(AC, CA, URL) is False
    took = time.monotonic() - began
    assert cc.ATTEMPT_TIMEOUT <= took < BOUND
    assert len(twilio.requests) == 2  # one full attempt, then one with what was left of the budget


def test_a_slow_first_answer_is_retried_and_wins(control: TwilioCallControl, twilio: Recorder) -> None:
    twilio.answer(200, CALL_JSON, delay=5.0)
    assert control.redirect(AC, CA, URL) is True
    assert len(twilio.requests) == 2


def test_nothing_listening_is_false(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    control = TwilioCallControl(TOKENS.get, f"http://127.0.0.1:{port}")
    with caplog.at_level(logging.WARNING, "ivr.twilio"):
        assert control.redirect(AC, CA, URL) is False
        assert control.dial_out(AC, "+15551230001", "+15559870000", URL, URL) is None
    assert "ConnectionError" in caplog.text


def test_twilio_edge_in_the_environment_does_not_move_the_stand_in(twilio: Recorder,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    assert TwilioCallControl(TOKENS.get, twilio.url).redirect(AC, CA, URL) is True
    assert [r.path for r in twilio.requests] == [CALL_PATH]


def test_a_base_with_a_path_prefix(twilio: Recorder) -> None:
    assert TwilioCallControl(TOKENS.get, twilio.url + "/twilio/").redirect(AC, CA, URL) is True
    assert [r.path for r in twilio.requests] == ["/twilio" + CALL_PATH]


def test_concurrent_redirects_each_keep_their_own_deadline(twilio: Recorder) -> None:
    control = TwilioCallControl(TOKENS.get, twilio.url)
    twilio.answer(200, CALL_JSON, delay=5.0)  # one of them meets a hang; the others must not wait for it
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: control.redirect(AC, f"CA{i:032d}", URL), range(8)))
    assert results == [True] * 8
    assert len({r.path for r in twilio.requests}) == 8


def test_a_base_that_is_not_an_origin_is_refused() -> None:
    with pytest.raises(ValueError, match="IVR_TWILIO_API_BASE"):
        TwilioCallControl(TOKENS.get, "127.0.0.1:8081")


# -- dial out ------------------------------------------------------------------------------------

AGENT, CALLER_ID = "+15551230001", "+15559870000"
WHISPER = "https://ivr.example.com/webhook/voice/queue/agent?offer=o1"
STATUS = "https://ivr.example.com/webhook/voice/queue/agent-status?offer=o1"
NEW = {"sid": "CA" + "9" * 32, "status": "queued"}
CREATE_PATH = f"/2010-04-01/Accounts/{AC}/Calls.json"


def test_dial_out_creates_a_call_and_returns_its_sid(control: TwilioCallControl, twilio: Recorder) -> None:
    twilio.answer(201, NEW)
    assert control.dial_out(AC, AGENT, CALLER_ID, WHISPER, STATUS) == NEW["sid"]
    (request,) = twilio.requests
    assert (request.method, request.path) == ("POST", CREATE_PATH)
    assert request.form == {"To": [AGENT], "From": [CALLER_ID], "Url": [WHISPER], "Method": ["POST"],
                            "StatusCallback": [STATUS], "StatusCallbackMethod": ["POST"]}  # fmt: skip
    assert request.headers["authorization"] == basic(AC, "token-main")


@pytest.mark.parametrize("status,code", [(429, 20429), (503, 20503)])
def test_dial_out_is_retried_when_twilio_surely_did_not_create_it(control: TwilioCallControl, twilio: Recorder,
                                                                   status: int, code: int) -> None:
    twilio.answer(status, {"code": code, "message": "later", "status": status})
    twilio.answer(201, NEW)
    assert control.dial_out(AC, AGENT, CALLER_ID, WHISPER, STATUS) == NEW["sid"]
    assert len(twilio.requests) == 2


@pytest.mark.parametrize("status,code", [(500, 20500), (502, 20502), (504, 20504)])
def test_dial_out_is_not_retried_when_the_call_may_exist(control: TwilioCallControl, twilio: Recorder,
                                                         status: int, code: int) -> None:
    twilio.answer(status, {"code": code, "message": "hmm", "status": status})
    assert control.dial_out(AC, AGENT, CALLER_ID, WHISPER, STATUS) is None
    assert len(twilio.requests) == 1  # a second attempt could ring the agent twice


def test_dial_out_that_times_out_is_not_retried(control: TwilioCallControl, twilio: Recorder) -> None:
    twilio.answer(201, NEW, delay=5.0)
    began = time.monotonic()
    assert control.dial_out(AC, AGENT, CALLER_ID, WHISPER, STATUS) is None
    assert time.monotonic() - began < BOUND and len(twilio.requests) == 1


def test_dial_out_refused_is_none(control: TwilioCallControl, twilio: Recorder,
                                  caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    twilio.answer(400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
    with caplog.at_level(logging.ERROR, "ivr.twilio"):
        assert control.dial_out(AC, "+1", CALLER_ID, WHISPER, STATUS) is None
    assert len(twilio.requests) == 1 and "21211" in caplog.text


def test_dial_out_without_a_sid_in_the_answer_is_none(control: TwilioCallControl, twilio: Recorder) -> None:
    twilio.answer(201, {"status": "queued"})
    assert control.dial_out(AC, AGENT, CALLER_ID, WHISPER, STATUS) is None


def test_a_connection_never_made_is_recognised() -> None:
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    refused = requests.exceptions.ConnectionError(MaxRetryError(None, "/x", NewConnectionError(None, "refused")))  # type: ignore[arg-type]
    dropped = requests.exceptions.ConnectionError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert cc._never_connected(refused) is True
    assert cc._never_connected(dropped) is False  # the request may have been sent: not retried for a dial


# -- null ----------------------------------------------------------------------------------------


def test_null_call_control_declines_everything() -> None:
    null = NullCallControl()
    assert null.redirect(AC, CA, URL) is False
    assert null.dial_out(AC, AGENT, CALLER_ID, WHISPER, STATUS) is None

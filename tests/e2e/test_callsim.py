"""The call simulator itself (common/callsim.py), against scripted TwiML: it must behave like Twilio
where our own TwiML never goes (silence without actionOnEmptyResult, a Dial without action) and sign
exactly the URL it sends."""

from __future__ import annotations

from urllib.parse import quote

from twilio.request_validator import RequestValidator

from common.callsim import TwilioCallSimulator

BASE = "https://sim.example.test"
TOKEN = "sim-token"
XML = '<?xml version="1.0" encoding="UTF-8"?>'


class ScriptedTwilioSide:
    """A fake server: answers each request with the next document and records what it was sent."""

    def __init__(self, *documents: str) -> None:
        self.documents = list(documents)
        self.sent: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def __call__(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        self.sent.append((url, params, headers))
        if url.endswith("/webhook/voice/status"):
            return 200, XML + "<Response />"
        return 200, self.documents.pop(0) if self.documents else XML + "<Response><Hangup /></Response>"


def simulator(server: ScriptedTwilioSide) -> TwilioCallSimulator:
    return TwilioCallSimulator(BASE, TOKEN, "AC" + "s" * 32, post=server)


def test_silence_without_action_on_empty_result_plays_the_next_verbs() -> None:
    server = ScriptedTwilioSide(
        XML + f'<Response><Gather action="{BASE}/next" input="dtmf"><Say>Press 1.</Say>'
        f"<Play>https://cdn.example/tone.wav</Play></Gather><Say>We did not hear you.</Say><Hangup /></Response>"
    )
    result = simulator(server).call("+15550001111", inputs=["silence"])
    assert result.problems == []
    assert result.transcript == ["IVR: Press 1.", "IVR: (plays https://cdn.example/tone.wav)", "CALLER (silence)",
                                 "IVR: We did not hear you.", "IVR hangs up"]  # fmt: skip
    assert [url for url, _, _ in server.sent] == [f"{BASE}/webhook/voice/incoming", f"{BASE}/webhook/voice/status"]


def test_dial_without_action_continues_the_document() -> None:
    server = ScriptedTwilioSide(XML + "<Response><Dial>+15550002222</Dial><Say>After the call.</Say></Response>")
    result = simulator(server).call("+15550001111", inputs=["dial:busy"])
    assert result.problems == []
    assert result.transcript == ["dials +15550002222: busy", "IVR: After the call.", "(end of TwiML: Twilio hangs up)"]


def test_every_request_is_signed_over_the_url_as_sent() -> None:
    odd = f"{BASE}/webhook/voice/step?seq=2&tag='x'&data={{\"a\":1}}&q=a+b&name=José"
    server = ScriptedTwilioSide(XML + f"<Response><Redirect>{odd.replace('&', '&amp;')}</Redirect></Response>")
    result = simulator(server).call("+15550001111")
    assert result.problems == []
    redirected = server.sent[1][0]
    assert redirected == (f"{BASE}/webhook/voice/step?seq=2&tag='x'&data=%7B%22a%22:1%7D&q=a+b&name="
                          + quote("José"))  # fmt: skip
    validator = RequestValidator(TOKEN)
    for url, params, headers in server.sent:
        assert validator.validate(url, params, headers["X-Twilio-Signature"]), url
        assert headers["I-Twilio-Idempotency-Token"]


def test_replays_reuse_the_idempotency_token_and_flag_different_answers() -> None:
    answers = iter([(200, XML + "<Response><Hangup /></Response>"), (200, XML + "<Response><Reject /></Response>")])
    seen: list[dict[str, str]] = []

    def flaky(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        seen.append(headers)
        return next(answers, (200, XML + "<Response />"))

    result = TwilioCallSimulator(BASE, TOKEN, "AC" + "s" * 32, post=flaky, replays=1).call("+15550001111")
    assert len({h["I-Twilio-Idempotency-Token"] for h in seen[:2]}) == 1
    assert any("answered differently" in problem for problem in result.problems)

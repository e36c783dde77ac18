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


# -- recordings, as Twilio treats them --------------------------------------------------------------

RECORD = f'<Record action="{BASE}/webhook/voice/step?seq=3" method="POST" finishOnKey="#" />'


def urls_of(server: ScriptedTwilioSide) -> list[str]:
    return [url for url, _, _ in server.sent]


def test_an_empty_recording_never_posts_the_record_action_and_plays_the_next_verb() -> None:
    server = ScriptedTwilioSide(XML + f"<Response>{RECORD}<Say>No message.</Say><Hangup /></Response>")
    result = simulator(server).call("+15550001111", inputs=["record:none"])
    assert result.problems == []
    assert urls_of(server) == [f"{BASE}/webhook/voice/incoming", f"{BASE}/webhook/voice/status"]
    assert result.transcript == ["records: nothing", "IVR: No message.", "IVR hangs up"]


def test_an_empty_recording_with_no_verb_after_it_ends_the_call() -> None:
    server = ScriptedTwilioSide(XML + f"<Response>{RECORD}</Response>")
    result = simulator(server).call("+15550001111", inputs=["record:none"])
    assert urls_of(server) == [f"{BASE}/webhook/voice/incoming", f"{BASE}/webhook/voice/status"]
    assert result.transcript == ["records: nothing", "(end of TwiML: Twilio hangs up)"]


def test_an_empty_recording_follows_a_redirect_without_recording_fields() -> None:
    redirect = f'<Redirect method="POST">{BASE}/webhook/voice/step?seq=3</Redirect>'
    server = ScriptedTwilioSide(XML + f"<Response>{RECORD}{redirect}</Response>")
    result = simulator(server).call("+15550001111", inputs=["record:none"])
    assert result.problems == []
    assert urls_of(server) == [f"{BASE}/webhook/voice/incoming", f"{BASE}/webhook/voice/step?seq=3",
                               f"{BASE}/webhook/voice/status"]  # fmt: skip
    assert not any(name.startswith("Recording") for name in server.sent[1][1])


def test_a_recording_posts_the_action_without_claiming_a_hangup() -> None:
    server = ScriptedTwilioSide(XML + f"<Response>{RECORD}</Response>")
    simulator(server).call("+15550001111", inputs=["record:https://r.example/RE1:20"])
    _, params, _ = server.sent[1]
    assert (params["RecordingUrl"], params["RecordingDuration"]) == ("https://r.example/RE1", "20")
    assert params.get("Digits") != "hangup"


def test_hanging_up_during_a_recording_posts_what_was_recorded_and_ends_the_call() -> None:
    server = ScriptedTwilioSide(XML + f"<Response>{RECORD}</Response>",
                                XML + "<Response><Say>Thanks, goodbye.</Say><Hangup /></Response>")  # fmt: skip
    result = simulator(server).call("+15550001111", inputs=["record:hangup:8"])
    assert result.problems == []
    assert urls_of(server) == [f"{BASE}/webhook/voice/incoming", f"{BASE}/webhook/voice/step?seq=3",
                               f"{BASE}/webhook/voice/status"]  # fmt: skip
    _, params, _ = server.sent[1]
    assert (params["Digits"], params["RecordingDuration"]) == ("hangup", "8") and params["RecordingUrl"]
    assert params["CallStatus"] == "completed"
    assert "IVR: Thanks, goodbye." not in result.transcript  # the caller is gone: Twilio ignores the answer
    assert result.transcript[-1] == "CALLER hangs up during the recording (8s recorded)"


def test_hanging_up_before_saying_anything_ends_the_call_without_the_action() -> None:
    server = ScriptedTwilioSide(XML + f"<Response>{RECORD}<Say>No message.</Say></Response>")
    result = simulator(server).call("+15550001111", inputs=["record:hangup"])
    assert urls_of(server) == [f"{BASE}/webhook/voice/incoming", f"{BASE}/webhook/voice/status"]
    assert result.transcript == ["CALLER hangs up during the recording (nothing recorded)"]


# -- what a Gather hears ----------------------------------------------------------------------------


def test_a_dtmf_gather_does_not_hear_speech() -> None:
    gather = f'<Gather action="{BASE}/next" input="dtmf" actionOnEmptyResult="true"><Say>Press 1.</Say></Gather>'
    server = ScriptedTwilioSide(XML + f"<Response>{gather}</Response>")
    result = simulator(server).call("+15550001111", inputs=["speech:Sales."])
    _, params, _ = server.sent[1]
    assert params == {**params, "Digits": ""} and "SpeechResult" not in params
    assert result.transcript[:2] == ["IVR: Press 1.", 'CALLER says "Sales." (not heard: the Gather takes keys only)']


def test_a_speech_gather_hears_speech() -> None:
    gather = f'<Gather action="{BASE}/next" input="dtmf speech" actionOnEmptyResult="true"><Say>Say it.</Say></Gather>'
    server = ScriptedTwilioSide(XML + f"<Response>{gather}</Response>")
    simulator(server).call("+15550001111", inputs=["speech:Sales."])
    assert server.sent[1][1]["SpeechResult"] == "Sales."


def test_inputs_the_call_never_used_are_reported() -> None:
    server = ScriptedTwilioSide(XML + f'<Response><Gather action="{BASE}/next" input="dtmf" /></Response>')
    result = simulator(server).call("+15550001111", inputs=["1", "2", "queue:bridged"])
    assert result.unused_inputs == ["2", "queue:bridged"]
    assert result.to_dict()["unusedInputs"] == ["2", "queue:bridged"]

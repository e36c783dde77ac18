"""twiml.render golden documents and twiml.check's problem classes."""

from __future__ import annotations

import pytest

from common.core import twiml
from common.core.call import (
    Action,
    Dial,
    Gather,
    Hangup,
    HttpRequest,
    Play,
    Record,
    Say,
    TransferToDepartment,
)

URLS = twiml.UrlBuilder("https://ivr.example.com/")
XML = '<?xml version="1.0" encoding="UTF-8"?>'
# The connection-override fragment, XML-escaped as it appears inside an attribute or element.
FRAGMENT = "#ct=2000&amp;rt=5000&amp;tt=12000&amp;rc=2&amp;rp=ct,rt,5xx"


def action_url(seq: int) -> str:
    return f"https://ivr.example.com/webhook/voice/step?seq={seq}{FRAGMENT}"


def test_step_url_carries_seq_and_connection_overrides() -> None:
    assert URLS.step(7) == "https://ivr.example.com/webhook/voice/step?seq=7#ct=2000&rt=5000&tt=12000&rc=2&rp=ct,rt,5xx"
    assert twiml.UrlBuilder("https://a.example.com///").step(1).startswith("https://a.example.com/webhook/")


@pytest.mark.parametrize(
    ("department", "tenant", "expected"),
    [("sales", None, "sales"), ("sales", "acme", "acme.sales"), ("a b/c", "t", "t.a%20b%2Fc"),
     # Past 64 characters: a prefix plus a hash of the whole name, so long names stay distinct.
     ("d" * 48, "t" * 40, ("t" * 40 + "." + "d" * 48)[:55] + "~"
      + __import__("hashlib").sha256(("t" * 40 + "." + "d" * 48).encode()).hexdigest()[:8])],
)  # fmt: skip
def test_queue_name(department: str, tenant: str | None, expected: str) -> None:
    assert URLS.queue_name(department, tenant) == expected


GOLDEN = [
    pytest.param(
        [Say("Hello & welcome <friend>", "Polly.Joanna", "en-US")],
        2,
        XML + '<Response><Say language="en-US" voice="Polly.Joanna">Hello &amp; welcome &lt;friend&gt;</Say>'
        "</Response>",
        id="say",
    ),
    pytest.param(
        [Say("Twice", None, "en-GB", 2), Play("https://cdn.example.com/a.mp3", 3), Hangup()],
        2,
        XML + '<Response><Say language="en-GB" loop="2">Twice</Say>'
        '<Play loop="3">https://cdn.example.com/a.mp3</Play><Hangup /></Response>',
        id="say-loop-play-hangup",
    ),
    pytest.param(
        [
            Gather(
                input="dtmf",
                timeout=5,
                prompts=(Say("Sorry.", None, "en-US"), Say("Press 1.", None, "en-US")),
                num_digits=1,
            )
        ],
        3,
        XML + '<Response><Gather action="https://ivr.example.com/webhook/voice/step?seq=3#ct=2000&amp;rt=5000'
        '&amp;tt=12000&amp;rc=2&amp;rp=ct,rt,5xx" actionOnEmptyResult="true" finishOnKey="#" input="dtmf" '
        'method="POST" numDigits="1" timeout="5"><Say language="en-US">Sorry.</Say>'
        '<Say language="en-US">Press 1.</Say></Gather></Response>',
        id="gather-dtmf",
    ),
    pytest.param(
        [
            Gather(
                input="dtmf speech",
                timeout=7,
                prompts=(Play("https://cdn.example.com/m.mp3"), Say("Say sales.", "Polly.Amy", "en-GB")),
                finish_on_key="",
                speech_timeout="auto",
                speech_model="phone_call",
                hints=("sales", "support"),
                language="en-GB",
            )
        ],
        4,
        XML + f'<Response><Gather action="{action_url(4)}" actionOnEmptyResult="true" finishOnKey="" '
        'hints="sales, support" input="dtmf speech" language="en-GB" method="POST" speechModel="phone_call" '
        'speechTimeout="auto" timeout="7"><Play>https://cdn.example.com/m.mp3</Play>'
        '<Say language="en-GB" voice="Polly.Amy">Say sales.</Say></Gather></Response>',
        id="gather-dtmf-speech",
    ),
    pytest.param(
        [
            Say("Connecting.", None, "en-US"),
            Dial(numbers=("+14155550100", "+14155550101"), caller_id="+13072249663", timeout=25, record=True),
        ],
        5,
        XML + '<Response><Say language="en-US">Connecting.</Say>'
        f'<Dial action="{action_url(5)}" callerId="+13072249663" method="POST" record="record-from-answer" '
        'timeout="25"><Number>+14155550100</Number><Number>+14155550101</Number></Dial></Response>',
        id="dial-numbers",
    ),
    pytest.param(
        [Dial(sip="sip:agent@pbx.example.com")],
        6,
        XML + f'<Response><Dial action="{action_url(6)}" method="POST" timeout="30">'
        "<Sip>sip:agent@pbx.example.com</Sip></Dial></Response>",
        id="dial-sip",
    ),
    pytest.param(
        [Dial(client="alice", timeout=60)],
        6,
        XML + f'<Response><Dial action="{action_url(6)}" method="POST" timeout="60">'
        "<Client>alice</Client></Dial></Response>",
        id="dial-client",
    ),
    pytest.param(
        [TransferToDepartment("billing", 5, {"account": "A-1"})],
        7,
        XML + f'<Response><Enqueue action="{action_url(7)}" method="POST">billing</Enqueue></Response>',
        id="enqueue",
    ),
    pytest.param(
        [Say("After the tone.", None, "en-US"), Record(120, "#", True, False, 5)],
        8,
        XML + '<Response><Say language="en-US">After the tone.</Say>'
        f'<Record action="{action_url(8)}" finishOnKey="#" maxLength="120" method="POST" playBeep="true" '
        'timeout="5" transcribe="false" />'
        # Nothing recorded: Twilio skips the action and plays the next verb, which brings it back to us.
        f'<Redirect method="POST">{action_url(8)}</Redirect></Response>',
        id="record",
    ),
    pytest.param(
        [HttpRequest("GET", "https://api.example.com/x", {}, None, "application/json", 3.0)],
        9,
        XML + f'<Response><Redirect method="POST">{action_url(9)}</Redirect></Response>',
        id="redirect-for-http",
    ),
    pytest.param(
        [Say("Goodbye.", "Polly.Joanna", "en-US"), Hangup()],
        10,
        XML + '<Response><Say language="en-US" voice="Polly.Joanna">Goodbye.</Say><Hangup /></Response>',
        id="hangup",
    ),
]


@pytest.mark.parametrize(("actions", "next_seq", "expected"), GOLDEN)
def test_render_golden(actions: list[Action], next_seq: int, expected: str) -> None:
    assert twiml.render(actions, URLS, next_seq) == expected


@pytest.mark.parametrize(("actions", "next_seq", "expected"), [p for p in GOLDEN if p.id != "say"])
def test_complete_golden_documents_pass_the_checker(actions: list[Action], next_seq: int, expected: str) -> None:
    assert twiml.check(expected) == []


def test_a_lone_say_is_not_a_complete_turn() -> None:
    assert twiml.check(GOLDEN[0].values[2]) == ["document ends with <Say>; it must end by waiting or hanging up"]


def test_enqueue_uses_the_tenant_queue_name() -> None:
    document = twiml.render([TransferToDepartment("sales", 0)], URLS, 2, tenant="acme")
    assert (
        document == XML + f'<Response><Enqueue action="{action_url(2)}" method="POST">acme.sales</Enqueue></Response>'
    )


def test_say_and_hangup() -> None:
    assert twiml.say_and_hangup("Sorry.", "Polly.Amy", "en-GB") == (
        XML + '<Response><Say language="en-GB" voice="Polly.Amy">Sorry.</Say><Hangup /></Response>'
    )
    assert twiml.say_and_hangup("Sorry.", None, None) == XML + "<Response><Say>Sorry.</Say><Hangup /></Response>"


# --- check ------------------------------------------------------------------------------------------

ACTION = 'action="https://ivr.example.com/step"'


def doc(body: str) -> str:
    return f"{XML}<Response>{body}</Response>"


@pytest.mark.parametrize(
    ("document", "phrase"),
    [
        pytest.param(doc("".join("<Say>" + "x" * 4000 + "</Say>" for _ in range(17)) + "<Hangup/>"),
                     "bytes; Twilio accepts 65536", id="too-large"),
        pytest.param(doc(f"<Gather {ACTION}><Dial>+14155550100</Dial></Gather>"), "<Gather> may not contain <Dial>",
                     id="bad-gather-child"),
        pytest.param(doc('<Gather action="/relative"><Say>Hi</Say></Gather>'), "<Gather> has no absolute action URL",
                     id="relative-gather-action"),
        pytest.param(doc("<Gather><Say>Hi</Say></Gather>"), "<Gather> has no absolute action URL",
                     id="missing-gather-action"),
        pytest.param(doc("<Dial>" + "<Number>+14155550100</Number>" * 11 + "</Dial>"),
                     "<Dial> rings more than 10 numbers", id="more-than-10-numbers"),
        pytest.param(doc("<Dial></Dial>"), "<Dial> has nothing to dial", id="empty-dial"),
        pytest.param(doc("<Say>" + "x" * 4097 + "</Say><Hangup/>"), "<Say> text is longer than 4096 characters",
                     id="long-say"),
        pytest.param(doc(f"<Gather {ACTION}><Say>" + "x" * 4097 + "</Say></Gather>"),
                     "<Say> text is longer than 4096 characters", id="long-say-in-gather"),
        pytest.param(doc("<Say>Hi</Say>"), "document ends with <Say>; it must end by waiting or hanging up",
                     id="ends-with-say"),
        pytest.param(doc("<Hangup/><Play>https://x.example.com/a.mp3</Play>"), "document ends with <Play>",
                     id="ends-with-play"),
        pytest.param(XML + "<Response><Say>Hi</Response>", "not well-formed XML", id="malformed"),
        pytest.param("", "not well-formed XML", id="empty"),
        pytest.param(XML + "<Reply><Hangup/></Reply>", "root element is <Reply>, not <Response>", id="bad-root"),
        pytest.param(doc("<Speak>Hi</Speak><Hangup/>"), "<Speak> is not a TwiML voice verb", id="unknown-verb"),
    ],
)  # fmt: skip
def test_check_finds_each_problem(document: str, phrase: str) -> None:
    problems = twiml.check(document)
    assert len(problems) == 1, problems
    assert phrase in problems[0]


def test_check_reports_size_even_when_the_xml_is_malformed() -> None:
    problems = twiml.check("<Response>" + "x" * (twiml.MAX_TWIML_BYTES + 1))
    assert len(problems) == 2
    assert problems[0].startswith(f"document is {twiml.MAX_TWIML_BYTES + 11} bytes")
    assert problems[1].startswith("not well-formed XML")


def test_check_counts_bytes_not_characters() -> None:
    # 16,400 four-byte characters: under the limit in characters, over it in UTF-8 bytes.
    big = doc("".join("<Say>" + "\U0001f600" * 4000 + "</Say>" for _ in range(5)) + "<Hangup/>")
    assert len(big) < twiml.MAX_TWIML_BYTES < len(big.encode())
    assert twiml.check(big) == [f"document is {len(big.encode())} bytes; Twilio accepts {twiml.MAX_TWIML_BYTES}"]


@pytest.mark.parametrize(
    "document",
    [
        doc("<Hangup/>"),
        doc("<Say>" + "x" * 4096 + "</Say><Hangup/>"),
        doc(f"<Gather {ACTION}><Say>a</Say><Play>https://x.example.com/a.mp3</Play><Pause/></Gather>"),
        doc("<Dial>" + "<Number>+14155550100</Number>" * 10 + "</Dial>"),
        doc("<Dial>+14155550100</Dial>"),
        doc("<Say>Hi</Say><Redirect>https://ivr.example.com/step</Redirect>"),
        doc("<Enqueue>sales</Enqueue>"),
        doc("<Record/>"),
        doc("<Reject/>"),
        doc(""),
    ],
    ids=["hangup", "say-4096", "gather-children", "dial-10", "dial-text", "redirect", "enqueue", "record",
         "reject", "empty-response"],
)  # fmt: skip
def test_check_accepts_valid_documents(document: str) -> None:
    assert twiml.check(document) == []


# --- a department transfer with routing: the routing service's document takes its place -----------------

HOLD = (XML + '<Response><Gather action="https://ivr.example.com/webhook/departments/menu?t=acme&amp;d=sales&amp;'
        f'e=e1{FRAGMENT}" input="dtmf" method="POST" numDigits="1" timeout="1"><Say language="en-US">You are '
        'number 2 in line.</Say><Play>https://cdn.example.com/hold.mp3</Play></Gather><Redirect method="POST">'
        f'https://ivr.example.com/webhook/departments/hold?t=acme&amp;d=sales&amp;e=e1{FRAGMENT}</Redirect>'
        "</Response>")  # fmt: skip


def test_the_routing_document_follows_what_the_turn_said() -> None:
    actions = [Say("Connecting you to sales & more.", None, "en-US"), TransferToDepartment("sales", 50)]
    document = twiml.render(actions, URLS, 4, tenant="acme", queue_document=HOLD)
    assert document == (XML + '<Response><Say language="en-US">Connecting you to sales &amp; more.</Say>'
                        + HOLD.removeprefix(XML + "<Response>"))  # fmt: skip
    assert twiml.check(document) == []
    assert "Enqueue" not in document and "/webhook/voice/step" not in document


def test_a_routing_document_alone_is_unchanged() -> None:
    assert twiml.render([TransferToDepartment("sales", 50)], URLS, 4, queue_document=HOLD) == HOLD


def test_without_a_routing_document_a_department_is_still_a_twilio_queue() -> None:
    document = twiml.render([TransferToDepartment("sales", 50)], URLS, 4, tenant="acme")
    assert f'<Enqueue action="{action_url(4)}" method="POST">acme.sales</Enqueue>' in document

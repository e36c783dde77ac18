"""Queue TwiML (common/core/queue_twiml.py): golden exact strings, and every document passes twiml.check."""

from __future__ import annotations

import pytest

from common.core import queue_twiml as q
from common.core.routing_hold import Announcement, HoldPlan
from common.core.routing_model import EscapeMenu, HoldSettings
from common.core.twiml import check

URLS = q.QueueUrls("https://ivr.example.com/", "https://cdn.example.com/hold.mp3")
REF = q.EntryRef("acme", "sales", "e1")
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
CO = "#ct=2000&amp;rt=5000&amp;tt=12000&amp;rc=2&amp;rp=ct,rt,5xx"
BASE = "https://ivr.example.com/webhook/departments"
Q = "t=acme&amp;d=sales&amp;e=e1"
HOLD_REDIRECT = f'<Redirect method="POST">{BASE}/hold?{Q}{CO}</Redirect>'


def golden(document: str, body: str) -> None:
    assert document == f"{HEAD}<Response>{body}</Response>"
    assert check(document) == []


def test_urls_are_absolute_name_the_entry_and_carry_the_overrides() -> None:
    url = URLS.url(q.WHISPER, REF, o="o3", a="ann smith")
    assert url == ("https://ivr.example.com/webhook/departments/whisper?t=acme&d=sales&e=e1&o=o3&a=ann+smith"
                   "#ct=2000&rt=5000&tt=12000&rc=2&rp=ct,rt,5xx")  # fmt: skip
    with pytest.raises(ValueError, match="unknown routing webhook"):
        URLS.url("steal", REF)


def test_hold_music_only() -> None:
    golden(q.hold(HoldPlan("hold"), HoldSettings(), URLS, REF),
           f"<Play>https://cdn.example.com/hold.mp3</Play>{HOLD_REDIRECT}")  # fmt: skip


def test_hold_with_announcement_and_escape_menu() -> None:
    settings = HoldSettings(music_url="https://acme.example/m.mp3", voice="Polly.Joanna",
                            escape_menu=EscapeMenu(callback=True, voicemail=True))  # fmt: skip
    golden(q.hold(HoldPlan("hold", Announcement(3, 4), ("1", "2")), settings, URLS, REF),
           f'<Gather action="{BASE}/menu?{Q}{CO}" input="dtmf" method="POST" numDigits="1" timeout="1">'
           '<Say language="en-US" voice="Polly.Joanna">You are number 3 in line. Your expected wait is about 4 '
           "minutes. Press 1 at any time to be called back without losing your place. Press 2 to leave a message."
           f"</Say><Play>https://acme.example/m.mp3</Play></Gather>{HOLD_REDIRECT}")  # fmt: skip


def test_hold_menu_without_announcement_still_listens() -> None:
    golden(q.hold(HoldPlan("hold", None, ("1",)), HoldSettings(), URLS, REF),
           f'<Gather action="{BASE}/menu?{Q}{CO}" input="dtmf" method="POST" numDigits="1" timeout="1">'
           f"<Play>https://cdn.example.com/hold.mp3</Play></Gather>{HOLD_REDIRECT}")  # fmt: skip


@pytest.mark.parametrize(("announcement", "keys", "text"), [
    (Announcement(1, 0), (), "You are next in line. An agent will be with you shortly."),
    (Announcement(2, 1), (), "You are number 2 in line. Your expected wait is about 1 minute."),
    (Announcement(None, 7), ("2",), "Your expected wait is about 7 minutes. Press 2 to leave a message."),
    (Announcement(None, None, callback_offer=True), ("1",),
     "If you would rather not wait, press 1 and we will call you back. You keep your place."),
])  # fmt: skip
def test_announcement_wording(announcement: Announcement, keys: tuple[str, ...], text: str) -> None:
    assert q.announcement_text(announcement, keys) == text


def test_connect_dials_numbers_sip_and_clients_each_with_a_whisper() -> None:
    document = q.connect({"ann": "+15551230001", "bob": "sip:bob@pbx.example.com", "cat": "client:cat"}, 20,
                         URLS, REF, "o3")  # fmt: skip
    whisper = f"{BASE}/whisper?{Q}&amp;o=o3&amp;a="
    golden(document,
           f'<Dial action="{BASE}/dial-result?{Q}&amp;o=o3{CO}" method="POST" timeout="20">'
           f'<Number method="POST" url="{whisper}ann{CO}">+15551230001</Number>'
           f'<Sip method="POST" url="{whisper}bob{CO}">sip:bob@pbx.example.com</Sip>'
           f'<Client method="POST" url="{whisper}cat{CO}">cat</Client></Dial>')  # fmt: skip


def test_connect_rings_at_most_ten() -> None:
    document = q.connect({f"a{i}": f"+1555123{i:04d}" for i in range(12)}, 15, URLS, REF, "o1")
    assert document.count("<Number") == 10 and check(document) == []


def test_whisper_speaks_department_priority_caller_and_context() -> None:
    context = {"customerInfo": {"name": "Ann <Lee>", "tier": "gold", "vip": True}, "flowPath": ["a", "b"]}
    golden(q.whisper("Sales", 100, "+15557770000", context, URLS, REF, "o3", "ann"),
           f'<Gather action="{BASE}/accept?{Q}&amp;o=o3&amp;a=ann{CO}" input="dtmf" method="POST" numDigits="1" '
           'timeout="6"><Say language="en-US">Call for Sales, high priority, from 1 5 5 5 7 7 7 0 0 0 0. '
           "name: Ann &lt;Lee&gt;; tier: gold. Press 1 to accept.</Say></Gather><Hangup />")  # fmt: skip


def test_whisper_for_a_callback_without_context() -> None:
    document = q.whisper("Support", 77, "", {}, URLS, REF, "o9", "bob", callback=True)
    said = "Callback request for Support, level 77 priority. Press 1 to accept."
    assert f'<Say language="en-US">{said}</Say>' in document
    assert check(document) == []


def test_accept_refuse_and_goodbyes() -> None:
    assert q.accepted() == f"{HEAD}<Response />"
    golden(q.refused("Gone."), '<Say language="en-US">Gone.</Say><Hangup />')
    golden(q.say_then("Bye.", None), '<Say language="en-US">Bye.</Say><Hangup />')
    golden(q.say_then("", "https://ivr.example.com/webhook/voice/step?seq=4"),
           '<Redirect method="POST">https://ivr.example.com/webhook/voice/step?seq=4</Redirect>')  # fmt: skip


def test_callback_confirmation_and_number_entry() -> None:
    golden(q.callback_confirm("+15557770000", HoldSettings(), URLS, REF),
           f'<Gather action="{BASE}/callback-confirm?{Q}&amp;n=%2B15557770000{CO}" input="dtmf" method="POST" '
           'numDigits="1" timeout="6"><Say language="en-US">We will call you back at 1 5 5 5 7 7 7 0 0 0 0. '
           f"Press 1 to confirm, or 2 to enter a different number.</Say></Gather>{HOLD_REDIRECT}")  # fmt: skip
    golden(q.callback_number_entry(HoldSettings(), URLS, REF, retry=True),
           '<Say language="en-US">Sorry, that is not a number we can call.</Say>'
           f'<Gather action="{BASE}/callback-number?{Q}{CO}" finishOnKey="#" input="dtmf" method="POST" '
           'numDigits="15" timeout="10"><Say language="en-US">Enter the number to call you back on, with the country '
           f"code, then press pound.</Say></Gather>{HOLD_REDIRECT}")  # fmt: skip


def test_callback_dial_and_voicemail() -> None:
    golden(q.callback_dial("+15557770000", "+13072249663", URLS, REF, "o5"),
           '<Say language="en-US">Calling the customer now.</Say>'
           f'<Dial action="{BASE}/callback-result?{Q}&amp;o=o5{CO}" callerId="+13072249663" method="POST" '
           'timeout="30"><Number>+15557770000</Number></Dial>')  # fmt: skip
    golden(q.voicemail("Sales", HoldSettings(), URLS, REF),
           '<Say language="en-US">Please leave a message for Sales after the tone, then hang up.</Say>'
           f'<Record action="{BASE}/voicemail?{Q}{CO}" finishOnKey="#" maxLength="120" method="POST" '
           'playBeep="true" timeout="5" /><Say language="en-US">We did not receive a message. Goodbye.</Say>'
           "<Hangup />")  # fmt: skip


def test_text_that_xml_cannot_carry_is_dropped() -> None:
    document = q.whisper("Sa\x00les", 50, "+1555", {"note": "a\x07b"}, URLS, REF, "o1", "a")
    assert "\x00" not in document and "\x07" not in document and check(document) == []

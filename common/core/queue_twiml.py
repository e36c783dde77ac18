"""TwiML for department routing: the hold loop, the agent's whisper, the connect document, callbacks.

Rules owned here:
- Every URL is absolute, built by ``QueueUrls`` from the public base, and names the entry it is about
  (``t`` tenant, ``d`` department, ``e`` entry, plus ``o`` offer and ``a`` agent where relevant); every
  URL ends with the connection-override fragment, like the flow's own (``twiml.CONNECTION_OVERRIDES``).
- The hold document never ends the call by itself: [announcement] + music (inside a one-key Gather
  when an escape menu is on offer) + Redirect back to the loop. The caller is never in a Twilio
  <Enqueue>: being in our own loop is what lets every iteration check for an assignment.
- The connect document dials the offered agents (up to 10 for ringAll) with a whisper URL on each
  noun and an action URL, so no-answer, busy and declines come back to us. The whisper speaks the
  department, priority, caller and context, and connects only when the agent presses 1; anything
  else, or silence, hangs up the agent's leg (a decline).
- Text spoken to a caller is plain and short; every document passes ``twiml.check``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from common.core.routing_hold import Announcement, HoldPlan
from common.core.routing_model import PRIORITY_NAMES, HoldSettings, contact_kind
from common.core.twiml import CONNECTION_OVERRIDES, xml_safe

PREFIX = "/webhook/departments"
HOLD, MENU, CONNECT, WHISPER, ACCEPT, DIAL_RESULT = "hold", "menu", "connect", "whisper", "accept", "dial-result"
CALLBACK_CONFIRM, CALLBACK_NUMBER = "callback-confirm", "callback-number"
CALLBACK_AGENT, CALLBACK_RESULT, CALLBACK_STATUS = "callback-agent", "callback-result", "callback-status"
VOICEMAIL = "voicemail"
KINDS = (HOLD, MENU, CONNECT, WHISPER, ACCEPT, DIAL_RESULT, CALLBACK_CONFIRM, CALLBACK_NUMBER, CALLBACK_AGENT,
         CALLBACK_RESULT, CALLBACK_STATUS, VOICEMAIL)  # fmt: skip
WHISPER_SECONDS = 6
MENU_SECONDS = 1  # how long the escape menu listens after the music clip before looping
MAX_CONTEXT_SPOKEN = 400


@dataclass(frozen=True, slots=True)
class EntryRef:
    tenant: str
    department: str
    entry: str


class QueueUrls:
    """Absolute routing webhook URLs for one public base (``https://ivr.example.com``)."""

    def __init__(self, base_url: str, default_music_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.default_music_url = default_music_url

    def url(self, kind: str, ref: EntryRef, **extra: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown routing webhook {kind!r}")
        query = urlencode({"t": ref.tenant, "d": ref.department, "e": ref.entry, **extra})
        return f"{self.base_url}{PREFIX}/{kind}?{query}#{CONNECTION_OVERRIDES}"


def _speech(hold: HoldSettings | None) -> dict[str, str]:
    if hold is None:
        return {"language": "en-US"}
    return {k: v for k, v in {"voice": hold.voice, "language": hold.language or "en-US"}.items() if v}


def spoken_digits(number: str) -> str:
    """A phone number read digit by digit ("5 5 5 1 2 3"), the way callers check it."""
    return " ".join(ch for ch in number if ch.isdigit())


def spoken_priority(priority: int) -> str:
    names = {v: k for k, v in PRIORITY_NAMES.items()}
    return names.get(priority, f"level {priority}")


def announcement_text(announcement: Announcement, keys: Sequence[str]) -> str:
    parts = []
    if announcement.position is not None:
        parts.append("You are next in line." if announcement.position <= 1
                     else f"You are number {announcement.position} in line.")  # fmt: skip
    if announcement.wait_minutes is not None:
        minutes = announcement.wait_minutes
        parts.append("An agent will be with you shortly." if minutes == 0 else
                     f"Your expected wait is about {minutes} minute{'s' if minutes != 1 else ''}.")  # fmt: skip
    if announcement.callback_offer:
        parts.append("If you would rather not wait, press 1 and we will call you back. You keep your place.")
    elif "1" in keys:
        parts.append("Press 1 at any time to be called back without losing your place.")
    if "2" in keys:
        parts.append("Press 2 to leave a message.")
    return " ".join(parts)


def hold(plan: HoldPlan, hold_settings: HoldSettings, urls: QueueUrls, ref: EntryRef) -> str:
    """One iteration of the hold loop (``plan.kind == "hold"``)."""
    response = VoiceResponse()
    speech = _speech(hold_settings)
    music = hold_settings.music_url or urls.default_music_url
    text = announcement_text(plan.announcement, plan.menu_keys) if plan.announcement else ""
    target: Any = response
    if plan.menu_keys:
        target = response.gather(input="dtmf", num_digits=1, timeout=MENU_SECONDS, method="POST",
                                 action=urls.url(MENU, ref))  # fmt: skip
    if text:
        target.say(xml_safe(text), **speech)
    target.play(music)
    response.redirect(urls.url(HOLD, ref), method="POST")
    return str(response.to_xml())


def connect(contacts: Mapping[str, str], ring_timeout: int, urls: QueueUrls, ref: EntryRef, offer: str) -> str:
    """Dial the offered agents (agent id -> contact), each with the whisper that asks them to accept."""
    response = VoiceResponse()
    dial = response.dial(action=urls.url(DIAL_RESULT, ref, o=offer), method="POST", timeout=ring_timeout)
    for agent_id, contact in list(contacts.items())[:10]:
        whisper_url = urls.url(WHISPER, ref, o=offer, a=agent_id)
        kind = contact_kind(contact)
        if kind == "number":
            dial.number(contact, url=whisper_url, method="POST")
        elif kind == "sip":
            dial.sip(contact, url=whisper_url, method="POST")
        else:
            dial.client(contact.removeprefix("client:"), url=whisper_url, method="POST")
    return str(response.to_xml())


def context_text(context: Mapping[str, Any]) -> str:
    """The caller's context, spoken briefly: customerInfo's fields (flowPath is for screens, not ears)."""
    info = context.get("customerInfo")
    items = info.items() if isinstance(info, Mapping) else ((k, v) for k, v in context.items() if k != "flowPath")
    said = "; ".join(f"{k}: {v}" for k, v in items if isinstance(v, str | int | float) and not isinstance(v, bool))
    return xml_safe(said)[:MAX_CONTEXT_SPOKEN]


def whisper(department_name: str, priority: int, caller: str, context: Mapping[str, Any], urls: QueueUrls,
            ref: EntryRef, offer: str, agent_id: str, *, callback: bool = False) -> str:  # fmt: skip
    """The agent's leg before the bridge: who is calling; 1 accepts, anything else or silence declines."""
    response = VoiceResponse()
    what = "Callback request" if callback else "Call"
    heard = f"{what} for {department_name}, {spoken_priority(priority)} priority"
    heard += f", from {spoken_digits(caller)}." if spoken_digits(caller) else "."
    about = context_text(context)
    lines = [heard, f"{about}." if about else "", "Press 1 to accept."]
    gather = response.gather(input="dtmf", num_digits=1, timeout=WHISPER_SECONDS, method="POST",
                             action=urls.url(ACCEPT, ref, o=offer, a=agent_id))  # fmt: skip
    gather.say(xml_safe(" ".join(line for line in lines if line)), language="en-US")
    response.hangup()
    return str(response.to_xml())


def accepted() -> str:
    """The whisper ends without a verb: Twilio bridges the agent to the caller."""
    return str(VoiceResponse().to_xml())


def refused(message: str) -> str:
    """The agent's leg when the offer is no longer theirs (the caller hung up, someone else took it)."""
    response = VoiceResponse()
    response.say(xml_safe(message), language="en-US")
    response.hangup()
    return str(response.to_xml())


def callback_confirm(number: str, hold_settings: HoldSettings, urls: QueueUrls, ref: EntryRef) -> str:
    """Read the number back: 1 confirms it, 2 keys in another; silence returns to the hold loop."""
    response = VoiceResponse()
    gather = response.gather(input="dtmf", num_digits=1, timeout=6, method="POST",
                             action=urls.url(CALLBACK_CONFIRM, ref, n=number))  # fmt: skip
    gather.say(f"We will call you back at {spoken_digits(number)}. Press 1 to confirm, "
               "or 2 to enter a different number.", **_speech(hold_settings))  # fmt: skip
    response.redirect(urls.url(HOLD, ref), method="POST")
    return str(response.to_xml())


def callback_number_entry(hold_settings: HoldSettings, urls: QueueUrls, ref: EntryRef, retry: bool = False) -> str:
    response = VoiceResponse()
    if retry:
        response.say("Sorry, that is not a number we can call.", **_speech(hold_settings))
    gather = response.gather(input="dtmf", num_digits=15, timeout=10, finish_on_key="#", method="POST",
                             action=urls.url(CALLBACK_NUMBER, ref))  # fmt: skip
    gather.say("Enter the number to call you back on, with the country code, then press pound.",
               **_speech(hold_settings))  # fmt: skip
    response.redirect(urls.url(HOLD, ref), method="POST")
    return str(response.to_xml())


def callback_dial(customer: str, caller_id: str, urls: QueueUrls, ref: EntryRef, offer: str,
                  ring_timeout: int = 30) -> str:  # fmt: skip
    """The agent accepted a callback: dial the customer from the agent's leg."""
    response = VoiceResponse()
    response.say("Calling the customer now.", language="en-US")
    dial = response.dial(action=urls.url(CALLBACK_RESULT, ref, o=offer), method="POST", timeout=ring_timeout,
                         caller_id=caller_id)  # fmt: skip
    dial.number(customer)
    return str(response.to_xml())


def voicemail(department_name: str, hold_settings: HoldSettings, urls: QueueUrls, ref: EntryRef,
              max_length: int = 120) -> str:  # fmt: skip
    response = VoiceResponse()
    response.say(xml_safe(f"Please leave a message for {department_name} after the tone, then hang up."),
                 **_speech(hold_settings))  # fmt: skip
    response.record(action=urls.url(VOICEMAIL, ref), method="POST", max_length=max_length, play_beep=True,
                    timeout=5, finish_on_key="#")  # fmt: skip
    response.say("We did not receive a message. Goodbye.", **_speech(hold_settings))
    response.hangup()
    return str(response.to_xml())


def say_then(message: str, next_url: str | None, hold_settings: HoldSettings | None = None) -> str:
    """A short message, then the given URL (the flow resuming with an outcome) or a hang-up."""
    response = VoiceResponse()
    if message.strip():
        response.say(xml_safe(message), **_speech(hold_settings))
    if next_url:
        response.redirect(next_url, method="POST")
    else:
        response.hangup()
    return str(response.to_xml())

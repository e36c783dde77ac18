"""Actions -> TwiML, with twilio's VoiceResponse, and a checker for what we emit.

Rules owned here:
- Every URL we hand Twilio is absolute (``base_url`` + path), carries the step sequence number the
  next request must present (``?seq=N``), and ends with the connection-override fragment
  (``CONNECTION_OVERRIDES``): connect within 2 s, read within 5 s, 2 retries on connect/read failure
  or 5xx, all inside 12 s so Twilio's 15 s budget is never exceeded. Twilio strips the fragment before
  it requests the URL; whether its signature covers the fragment is not documented, so the webhooks
  accept a signature over the URL either way (common/web/voice.py).
- Each document ends in exactly one waiting verb (Gather, Dial, Enqueue, Record, Redirect) or Hangup.
  Gather always sets ``actionOnEmptyResult`` so silence comes back to us instead of falling through.
  A redirect node's <Redirect> leads to other TwiML, with the next step URL as its ``ReturnUrl``
  parameter; a Twilio REST request (an SMS, a recording) is a <Redirect> to the step, where the host
  performs it. Record is followed by a Redirect to the same step URL: when nothing was recorded Twilio does not
  request Record's action but plays the next verb (with none, it hangs up), so the redirect is what
  brings an empty recording back to us (no RecordingUrl: the voicemail node's ``noAudio``). Both
  present the same seq, so if Twilio ever sent both, the second is a duplicate and advances nothing.
- A department transfer renders as <Enqueue> into a Twilio queue only when the host has no
  department routing; with routing, the host passes the routing service's first document for the
  caller (the hold loop, or the connect document when an agent is free) as ``queue_document``, and
  its verbs take the transfer's place after what the turn said before it.
- ``check`` enforces what Twilio enforces (64 kB, Gather's allowed children, Say's 4096 characters,
  at most 10 numbers per Dial) so property tests can prove the engine never emits invalid TwiML.
- ``render`` and ``check`` are pure functions of their arguments, and one node of one flow at one
  seq renders the same document for every caller, so both remember their latest answers
  (``Memo``: bounded by entries and by document size). A turn whose actions hold a dict (a
  transfer's context, a request's headers: unhashable) is rendered every time.
"""

from __future__ import annotations

import hashlib
import re
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any
from urllib.parse import quote

from twilio.twiml.voice_response import VoiceResponse

from common.core.call import (
    Action,
    Dial,
    Gather,
    Hangup,
    HttpRequest,
    Play,
    Record,
    Redirect,
    Say,
    TransferToDepartment,
    TwilioRequest,
)  # fmt: skip
from common.core.engine_services import return_url

CONNECTION_OVERRIDES = "ct=2000&rt=5000&tt=12000&rc=2&rp=ct,rt,5xx"
STEP_PATH = "/webhook/voice/step"
MAX_TWIML_BYTES = 64 * 1024


class UrlBuilder:
    """Absolute callback URLs for one public base (``https://ivr.example.com``, no trailing slash)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def step(self, seq: int) -> str:
        return f"{self.base_url}{STEP_PATH}?seq={seq}#{CONNECTION_OVERRIDES}"

    def queue_name(self, department: str, tenant: str | None = None) -> str:
        """Twilio queue per tenant and department. Tenant ids have no '.', so the name is unambiguous;
        names past Twilio's 64 characters keep a hash of the full name so they stay distinct."""
        name = quote(f"{tenant}.{department}" if tenant else department, safe="._-")
        if len(name) <= 64:
            return name
        return name[:55] + "~" + hashlib.sha256(name.encode()).hexdigest()[:8]


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters an API response may contain)."""
    return _XML_INVALID.sub("", text)


def _say(target: VoiceResponse, action: Say) -> None:
    text = xml_safe(action.text)
    if not text.strip():
        return  # a template that rendered to nothing: Twilio refuses an empty <Say>
    kwargs = {"voice": action.voice, "language": action.language}
    if action.loop != 1:
        kwargs["loop"] = str(action.loop)
    target.say(text, **{k: v for k, v in kwargs.items() if v is not None})


def _play(target: VoiceResponse, action: Play) -> None:
    url = xml_safe(action.url)
    if not url.strip():
        return
    target.play(url, **({"loop": action.loop} if action.loop != 1 else {}))


class Memo:
    """The latest ``entries`` answers of a pure function, least recently used out first; answers of
    more than ``max_chars`` characters are not kept (a few large documents would crowd out many)."""

    def __init__(self, entries: int, max_chars: int = 8 * 1024) -> None:
        self.entries, self.max_chars = entries, max_chars
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, key: Hashable, answer: Any, chars: int) -> None:
        if chars > self.max_chars:
            return
        with self._lock:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.entries:
                self._answers.popitem(last=False)


class _Key:
    """A memo key whose hash is computed once: a turn's actions are dataclasses, whose hash walks
    every field in Python, and a lookup with its least-recently-used bookkeeping hashes its key
    three times. Raises TypeError when ``parts`` is unhashable."""

    __slots__ = ("hash", "parts")

    def __init__(self, parts: tuple[Any, ...]) -> None:
        self.parts, self.hash = parts, hash(parts)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.hash == other.hash and self.parts == other.parts


RENDERED = Memo(entries=2048)
CHECKED = Memo(entries=2048)


def render(actions: Iterable[Action], urls: UrlBuilder, next_seq: int, tenant: str | None = None,
           queue_document: str | None = None) -> str:  # fmt: skip
    """One TwiML document for the actions of one turn; callbacks present ``next_seq``. A department
    transfer is ``queue_document``'s verbs when one is given (see the module rules), else <Enqueue>."""
    turn = tuple(actions)
    try:
        key = _Key((turn, urls.base_url, next_seq, tenant, queue_document))
    except TypeError:  # an action holding a dict: rendered every time
        return _render(turn, urls, next_seq, tenant, queue_document)
    document: str | None = RENDERED.get(key)
    if document is None:
        document = _render(turn, urls, next_seq, tenant, queue_document)
        RENDERED.put(key, document, len(document))
    return document


def _render(actions: tuple[Action, ...], urls: UrlBuilder, next_seq: int, tenant: str | None,
            queue_document: str | None) -> str:  # fmt: skip
    response = VoiceResponse()
    spliced: list[ET.Element] = []
    action_url = urls.step(next_seq)
    for action in actions:
        if isinstance(action, Say):
            _say(response, action)
        elif isinstance(action, Play):
            _play(response, action)
        elif isinstance(action, Gather):
            optional = {"num_digits": action.num_digits, "speech_timeout": action.speech_timeout,
                        "speech_model": action.speech_model, "language": action.language,
                        "hints": ", ".join(action.hints) or None}  # fmt: skip
            gather = response.gather(
                input=action.input, action=action_url, method="POST", timeout=action.timeout,
                finish_on_key=action.finish_on_key, action_on_empty_result=True,
                **{k: v for k, v in optional.items() if v is not None},
            )  # fmt: skip
            for prompt in action.prompts:
                (_say if isinstance(prompt, Say) else _play)(gather, prompt)  # type: ignore[arg-type]
        elif isinstance(action, Dial):
            options = {"caller_id": action.caller_id}
            if action.record:
                options["record"] = "record-from-answer"
            dial = response.dial(action=action_url, method="POST", timeout=action.timeout,
                                 **{k: v for k, v in options.items() if v is not None})  # fmt: skip
            for number in action.numbers:
                dial.number(number)
            if action.sip:
                dial.sip(action.sip)
            if action.client:
                dial.client(action.client)
        elif isinstance(action, TransferToDepartment) and queue_document is not None:
            spliced = list(ET.fromstring(queue_document))  # the routing document ends the turn
            break
        elif isinstance(action, TransferToDepartment):
            response.enqueue(urls.queue_name(action.department, tenant), action=action_url, method="POST")
        elif isinstance(action, Record):
            response.record(action=action_url, method="POST", max_length=action.max_length,
                            finish_on_key=action.finish_on_key, play_beep=action.play_beep,
                            timeout=action.timeout, transcribe=action.transcribe)  # fmt: skip
            response.redirect(action_url, method="POST")
        elif isinstance(action, HttpRequest | TwilioRequest):
            # The host performs the request when Twilio follows this redirect: one HTTP request per
            # webhook keeps every answer inside Twilio's budget.
            response.redirect(action_url, method="POST")
        elif isinstance(action, Redirect):
            # The other TwiML returns the call by redirecting to ReturnUrl: our next step.
            response.redirect(return_url(action.url, action_url), method=action.method)
        elif isinstance(action, Hangup):
            response.hangup()
    if not spliced:
        return str(response.to_xml())
    # VoiceResponse serialises with ElementTree too, so the spliced verbs come out exactly as the
    # routing service wrote them.
    root = ET.fromstring(str(response.to_xml()))
    root.extend(spliced)
    return XML_DECLARATION + ET.tostring(root, encoding="unicode")


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def say_and_hangup(message: str, voice: str | None = None, language: str | None = "en-US") -> str:
    response = VoiceResponse()
    response.say(message, **{k: v for k, v in {"voice": voice, "language": language}.items() if v})
    response.hangup()
    return str(response.to_xml())


_TOP = {"Say", "Play", "Pause", "Gather", "Dial", "Enqueue", "Record", "Redirect", "Hangup", "Reject",
        "Leave", "Sms", "Refer", "Connect", "Stream", "Start", "Stop", "Pay", "Prompt"}  # fmt: skip
_IN_GATHER = {"Say", "Play", "Pause"}
_IN_DIAL = {"Number", "Sip", "Client", "Conference", "Queue", "Application"}
_WAITING = {"Gather", "Dial", "Enqueue", "Record", "Redirect", "Hangup", "Reject"}


def check(document: str) -> list[str]:
    """Problems Twilio would refuse in ``document`` (empty when valid)."""
    known: tuple[str, ...] | None = CHECKED.get(document)
    if known is None:
        known = tuple(_check(document))
        CHECKED.put(document, known, len(document))
    return list(known)


def _check(document: str) -> list[str]:
    problems: list[str] = []
    if len(document.encode()) > MAX_TWIML_BYTES:
        problems.append(f"document is {len(document.encode())} bytes; Twilio accepts {MAX_TWIML_BYTES}")
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        return [*problems, f"not well-formed XML: {exc}"]
    if root.tag != "Response":
        return [*problems, f"root element is <{root.tag}>, not <Response>"]
    children = list(root)
    for child in children:
        if child.tag not in _TOP:
            problems.append(f"<{child.tag}> is not a TwiML voice verb")
        if child.tag == "Gather":
            problems += [f"<Gather> may not contain <{g.tag}>" for g in child if g.tag not in _IN_GATHER]
            if not child.get("action", "").startswith("http"):
                problems.append("<Gather> has no absolute action URL")
        if child.tag == "Dial":
            nouns = [d for d in child if d.tag in _IN_DIAL]
            if not nouns and not (child.text or "").strip():
                problems.append("<Dial> has nothing to dial")
            if sum(1 for d in child if d.tag == "Number") > 10:
                problems.append("<Dial> rings more than 10 numbers")
        for say in child.iter("Say"):
            if len(say.text or "") > 4096:
                problems.append("<Say> text is longer than 4096 characters")
            if not (say.text or "").strip():
                problems.append("<Say> is empty")
        for play in child.iter("Play"):
            if not (play.text or "").strip():
                problems.append("<Play> has no URL")
    if children and children[-1].tag not in _WAITING:
        problems.append(f"document ends with <{children[-1].tag}>; it must end by waiting or hanging up")
    return problems

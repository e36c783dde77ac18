"""The live-call service: what the voice webhooks do once the request is known to be Twilio's.

Rules owned here:
- incoming: the dialled number (``To``) names the deployment; the call document is created with
  ``create_call`` so a retried incoming webhook replays the stored TwiML instead of starting twice.
- step: a request presenting ``seq = stored seq + 1`` advances the call; any other seq is a duplicate
  or a stale retry and gets the stored TwiML byte for byte, with no write. The write is a
  compare-and-set on the document read at the start (see ports.py), so concurrent duplicates advance
  the call once. An httpRequestNode's request is performed here, before the write, bounded by its
  timeout and by the webhook's deadline (less a reserve for the write): on a live call a request gets
  at most about 2 s, whatever the node says, and a timeout is the node's ``failed`` outcome. It needs
  one of the instance's ``HTTP_SLOTS`` (24, at most 6 per tenant and 2 per tenant and API host: see
  http_slots.py), held until the request ends or its deadline passes; without one the node fails
  at once. Copies of one HTTP step in a process (Twilio retries, one step delivered several times
  at once) perform its request once: the others wait for that answer (at most until their own
  deadline), take no slot, and build the same turn, so a copy is never refused a slot and never
  writes ``failed`` over the API's answer. Whichever copy writes first, the others' compare-and-set
  fails and they answer what it wrote.
- status: finalises the call once (duration, Twilio's final status, outcome, billing event), and
  tells department routing the caller is gone (abandonment), every time: routing ignores repeats.
- department transfers (``call_routing``): with ``routing`` set, a turn ending in a transfer to a
  department joins its queue and answers the routing service's first document (the hold loop), or
  resumes the flow at once with the outcome; without it the transfer is a Twilio <Enqueue>.
- Every path answers valid TwiML. A missing call, an unexpected event or a store failure yields the
  stored TwiML, a polite goodbye, or the fallback destination: never an exception to the web layer.
  Budget enforcement (answer within 3 s even if the store hangs) is the web layer's job.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from common.adapters.ports import CallRecord, Deployment, HttpFetcher, Store
from common.config import Settings
from common.core import engine, twiml
from common.core.call import (
    CallStarted,
    CallState,
    DialEnded,
    DigitsEntered,
    HttpCompleted,
    HttpRequest,
    InboundEvent,
    NoInput,
    QueueEnded,
    RecordingEnded,
    SpeechHeard,
)  # fmt: skip
from common.core.errors import EngineError
from common.service.call_caches import FlowCache, NumberCache, ScheduleCache
from common.service.call_records import SEQ, completed_event, confidence, count
from common.service.call_routing import DepartmentCalls, Finished
from common.service.event_outbox import EventOutbox, same_but_outbox
from common.service.http_slots import HttpSlots, SingleFlight, SlotsFull, host_of
from common.service.twilio_requests import TwilioApi, pending_request, redirect_return

if TYPE_CHECKING:
    from common.core.flow import CompiledFlow
    from common.service.routing import RoutingService

log = logging.getLogger("ivr.calls")

TRIGGER_FIELDS = ("CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "CallerName",
                  "FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToState", "ToZip",
                  "ToCountry", "ForwardedFrom", "ApiVersion")  # fmt: skip
MAX_EVENTS = 2_000
WRITE_RESERVE_SECONDS = 0.5  # of a webhook's budget, kept for the state write after an HTTP request
MIN_FETCH_SECONDS = 0.2
# HTTP-node requests in flight per instance (each holds one of the 64 voice worker threads), per tenant,
# and per tenant and API host: a tenant's slow API holds 2 of its 6, two slow APIs leave it 2.
HTTP_SLOTS = HttpSlots(total=24, per_tenant=6, per_host=2)
FINISHED_RETENTION = timedelta(days=30)
_int, _float = count, confidence  # the names these helpers had here (tests/unit/test_request_numbers.py)

NOT_IN_SERVICE = "The number you have dialled is not in service. Please check the number and call again."
TROUBLE = "We are sorry, we are having trouble connecting your call."
GOODBYE = "Please call again later. Goodbye."


class Forbidden(Exception):
    """A correctly signed request for a number or call of another Twilio account."""


def choose_flow(deployment: Deployment, lookup: engine.ScheduleLookup, now: datetime) -> tuple[str, str, str]:
    """(flow id, version, why) serving a call that arrives ``now`` on a number with ``deployment``."""
    if not deployment.schedules:
        return deployment.flow_id, deployment.version, "deployed"
    if any(lookup(name, now) for name in deployment.schedules):
        return deployment.flow_id, deployment.version, "schedule_open"
    if deployment.fallback_flow and deployment.fallback_version:
        return deployment.fallback_flow, deployment.fallback_version, "schedule_closed"
    return deployment.flow_id, deployment.version, "schedule_closed_no_fallback"


class CallService:
    def __init__(self, store: Store, settings: Settings, fetcher: HttpFetcher,
                 now: Callable[[], datetime], flows: FlowCache | None = None,
                 numbers: NumberCache | None = None, calendars: ScheduleCache | None = None,
                 routing: RoutingService | None = None, events: EventOutbox | None = None) -> None:  # fmt: skip
        self.store = store
        self.settings = settings
        self.fetcher = fetcher
        self.now = now
        self.flows = flows or FlowCache(store)
        self.numbers = numbers or NumberCache(store, settings.number_cache_seconds)
        self.calendars = calendars or ScheduleCache(store, settings.number_cache_seconds)
        self.urls = twiml.UrlBuilder(settings.public_base_url)
        self.routing = routing  # department routing; None: department transfers are Twilio queues
        self.departments = DepartmentCalls(self)
        # Copies of one HTTP step perform its request once (keyed by call and seq); one service per process.
        self.http_flights = SingleFlight(keep_seconds=30.0)
        self.events = events  # the event outbox (common/service/event_outbox.py); None: no events exported
        self.rewrites = 0  # turns written again because an events acknowledgement landed first
        # SMS and recordings through each account's REST API (twilio_requests.py); the bootstrap gives it
        # the accounts' tokens (without them every such request is the node's failed outcome)
        self.twilio = TwilioApi(None)

    # -- incoming --------------------------------------------------------------------------------

    def incoming(self, params: Mapping[str, str]) -> str:
        sid, to, account = params.get("CallSid", ""), params.get("To", ""), params.get("AccountSid", "")
        if not (sid and to and account):
            log.warning("incoming call without CallSid/To/AccountSid: %s", sorted(params))
            return twiml.say_and_hangup(TROUBLE + " " + GOODBYE)
        number = self.numbers.get(to)
        if number is None or number.deployment is None:
            log.warning("call %s to %s: number not registered or nothing deployed", sid, to)
            return twiml.say_and_hangup(NOT_IN_SERVICE)
        if number.account_sid and number.account_sid != account:
            raise Forbidden(f"{to} belongs to another Twilio account")
        now = self.now()
        lookup = self.calendars.lookup(number.tenant_id)
        flow_id, version, why = choose_flow(number.deployment, lookup, now)
        flow = self.flows.get(number.tenant_id, flow_id, version)
        trigger = {k: params[k][:256] for k in TRIGGER_FIELDS if k in params}
        live = self.departments.live(number.tenant_id)
        result = engine.step(flow, None, CallStarted(trigger), now, lookup, version=version, departments=live)
        call = self.departments.call_info(number.tenant_id, sid, account, trigger.get("From", ""), to)
        done = self.departments.finish(flow, result, call, now, lookup, version)
        document = done.document
        stamp = now.isoformat()
        record = CallRecord(
            call_sid=sid, tenant_id=number.tenant_id, number=to, account_sid=account,
            flow_id=flow_id, flow_version=version, seq=done.state.seq,
            state=done.state, twiml=document, status=done.state.status,
            created_at=stamp, updated_at=stamp,
            expires_at=now + timedelta(hours=self.settings.call_ttl_hours),
            events=[{"type": "call.routed", "seq": done.state.seq, "at": stamp, "nodeId": None,
                     "data": {"deployment": number.deployment.id, "flowId": flow_id, "version": version,
                              "reason": why}}, *done.events],
            pending_http=pending_request(done.actions),
        )  # fmt: skip
        record = self._with_events(record, None, record.events, flow, number.environment)
        if self._save(record, None) is not None:
            return document
        existing = self.store.read_call(sid)  # a retried incoming webhook: replay what we answered
        if existing is None:
            return document
        if existing[0].account_sid != account or existing[0].number != to:
            raise Forbidden(f"call {sid} belongs to another account or number")
        return existing[0].twiml

    # -- step ------------------------------------------------------------------------------------

    def step(self, params: Mapping[str, str], seq_text: str, deadline: float | None = None,
             query: Mapping[str, str] | None = None) -> str:
        """``deadline`` (time.monotonic()) bounds an HTTP node's request so the answer stays in budget;
        ``query``: the step URL's query (what other TwiML hands back to a redirect node)."""
        sid, account = params.get("CallSid", ""), params.get("AccountSid", "")
        found = self.store.read_call(sid) if sid else None
        if found is None:
            log.warning("step for unknown call %r", sid)
            return twiml.say_and_hangup(TROUBLE + " " + GOODBYE)
        record, token = found
        if record.account_sid != account:
            raise Forbidden(f"call {sid} belongs to another Twilio account")
        seq = int(seq_text) if SEQ.fullmatch(seq_text) else None  # bounded: int() of 5,000 digits raises
        if params.get("RecordingUrl") and seq is not None and self._late_recording(record, token, params, seq):
            return record.twiml
        if seq != record.seq + 1 or record.status != "active":
            return record.twiml  # duplicate, stale or malformed: the current document, unchanged
        state = record.state
        if state.department_wait is not None:
            return record.twiml  # the caller holds in a department: only its routing webhooks move the call
        return self.advance(record, token, state, lambda: self._event(state, params, record, deadline, query))

    def _late_recording(self, record: CallRecord, token: Any, params: Mapping[str, str], seq: int) -> bool:
        """Keep a recording whose Record action arrives after the call moved on without it: the status
        callback came first (the call ended waiting in the voicemail), or the Redirect after <Record>
        took noAudio. True when the request was such a late action (answered with the stored TwiML)."""
        url = params.get("RecordingUrl", "")[:1024]
        for _ in range(3):  # the compare-and-set can lose to another late write; re-check then
            state = record.state
            ended_waiting = record.status != "active" and seq == record.seq + 1 and state.waiting == "record"
            empty = [e for e in record.events if e.get("type") == "recording.ended" and e.get("seq") == record.seq
                     and not (e.get("data") or {}).get("recorded")] if seq == record.seq else []  # fmt: skip
            if not ended_waiting and not empty:
                return False
            if any(e.get("type") == "recording.ended" and (e.get("data") or {}).get("url") == url
                   for e in record.events):  # fmt: skip
                return True  # kept already: a duplicate writes nothing
            node_id = state.cursor if ended_waiting else empty[-1].get("nodeId")
            late = {"type": "recording.ended", "seq": record.seq, "at": self.now().isoformat(), "nodeId": node_id,
                    "data": {"late": True, "recorded": True, "url": url,
                             "duration": count(params.get("RecordingDuration")),
                             "recordingSid": params.get("RecordingSid", "")[:64]}}  # fmt: skip
            log.warning("call %s: recording %s arrived after the call moved on; kept as a late event",
                        record.call_sid, url)  # fmt: skip
            updated = record.model_copy(update={"events": [*record.events, late][-MAX_EVENTS:],
                                                "updated_at": self.now().isoformat()})  # fmt: skip
            if self._save(self._with_events(updated, record, [late], None), token) is not None:
                return True
            found = self.store.read_call(record.call_sid)
            if found is None:
                return True
            record, token = found
        return True

    def advance(self, record: CallRecord, token: Any, state: CallState, event: Callable[[], InboundEvent],
                say: str | None = None) -> str:  # fmt: skip
        """Run one turn of a call read with ``token`` and write it (compare-and-set): the new TwiML, or,
        when a concurrent duplicate wrote first, what it wrote. ``event`` is built only once the flow
        is in hand (an HTTP node's request is performed then). ``say``: a line routing wants spoken
        when the flow has nothing to say after the transfer."""
        flow = self.flows.get(record.tenant_id, record.flow_id, record.flow_version)
        lookup = self.calendars.lookup(record.tenant_id)
        started = time.monotonic()
        inbound = event()  # an HTTP node's request is performed here: its duration goes with the events
        http_ms = round((time.monotonic() - started) * 1000) if state.waiting == "http" else None
        try:
            result = engine.step(flow, state, inbound, self.now(), lookup, version=record.flow_version,
                                 departments=self.departments.live(record.tenant_id))  # fmt: skip
        except EngineError as exc:
            log.warning("call %s: %s", record.call_sid, exc)
            return record.twiml
        call = self.departments.call_info(record.tenant_id, record.call_sid, record.account_sid,
                                          state.trigger.get("From", ""), record.number)  # fmt: skip
        done = self.departments.finish(flow, result, call, self.now(), lookup, record.flow_version, say=say)
        return self._write(record, token, done, flow, http_ms)

    def _write(self, record: CallRecord, token: Any, done: Finished, flow: CompiledFlow | None = None,
               http_ms: int | None = None) -> str:  # fmt: skip
        changes = {"seq": done.state.seq, "state": done.state, "twiml": done.document,
                   "status": done.state.status, "updated_at": self.now().isoformat(),
                   "pending_http": pending_request(done.actions)}  # fmt: skip
        for _ in range(3):
            updated = record.model_copy(update={**changes, "events": (record.events + done.events)[-MAX_EVENTS:]})
            if self._save(self._with_events(updated, record, done.events, flow, http_ms=http_ms), token) is not None:
                return done.document
            again = self.store.read_call(record.call_sid)
            if again is None:
                return done.document
            if not same_but_outbox(record, again[0]):
                return again[0].twiml  # a concurrent duplicate won the race: answer what it wrote
            self.rewrites += 1
            record, token = again  # only the events' acknowledgement came in between: write this turn again
        return done.document

    def _with_events(self, record: CallRecord, before: CallRecord | None, raw: list[dict[str, Any]],
                     flow: CompiledFlow | None, environment: str = "production",
                     http_ms: int | None = None) -> CallRecord:  # fmt: skip
        """``record`` with the turn's exported rows in its outbox (unchanged when events are off)."""
        return record if self.events is None else self.events.attach(record, before, raw, flow, environment, http_ms)

    def _save(self, record: CallRecord, token: Any | None) -> Any | None:
        """Create (token None) or compare-and-set the call; once it landed, its outbox is published
        after the answer, off this thread. The new token, None when refused."""
        saved = self.store.save_call(record, token)
        if saved is not None and self.events is not None:
            self.events.written(record, saved)
        return saved

    def _event(self, state: CallState, params: Mapping[str, str], record: CallRecord,
               deadline: float | None, query: Mapping[str, str] | None = None) -> InboundEvent:  # fmt: skip
        waiting = state.waiting
        if waiting == "input":
            digits, speech = params.get("Digits", ""), params.get("SpeechResult", "")
            if digits.strip():
                return DigitsEntered(digits.strip()[:64])
            if speech.strip():
                return SpeechHeard(speech.strip()[:1024], confidence(params.get("Confidence")))
            return NoInput()
        if waiting == "dial":
            return DialEnded(params.get("DialCallStatus", "failed"), count(params.get("DialCallDuration")))
        if waiting == "queue":
            return QueueEnded(params.get("QueueResult", "error"), count(params.get("QueueTime")))
        if waiting == "record":
            return RecordingEnded(params.get("RecordingUrl") or None, count(params.get("RecordingDuration")),
                                  params.get("Digits"), params.get("RecordingSid"))  # fmt: skip
        if waiting == "redirect":
            return redirect_return(params, query)
        if waiting == "http" and record.pending_http:
            request = self.twilio.request(record.pending_http, record.account_sid)
            if isinstance(request, HttpCompleted):
                return request  # a Twilio request that cannot be made (no token): the node's failed outcome
            timeout = min(request.timeout_seconds, self.settings.http_node_timeout)
            if deadline is not None:  # keep time to write the new state and answer within budget
                timeout = min(timeout, deadline - time.monotonic() - WRITE_RESERVE_SECONDS)
            if timeout < MIN_FETCH_SECONDS:
                return HttpCompleted(0, "", "no time left in this webhook's budget for the request")
            stop = time.monotonic() + timeout
            shared = self.http_flights.do((record.call_sid, record.seq + 1), stop,
                                          lambda: self._fetch(request, record, timeout, stop))  # fmt: skip
            # None: the first copy outlived this one's deadline (its own write will carry the answer)
            return shared or HttpCompleted(0, "", "a copy of this request is still in flight")
        return HttpCompleted(0, "", "no pending request")

    def _fetch(self, request: HttpRequest, record: CallRecord, timeout: float,
               stop: float) -> HttpCompleted:  # fmt: skip
        # Copies in other processes may get here too; the key lets the API dedupe.
        headers = {"Idempotency-Key": f"{record.call_sid}-{record.seq + 1}", **request.headers}
        if request.body is not None and not any(name.lower() == "content-type" for name in request.headers):
            headers["Content-Type"] = request.content_type  # what the node declared; a flow's own header wins
        try:  # slow APIs must not take every worker thread, nor one tenant every tenant's slots
            slot = HTTP_SLOTS.acquire(record.tenant_id, stop, host_of(request.url))
        except SlotsFull as exc:
            return HttpCompleted(0, "", str(exc))
        try:
            status, body, error = self.fetcher.fetch(request.method, request.url, headers, request.body, timeout)
        finally:
            HTTP_SLOTS.release(slot)
        return HttpCompleted(status, body, error)

    def render(self, actions: Any, state: CallState, tenant_id: str, queue_document: str | None = None) -> str:
        document = twiml.render(actions, self.urls, state.seq + 1, tenant_id, queue_document)
        problems = twiml.check(document)
        if problems:  # never hand Twilio a document it would refuse (and replay it on duplicates)
            log.error("call %s: rendered TwiML refused (%s); ending the call politely", state.call_sid,
                      "; ".join(problems[:3]))  # fmt: skip
            return twiml.say_and_hangup(TROUBLE + " " + GOODBYE)
        return document

    # -- status ----------------------------------------------------------------------------------

    def status(self, params: Mapping[str, str]) -> None:
        sid, account = params.get("CallSid", ""), params.get("AccountSid", "")
        for _ in range(5):  # the CAS can lose to a last step landing at the same moment
            found = self.store.read_call(sid) if sid else None
            if found is None:
                log.info("status callback for unknown call %r", sid)
                return
            record, token = found
            if record.account_sid != account:
                raise Forbidden(f"call {sid} belongs to another Twilio account")
            if record.call_status is not None:
                # Already finalised: a duplicate callback writes nothing, but routing hears it again
                # (it changes nothing there either), in case the first time it could not be reached.
                self.departments.call_ended(record.tenant_id, sid)
                return
            now = self.now()
            duration = count(params.get("CallDuration"))
            state = record.state
            outcome = state.end_reason or f"caller_{params.get('CallStatus', 'completed')}"
            final = completed_event(record, now, duration, params.get("CallStatus", ""), outcome)
            updated = record.model_copy(update={
                "status": "ended", "call_status": params.get("CallStatus", "completed"),
                "duration_seconds": duration, "outcome": outcome, "updated_at": now.isoformat(),
                "events": [*record.events, final][-MAX_EVENTS:], "expires_at": now + FINISHED_RETENTION,
                "pending_http": None,
            })  # fmt: skip
            if self._save(self._with_events(updated, record, [final], None), token) is not None:
                self.departments.call_ended(record.tenant_id, sid)
                return
        log.error("status callback for %s lost every write race; the sweep will finalise it", sid)

    def expire_stale(self) -> int:
        """Finalise active calls whose status callback never came (the local stand-in for TTL)."""
        count = 0
        for sid in self.store.active_calls_expired(self.now()):
            found = self.store.read_call(sid)
            if found is None:
                continue
            record, token = found
            if record.status != "active":
                continue  # finalised since the query ran
            final = completed_event(record, self.now(), None, "unknown", "expired")
            updated = record.model_copy(update={
                "status": "ended", "call_status": "unknown", "outcome": "expired",
                "updated_at": self.now().isoformat(), "events": [*record.events, final][-MAX_EVENTS:],
            })  # fmt: skip
            count += self._save(self._with_events(updated, record, [final], None), token) is not None
        return count

    # -- fallback --------------------------------------------------------------------------------

    def fallback(self, dial: str | None, number: str | None = None) -> str:
        """For the number's Fallback URL and for failures: no store I/O, no flow. Apologise, then dial the
        destination named in the URL, else the number's last known fallback, else the platform's, else
        say goodbye."""
        from twilio.twiml.voice_response import VoiceResponse

        known = self.numbers.last_known(number) if number else None
        target = dial or (known.fallback_dial if known else None) or self.settings.fallback_dial
        response = VoiceResponse()
        if target and re.fullmatch(r"\+[1-9][0-9]{1,14}", target):
            response.say(TROUBLE + " Please hold while we connect you.", language="en-US")
            response.dial(target, timeout=30)
        else:
            response.say(TROUBLE + " " + GOODBYE, language="en-US")
        response.hangup()
        return str(response.to_xml())

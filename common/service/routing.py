"""Department routing, the service: a call joins a queue, holds, reaches an agent or leaves.

    RoutingService(deps)
      .admin          departments and agents (routing_admin)
      .dispatcher     assignment and the agents' legs (routing_dispatch)
      .upkeep         escalation ladder and sweep (routing_upkeep)
      route / route_request                   a call joins a department's queue
      hold / connect / dial_ended / menu /    the caller's webhooks: each answers CallerTwiml (a
      callback_confirm / callback_number      document, or an outcome for the flow to continue from)
      call_ended                              the caller's status callback: abandonment
      handle_task                             Timers deliveries: escalate, sweep, callback
      admin.stats / admin.live                numbers for the API and for flow decision rules

Rules owned here:
- ``route`` is idempotent per (call, department): the entry id is derived from both and created with
  a compare-and-set, so a retried request returns the same entry (``created`` False). It refuses an
  unknown department (404), a call that is not the tenant's (404, like a missing one) or has ended
  (409), and a bad priority or context (400); and answers, without creating anything, ``closed``
  (the department's schedule says so), ``noAgents`` (its join-when-empty rule fails) or ``full``.
- A caller never hears an error because of routing: anything unexpected on their path answers the
  outcome ``failed`` (the flow's failure branch, then the number's fallback) rather than raising.
- Abandonment: a caller who hangs up while waiting (or ringing an agent) leaves the queue at once,
  recorded with the wait; the agents being offered them are withdrawn. Callback entries stay: the
  customer hung up on purpose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from common.adapters.routing_store import Agent, QueueEntry
from common.core import queue_twiml, routing
from common.core.routing_hold import announcement_due, hold_plan, menu_choice, menu_keys
from common.core.routing_model import DEPARTMENT_ID_PATTERN, E164_PATTERN, RoutingError, entry_id, iso
from common.core.routing_model import priority as parse_priority
from common.service.admin import ApiError
from common.service.routing_admin import RoutingAdmin, field_path
from common.service.routing_base import (
    ENTRY_TTL,
    WRITE_ATTEMPTS,
    CallerTwiml,
    CallInfo,
    RoutingDeps,
    bump,
    commit,
    log,
    noted,
    quietly,
    ref_of,
)  # fmt: skip
from common.service.routing_dispatch import Assignment, Dispatcher
from common.service.routing_upkeep import Upkeep

MAX_CONTEXT_BYTES = 8 * 1024
FAILED = CallerTwiml(outcome="failed")
Place = tuple[int | None, int | None]  # 1-based position and expected wait seconds (None: not waiting)
CALLBACK_THANKS = "Thank you. We will call you back, and you keep your place in line. Goodbye."


@dataclass(frozen=True, slots=True)
class RouteResult:
    outcome: str  # queued | closed | noAgents | full
    entry: QueueEntry | None = None
    position: int | None = None  # 1-based place among waiting callers; 0 once assigned to an agent
    expected_wait_seconds: int | None = None
    created: bool = False
    caller: CallerTwiml | None = None  # what to answer the caller's webhook with (queued only)

    def view(self) -> dict[str, Any]:
        entry = self.entry
        return {"outcome": self.outcome, "entryId": entry.id if entry else None,
                "department": entry.department_id if entry else None, "status": entry.status if entry else None,
                "priority": entry.priority if entry else None, "position": self.position,
                "expectedWaitSeconds": self.expected_wait_seconds, "created": self.created}  # fmt: skip


class RouteBody(BaseModel):
    """``POST /api/departments/route``: the seed's body."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)
    call_sid: str = Field(pattern=r"^CA[A-Za-z0-9_-]{1,64}$")
    department: str
    priority: int | str = "normal"
    context: dict[str, Any] = Field(default_factory=dict)
    max_wait_seconds: int | None = Field(None, ge=30, le=86_400)


class RoutingService:
    def __init__(self, deps: RoutingDeps) -> None:
        self.deps, self.store = deps, deps.store
        self.dispatcher = Dispatcher(deps)
        self.upkeep = Upkeep(deps, self.dispatcher)
        self.admin = RoutingAdmin(deps, on_available=lambda t, d, now: self.dispatcher.dispatch(t, d, now))

    # -- joining ---------------------------------------------------------------------------------

    def route(self, tenant_id: str, call_sid: str, account_sid: str | None, department_id: str,
              priority: int | str, context: dict[str, Any] | None = None, now: datetime | None = None, *,
              max_wait_seconds: int | None = None, answering: bool = True, call: CallInfo | None = None,
              join: str = "") -> RouteResult:  # fmt: skip
        """Put a live call in a department's queue. ``answering``: the caller's own webhook is being
        answered with ``result.caller`` (the flow's transfer); False for the API, which redirects the
        call to its hold loop (or its agent) through CallControl. ``call``: what the host already knows
        of the call (spares the lookup); ``join``: a flow's transfer (its turn), so a call sent to one
        department twice gets a new entry each time while a retried join gets the same one."""
        now = now or self.deps.clock()
        try:
            level = parse_priority(priority)
        except RoutingError as exc:
            raise ApiError(400, "invalid_request", str(exc), [{"field": "priority", "message": exc.message}]) from exc
        context = self._context(context)
        known = re.fullmatch(DEPARTMENT_ID_PATTERN, department_id) is not None
        department = self.deps.department(tenant_id, department_id) if known else None
        if department is None:
            raise ApiError(404, "not_found", f"department '{department_id}' does not exist",
                           [{"field": "department", "message": "no such department"}])  # fmt: skip
        call = call or self.deps.call_lookup(call_sid)
        if call is None or call.tenant_id != tenant_id or (account_sid and call.account_sid != account_sid):
            raise ApiError(404, "not_found", f"call {call_sid} is not a call of this tenant",
                           [{"field": "callSid", "message": "no such call"}])  # fmt: skip
        if call.status == "ended":
            raise ApiError(409, "call_ended", f"call {call_sid} has ended; it cannot join a queue",
                           [{"field": "callSid", "message": "the call has ended"}])  # fmt: skip
        key = entry_id(call_sid, department_id, join)
        existing = self.store.get_entry(tenant_id, department_id, key)
        if existing is not None:
            return self._queued(existing, now, created=False, answering=answering)
        settings = department.settings
        if settings.schedule and self.deps.schedule_open(tenant_id, settings.schedule, now) is False:
            return RouteResult("closed")
        # the join rule's agents, and the working ones: the first dispatch and the caller's place use them
        needed = routing.join_statuses(settings.join_when_empty) | routing.WORKING
        agents = self.store.list_agents(tenant_id, department_id, statuses=needed)
        if not routing.can_join(settings.join_when_empty, agents, now):
            return RouteResult("noAgents")
        if self.store.count_entries(tenant_id, department_id, "waiting") >= settings.max_queue_size:
            return RouteResult("full")
        at, longest = iso(now), settings.max_wait_seconds
        entry = QueueEntry(tenant_id=tenant_id, department_id=department_id, id=key,
                           call_sid=call_sid, account_sid=call.account_sid, caller=call.caller, called=call.called,
                           priority=level, arrived_at=at, joined_at=at, context=context, expires_at=now + ENTRY_TTL,
                           max_wait_seconds=min(longest, max_wait_seconds or longest),
                           history=({"at": at, "event": "joined", "priority": level},))  # fmt: skip
        if not commit(self.store, [entry]):
            raced = self.store.get_entry(tenant_id, department_id, entry.id)
            if raced is None:
                raise ApiError(503, "unavailable", "the queue could not be written; nothing was changed, try again")
            return self._queued(raced, now, created=False, answering=answering)
        quietly("escalation timers", lambda: self.upkeep.schedule(entry, department))
        quietly("sweep timer", lambda: self.dispatcher.schedule_sweep(tenant_id, department_id, now))
        mine = entry.id if answering else None
        made = quietly("dispatch", lambda: self.dispatcher.dispatch(tenant_id, department_id, now, answering=mine,
                                                                    agents=agents)) or []  # fmt: skip
        return self._queued(entry, now, created=True, answering=answering, agents=agents, made=made)

    def _context(self, context: Any) -> dict[str, Any]:
        if context is None:
            return {}
        if not isinstance(context, dict):
            raise ApiError(400, "invalid_request", "context: must be an object",
                           [{"field": "context", "message": "must be an object"}])  # fmt: skip
        if len(json.dumps(context, default=str)) > MAX_CONTEXT_BYTES:
            raise ApiError(400, "invalid_request", f"context: larger than {MAX_CONTEXT_BYTES} bytes",
                           [{"field": "context", "message": f"at most {MAX_CONTEXT_BYTES} bytes of JSON"}])  # fmt: skip
        return json.loads(json.dumps(context, default=str))

    def _queued(self, entry: QueueEntry, now: datetime, created: bool, answering: bool,
                agents: list[Agent] | None = None, made: Sequence[Assignment] = ()) -> RouteResult:  # fmt: skip
        """The result of a join; ``agents`` and ``made`` (what the join's dispatch did) spare re-reads."""
        current = next((m.entry for m in made if m.entry.id == entry.id), entry)
        if agents is not None:
            offered = {a.id: a for m in made for a in m.agents}
            agents = [offered.get(a.id, a) for a in agents]
        position, wait = self._place(current, now, agents)
        caller = self._answer(current, now, (position, wait)) if answering else None
        if not answering and created and current.status == "waiting":
            url = self.deps.urls.url(queue_twiml.HOLD, ref_of(current))
            if not self.deps.calls.redirect(current.account_sid, current.call_sid, url):
                log.warning("could not redirect %s to its hold loop", current.call_sid)
        return RouteResult("queued", current, position, wait, created, caller)

    def _place(self, entry: QueueEntry, now: datetime, agents: list[Agent] | None = None) -> Place:
        """1-based place and expected wait: one count, plus the working agents unless they are given."""
        if entry.status != "waiting":
            return (0, 0) if entry.status in ("assigned", "connected") else (None, None)
        ahead = self.store.count_ahead(entry)
        if agents is None:
            agents = self.store.list_agents(entry.tenant_id, entry.department_id, statuses=routing.WORKING)
        return ahead + 1, routing.expected_wait(ahead, agents, now)

    def _answer(self, entry: QueueEntry, now: datetime, place: Place) -> CallerTwiml:
        try:
            return self._hold(entry.tenant_id, entry.department_id, entry.id, now, 0, entry, place)
        except Exception:
            log.exception("first hold document of entry %s/%s failed", entry.department_id, entry.id)
            return FAILED

    def route_request(self, tenant_id: str, body: Any, now: datetime | None = None) -> tuple[int, dict[str, Any]]:
        """``POST /api/departments/route``: 201 with position and expected wait (200 when it existed)."""
        try:
            request = RouteBody.model_validate(body if body is not None else {})
        except ValidationError as exc:
            details = [{"field": field_path(tuple(e["loc"])) or "body", "message": e["msg"]}
                       for e in exc.errors(include_url=False)]  # fmt: skip
            raise ApiError(400, "invalid_request", f"{details[0]['field']}: {details[0]['message']}", details) from exc
        result = self.route(tenant_id, request.call_sid, None, request.department, request.priority, request.context,
                            now, max_wait_seconds=request.max_wait_seconds, answering=False)  # fmt: skip
        refusals = {"closed": ("department_closed", "the department is closed now"),
                    "noAgents": ("no_agents", "no agent is logged in to the department"),
                    "full": ("queue_full", "the department's queue is full")}  # fmt: skip
        if result.outcome in refusals:
            code, why = refusals[result.outcome]
            raise ApiError(409, code, f"{why}; the call was not queued", {"outcome": result.outcome})
        return (201 if result.created else 200), result.view()

    # -- the caller's leg ------------------------------------------------------------------------

    def hold(self, tenant_id: str, department_id: str, entry_id_: str, now: datetime | None = None,
             _depth: int = 0) -> CallerTwiml:  # fmt: skip
        """One iteration of the caller's loop (also the connect URL a redirect points at)."""
        now = now or self.deps.clock()
        try:
            return self._hold(tenant_id, department_id, entry_id_, now, _depth)
        except Exception:
            log.exception("hold loop of entry %s/%s failed", department_id, entry_id_)
            return FAILED

    connect = hold  # the REST redirect's target: an assigned entry connects, anything else holds

    def _hold(self, tenant_id: str, department_id: str, entry_id_: str, now: datetime, depth: int,
              known: QueueEntry | None = None, place: Place | None = None) -> CallerTwiml:  # fmt: skip
        entry = known or self.store.get_entry(tenant_id, department_id, entry_id_)
        department = self.deps.department(tenant_id, department_id)
        if entry is None or department is None or depth > 3:
            return FAILED
        if entry.status == "waiting":
            entry = self.upkeep.apply_due(entry, department, now, answering=True)
        hold_settings = department.settings.hold
        position = wait = None
        if announcement_due(entry, hold_settings, now):
            position, wait = place if place is not None and entry is known else self._place(entry, now)
        plan = hold_plan(entry, hold_settings, now, position, wait)
        if plan.changes and not commit(self.store, [bump(entry, **plan.changes)]):
            return self._hold(tenant_id, department_id, entry_id_, now, depth + 1)  # it changed: decide again
        ref = ref_of(entry)
        if plan.kind == "connect":
            document = self.dispatcher.connect_document(department, entry)
            if document is not None:
                return CallerTwiml(twiml=document, entry=entry)
            self.dispatcher.release(tenant_id, department_id, entry.id, entry.offer_id or "", now, "agents-gone",
                                    miss=False)  # fmt: skip
            self.dispatcher.dispatch(tenant_id, department_id, now, answering=entry.id)
            return self._hold(tenant_id, department_id, entry_id_, now, depth + 1)
        if plan.kind == "hold":
            return CallerTwiml(twiml=queue_twiml.hold(plan, hold_settings, self.deps.urls, ref), entry=entry)
        if plan.kind == "follow" and entry.overflowed_to:
            target_department, _, target_entry = entry.overflowed_to.partition("/")
            return self._hold(tenant_id, target_department, target_entry, now, depth + 1)
        if plan.kind == "leave":
            say = CALLBACK_THANKS if plan.outcome == "callbackRequested" else None
            return CallerTwiml(outcome=plan.outcome, say=say, entry=entry)
        return CallerTwiml(twiml=queue_twiml.say_then("", None), entry=entry)

    def dial_ended(self, tenant_id: str, department_id: str, entry_id_: str, offer: str, dial_status: str,
                   duration: int | None = None, now: datetime | None = None) -> CallerTwiml:  # fmt: skip
        """The caller's Dial to the agents ended: completed after a conversation, else back in line
        and the next agent tried at once."""
        now = now or self.deps.clock()
        try:
            entry = self.dispatcher.offer_ended(tenant_id, department_id, entry_id_, offer, dial_status, duration, now)
            if entry is not None and entry.status == "waiting":
                self.dispatcher.dispatch(tenant_id, department_id, now, answering=entry.id)
        except Exception:
            log.exception("dial result of entry %s/%s failed", department_id, entry_id_)
            return FAILED
        return self.hold(tenant_id, department_id, entry_id_, now)

    def menu(self, tenant_id: str, department_id: str, entry_id_: str, digits: str,
             now: datetime | None = None) -> CallerTwiml:  # fmt: skip
        """A key pressed during hold: 1 callback (confirm the number), 2 voicemail; else keep holding."""
        now = now or self.deps.clock()
        entry = self.store.get_entry(tenant_id, department_id, entry_id_)
        department = self.deps.department(tenant_id, department_id)
        if entry is None or department is None or entry.status != "waiting":
            return self.hold(tenant_id, department_id, entry_id_, now)
        hold_settings = department.settings.hold
        choice = menu_choice(digits, menu_keys(hold_settings, entry.callback_offered))
        if choice == "callback":
            if entry.caller and _is_e164(entry.caller):
                return CallerTwiml(twiml=queue_twiml.callback_confirm(entry.caller, hold_settings, self.deps.urls,
                                                                      ref_of(entry)), entry=entry)  # fmt: skip
            return CallerTwiml(twiml=queue_twiml.callback_number_entry(hold_settings, self.deps.urls, ref_of(entry)))
        if choice == "voicemail":
            closed = self.upkeep.close_waiting(entry, "voicemail", now, "the caller chose voicemail")
            if closed is not None:
                return CallerTwiml(outcome="voicemail", entry=closed)
        return self.hold(tenant_id, department_id, entry_id_, now)

    def callback_confirm(self, tenant_id: str, department_id: str, entry_id_: str, number: str, digits: str,
                         now: datetime | None = None) -> CallerTwiml:  # fmt: skip
        now = now or self.deps.clock()
        department = self.deps.department(tenant_id, department_id)
        pressed = digits.strip()[:1]
        if pressed == "1" and _is_e164(number):
            entry = self.request_callback(tenant_id, department_id, entry_id_, number, now)
            if entry is not None:
                return CallerTwiml(outcome="callbackRequested", say=CALLBACK_THANKS, entry=entry)
        if pressed == "2" and department is not None:
            ref = queue_twiml.EntryRef(tenant_id, department_id, entry_id_)
            return CallerTwiml(twiml=queue_twiml.callback_number_entry(department.settings.hold, self.deps.urls, ref))
        return self.hold(tenant_id, department_id, entry_id_, now)

    def callback_number(self, tenant_id: str, department_id: str, entry_id_: str, digits: str,
                        now: datetime | None = None) -> CallerTwiml:  # fmt: skip
        """A number keyed in for the callback (with country code): read it back to confirm."""
        department = self.deps.department(tenant_id, department_id)
        if department is None:
            return FAILED
        ref, hold_settings = queue_twiml.EntryRef(tenant_id, department_id, entry_id_), department.settings.hold
        number = "+" + "".join(ch for ch in digits if ch.isdigit())
        if not _is_e164(number):
            return CallerTwiml(twiml=queue_twiml.callback_number_entry(hold_settings, self.deps.urls, ref, retry=True))
        return CallerTwiml(twiml=queue_twiml.callback_confirm(number, hold_settings, self.deps.urls, ref))

    def request_callback(self, tenant_id: str, department_id: str, entry_id_: str, number: str,
                         now: datetime | None = None) -> QueueEntry | None:  # fmt: skip
        """The entry becomes a callback entry in place (same priority and arrival). None if it is no
        longer waiting (an agent is already ringing for this caller, or the caller left)."""
        now = now or self.deps.clock()
        for _ in range(WRITE_ATTEMPTS):
            entry = self.store.get_entry(tenant_id, department_id, entry_id_)
            if entry is None or entry.status != "waiting":
                return None
            if entry.kind == "callback":
                return entry
            updated = bump(entry, kind="callback", callback_number=number,
                           history=noted(entry, now, "callbackRequested", number=number))  # fmt: skip
            if commit(self.store, [updated]):
                return updated
        return None

    def voicemail_recorded(self, tenant_id: str, department_id: str, entry_id_: str, recording_url: str | None,
                           now: datetime | None = None) -> str:  # fmt: skip
        """The department's own voicemail (``queue_twiml.voicemail``) was recorded: note it; goodbye."""
        now = now or self.deps.clock()
        entry = self.store.get_entry(tenant_id, department_id, entry_id_)
        if entry is not None and recording_url:
            commit(self.store, [bump(entry, history=noted(entry, now, "voicemailRecorded", url=recording_url))])
        return queue_twiml.say_then("Thank you for your message. Goodbye.", None)

    def call_ended(self, tenant_id: str, call_sid: str, now: datetime | None = None) -> list[QueueEntry]:
        """The caller's call ended (status callback): close what it left open in any department."""
        now = now or self.deps.clock()
        closed: list[QueueEntry] = []
        for entry in self.store.entries_for_call(tenant_id, call_sid):
            if entry.kind != "call":
                continue  # a callback request: the customer hung up on purpose
            done: QueueEntry | None = None
            if entry.status == "waiting":
                done = self.upkeep.close_waiting(entry, "abandoned", now, "the caller hung up")
            elif entry.status == "assigned":
                done = self.dispatcher.release(tenant_id, entry.department_id, entry.id, entry.offer_id or "", now,
                                               "the caller hung up", status="abandoned", miss=False)  # fmt: skip
                if done is not None:
                    self.dispatcher.dispatch(tenant_id, entry.department_id, now)
            elif entry.status == "connected":
                done = self.dispatcher.finish(entry, "completed", now, None)
            closed += [done] if done is not None else []
        return closed

    # -- tasks -----------------------------------------------------------------------------------

    def handle_task(self, kind: str, payload: Any, now: datetime | None = None) -> dict[str, Any]:
        """A Timers delivery to ``/api/departments/tasks/<kind>`` (the web layer authenticates it)."""
        now = now or self.deps.clock()
        if kind not in ("escalate", "sweep", "callback"):
            raise ApiError(404, "not_found", f"no task kind {kind!r}; expected escalate, sweep or callback")
        fields = ("tenant", "department", "entry") if kind != "sweep" else ("tenant", "department")
        if not isinstance(payload, dict):
            raise ApiError(400, "invalid_request", "the task payload must be a JSON object")
        for name in fields:
            value = payload.get(name)
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
                raise ApiError(400, "invalid_request", f"{name}: required id (letters, digits, '_', '.', '-')",
                               [{"field": name, "message": "required id"}])  # fmt: skip
        tenant_id, department_id = payload["tenant"], payload["department"]
        if kind == "escalate":
            step = payload.get("step")
            if not (step == "max" or (isinstance(step, int) and not isinstance(step, bool) and step >= 0)):
                raise ApiError(400, "invalid_request", "step: a ladder index or \"max\"",
                               [{"field": "step", "message": "a ladder index or \"max\""}])  # fmt: skip
            return {"result": self.upkeep.escalate(tenant_id, department_id, payload["entry"], step, now)}
        if kind == "sweep":
            return self.upkeep.sweep(tenant_id, department_id, now)
        return {"assigned": len(self.dispatcher.dispatch(tenant_id, department_id, now))}


def _is_e164(number: str) -> bool:
    """A number we can call back: E.164 with at least 8 digits (shorter ones are no subscriber's)."""
    return re.fullmatch(E164_PATTERN, number) is not None and len(number) >= 9

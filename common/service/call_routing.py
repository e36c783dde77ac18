"""Department transfers on live calls: the call service's side of department routing.

    finish      render a turn; a turn that ends in a transfer to a department joins its queue first
                (``RoutingService.route``) and answers the routing service's first document (the hold
                loop, or the connect document when an agent is free) after what the turn said, or,
                when routing answers an outcome at once (closed, noAgents, a full queue, failed),
                resumes the flow with it in the same webhook: one write of the call document
    hook        the routing webhooks, /webhook/departments/<kind>: the routing service answers a
                document (answered as is) or, on the caller's leg, an outcome for the flow, which then
                resumes from the transfer node (``DepartmentEnded``) and its next TwiML is answered
    call_ended  the caller's status callback: the caller left every queue (abandonment)
    live        ``departments.<id>`` for decision rules, from ``routing.admin.live``

Rules owned here:
- With no routing service (``CallService.routing`` None) nothing here routes: a transfer renders as a
  Twilio <Enqueue> exactly as before, ``live`` answers nothing, and the hooks are not served.
- A caller never hears an error because of routing: an exception from a join or a hook on the
  caller's leg is the transfer's ``failed`` outcome (the flow decides), and only a failure of the
  call store itself reaches the web layer (which answers the number's fallback).
- The call document remembers the entry its caller holds in (``CallState.department_wait``:
  department, entry, arrival). An outcome resumes the flow only while the call still waits on
  "queue" for that very entry (the entry of the hook, or the one it overflowed to: same call, same
  arrival); anything else is a duplicate or a stale delivery and gets the stored TwiML unchanged,
  with no write. Resuming is the call service's compare-and-set turn, so a hook delivered twice,
  even at once, advances the call's seq exactly once and both deliveries answer the same document.
- The tenant named by a hook (``t``) must own the Twilio account that signed it (the web layer
  checked the signature); a correctly signed hook for another tenant's entry is refused (Forbidden).
  The owner is read once per ``OWNER_SECONDS`` per instance (a hold iteration costs no tenant read).
- Each join names its turn (``join``: the call's seq), so a flow that sends a caller to the same
  department again gets a new entry, while a retried webhook of the same turn joins the same entry.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from common.core import engine, queue_twiml
from common.core.call import Action, CallState, DepartmentEnded, Say, StepResult, TransferToDepartment
from common.core.flow import CompiledFlow
from common.service.routing_base import CallInfo

if TYPE_CHECKING:
    from common.service.calls import CallService
    from common.service.routing_base import CallerTwiml

log = logging.getLogger("ivr.calls")

MAX_JOINS = 4  # joins per webhook when departments answer outcomes at once and the flow tries another
FLOW_PATH_KEPT = 20  # nodes of the flow's path carried to the entry's context
OWNER_SECONDS = 60.0
#: the hooks on the caller's own leg (their outcome resumes the flow); the rest are agents' legs
CALLER_HOOKS = frozenset({queue_twiml.HOLD, queue_twiml.CONNECT, queue_twiml.MENU, queue_twiml.DIAL_RESULT,
                          queue_twiml.CALLBACK_CONFIRM, queue_twiml.CALLBACK_NUMBER,
                          queue_twiml.VOICEMAIL})  # fmt: skip
#: routing's words for a refused join, as the transfer's outcomes
REFUSED = {"closed": "closed", "noAgents": "noAgents", "full": "busy"}
ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


class HookRefused(ValueError):
    """A routing hook whose query does not name an entry (``field`` says which parameter)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"query parameter {field!r}: {message}")
        self.field = field


@dataclass
class Finished:
    """A turn ready to store: the state (with its department wait), the call events, the TwiML."""

    state: CallState
    events: list[dict[str, Any]]
    document: str
    actions: list[Action] = field(default_factory=list)


@dataclass(frozen=True)
class _Joined:
    document: str | None = None  # queued: the routing service's first document for the caller
    outcome: str | None = None  # or the transfer's outcome at once
    say: str | None = None
    wait: dict[str, str] | None = None
    wait_seconds: int = 0
    event: dict[str, Any] = field(default_factory=dict)


class TenantAccounts:
    """Which Twilio account each tenant's calls come from, per instance for ``OWNER_SECONDS``."""

    def __init__(self, read: Callable[[str], str | None], seconds: float = OWNER_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.read, self.seconds, self.clock = read, seconds, clock
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def owner(self, tenant_id: str) -> str | None:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(tenant_id)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        found = self.read(tenant_id)
        with self._lock:
            if len(self._cache) >= 10_000:
                self._cache.pop(next(iter(self._cache)))
            self._cache[tenant_id] = (now, found)
        return found


class DepartmentCalls:
    def __init__(self, calls: CallService) -> None:
        self.calls = calls
        self.owners = TenantAccounts(self._read_owner)

    def _read_owner(self, tenant_id: str) -> str | None:
        tenant = self.calls.store.get_tenant(tenant_id)
        return tenant.twilio_account_sid if tenant is not None else None

    # -- what the engine reads -------------------------------------------------------------------

    def live(self, tenant_id: str) -> engine.DepartmentLookup | None:
        routing = self.calls.routing
        if routing is None:
            return None

        def lookup(department_id: str) -> Mapping[str, Any] | None:
            try:
                return routing.admin.live(tenant_id, department_id, self.calls.now())
            except Exception:  # a decision reads empty text rather than fail the call
                log.exception("live state of department %s/%s unavailable", tenant_id, department_id)
                return None

        return lookup

    @staticmethod
    def call_info(tenant_id: str, call_sid: str, account_sid: str, caller: str, called: str) -> CallInfo:
        return CallInfo(tenant_id, account_sid, "active", caller, called)

    # -- a turn ---------------------------------------------------------------------------------

    def finish(self, flow: CompiledFlow, result: StepResult, call: CallInfo, now: datetime,
               schedules: engine.ScheduleLookup, version: str, say: str | None = None) -> Finished:  # fmt: skip
        actions, state, events = list(result.actions), result.state, [_event(e) for e in result.events]
        if say and _unhandled(result, state):
            actions.insert(0, Say(say, flow.flow.settings.voice, flow.flow.settings.language))
        _log_priorities(result, call.tenant_id)
        joins = 0
        while self.calls.routing is not None and state.waiting == "queue" and actions \
                and isinstance(actions[-1], TransferToDepartment):  # fmt: skip
            joins += 1
            joined = self._join(call, state, actions[-1], now) if joins <= MAX_JOINS else _Joined(outcome="failed")
            if joined.event:
                events.append({"type": joined.event.pop("type"), "seq": state.seq, "at": now.isoformat(),
                               "nodeId": state.cursor, "data": joined.event})  # fmt: skip
            if joined.document is not None:
                state = state.model_copy(update={"department_wait": joined.wait})
                document = self.calls.render(actions, state, call.tenant_id, joined.document)
                return Finished(state, events, document, actions)
            assert joined.outcome is not None
            actions.pop()  # the transfer: routing answered it, the flow goes on in this webhook
            nxt = engine.step(flow, state, DepartmentEnded(joined.outcome, joined.wait_seconds), now, schedules,
                              version, departments=self.live(call.tenant_id))  # fmt: skip
            if joined.say and _unhandled(nxt, nxt.state):
                actions.append(Say(joined.say, flow.flow.settings.voice, flow.flow.settings.language))
            _log_priorities(nxt, call.tenant_id)
            actions += nxt.actions
            state = nxt.state
            events += [_event(e) for e in nxt.events]
        return Finished(state, events, self.calls.render(actions, state, call.tenant_id), actions)

    def _join(self, call: CallInfo, state: CallState, transfer: TransferToDepartment, now: datetime) -> _Joined:
        routing = self.calls.routing
        assert routing is not None
        context = {"customerInfo": dict(transfer.context), "flowPath": state.path[-FLOW_PATH_KEPT:]}
        where = {"type": "department.joined", "department": transfer.department, "priority": transfer.priority}
        try:
            result = routing.route(call.tenant_id, state.call_sid, call.account_sid, transfer.department,
                                   transfer.priority, context, now, max_wait_seconds=transfer.max_wait_seconds,
                                   answering=True, call=call, join=str(state.seq))  # fmt: skip
        except Exception as exc:
            from common.service.admin import ApiError

            if isinstance(exc, ApiError) and exc.status < 500:
                log.warning("call %s: transfer to department %s refused: %s", state.call_sid, transfer.department,
                            exc.message)  # fmt: skip
            else:
                log.exception("call %s: transfer to department %s failed", state.call_sid, transfer.department)
            return _Joined(outcome="failed", event={**where, "type": "department.refused", "outcome": "failed"})
        if result.outcome in REFUSED:
            outcome = REFUSED[result.outcome]
            return _Joined(outcome=outcome, event={**where, "type": "department.refused", "outcome": outcome})
        entry, caller = result.entry, result.caller
        if entry is None or caller is None or (caller.twiml is None and caller.outcome is None):
            return _Joined(outcome="failed", event={**where, "type": "department.refused", "outcome": "failed"})
        where |= {"entry": entry.id, "position": result.position, "expectedWaitSeconds": result.expected_wait_seconds,
                  "created": result.created}  # fmt: skip
        if caller.twiml is not None:
            wait = {"department": entry.department_id, "entry": entry.id, "arrivedAt": entry.arrived_at}
            return _Joined(document=caller.twiml, wait=wait, event=where)
        return _Joined(outcome=caller.outcome, say=caller.say, wait_seconds=_waited(caller, now), event=where)

    # -- the routing webhooks -------------------------------------------------------------------

    def hook(self, kind: str, query: Mapping[str, str], params: Mapping[str, str]) -> str:
        """One routing webhook, already known to be Twilio's (signature checked). Raises HookRefused
        for a query that names no entry and Forbidden for another tenant's; answers TwiML otherwise."""
        from common.service.calls import Forbidden

        routing = self.calls.routing
        if routing is None:
            raise HookRefused("t", "department routing is not configured on this stack")
        t, d, e = (_id(query, name) for name in ("t", "d", "e"))
        if self.owners.owner(t) != params.get("AccountSid", ""):
            raise Forbidden(f"tenant {t!r} does not own account {params.get('AccountSid', '')[:40]!r}")
        now = self.calls.now()
        if kind not in CALLER_HOOKS:
            return self._agent_leg(kind, t, d, e, query, params, now)
        digits = params.get("Digits", "")
        try:
            answer: CallerTwiml | str
            if kind in (queue_twiml.HOLD, queue_twiml.CONNECT):
                answer = routing.hold(t, d, e, now)
            elif kind == queue_twiml.MENU:
                answer = routing.menu(t, d, e, digits, now)
            elif kind == queue_twiml.DIAL_RESULT:
                answer = routing.dial_ended(t, d, e, _id(query, "o"), params.get("DialCallStatus", ""),
                                            _int(params.get("DialCallDuration")), now)  # fmt: skip
            elif kind == queue_twiml.CALLBACK_CONFIRM:
                answer = routing.callback_confirm(t, d, e, query.get("n", "")[:20], digits, now)
            elif kind == queue_twiml.CALLBACK_NUMBER:
                answer = routing.callback_number(t, d, e, digits[:20], now)
            else:
                answer = routing.voicemail_recorded(t, d, e, params.get("RecordingUrl") or None, now)
        except HookRefused:
            raise
        except Exception:
            log.exception("%s hook of entry %s/%s failed; the caller leaves by the failed outcome", kind, d, e)
            from common.service.routing_base import CallerTwiml

            answer = CallerTwiml(outcome="failed")
        if isinstance(answer, str):
            return answer
        if answer.twiml is not None:
            return answer.twiml
        return self.resume(t, d, e, params, answer)

    def _agent_leg(self, kind: str, t: str, d: str, e: str, query: Mapping[str, str], params: Mapping[str, str],
                   now: datetime) -> str:  # fmt: skip
        routing = self.calls.routing
        assert routing is not None
        dispatcher = routing.dispatcher
        offer = _id(query, "o")
        if kind in (queue_twiml.WHISPER, queue_twiml.CALLBACK_AGENT):
            return dispatcher.whisper(t, d, e, offer, _id(query, "a"))
        if kind == queue_twiml.ACCEPT:
            return dispatcher.accept(t, d, e, offer, _id(query, "a"), params.get("Digits", ""), now)
        if kind == queue_twiml.CALLBACK_RESULT:
            return dispatcher.callback_result(t, d, e, offer, params.get("DialCallStatus", ""),
                                              _int(params.get("DialCallDuration")), now)  # fmt: skip
        dispatcher.callback_status(t, d, e, offer, _id(query, "a"), params.get("CallStatus", ""), now)
        return EMPTY

    def resume(self, tenant_id: str, department_id: str, entry_id: str, params: Mapping[str, str],
               answer: CallerTwiml) -> str:  # fmt: skip
        """Routing is done with the caller: their flow goes on from the transfer node."""
        from common.core import twiml
        from common.service.calls import GOODBYE, Forbidden

        sid, account = params.get("CallSid", ""), params.get("AccountSid", "")
        found = self.calls.store.read_call(sid) if sid else None
        if found is None:
            log.warning("department outcome %s for unknown call %r", answer.outcome, sid)
            return twiml.say_and_hangup((answer.say or "") + " " + GOODBYE)
        record, token = found
        if record.account_sid != account or record.tenant_id != tenant_id:
            raise Forbidden(f"call {sid} belongs to another tenant or account")
        state = record.state
        if record.status != "active" or not _waits_for(state, answer):
            return record.twiml  # a duplicate, a stale delivery, or a call the API routed: nothing changes
        outcome, waited = answer.outcome or "failed", _waited(answer, self.calls.now())
        return self.calls.advance(record, token, state, lambda: DepartmentEnded(outcome, waited), say=answer.say)

    # -- the caller's status callback -------------------------------------------------------------

    def call_ended(self, tenant_id: str, call_sid: str) -> None:
        routing = self.calls.routing
        if routing is None:
            return
        try:
            routing.call_ended(tenant_id, call_sid, self.calls.now())
        except Exception:  # the sweep closes what this could not
            log.exception("call %s ended but routing could not be told; the sweep will close its entries", call_sid)


def _waits_for(state: CallState, answer: CallerTwiml) -> bool:
    """The call still holds in the entry this outcome is about (or one it overflowed to)."""
    wait = state.department_wait
    if state.waiting != "queue" or wait is None:
        return False
    entry = answer.entry
    if entry is None:
        return True  # routing failed before it could read the entry: the call's wait is what failed
    return entry.call_sid == state.call_sid and entry.arrived_at == wait.get("arrivedAt")


def _waited(answer: CallerTwiml, now: datetime) -> int:
    entry = answer.entry
    if entry is None:
        return 0
    if entry.wait_seconds is not None:
        return entry.wait_seconds
    return max(0, int((now - datetime.fromisoformat(entry.arrived_at)).total_seconds()))


def _unhandled(result: StepResult, state: CallState) -> bool:
    """The turn left the transfer by an outcome the flow has no edge for (it only says goodbye)."""
    return state.end_reason == "unhandled_outcome" and any(
        e.type == "transfer.ended" for e in result.events)  # fmt: skip


def _log_priorities(result: StepResult, tenant_id: str) -> None:
    for e in result.events:
        if e.type == "transfer.priority_invalid":
            log.warning("tenant %s call %s node %s: priority rendered as %r is not high, normal, low or 0-999; "
                        "the caller waits at normal", tenant_id, result.state.call_sid, e.node_id,
                        e.data.get("rendered"))  # fmt: skip


def _event(event: Any) -> dict[str, Any]:
    return {"type": event.type, "seq": event.seq, "at": event.at, "nodeId": event.node_id, "data": event.data}


def _id(query: Mapping[str, str], name: str) -> str:
    value = query.get(name, "")
    if not ID.fullmatch(value):
        raise HookRefused(name, "required: letters, digits, '_', '.' or '-' (at most 64)")
    return value


def _int(text: str | None) -> int | None:
    """1-9 ASCII digits, else None: bounded, so a huge number in a request never reaches int() or the store."""
    return int(text) if text and re.fullmatch(r"[0-9]{1,9}", text) else None

"""The dispatcher: pairs the next caller with agents, and resolves what happens on the agents' legs.

    dispatch        next caller (priority, then arrival; callbacks included) x agent(s) by strategy;
                    one compare-and-set over the entry and the agent(s); then bring the caller over
                    (CallControl.redirect to the connect URL) or, for a callback, call the agent
                    (CallControl.dial_out). A failed redirect leaves the entry assigned: the caller's
                    hold loop finds the assignment on its next iteration (the safety net).
    whisper/accept  the agent hears who is calling; 1 accepts (entry connected, agent busy, any other
                    agents of a ringAll withdrawn); anything else is a decline (the agent's miss)
    offer_ended     the caller's Dial ended: after a conversation the entry is completed and the agent
                    goes to wrap-up (handle-time EWMA, calls, talk seconds); with nobody accepting, the
                    entry returns to waiting at its original place (arrival kept) and the agents who let
                    it ring count a miss (autopause), and the next agent is tried
    callbacks       the agent is called first, then the customer; each attempt is recorded on the
                    entry; after a failed attempt the entry waits ``retryDelaySeconds`` (``not_before``)
                    and a timer dispatches again; after ``attempts`` failures it closes callbackFailed

Every state change re-reads and compare-and-sets, so duplicate webhook deliveries apply once: the
second finds the offer already resolved and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from common.adapters.routing_store import Agent, Department, QueueEntry
from common.core import queue_twiml, routing
from common.core.routing_model import iso
from common.service.routing_base import (
    OFFER_GRACE,
    SWEEP_EVERY,
    TASK_PATH,
    WRITE_ATTEMPTS,
    RoutingDeps,
    bump,
    commit,
    log,
    noted,
    ref_of,
    seconds_between,
)  # fmt: skip

PICK_WINDOWS = (5, 50, 500)  # waiting entries read per pick: the front, further only past callbacks not yet due
ANSWERED = ("completed", "answered")
_FREE = {"entry_department": None, "entry_id": None, "offer_id": None}


@dataclass(frozen=True, slots=True)
class Assignment:
    entry: QueueEntry
    agents: tuple[Agent, ...]
    delivered: bool  # redirect or dial-out accepted (False: the hold loop or the sweep takes over)


class Dispatcher:
    def __init__(self, deps: RoutingDeps) -> None:
        self.deps, self.store = deps, deps.store

    # -- dispatch --------------------------------------------------------------------------------

    def dispatch(self, tenant_id: str, department_id: str, now: datetime | None = None, *,
                 answering: str | None = None, limit: int = 10,
                 agents: Sequence[Agent] | None = None) -> list[Assignment]:  # fmt: skip
        """Assign waiting callers to free agents until one of them runs out (at most ``limit``).
        ``answering`` is the entry whose caller's webhook is being answered now: it is not redirected.
        ``agents``: the department's agents as just read by the caller (saves reading them again; a
        stale one only loses its compare-and-set)."""
        now = now or self.deps.clock()
        department = self.deps.department(tenant_id, department_id)
        if department is None:
            return []
        made: list[Assignment] = []
        conflicts = rounds = 0
        while len(made) < limit and conflicts < WRITE_ATTEMPTS and rounds < limit + WRITE_ATTEMPTS:
            rounds += 1
            listed = list(agents) if agents is not None else \
                self.store.list_agents(tenant_id, department_id, statuses=routing.MAY_BE_AVAILABLE)  # fmt: skip
            agents = None
            free = routing.available_agents(listed, now)
            waiting, full = self._front(tenant_id, department_id, now) if free else ([], False)
            again = False
            while free and len(made) < limit:
                entry = routing.next_entry(waiting, now)
                if entry is None:
                    break  # nobody eligible in the widest window: callbacks not yet due
                chosen = self._choose(department, entry, free)
                if not chosen:
                    break
                offered_entry, offered_agents = self._offer(department, entry, chosen, now)
                if not commit(self.store, [offered_entry, *offered_agents]):
                    again = True  # another dispatcher, a hang-up or a status change won: re-read
                    conflicts += 1
                    break
                made.append(self._deliver(department, offered_entry, offered_agents, now, answering))
                waiting = [e for e in waiting if e.id != entry.id]
                free = [a for a in free if a.id not in offered_entry.agent_ids]
                again = bool(free) and not waiting and full
            if not again:
                break
        return made

    def _front(self, tenant_id: str, department_id: str, now: datetime) -> tuple[list[QueueEntry], bool]:
        """The front of the queue: a few entries, more only when those are callbacks not yet due.
        Returns the entries and whether the window was full (more may wait behind it)."""
        waiting: list[QueueEntry] = []
        for size in PICK_WINDOWS:
            waiting = self.store.list_entries(tenant_id, department_id, "waiting", size)
            if len(waiting) < size or routing.next_entry(waiting, now) is not None:
                return waiting, len(waiting) == size
        return waiting, True

    def _choose(self, department: Department, entry: QueueEntry, free: Sequence[Agent]) -> list[Agent]:
        tiers = {a.id: a.settings.tier(department.id) or 9 for a in free}
        settings = department.settings
        chosen = routing.choose_agents(settings.strategy, free, tiers, rng=self.deps.rng, avoid=entry.missed_by,
                                       linear_order=settings.agent_order)  # fmt: skip
        return chosen[:1] if entry.kind == "callback" else chosen  # one agent calls one customer back

    def _offer(self, department: Department, entry: QueueEntry, agents: Sequence[Agent],
               now: datetime) -> tuple[QueueEntry, list[Agent]]:  # fmt: skip
        offer = routing.offer_id(entry.revision + 1)
        ids = tuple(a.id for a in agents)
        offered = bump(entry, status="assigned", offer_id=offer, agent_ids=ids, offered_at=iso(now),
                       history=noted(entry, now, "offered", offer=offer, agents=list(ids)))  # fmt: skip
        return offered, [bump(a, **routing.agent_event(a, "offer", now), entry_department=department.id,
                              entry_id=entry.id, offer_id=offer) for a in agents]  # fmt: skip

    def _deliver(self, department: Department, entry: QueueEntry, agents: list[Agent], now: datetime,
                 answering: str | None) -> Assignment:  # fmt: skip
        urls, ref, offer = self.deps.urls, ref_of(entry), entry.offer_id or ""
        check_at = now + timedelta(seconds=department.settings.ring_timeout_seconds) + OFFER_GRACE
        self.schedule_sweep(entry.tenant_id, entry.department_id, check_at)
        if entry.kind == "call":
            if entry.id == answering:
                return Assignment(entry, tuple(agents), True)
            try:
                ok = self.deps.calls.redirect(entry.account_sid, entry.call_sid, urls.url(queue_twiml.CONNECT, ref))
            except Exception:  # the port should not raise; if it does, the hold loop still connects
                log.exception("redirect of %s failed", entry.call_sid)
                ok = False
            return Assignment(entry, tuple(agents), ok)
        agent = agents[0]
        caller_id = department.settings.callback.caller_id or entry.called
        try:
            sid = self.deps.calls.dial_out(entry.account_sid, agent.settings.contact, caller_id,
                                           urls.url(queue_twiml.CALLBACK_AGENT, ref, o=offer, a=agent.id),
                                           urls.url(queue_twiml.CALLBACK_STATUS, ref, o=offer, a=agent.id))  # fmt: skip
        except Exception:
            log.exception("callback dial-out to agent %s failed", agent.id)
            sid = None
        if sid is None:
            # Not the agent's miss (Twilio refused, or a laptop stack without call control): withdraw the
            # offer and try again after the retry delay rather than at once.
            retry_at = now + timedelta(seconds=department.settings.callback.retry_delay_seconds)
            self.release(entry.tenant_id, entry.department_id, entry.id, offer, now, "agent-unreachable",
                         miss=False, not_before=retry_at)  # fmt: skip
            name = routing.task_name("callback", entry.tenant_id, entry.department_id, entry.id, iso(retry_at))
            payload = {"tenant": entry.tenant_id, "department": entry.department_id, "entry": entry.id}
            self.deps.timers.schedule(name, retry_at, f"{TASK_PATH}/callback", payload)
        return Assignment(entry, tuple(agents), sid is not None)

    def schedule_sweep(self, tenant_id: str, department_id: str, at: datetime, exact: bool = False) -> None:
        """One sweep task per department per SWEEP_EVERY slot: however many callers ask, one runs.
        ``exact``: at that very time (an agent's wrap-up ends then: someone waiting should get them)."""
        period = SWEEP_EVERY.total_seconds()
        slot = int(at.timestamp() // period) + 1
        due = at if exact else datetime.fromtimestamp(slot * period, at.tzinfo)
        name = routing.task_name("sweep", tenant_id, department_id, iso(at) if exact else str(slot))
        self.deps.timers.schedule(name, due, f"{TASK_PATH}/sweep", {"tenant": tenant_id, "department": department_id})

    # -- the agent's leg -------------------------------------------------------------------------

    def connect_document(self, department: Department, entry: QueueEntry) -> str | None:
        """The caller's Dial to the offered agents; None when none of them holds the offer any more."""
        contacts = {}
        for agent_id in entry.agent_ids:
            agent = self.store.get_agent(entry.tenant_id, agent_id)
            if agent is not None and offered_to(agent, entry):
                contacts[agent.id] = agent.settings.contact
        if not contacts:
            return None
        return queue_twiml.connect(contacts, department.settings.ring_timeout_seconds, self.deps.urls,
                                   ref_of(entry), entry.offer_id or "")  # fmt: skip

    def _offer_of(self, tenant_id: str, department_id: str, entry_id: str, offer: str,
                  agent_id: str) -> tuple[QueueEntry | None, Agent | None, bool]:  # fmt: skip
        entry = self.store.get_entry(tenant_id, department_id, entry_id)
        agent = self.store.get_agent(tenant_id, agent_id)
        holds = (entry is not None and agent is not None and entry.status == "assigned" and entry.offer_id == offer
                 and agent_id in entry.agent_ids and offered_to(agent, entry))  # fmt: skip
        return entry, agent, holds

    def whisper(self, tenant_id: str, department_id: str, entry_id: str, offer: str, agent_id: str) -> str:
        entry, _, holds = self._offer_of(tenant_id, department_id, entry_id, offer, agent_id)
        department = self.deps.department(tenant_id, department_id)
        if not holds or entry is None or department is None:
            return queue_twiml.refused("This caller is no longer waiting. Goodbye.")
        callback = entry.kind == "callback"
        return queue_twiml.whisper(department.settings.name, entry.priority,
                                   (entry.callback_number or entry.caller) if callback else entry.caller,
                                   entry.context, self.deps.urls, ref_of(entry), offer, agent_id,
                                   callback=callback)  # fmt: skip

    def accept(self, tenant_id: str, department_id: str, entry_id: str, offer: str, agent_id: str, digits: str,
               now: datetime | None = None) -> str:  # fmt: skip
        """The whisper's answer: 1 takes the caller; anything else declines (the agent's miss)."""
        now = now or self.deps.clock()
        department = self.deps.department(tenant_id, department_id)
        for _ in range(WRITE_ATTEMPTS):
            entry, agent, holds = self._offer_of(tenant_id, department_id, entry_id, offer, agent_id)
            if entry is not None and department is not None and entry.status == "connected" \
                    and entry.offer_id == offer and entry.connected_agent == agent_id and digits.strip()[:1] == "1":
                return self._accepted(department, entry, offer)  # a retried delivery of the accept that won
            if entry is not None and digits.strip()[:1] != "1" and any(
                    h.get("event") == "declined" and h.get("offer") == offer and h.get("agent") == agent_id
                    for h in entry.history):  # fmt: skip
                return queue_twiml.refused("Declined. Goodbye.")  # a retried delivery of a decline
            if not holds or entry is None or agent is None or department is None:
                if agent is not None and entry is not None and entry.offer_id == offer and offered_to(agent, entry):
                    commit(self.store, [bump(agent, **routing.agent_event(agent, "withdraw", now), **_FREE)])
                return queue_twiml.refused("This caller is no longer waiting. Goodbye.")
            if digits.strip()[:1] != "1":
                if entry.kind == "callback":  # no caller's Dial will end this offer: release it now
                    self.release(tenant_id, department_id, entry_id, offer, now, "declined", decliner=agent_id)
                    self.dispatch(tenant_id, department_id, now)
                    return queue_twiml.refused("Declined. Goodbye.")
                missed = bump(agent, **routing.agent_event(agent, "miss", now,
                              autopause_after=department.settings.autopause_after), **_FREE)  # fmt: skip
                declined = bump(entry, missed_by=_added(entry.missed_by, agent_id),
                                history=noted(entry, now, "declined", offer=offer, agent=agent_id))  # fmt: skip
                if commit(self.store, [declined, missed]):
                    return queue_twiml.refused("Declined. Goodbye.")
                continue
            others = [a for a in (self.store.get_agent(tenant_id, i) for i in entry.agent_ids if i != agent_id)
                      if a is not None and offered_to(a, entry)]  # fmt: skip
            connected = bump(entry, status="connected", connected_agent=agent_id, connected_at=iso(now),
                             wait_seconds=seconds_between(entry.arrived_at, now),
                             history=noted(entry, now, "connected", offer=offer, agent=agent_id))  # fmt: skip
            busy = bump(agent, **routing.agent_event(agent, "answer", now))
            withdrawn = [bump(a, **routing.agent_event(a, "withdraw", now), **_FREE) for a in others]
            if commit(self.store, [connected, busy, *withdrawn]):
                return self._accepted(department, connected, offer)
        return queue_twiml.refused("Sorry, this call could not be connected. Goodbye.")

    def _accepted(self, department: Department, entry: QueueEntry, offer: str) -> str:
        """A call bridges when the whisper ends; a callback's agent leg dials the customer."""
        if entry.kind == "callback":
            caller_id = department.settings.callback.caller_id or entry.called
            return queue_twiml.callback_dial(entry.callback_number or entry.caller, caller_id, self.deps.urls,
                                             ref_of(entry), offer)  # fmt: skip
        return queue_twiml.accepted()

    def offer_ended(self, tenant_id: str, department_id: str, entry_id: str, offer: str, dial_status: str,
                    duration: int | None, now: datetime | None = None) -> QueueEntry | None:  # fmt: skip
        """The caller's Dial ended (its action URL). Returns the entry as it now stands."""
        now = now or self.deps.clock()
        for _ in range(WRITE_ATTEMPTS):
            entry = self.store.get_entry(tenant_id, department_id, entry_id)
            if entry is None or entry.offer_id != offer:
                return entry
            if entry.status == "connected":
                done = self.finish(entry, "completed", now, duration)
                if done is not None:
                    return done
                continue
            if entry.status != "assigned":
                return entry
            released = self.release(tenant_id, department_id, entry_id, offer, now, dial_status or "no-answer")
            if released is not None:
                return released
        return self.store.get_entry(tenant_id, department_id, entry_id)

    def finish(self, entry: QueueEntry, status: str, now: datetime, duration: int | None,
               **extra: Any) -> QueueEntry | None:  # fmt: skip
        """Close a connected entry as ``status`` (with ``extra`` fields) and send its agent to wrap-up.
        None when the compare-and-set lost (re-read and retry)."""
        department = self.deps.department(entry.tenant_id, entry.department_id)
        wrap_up = department.settings.wrap_up_seconds if department else 0
        talk = duration if duration is not None else seconds_between(entry.connected_at, now)
        closed = bump(entry, status=status, closed_at=iso(now), talk_seconds=talk,
                      history=noted(entry, now, status, talk=talk), **extra)  # fmt: skip
        records: list[Any] = [closed]
        agent = self.store.get_agent(entry.tenant_id, entry.connected_agent) if entry.connected_agent else None
        if agent is not None and talking_to(agent, entry):
            records.append(bump(agent, **routing.agent_event(agent, "hangup", now, wrap_up_seconds=wrap_up,
                                                             talk_seconds=talk), **_FREE))  # fmt: skip
        if not commit(self.store, records):
            return None
        wrapping = records[-1] if len(records) == 2 else None
        if isinstance(wrapping, Agent) and wrapping.status == "wrap-up" and wrapping.wrap_up_until:
            self.schedule_sweep(entry.tenant_id, entry.department_id, datetime.fromisoformat(wrapping.wrap_up_until),
                                exact=True)  # fmt: skip
        return closed

    def release(self, tenant_id: str, department_id: str, entry_id: str, offer: str, now: datetime, reason: str,
                *, decliner: str | None = None, status: str = "waiting", miss: bool = True,
                not_before: datetime | None = None) -> QueueEntry | None:  # fmt: skip
        """End an offer nobody took: the entry goes back to ``status`` (waiting: its original place) and
        each agent still holding the offer is freed, counted as a miss unless someone of this offer
        declined or ``miss`` is False (then the others were only withdrawn)."""
        department = self.deps.department(tenant_id, department_id)
        autopause = department.settings.autopause_after if department else 0
        for _ in range(WRITE_ATTEMPTS):
            entry = self.store.get_entry(tenant_id, department_id, entry_id)
            if entry is None or entry.status != "assigned" or entry.offer_id != offer:
                return None
            declined = decliner is not None or any(h.get("event") == "declined" and h.get("offer") == offer
                                                   for h in entry.history)  # fmt: skip
            holders = [a for a in (self.store.get_agent(tenant_id, i) for i in entry.agent_ids)
                       if a is not None and offered_to(a, entry)]  # fmt: skip
            freed = []
            missers = [decliner] if decliner else []
            for agent in holders:
                counts = miss and (agent.id == decliner or not declined)
                event: routing.AgentEvent = "miss" if counts else "withdraw"
                missers += [agent.id] if counts and agent.id != decliner else []
                freed.append(bump(agent, **routing.agent_event(agent, event, now, autopause_after=autopause), **_FREE))
            history = noted(entry, now, "released", offer=offer, reason=reason)
            changes: dict[str, Any] = {"status": status, "offer_id": None, "agent_ids": (), "offered_at": None,
                                       "missed_by": _added(entry.missed_by, *missers), "history": history}  # fmt: skip
            if status != "waiting":
                changes |= {"closed_at": iso(now), "wait_seconds": seconds_between(entry.arrived_at, now)}
            if not_before is not None:
                changes["not_before"] = iso(not_before)
            back = bump(entry, **changes)
            if commit(self.store, [back, *freed]):
                return back
        return None

    # -- callbacks -------------------------------------------------------------------------------

    def callback_status(self, tenant_id: str, department_id: str, entry_id: str, offer: str, agent_id: str,
                        call_status: str, now: datetime | None = None) -> None:  # fmt: skip
        """The agent's outbound leg ended or failed before accepting: release the offer (a miss)."""
        now = now or self.deps.clock()
        entry, _, holds = self._offer_of(tenant_id, department_id, entry_id, offer, agent_id)
        if holds and entry is not None:
            self.release(tenant_id, department_id, entry_id, offer, now, f"agent-{call_status or 'ended'}")
            self.dispatch(tenant_id, department_id, now)

    def callback_result(self, tenant_id: str, department_id: str, entry_id: str, offer: str, dial_status: str,
                        duration: int | None, now: datetime | None = None) -> str:  # fmt: skip
        """The customer's leg of a callback ended (the Dial action on the agent's leg)."""
        now = now or self.deps.clock()
        department = self.deps.department(tenant_id, department_id)
        for _ in range(WRITE_ATTEMPTS):
            entry = self.store.get_entry(tenant_id, department_id, entry_id)
            if entry is None or department is None or entry.offer_id != offer or entry.status != "connected":
                return queue_twiml.say_then("", None)
            attempt = {"at": iso(now), "result": dial_status, "agent": entry.connected_agent, "seconds": duration or 0}
            attempts = (*entry.callback_attempts, attempt)
            if dial_status in ANSWERED and (duration or 0) > 0:
                if self.finish(entry, "completed", now, duration, callback_attempts=attempts):
                    return queue_twiml.say_then("", None)
                continue
            settings = department.settings.callback
            failed = len(attempts) >= settings.attempts
            retry_at = now + timedelta(seconds=settings.retry_delay_seconds)
            changes: dict[str, Any] = {"callback_attempts": attempts, "offer_id": None, "agent_ids": (),
                                       "connected_agent": None, "connected_at": None,
                                       "history": noted(entry, now, "callback-attempt", **attempt)}  # fmt: skip
            if failed:
                changes |= {"status": "callbackFailed", "closed_at": iso(now),
                            "wait_seconds": seconds_between(entry.arrived_at, now)}  # fmt: skip
            else:
                changes |= {"status": "waiting", "not_before": iso(retry_at)}
            records: list[Any] = [bump(entry, **changes)]
            agent = self.store.get_agent(tenant_id, entry.connected_agent) if entry.connected_agent else None
            if agent is not None and talking_to(agent, entry):
                records.append(bump(agent, **routing.agent_event(agent, "release", now), **_FREE))
            if commit(self.store, records):
                if not failed:
                    name = routing.task_name("callback", tenant_id, department_id, entry_id, str(len(attempts)))
                    payload = {"tenant": tenant_id, "department": department_id, "entry": entry_id}
                    self.deps.timers.schedule(name, retry_at, f"{TASK_PATH}/callback", payload)
                message = "The customer did not answer. We will try again later." if not failed else \
                    "The customer did not answer. No more attempts will be made."  # fmt: skip
                return queue_twiml.say_then(message, None)
        return queue_twiml.say_then("", None)


def offered_to(agent: Agent, entry: QueueEntry) -> bool:
    """The agent is ringing for this very offer of this entry (offer ids are unique per entry only)."""
    return (agent.status == "offered" and agent.offer_id == entry.offer_id and agent.entry_id == entry.id
            and agent.entry_department == entry.department_id)  # fmt: skip


def talking_to(agent: Agent, entry: QueueEntry) -> bool:
    return agent.status == "busy" and agent.entry_id == entry.id and agent.entry_department == entry.department_id


def _added(existing: Sequence[str], *more: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*existing, *more]))

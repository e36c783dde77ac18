"""Timed escalation and the sweep: what keeps a queue honest when nobody calls in.

Escalation: each entry's ladder runs from the time it joined the department. A timer (Timers port,
deterministic name per entry and step) is scheduled for the next step due and for the max wait;
its handler applies every step due by then, once: applied step indexes are recorded on the entry
in the same compare-and-set that applies them, so a task delivered twice (or racing the hold loop,
which applies due steps too, as the safety net for lost timers) changes nothing the second time.

    step            effect (the caller's loop learns it on its next iteration; a redirect hurries it)
    -------------   ---------------------------------------------------------------------------------
    raisePriority   priority = max(current, to) or current + by (capped at 999)
    overflow        a new entry in the target department keeping the original arrival and priority;
                    this one closes as overflowed. Skipped (recorded) when the target is closed, full,
                    unstaffed per its join rule, or the call was already there
    offerCallback   the next announcement offers a callback (key 1)
    voicemail       the entry closes; the caller leaves with outcome voicemail
    timeout         the entry closes; the caller leaves with outcome timeout (also at max wait)

An entry on an offer when a step falls due is left alone until the offer resolves (the task is
re-scheduled after the ring timeout). Callback entries keep their place: only raisePriority and
overflow apply to them, and max wait does not.

The sweep (one task per department per minute while anything is queued or offered) repairs what a
lost webhook left: waiting or offered entries whose call ended are closed as abandoned; offers past
the ring timeout with no outcome are released (no miss counted: the cause is unknown); connected
entries whose call ended are completed; agents stuck offered or busy for an entry that no longer
holds them are freed; due ladder steps are applied; then it dispatches. Cost per run: the entries
in the department (bounded by SWEEP_LIMIT) + one call lookup per waiting or connected entry + the
agents offered or busy (the repair) and those free (the dispatch).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from common.adapters.routing_store import Department, QueueEntry
from common.core import queue_twiml, routing
from common.core.routing_model import LadderStep, entry_id, iso
from common.service.routing_base import (
    MAX_TALK,
    OFFER_GRACE,
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
from common.service.routing_dispatch import Dispatcher

SWEEP_LIMIT = 500
_CALLER_GONE = ("ended",)
_TERMINAL = {"voicemail", "timeout"}
_HOLDING = frozenset({"offered", "busy"})  # agents the sweep may find stuck


class Upkeep:
    def __init__(self, deps: RoutingDeps, dispatcher: Dispatcher) -> None:
        self.deps, self.store, self.dispatcher = deps, deps.store, dispatcher

    # -- timers ----------------------------------------------------------------------------------

    def schedule(self, entry: QueueEntry, department: Department) -> None:
        """The timer for the next ladder step not yet applied, and the max-wait timer."""
        path, ladder = f"{TASK_PATH}/escalate", department.settings.escalation
        payload: dict[str, Any] = {"tenant": entry.tenant_id, "department": entry.department_id, "entry": entry.id}
        pending = [i for i in range(len(ladder)) if i not in entry.applied_steps]
        if pending:
            i = pending[0]
            self.deps.timers.schedule(self._name(entry, str(i)), routing.step_due_at(entry.joined_at, ladder[i]),
                                      path, {**payload, "step": i})  # fmt: skip
        if entry.kind == "call":
            at = datetime.fromisoformat(entry.arrived_at) + timedelta(seconds=entry.max_wait_seconds)
            self.deps.timers.schedule(self._name(entry, "max"), at, path, {**payload, "step": "max"})

    @staticmethod
    def _name(entry: QueueEntry, *parts: str) -> str:
        return routing.task_name("esc", entry.tenant_id, entry.department_id, entry.id, *parts)

    def escalate(self, tenant_id: str, department_id: str, entry_id_: str, step: int | str,
                 now: datetime) -> str:  # fmt: skip
        """The escalate task: apply what is due (idempotent). Returns what happened, for the log."""
        entry = self.store.get_entry(tenant_id, department_id, entry_id_)
        department = self.deps.department(tenant_id, department_id, fresh=True)
        if entry is None or department is None:
            return "gone"
        if entry.status == "assigned":
            ring = timedelta(seconds=department.settings.ring_timeout_seconds)
            name = self._name(entry, str(step), entry.offer_id or "")
            payload = {"tenant": tenant_id, "department": department_id, "entry": entry.id, "step": step}
            self.deps.timers.schedule(name, now + ring + OFFER_GRACE, f"{TASK_PATH}/escalate", payload)
            return "postponed"
        if entry.status != "waiting":
            return "closed"
        after = self.apply_due(entry, department, now, answering=False)
        if after.status == "waiting" and after.department_id == department_id:
            self.schedule(after, department)
        return "applied" if after.revision != entry.revision else "nothing due"

    # -- applying the ladder ---------------------------------------------------------------------

    def apply_due(self, entry: QueueEntry, department: Department, now: datetime, *, answering: bool) -> QueueEntry:
        """Apply every due step (and max wait) to a waiting entry; the entry as it now stands.
        ``answering``: the caller's own webhook is being answered, so no redirect is needed."""
        for _ in range(WRITE_ATTEMPTS):
            ladder = department.settings.escalation
            steps = routing.due_steps(ladder, entry.joined_at, now, entry.applied_steps)
            timed_out = entry.kind == "call" and routing.waited_out(entry.arrived_at, entry.max_wait_seconds, now)
            if entry.status != "waiting" or (not steps and not timed_out):
                return entry
            records, effect = self._effects(entry, steps, timed_out, now)
            if commit(self.store, records):
                self._after(records, effect, now, answering)
                return records[0]
            fresh = self.store.get_entry(entry.tenant_id, entry.department_id, entry.id)
            if fresh is None:
                return entry
            entry = fresh
        return entry

    def _effects(self, entry: QueueEntry, steps: list[tuple[int, LadderStep]], timed_out: bool,
                 now: datetime) -> tuple[list[QueueEntry], str | None]:  # fmt: skip
        changes: dict[str, Any] = {}
        applied, history = list(entry.applied_steps), entry.history
        terminal: str | None = None
        target: QueueEntry | None = None
        for index, step in steps:
            applied.append(index)
            note: dict[str, Any] = {"step": index, "action": step.action}
            if step.action == "raisePriority":
                changes["priority"] = routing.raised_priority(changes.get("priority", entry.priority), step)
                note["priority"] = changes["priority"]
            elif entry.kind == "callback" and step.action != "overflow":
                note["skipped"] = "callback entries keep their place"
            elif step.action == "offerCallback":
                changes |= {"callback_offered": True, "announced_at": None}
            elif step.action == "overflow":
                target, why = self._overflow_target(entry, step.department or "", now)
                note |= {"department": step.department} | ({"skipped": why} if why else {})
                terminal = "overflowed" if target else None
            else:
                terminal = step.action
            history = noted(entry.model_copy(update={"history": history}), now, "escalated", **note)
            if terminal:
                break
        if terminal is None and timed_out:
            terminal = "timeout"
            history = noted(entry.model_copy(update={"history": history}), now, "escalated", action="maxWait")
        changes |= {"applied_steps": tuple(applied), "history": history}
        if terminal is not None:
            waited = seconds_between(entry.arrived_at, now)
            changes |= {"status": terminal, "closed_at": iso(now), "wait_seconds": waited}
        if target is not None:
            target = target.model_copy(update={"priority": changes.get("priority", entry.priority)})
            changes["overflowed_to"] = f"{target.department_id}/{target.id}"
        updated = bump(entry, **changes)
        effect = terminal or ("offer" if "callback_offered" in changes else None)
        return ([updated, target] if target else [updated]), effect

    def _overflow_target(self, entry: QueueEntry, department_id: str, now: datetime) -> tuple[QueueEntry | None, str]:
        target = self.deps.department(entry.tenant_id, department_id)
        if target is None:
            return None, "department does not exist"
        settings = target.settings
        if settings.schedule and self.deps.schedule_open(entry.tenant_id, settings.schedule, now) is False:
            return None, "department is closed"
        rule = settings.join_when_empty
        agents = self.store.list_agents(entry.tenant_id, department_id, statuses=routing.join_statuses(rule))
        if not routing.can_join(rule, agents, now):
            return None, "no agents per its join rule"
        if self.store.count_entries(entry.tenant_id, department_id, "waiting") >= settings.max_queue_size:
            return None, "queue is full"
        new_id = entry_id(entry.call_sid, department_id)
        if self.store.get_entry(entry.tenant_id, department_id, new_id) is not None:
            return None, "the call was already queued there"
        moved = entry.model_copy(update={
            "department_id": department_id, "id": new_id, "joined_at": iso(now), "applied_steps": (),
            "overflowed_from": f"{entry.department_id}/{entry.id}", "overflowed_to": None, "revision": 1,
            "announced_at": None, "announced_position": None, "announced_wait": None, "missed_by": (),
            "history": ({"at": iso(now), "event": "joined", "from": entry.department_id},),
        })  # fmt: skip
        return moved, ""

    def _after(self, records: list[QueueEntry], effect: str | None, now: datetime, answering: bool) -> None:
        current = records[-1]  # the overflow entry when there is one
        if effect is not None and not answering and current.kind == "call":
            self._hurry(current)  # before any dispatch: its redirect to connect must be the last word
        if effect == "overflowed" and len(records) == 2:
            department = self.deps.department(current.tenant_id, current.department_id)
            if department is not None:
                self.schedule(current, department)
                self.dispatcher.schedule_sweep(current.tenant_id, current.department_id, now)
            mine = current.id if answering else None
            self.dispatcher.dispatch(current.tenant_id, current.department_id, now, answering=mine)

    def _hurry(self, entry: QueueEntry) -> None:
        """Redirect the caller's loop so they hear the change now rather than after the music clip."""
        try:
            url = self.deps.urls.url(queue_twiml.HOLD, ref_of(entry))
            self.deps.calls.redirect(entry.account_sid, entry.call_sid, url)
        except Exception:
            log.exception("redirect of %s failed; its hold loop will catch up", entry.call_sid)

    # -- the sweep -------------------------------------------------------------------------------

    def sweep(self, tenant_id: str, department_id: str, now: datetime) -> dict[str, int]:
        department = self.deps.department(tenant_id, department_id, fresh=True)
        if department is None:
            return {}
        done = {"abandoned": 0, "released": 0, "completed": 0, "agentsRepaired": 0, "escalated": 0}
        for entry in self.store.list_entries(tenant_id, department_id, "waiting", SWEEP_LIMIT):
            if entry.kind == "call" and self._call_gone(entry.call_sid):
                closed = self.close_waiting(entry, "abandoned", now, "swept: the call had ended")
                done["abandoned"] += closed is not None
            elif self.apply_due(entry, department, now, answering=False).revision != entry.revision:
                done["escalated"] += 1
        ring = timedelta(seconds=department.settings.ring_timeout_seconds) + OFFER_GRACE
        for entry in self.store.list_entries(tenant_id, department_id, "assigned", SWEEP_LIMIT):
            gone = entry.kind == "call" and self._call_gone(entry.call_sid)
            if gone or datetime.fromisoformat(entry.offered_at or entry.joined_at) + ring < now:
                status = "abandoned" if gone else "waiting"
                released = self.dispatcher.release(tenant_id, department_id, entry.id, entry.offer_id or "", now,
                                                   "swept", status=status, miss=False)  # fmt: skip
                done["released"] += released is not None
        for entry in self.store.list_entries(tenant_id, department_id, "connected", SWEEP_LIMIT):
            stale = datetime.fromisoformat(entry.connected_at or entry.joined_at) + MAX_TALK < now
            if stale or (entry.kind == "call" and self._call_gone(entry.call_sid)):
                done["completed"] += self.dispatcher.finish(entry, "completed", now, None) is not None
        done["agentsRepaired"] = self._repair_agents(tenant_id, department_id, ring, now)
        done["assigned"] = len(self.dispatcher.dispatch(tenant_id, department_id, now))
        if any(self.store.count_entries(tenant_id, department_id, s) for s in ("waiting", "assigned")):
            self.dispatcher.schedule_sweep(tenant_id, department_id, now)
        return done

    def _call_gone(self, call_sid: str) -> bool:
        info = self.deps.call_lookup(call_sid)
        return info is None or info.status in _CALLER_GONE

    def _repair_agents(self, tenant_id: str, department_id: str, ring: timedelta, now: datetime) -> int:
        repaired = 0
        for agent in self.store.list_agents(tenant_id, department_id, statuses=_HOLDING):
            if agent.status not in _HOLDING or agent.entry_department != department_id:
                continue
            if datetime.fromisoformat(agent.status_since) + ring >= now:
                continue  # too recent to judge: its webhook may still be on the way
            entry = self.store.get_entry(tenant_id, department_id, agent.entry_id or "")
            holds = entry is not None and entry.offer_id == agent.offer_id and (
                (agent.status == "offered" and entry.status == "assigned" and agent.id in entry.agent_ids)
                or (agent.status == "busy" and entry.status == "connected" and entry.connected_agent == agent.id))
            if not holds:
                fixed = bump(agent, **routing.agent_event(agent, "repair", now), entry_department=None,
                             entry_id=None, offer_id=None)  # fmt: skip
                repaired += commit(self.store, [fixed])
        return repaired

    def close_waiting(self, entry: QueueEntry, status: str, now: datetime, reason: str) -> QueueEntry | None:
        """Close a waiting entry (abandoned, voicemail...) with its wait; None if it was no longer waiting."""
        for _ in range(WRITE_ATTEMPTS):
            if entry.status != "waiting":
                return None
            closed = bump(entry, status=status, closed_at=iso(now), wait_seconds=seconds_between(entry.arrived_at, now),
                          history=noted(entry, now, status, reason=reason))  # fmt: skip
            if commit(self.store, [closed]):
                return closed
            fresh = self.store.get_entry(entry.tenant_id, entry.department_id, entry.id)
            if fresh is None:
                return None
            entry = fresh
        return None

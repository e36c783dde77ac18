"""What the routing services share: their ports, the lookups the host passes in, and small helpers.

    RoutingDeps    the store, Timers, CallControl, queue URLs, clock, rng and the host's lookups
    CallInfo       what the call store knows about a call (``call_lookup`` answers it; None: unknown)
    CallerTwiml    the answer to a caller's routing webhook: a document, or an outcome for the flow
    DepartmentCache  department settings cached per instance for a few seconds (hold loops read it)

The call store and schedules belong to other layers, so the host passes callables in:
``call_lookup(call_sid) -> CallInfo | None`` and ``schedule_open(tenant, schedule, at) -> bool | None``
(None: the schedule is unknown; routing then treats the department as open, so a configuration slip
never turns callers away silently; it is logged).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from common.adapters.call_control import CallControl
from common.adapters.routing_store import Agent, Department, QueueEntry, RoutingRecord, RoutingStore
from common.adapters.timers import Timers
from common.core.queue_twiml import EntryRef, QueueUrls
from common.core.routing_model import iso

log = logging.getLogger("ivr.routing")

TASK_PATH = "api/departments/tasks"
HISTORY_LIMIT = 50  # events kept on an entry: enough to explain it, small enough for one document
ENTRY_TTL = timedelta(days=31)  # Firestore's TTL policy deletes entries after this (stats look back 1 h)
SWEEP_EVERY = timedelta(seconds=60)
OFFER_GRACE = timedelta(seconds=30)  # past the ring timeout before the sweep repairs an offer
MAX_TALK = timedelta(hours=4)  # a connected entry older than this with no word is repaired
WRITE_ATTEMPTS = 4  # compare-and-set retries before giving up on a write that keeps losing races


@dataclass(frozen=True, slots=True)
class CallInfo:
    tenant_id: str
    account_sid: str
    status: Literal["active", "ended"]
    caller: str = ""
    called: str = ""


CallLookup = Callable[[str], CallInfo | None]
ScheduleOpen = Callable[[str, str, datetime], bool | None]


@dataclass(frozen=True, slots=True)
class CallerTwiml:
    """Either ``twiml`` to answer Twilio with, or ``outcome`` (the transfer node's outcome: completed,
    timeout, voicemail, callbackRequested, failed) for the flow to continue from, with ``say`` (a line
    to speak first, when there is one)."""

    twiml: str | None = None
    outcome: str | None = None
    say: str | None = None
    entry: QueueEntry | None = None


@dataclass
class RoutingDeps:
    store: RoutingStore
    timers: Timers
    calls: CallControl
    urls: QueueUrls
    clock: Callable[[], datetime]
    call_lookup: CallLookup
    schedule_open: ScheduleOpen = lambda tenant, schedule, at: True
    rng: random.Random = field(default_factory=random.Random)
    departments: DepartmentCache | None = None

    def __post_init__(self) -> None:
        if self.departments is None:
            self.departments = DepartmentCache(self.store, self.clock)

    def department(self, tenant_id: str, department_id: str, fresh: bool = False) -> Department | None:
        assert self.departments is not None
        return self.departments.get(tenant_id, department_id, fresh)


class DepartmentCache:
    """Department settings change rarely and are read by every hold iteration: keep them ``ttl``
    (default 30 s) per instance. Admin writes through this instance refresh it at once."""

    def __init__(self, store: RoutingStore, clock: Callable[[], datetime], ttl: timedelta = timedelta(seconds=30)):
        self.store, self.clock, self.ttl = store, clock, ttl
        self._lock = threading.Lock()
        self._cached: dict[tuple[str, str], tuple[datetime, Department | None]] = {}

    def get(self, tenant_id: str, department_id: str, fresh: bool = False) -> Department | None:
        key, now = (tenant_id, department_id), self.clock()
        with self._lock:
            hit = self._cached.get(key)
        if hit is not None and not fresh and now - hit[0] < self.ttl:
            return hit[1]
        found = self.store.get_department(tenant_id, department_id)
        with self._lock:
            self._cached[key] = (now, found)
        return found

    def forget(self, tenant_id: str, department_id: str) -> None:
        with self._lock:
            self._cached.pop((tenant_id, department_id), None)


R = TypeVar("R", Department, Agent, QueueEntry)


def bump(record: R, **changes: Any) -> R:
    """The next revision of a record, with ``changes`` applied (the store checks revision - 1)."""
    return record.model_copy(update={**changes, "revision": record.revision + 1})


def noted(entry: QueueEntry, now: datetime, event: str, **data: Any) -> tuple[dict[str, Any], ...]:
    """The entry's history with one more event, oldest dropped past HISTORY_LIMIT."""
    return (*entry.history, {"at": iso(now), "event": event, **data})[-HISTORY_LIMIT:]


def ref_of(entry: QueueEntry) -> EntryRef:
    return EntryRef(entry.tenant_id, entry.department_id, entry.id)


def seconds_between(start: str | None, end: datetime) -> int:
    if not start:
        return 0
    return max(0, int((end - datetime.fromisoformat(start)).total_seconds()))


def commit(store: RoutingStore, records: Sequence[RoutingRecord]) -> bool:
    """``store.commit``. A store outage (``StoreUnavailable``) propagates: the API answers 503, and
    every caller-facing entry point catches it and answers the ``failed`` outcome instead."""
    return store.commit(records)


def quietly(what: str, work: Callable[[], Any]) -> Any:
    """Run a follow-up whose failure must not undo or fail what was already written (a dispatch
    after a status change, a timer after a join): log it; the sweep repairs what it missed."""
    try:
        return work()
    except Exception:
        log.exception("%s failed; the sweep will catch up", what)
        return None

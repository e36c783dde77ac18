"""Department routing storage: records, the RoutingStore port, and the embedded MemoryRoutingStore.

    Department   tenants/{t}/departments/{d}                  settings; written on admin changes only
    Agent        tenants/{t}/agents/{a}                       settings + live status; written when that
                                                              agent's state changes; ``department_ids``
                                                              is the array-contains field
    QueueEntry   tenants/{t}/departments/{d}/entries/{e}      one per (call, department); e = entry_id()

Records are frozen pydantic models; ``model_dump(mode="json")`` is exactly the stored document and
``model_validate`` reads it back. Times are ISO-8601 UTC strings written by ``common.core.routing_model.iso``
(fixed width, so string order is time order); ``expires_at`` is a datetime for Firestore's TTL policy.

Concurrency contract: every record carries ``revision``. ``commit(records)`` writes all of them or
none: each record's ``revision`` must be exactly one more than the stored document's (a missing
document has revision 0, so revision 1 means "create"). Assignment is one ``commit`` over the entry
and the offered agents, so an agent is never offered two callers, a caller never reaches two agents,
and when two dispatchers race exactly one wins and the other changes nothing. Admin etags are a
separate field: they change only with settings, so live status writes never invalidate an If-Match.

Queue order is priority descending, then ``arrived_at`` ascending, then entry id ascending
(Firestore: status == X order by priority desc, arrived_at asc; ties by document name).

Costs, counted by the memory store as Firestore bills them (tests and benchmarks read
``reads``/``writes``): a get is 1 read; a query is 1 read per document returned, at least 1; a count
is 1 read per 1,000 documents counted, at least 1; a commit reads and writes each of its documents
once (a transaction reads before it writes); a delete is 1 read and 1 write.

Event outbox (queue and agent events, common/service/queue_events_store.py): ``commit_outbox`` is
``commit`` that also writes, in each entry or agent document it commits, the fields ``outbox`` (rows
not yet published) and ``outbox_since`` (the earliest ``occurred_at`` among them), computed by
``derive(stored before, after, stored outbox)`` from the document the commit reads anyway: no extra
document, read or write. These fields are the store's, not the records' (records ignore them, and a
plain ``commit`` keeps them); ``ack_outbox`` removes published rows (one write), ``outboxes_since``
finds what the sweeper must republish. Revisions are untouched by outbox writes.

Agent reads are the per-iteration cost that grows with staffing, so ``list_agents`` takes the
stored statuses a decision needs (``common.core.routing`` says which): a department with 40 agents
of whom 5 are logged in costs a hold announcement 5 reads, not 40.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol, get_args

from pydantic import Field

from common.adapters.ports import Record
from common.core.routing_model import AgentSettings, AgentStatus, DepartmentSettings

EntryStatus = Literal[
    "waiting",    # in the waiting set (callback entries too)
    "assigned",   # offered to agent(s); out of the waiting set until the offer resolves
    "connected",  # talking to an agent (or, for a callback, the agent is calling the customer)
    "completed", "abandoned", "overflowed", "timeout", "voicemail", "callbackFailed", "ended",
]  # fmt: skip
OPEN_STATUSES: frozenset[str] = frozenset({"waiting", "assigned", "connected"})
CLOSED_STATUSES: frozenset[str] = frozenset(
    {"completed", "abandoned", "overflowed", "timeout", "voicemail", "callbackFailed", "ended"}
)
AGENT_STATUSES: frozenset[str] = frozenset(get_args(AgentStatus))


class Department(Record):
    tenant_id: str
    id: str
    settings: DepartmentSettings
    etag: str
    revision: int = 1
    updated_at: str = ""
    updated_by: str = ""


class Agent(Record):
    tenant_id: str
    id: str
    settings: AgentSettings
    department_ids: tuple[str, ...]  # derived from settings.departments, for array-contains queries
    etag: str
    revision: int = 1
    updated_at: str = ""
    updated_by: str = ""
    api_key_id: str | None = None  # the API key (role agent) that may set this agent's own status
    # live state (written by the system; admin writes keep it)
    status: AgentStatus = "offline"
    status_since: str = ""
    wrap_up_until: str | None = None  # wrap-up ends by time: read through routing.effective_status
    entry_department: str | None = None  # the entry offered to / talking with this agent
    entry_id: str | None = None
    offer_id: str | None = None
    idle_since: str | None = None  # when the agent last became free (longestIdle)
    last_offered_at: str | None = None  # roundRobin: least recently offered first
    missed_in_a_row: int = 0
    calls_handled: int = 0
    talk_seconds: int = 0
    handle_ewma_seconds: float | None = None


class QueueEntry(Record):
    tenant_id: str
    department_id: str
    id: str
    call_sid: str
    account_sid: str
    caller: str = ""  # the caller's number (From)
    called: str = ""  # the number the caller dialled (To): caller id for callbacks
    kind: Literal["call", "callback"] = "call"
    status: EntryStatus = "waiting"
    priority: int = 50
    arrived_at: str  # first arrival in any department: kept on overflow, orders the queue
    joined_at: str  # arrival in this department: the ladder counts from here
    context: dict[str, Any] = Field(default_factory=dict)
    max_wait_seconds: int = 1800
    applied_steps: tuple[int, ...] = ()  # ladder step indexes already applied (idempotent timers)
    # the current offer
    offer_id: str | None = None
    agent_ids: tuple[str, ...] = ()
    offered_at: str | None = None
    missed_by: tuple[str, ...] = ()  # agents who let this entry's offers go
    connected_agent: str | None = None
    connected_at: str | None = None
    # closing
    closed_at: str | None = None
    wait_seconds: int | None = None  # arrival to answer (served) or to closing (otherwise)
    talk_seconds: int | None = None
    # hold loop
    announced_at: str | None = None
    announced_position: int | None = None
    announced_wait: int | None = None
    callback_offered: bool = False
    # callbacks
    callback_number: str | None = None
    callback_attempts: tuple[dict[str, Any], ...] = ()
    not_before: str | None = None  # a callback retry waits until then
    # overflow
    overflowed_from: str | None = None  # "department/entry"
    overflowed_to: str | None = None
    history: tuple[dict[str, Any], ...] = ()  # what happened to this entry (capped by the service)
    revision: int = 1
    expires_at: datetime | None = None


RoutingRecord = Department | Agent | QueueEntry
OUTBOX_FIELDS = ("outbox", "outbox_since")
#: (the stored document as a record dump, None when created; the record committed; the stored outbox)
#: -> the outbox to write with it. Pure: it runs inside the commit.
DeriveOutbox = Callable[[dict[str, Any] | None, dict[str, Any], list[dict[str, Any]]], list[dict[str, Any]]]


class OutboxWrite(NamedTuple):
    """An outbox that a commit wrote: the document's path, its rows, and the token to acknowledge with."""

    path: str
    rows: list[dict[str, Any]]
    token: Any


def outbox_since(rows: Sequence[dict[str, Any]]) -> str | None:
    """The earliest ``occurred_at`` of an outbox (RFC 3339 UTC strings sort as times), None when empty."""
    return min((str(r["occurred_at"]) for r in rows), default=None)


def has_outbox(record: RoutingRecord) -> bool:
    return isinstance(record, Agent | QueueEntry)


def path_of(record: RoutingRecord) -> str:
    """The Firestore document path of a record (also the memory store's key)."""
    if isinstance(record, Department):
        return f"tenants/{record.tenant_id}/departments/{record.id}"
    if isinstance(record, Agent):
        return f"tenants/{record.tenant_id}/agents/{record.id}"
    return f"tenants/{record.tenant_id}/departments/{record.department_id}/entries/{record.id}"


def queue_key(entry: QueueEntry) -> tuple[int, str, str]:
    return (-entry.priority, entry.arrived_at, entry.id)


def check_statuses(statuses: Collection[str] | None) -> frozenset[str] | None:
    """``list_agents``' status filter, checked: a misspelt status would silently match nobody."""
    if statuses is None:
        return None
    wanted = frozenset(statuses)
    unknown = sorted(wanted - AGENT_STATUSES)
    if unknown:
        raise ValueError(f"unknown agent status(es) {unknown}; expected some of {sorted(AGENT_STATUSES)}")
    return wanted


class RoutingStore(Protocol):
    # departments
    def get_department(self, tenant_id: str, department_id: str) -> Department | None: ...
    def list_departments(self, tenant_id: str) -> list[Department]:
        """Every department of the tenant, by id."""

    # agents
    def get_agent(self, tenant_id: str, agent_id: str) -> Agent | None: ...
    def list_agents(self, tenant_id: str, department_id: str | None = None, *,
                    statuses: Collection[str] | None = None) -> list[Agent]:  # fmt: skip
        """The tenant's agents (only those serving ``department_id`` when given, and only those whose
        stored ``status`` is in ``statuses`` when given), by id. ``statuses`` empty: [] without a read."""

    # queue entries
    def get_entry(self, tenant_id: str, department_id: str, entry_id: str) -> QueueEntry | None: ...
    def list_entries(self, tenant_id: str, department_id: str, status: str, limit: int = 100) -> list[QueueEntry]:
        """Entries with ``status`` in queue order (priority desc, arrived_at asc, id asc), at most ``limit``."""

    def count_entries(self, tenant_id: str, department_id: str, status: str) -> int: ...
    def count_ahead(self, entry: QueueEntry) -> int:
        """How many waiting entries of ``entry``'s department come before it in queue order."""

    def closed_since(self, tenant_id: str, department_id: str, since: str, limit: int = 1000) -> list[QueueEntry]:
        """Entries with ``closed_at >= since`` (ISO), newest first, at most ``limit``."""

    def entries_for_call(self, tenant_id: str, call_sid: str) -> list[QueueEntry]:
        """Every entry of the call in any department of the tenant, by joined_at."""

    # writes
    def commit(self, records: Sequence[RoutingRecord]) -> bool:
        """Write every record or none. Each record's revision must be the stored one + 1 (absent: 0);
        otherwise False and nothing written. Two records with one path raise ValueError."""

    def delete(self, record: Department | Agent) -> bool:
        """Delete if the stored revision still equals ``record.revision``; False otherwise."""

    # the event outbox of entries and agents (module docstring)
    def commit_outbox(self, records: Sequence[RoutingRecord], derive: DeriveOutbox) -> list[OutboxWrite] | None:
        """``commit``, each entry and agent written with the outbox ``derive`` gives; None when refused
        (where ``commit`` is False). The outboxes written that hold rows."""

    def ack_outbox(self, path: str, rows: Sequence[dict[str, Any]], published: Collection[str], token: Any) -> bool:
        """Remove ``published`` ids from the document's outbox (``rows``, as written with ``token``);
        re-reads when a later write came first. False when it could not (the rows stay: duplicates)."""

    def outboxes_since(self, older_than: datetime, limit: int = 200) -> list[tuple[str, datetime]]:
        """(path, outbox_since) of entries and agents with an outbox row from ``older_than`` or before,
        oldest first."""

    def read_outbox(self, path: str) -> tuple[list[dict[str, Any]], Any] | None:
        """The document's outbox and the token to acknowledge it with; None when there is no document."""


def _doc_path(doc: dict[str, Any]) -> str:
    """``path_of`` for a stored agent or entry document."""
    if "department_id" in doc:
        return f"tenants/{doc['tenant_id']}/departments/{doc['department_id']}/entries/{doc['id']}"
    return f"tenants/{doc['tenant_id']}/agents/{doc['id']}"


class MemoryRoutingStore:
    """The embedded RoutingStore: process memory, one lock, documents kept as their JSON dicts."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._departments: dict[str, dict[str, dict[str, Any]]] = {}  # tenant -> id -> doc
        self._agents: dict[str, dict[str, dict[str, Any]]] = {}
        self._entries: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (tenant, dept) -> id -> doc
        self.reads = 0
        self.writes = 0

    # -- plumbing --------------------------------------------------------------------------------

    def _query(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.reads += max(1, len(docs))
        return [copy.deepcopy(d) for d in docs]  # no aliasing, like a real read

    def _slot(self, record: RoutingRecord) -> tuple[dict[str, dict[str, Any]], str]:
        if isinstance(record, Department):
            return self._departments.setdefault(record.tenant_id, {}), record.id
        if isinstance(record, Agent):
            return self._agents.setdefault(record.tenant_id, {}), record.id
        return self._entries.setdefault((record.tenant_id, record.department_id), {}), record.id

    # -- departments and agents ------------------------------------------------------------------

    def get_department(self, tenant_id: str, department_id: str) -> Department | None:
        with self._lock:
            self.reads += 1
            doc = self._departments.get(tenant_id, {}).get(department_id)
            return None if doc is None else Department.model_validate(copy.deepcopy(doc))

    def list_departments(self, tenant_id: str) -> list[Department]:
        with self._lock:
            docs = self._query(sorted(self._departments.get(tenant_id, {}).values(), key=lambda d: d["id"]))
        return [Department.model_validate(d) for d in docs]

    def get_agent(self, tenant_id: str, agent_id: str) -> Agent | None:
        with self._lock:
            self.reads += 1
            doc = self._agents.get(tenant_id, {}).get(agent_id)
            return None if doc is None else Agent.model_validate(copy.deepcopy(doc))

    def list_agents(self, tenant_id: str, department_id: str | None = None, *,
                    statuses: Collection[str] | None = None) -> list[Agent]:  # fmt: skip
        wanted = check_statuses(statuses)
        if wanted is not None and not wanted:
            return []
        with self._lock:
            found = [d for d in self._agents.get(tenant_id, {}).values()
                     if (department_id is None or department_id in d["department_ids"])
                     and (wanted is None or d["status"] in wanted)]  # fmt: skip
            docs = self._query(sorted(found, key=lambda d: d["id"]))
        return [Agent.model_validate(d) for d in docs]

    # -- entries ---------------------------------------------------------------------------------

    def get_entry(self, tenant_id: str, department_id: str, entry_id: str) -> QueueEntry | None:
        with self._lock:
            self.reads += 1
            doc = self._entries.get((tenant_id, department_id), {}).get(entry_id)
            return None if doc is None else QueueEntry.model_validate(copy.deepcopy(doc))

    def _with_status(self, tenant_id: str, department_id: str, status: str) -> list[dict[str, Any]]:
        docs = [d for d in self._entries.get((tenant_id, department_id), {}).values() if d["status"] == status]
        docs.sort(key=lambda d: (-d["priority"], d["arrived_at"], d["id"]))
        return docs

    def list_entries(self, tenant_id: str, department_id: str, status: str, limit: int = 100) -> list[QueueEntry]:
        with self._lock:
            docs = self._query(self._with_status(tenant_id, department_id, status)[:limit])
        return [QueueEntry.model_validate(d) for d in docs]

    def count_entries(self, tenant_id: str, department_id: str, status: str) -> int:
        with self._lock:
            n = sum(1 for d in self._entries.get((tenant_id, department_id), {}).values() if d["status"] == status)
            self.reads += max(1, math.ceil(n / 1000))
            return n

    def count_ahead(self, entry: QueueEntry) -> int:
        key = queue_key(entry)
        with self._lock:
            n = sum(1 for d in self._entries.get((entry.tenant_id, entry.department_id), {}).values()
                    if d["status"] == "waiting" and (-d["priority"], d["arrived_at"], d["id"]) < key)  # fmt: skip
            self.reads += max(1, math.ceil(n / 1000))
            return n

    def closed_since(self, tenant_id: str, department_id: str, since: str, limit: int = 1000) -> list[QueueEntry]:
        with self._lock:
            found = [d for d in self._entries.get((tenant_id, department_id), {}).values()
                     if d.get("closed_at") is not None and d["closed_at"] >= since]  # fmt: skip
            found.sort(key=lambda d: d["closed_at"], reverse=True)
            docs = self._query(found[:limit])
        return [QueueEntry.model_validate(d) for d in docs]

    def entries_for_call(self, tenant_id: str, call_sid: str) -> list[QueueEntry]:
        with self._lock:
            found = [d for (t, _), entries in self._entries.items() if t == tenant_id
                     for d in entries.values() if d["call_sid"] == call_sid]  # fmt: skip
            docs = self._query(sorted(found, key=lambda d: (d["joined_at"], d["department_id"])))
        return [QueueEntry.model_validate(d) for d in docs]

    # -- writes ----------------------------------------------------------------------------------

    def commit(self, records: Sequence[RoutingRecord]) -> bool:
        return self.commit_outbox(records, None) is not None

    def commit_outbox(self, records: Sequence[RoutingRecord],
                      derive: DeriveOutbox | None) -> list[OutboxWrite] | None:  # fmt: skip
        paths = [path_of(r) for r in records]
        if len(set(paths)) != len(paths):
            raise ValueError(f"one commit writes a document twice: {sorted(paths)}")
        with self._lock:
            self.reads += len(records)
            slots = [self._slot(r) for r in records]
            for record, (docs, key) in zip(records, slots, strict=True):
                stored = docs.get(key)
                if (0 if stored is None else stored["revision"]) != record.revision - 1:
                    return None
            written = []
            for record, path, (docs, key) in zip(records, paths, slots, strict=True):
                stored = docs.get(key)
                doc = record.model_dump(mode="json")
                kept = {f: stored[f] for f in OUTBOX_FIELDS if stored is not None and f in stored}
                if derive is not None and has_outbox(record):
                    before = None if stored is None else {k: v for k, v in stored.items() if k not in OUTBOX_FIELDS}
                    rows = derive(before, doc, list(kept.get("outbox") or ()))
                    kept = {"outbox": copy.deepcopy(rows), "outbox_since": outbox_since(rows)}
                    if rows:
                        written.append(OutboxWrite(path, rows, None))
                docs[key] = {**doc, **kept}
            self.writes += len(records)
            return written

    # -- the event outbox ------------------------------------------------------------------------

    def _at(self, path: str) -> dict[str, Any] | None:
        parts = path.split("/")
        if len(parts) == 4 and parts[2] == "agents":
            return self._agents.get(parts[1], {}).get(parts[3])
        if len(parts) == 6 and parts[2] == "departments" and parts[4] == "entries":
            return self._entries.get((parts[1], parts[3]), {}).get(parts[5])
        return None

    def ack_outbox(self, path: str, rows: Sequence[dict[str, Any]], published: Collection[str], token: Any) -> bool:
        """One lock makes the read and the write one step: never refused (the token is not needed)."""
        with self._lock:
            doc = self._at(path)
            if doc is None:
                return True
            outbox = doc.get("outbox") or []
            remaining = [r for r in outbox if r["event_id"] not in published]
            if len(remaining) != len(outbox):
                doc["outbox"], doc["outbox_since"] = remaining, outbox_since(remaining)
                self.writes += 1
            return True

    def outboxes_since(self, older_than: datetime, limit: int = 200) -> list[tuple[str, datetime]]:
        with self._lock:
            docs = [*(d for t in self._agents.values() for d in t.values()),
                    *(d for e in self._entries.values() for d in e.values())]  # fmt: skip
            since = [(_doc_path(d), datetime.fromisoformat(d["outbox_since"])) for d in docs if d.get("outbox_since")]
            found = sorted((item for item in since if item[1] <= older_than), key=lambda item: (item[1], item[0]))
            found = found[:limit]
            self.reads += max(1, len(found))
            return found

    def read_outbox(self, path: str) -> tuple[list[dict[str, Any]], Any] | None:
        with self._lock:
            self.reads += 1
            doc = self._at(path)
            return None if doc is None else (copy.deepcopy(list(doc.get("outbox") or ())), doc["revision"])

    def delete(self, record: Department | Agent) -> bool:
        with self._lock:
            self.reads += 1
            docs, key = self._slot(record)
            stored = docs.get(key)
            if stored is None or stored["revision"] != record.revision:
                return False
            del docs[key]
            self.writes += 1
            return True

"""The RoutingStore port (common/adapters/routing_store.py) on Cloud Firestore, or on Google's emulator.

Layout (the records' own paths, ``routing_store.path_of``)::

    tenants/{t}/departments/{d}               Department
    tenants/{t}/agents/{a}                    Agent (``department_ids``: the array-contains field)
    tenants/{t}/departments/{d}/entries/{e}   QueueEntry (e = entry_id(call_sid, d); ``expires_at``
                                              a timestamp: the TTL policy's field)

Queries and the indexes they need (Terraform declares them; the emulator never asks)::

    waiting line   entries: status ==, priority DESC, arrived_at ASC (, __name__ ASC)   composite
                   -- list_entries, and count_ahead as a count() ending before the entry's cursor
    counts         entries: status ==                                                 single-field
    closed since   entries: closed_at >=, closed_at DESC                              single-field
    agents         agents: department_ids array-contains                              single-field
    agents by      agents: department_ids array-contains, status in (or ==)           composite
      status       -- the dispatcher (available, wrap-up) and the hold loop's expected wait
                   (the working statuses) read only the agents who can matter to them
    by call        collection group "entries": call_sid ==                 collection-group field
                   override (filtered to the tenant's paths here, ordered in memory: a call has a
                   handful of entries at most)

``commit`` reads every document first (one batched read), checks each stored revision, then makes
one atomic commit in which every write carries a precondition: ``exists: false`` for a create, the
update time it read for the others. A document that changed in between fails the whole commit and
nothing is written, which is what a read-write transaction guarantees for this read set, without
its locks. Measured on the emulator before choosing (2 to 6 threads assigning one agent, 8 rounds
each): precondition commits always had exactly one winner within 20-50 ms; locking transactions
with the same 1.5 s commit timeout had no winner at all, every racer ending in DEADLINE_EXCEEDED
(their read locks wait on each other until the emulator's lock timeout). The client's own
transactions also begin and commit with its 60 s defaults.

Every RPC carries an explicit timeout and a bounded retry, as in common/adapters/firestore.py:
reads 1.0 s per attempt within 2 s; commits 1.5 s per attempt, retried only on errors that mean
"not applied". Should a retried commit have been applied after all, its retry fails its own
preconditions: the documents are then read again, and if they hold exactly what was written the
commit is reported as done. A commit that timed out is ambiguous and raises StoreUnavailable (an
outage: every public method turns UNAVAILABLE, DEADLINE_EXCEEDED and spent retries into it).

Fields Firestore cannot hold (``context`` carries what flows put there: an array of arrays, an
empty key) are stored as their JSON text and listed in ``json_fields``; the queried fields never are.
``reads``/``writes`` count documents as Firestore bills them, like MemoryRoutingStore.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from common.adapters.firestore import (
    COMMIT_TIMEOUT,
    READ_TIMEOUT,
    RETRY_DEADLINE,
    RETRY_INITIAL,
    RETRY_MAXIMUM,
    firestore_can_hold,
    outage_errors,
    translating_outages,
)  # fmt: skip
from common.adapters.firestore_support import outbox_fields, utc
from common.adapters.routing_store import (
    Agent,
    Department,
    DeriveOutbox,
    OutboxWrite,
    QueueEntry,
    RoutingRecord,
    check_statuses,
    has_outbox,
    path_of,
)  # fmt: skip

JSON_FIELDS = "json_fields"
QUERIED_FIELDS = frozenset({"status", "priority", "arrived_at", "joined_at", "closed_at", "call_sid",
                            "department_ids", "revision", "tenant_id", "department_id", "id"})  # fmt: skip
ATTEMPTS = 3  # commits read again after an outbox acknowledgement came in between
_RESERVED_ID = re.compile(r"__.*__", re.DOTALL)

_Method = TypeVar("_Method", bound=Callable[..., Any])


def record_to_doc(record: RoutingRecord) -> dict[str, Any]:
    doc = record.model_dump(mode="json")
    if isinstance(record, QueueEntry) and record.expires_at is not None:
        expires = record.expires_at
        doc["expires_at"] = expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires.astimezone(UTC)
    encoded = sorted(k for k, v in doc.items() if k not in QUERIED_FIELDS and not isinstance(v, datetime)
                     and not firestore_can_hold(v))  # fmt: skip
    for name in encoded:
        doc[name] = json.dumps(doc[name], separators=(",", ":"))
    doc[JSON_FIELDS] = encoded  # always written: an update must clear an older list
    return doc


def record_from_doc(kind: type[RoutingRecord], doc: dict[str, Any]) -> Any:
    doc = dict(doc)
    for name in doc.pop(JSON_FIELDS, None) or ():
        if isinstance(doc.get(name), str):
            doc[name] = json.loads(doc[name])
    expires = doc.get("expires_at")
    if isinstance(expires, datetime):  # the client's DatetimeWithNanoseconds: records hold plain ones
        doc["expires_at"] = datetime.combine(expires.date(), expires.timetz())
    return kind.model_validate(doc)


def _outbox_of(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    value = (doc or {}).get("outbox") or []
    return list(json.loads(value) if isinstance(value, str) else value)  # JSON text: see outbox_fields


def _kind(record: RoutingRecord) -> type[RoutingRecord]:
    return Department if isinstance(record, Department) else Agent if isinstance(record, Agent) else QueueEntry


@translating_outages
class FirestoreRoutingStore:
    def __init__(self, client: Any | None = None, project: str | None = None) -> None:
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry, if_exception_type

        self._client = client
        self._project = project
        self._client_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._gexc = gexc
        self._outages = outage_errors()
        self.reads = 0
        self.writes = 0
        read_retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded,
                                                       gexc.InternalServerError),
                           initial=RETRY_INITIAL, maximum=RETRY_MAXIMUM, multiplier=2.0,
                           timeout=RETRY_DEADLINE)  # fmt: skip
        self._read_kw: dict[str, Any] = {"retry": read_retry, "timeout": READ_TIMEOUT}
        self._commit_retryable = if_exception_type(gexc.ServiceUnavailable, gexc.InternalServerError, gexc.Aborted)
        self._retry_class = Retry

    # -- plumbing --------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from google.cloud import firestore

                    self._client = firestore.Client(project=self._project or os.environ.get("GOOGLE_CLOUD_PROJECT"))
        return self._client

    def _count(self, reads: int = 0, writes: int = 0) -> None:
        with self._count_lock:
            self.reads += reads
            self.writes += writes

    @staticmethod
    def _check_ids(path: Sequence[str]) -> None:
        for segment in path[1::2]:  # the ids; a "/" in one would address another document
            if not segment or "/" in segment or segment in (".", "..") or _RESERVED_ID.fullmatch(segment):
                raise ValueError(f"{segment!r} cannot be a Firestore document id ({'/'.join(path)})")

    def _doc(self, *path: str) -> Any:
        self._check_ids(path)
        return self.client.document(*path)

    def _col(self, *path: str) -> Any:
        self._check_ids(path)
        return self.client.collection(*path)

    def _entries(self, tenant_id: str, department_id: str) -> Any:
        return self._col("tenants", tenant_id, "departments", department_id, "entries")

    def _get(self, kind: type[RoutingRecord], ref: Any) -> Any:
        snap = ref.get(**self._read_kw)
        self._count(reads=1)
        return record_from_doc(kind, snap.to_dict()) if snap.exists else None

    def _query(self, kind: type[RoutingRecord], query: Any) -> list[Any]:
        snaps = list(query.get(**self._read_kw))
        self._count(reads=max(1, len(snaps)))  # a query that finds nothing still costs one read
        return [record_from_doc(kind, snap.to_dict()) for snap in snaps]

    def _counted(self, query: Any) -> int:
        result = query.count().get(**self._read_kw)
        n = int(result[0][0].value)  # the emulator answers 0 as 0.0
        self._count(reads=max(1, math.ceil(n / 1000)))
        return n

    def _waiting_line(self, tenant_id: str, department_id: str, status: str) -> Any:
        from google.cloud.firestore import FieldFilter, Query

        return (self._entries(tenant_id, department_id)
                .where(filter=FieldFilter("status", "==", status))
                .order_by("priority", direction=Query.DESCENDING).order_by("arrived_at"))  # fmt: skip

    # -- departments and agents ------------------------------------------------------------------

    def get_department(self, tenant_id: str, department_id: str) -> Department | None:
        found: Department | None = self._get(Department, self._doc("tenants", tenant_id, "departments",
                                                                   department_id))  # fmt: skip
        return found

    def list_departments(self, tenant_id: str) -> list[Department]:
        return self._query(Department, self._col("tenants", tenant_id, "departments").order_by("__name__"))

    def get_agent(self, tenant_id: str, agent_id: str) -> Agent | None:
        found: Agent | None = self._get(Agent, self._doc("tenants", tenant_id, "agents", agent_id))
        return found

    def list_agents(self, tenant_id: str, department_id: str | None = None, *,
                    statuses: Collection[str] | None = None) -> list[Agent]:  # fmt: skip
        from google.cloud.firestore import FieldFilter

        wanted = check_statuses(statuses)
        if wanted is not None and not wanted:
            return []
        query = self._col("tenants", tenant_id, "agents")
        if department_id is not None:
            query = query.where(filter=FieldFilter("department_ids", "array_contains", department_id))
        if wanted is not None:  # one status: ==, several: in (at most 6 values; Firestore allows 30)
            values = sorted(wanted)
            query = query.where(filter=FieldFilter("status", "==", values[0]) if len(values) == 1
                                else FieldFilter("status", "in", values))  # fmt: skip
        return self._query(Agent, query.order_by("__name__"))

    # -- entries ---------------------------------------------------------------------------------

    def get_entry(self, tenant_id: str, department_id: str, entry_id: str) -> QueueEntry | None:
        ref = self._doc("tenants", tenant_id, "departments", department_id, "entries", entry_id)
        found: QueueEntry | None = self._get(QueueEntry, ref)
        return found

    def list_entries(self, tenant_id: str, department_id: str, status: str, limit: int = 100) -> list[QueueEntry]:
        return self._query(QueueEntry, self._waiting_line(tenant_id, department_id, status).limit(limit))

    def count_entries(self, tenant_id: str, department_id: str, status: str) -> int:
        from google.cloud.firestore import FieldFilter

        query = self._entries(tenant_id, department_id).where(filter=FieldFilter("status", "==", status))
        return self._counted(query)

    def count_ahead(self, entry: QueueEntry) -> int:
        """One count() over the waiting line, ending just before where ``entry`` sorts (whether or not
        it is stored or still waiting): priority, arrival and document id all take part, as in the
        queue order."""
        line = self._waiting_line(entry.tenant_id, entry.department_id, "waiting").order_by("__name__")
        ref = self._entries(entry.tenant_id, entry.department_id).document(entry.id)
        cursor = {"priority": entry.priority, "arrived_at": entry.arrived_at, "__name__": ref}
        return self._counted(line.end_before(cursor))

    def closed_since(self, tenant_id: str, department_id: str, since: str, limit: int = 1000) -> list[QueueEntry]:
        from google.cloud.firestore import FieldFilter, Query

        query = (self._entries(tenant_id, department_id).where(filter=FieldFilter("closed_at", ">=", since))
                 .order_by("closed_at", direction=Query.DESCENDING).limit(limit))  # fmt: skip
        return self._query(QueueEntry, query)

    def entries_for_call(self, tenant_id: str, call_sid: str) -> list[QueueEntry]:
        from google.cloud.firestore import FieldFilter

        self._check_ids(("tenants", tenant_id))
        query = self.client.collection_group("entries").where(filter=FieldFilter("call_sid", "==", call_sid))
        snaps = list(query.get(**self._read_kw))
        self._count(reads=max(1, len(snaps)))
        prefix = f"tenants/{tenant_id}/departments/"
        found = [record_from_doc(QueueEntry, s.to_dict()) for s in snaps
                 if s.reference.path.startswith(prefix) and s.reference.path.count("/") == 5]  # fmt: skip
        return sorted(found, key=lambda e: (e.joined_at, e.department_id))

    # -- writes ----------------------------------------------------------------------------------

    def commit(self, records: Sequence[RoutingRecord]) -> bool:
        """Read all, check revisions, one commit with a precondition per document (module docstring)."""
        return self.commit_outbox(records, None) is not None

    def commit_outbox(self, records: Sequence[RoutingRecord],
                      derive: DeriveOutbox | None) -> list[OutboxWrite] | None:  # fmt: skip
        """``commit``; with ``derive``, each entry and agent also carries its outbox (routing_store).
        With ``derive``, a failed precondition is read again: revisions still the ones read mean that
        only an outbox acknowledgement came in between, and the commit is made again (``ATTEMPTS`` in
        all); a moved revision is a lost race (None), one read later than without outboxes."""
        paths = [path_of(r) for r in records]
        if len(set(paths)) != len(paths):
            raise ValueError(f"one commit writes a document twice: {sorted(paths)}")
        if not records:
            return []
        refs = [self._doc(*path.split("/")) for path in paths]
        for _ in range(ATTEMPTS if derive is not None else 1):  # without outboxes there are no acknowledgements
            snaps = {snap.reference.path: snap for snap in self.client.get_all(refs, **self._read_kw)}
            self._count(reads=len(refs))
            batch = self.client.batch()
            outboxes: list[tuple[str, list[dict[str, Any]]]] = []
            for record, ref in zip(records, refs, strict=True):
                snap = snaps.get(ref.path)
                stored = snap.to_dict() if snap is not None and snap.exists else None
                if (0 if stored is None else int(stored.get("revision") or 0)) != record.revision - 1:
                    return None
                doc = record_to_doc(record)
                if derive is not None and has_outbox(record):
                    before = None if stored is None else record_from_doc(_kind(record), stored).model_dump(mode="json")
                    rows = derive(before, record.model_dump(mode="json"), _outbox_of(stored))
                    doc.update(outbox_fields(rows))
                    outboxes.append((ref.path, rows))
                if stored is None:
                    batch.create(ref, doc)
                else:
                    assert snap is not None
                    batch.update(ref, doc, option=self.client.write_option(last_update_time=snap.update_time))
            retried: list[BaseException] = []
            try:
                results = batch.commit(retry=self._commit_retry(retried), timeout=COMMIT_TIMEOUT)
            except (self._gexc.FailedPrecondition, self._gexc.AlreadyExists, self._gexc.NotFound):
                if retried and self._landed(records, refs):
                    self._count(writes=len(refs))
                    return [OutboxWrite(path, rows, None) for path, rows in outboxes if rows]
                continue  # read again: a lost race answers None there, an acknowledgement commits again
            self._count(writes=len(refs))
            times = {ref.path: result.update_time for ref, result in zip(refs, results, strict=False)}
            return [OutboxWrite(path, rows, times.get(path)) for path, rows in outboxes if rows]
        return None

    # -- the event outbox (routing_store's docstring) ---------------------------------------------

    def ack_outbox(self, path: str, rows: Sequence[dict[str, Any]], published: Collection[str], token: Any) -> bool:
        """One update of the two fields on the write's update time; a later write first: read, retry."""
        ref = self._doc(*path.split("/"))
        current = list(rows)
        for _ in range(ATTEMPTS):
            remaining = [r for r in current if r.get("event_id") not in published]
            if len(remaining) == len(current):
                return True
            if token is not None:
                try:
                    ref.update(outbox_fields(remaining), option=self.client.write_option(last_update_time=token),
                               timeout=COMMIT_TIMEOUT)  # fmt: skip
                    self._count(writes=1)
                    return True
                except (self._gexc.FailedPrecondition, self._gexc.NotFound):
                    pass
            found = self.read_outbox(path)
            if found is None:
                return True
            current, token = found
        return False

    def outboxes_since(self, older_than: datetime, limit: int = 200) -> list[tuple[str, datetime]]:
        """Two collection group ranges on ``outbox_since`` (entries, agents: each needs its
        collection-group single-field index, terraform events_routing_outbox.tf), merged."""
        from google.cloud.firestore import FieldFilter

        found = []
        for group in ("entries", "agents"):
            query = (self.client.collection_group(group)
                     .where(filter=FieldFilter("outbox_since", "<=", utc(older_than)))
                     .order_by("outbox_since").limit(limit).select(["outbox_since"]))  # fmt: skip
            snaps = list(query.get(**self._read_kw))
            self._count(reads=max(1, len(snaps)))
            found += [(snap.reference.path, utc(snap.get("outbox_since"))) for snap in snaps
                      if snap.reference.path.startswith("tenants/")]  # fmt: skip
        return sorted(found, key=lambda item: (item[1], item[0]))[:limit]

    def read_outbox(self, path: str) -> tuple[list[dict[str, Any]], Any] | None:
        snap = self._doc(*path.split("/")).get(field_paths=["outbox"], **self._read_kw)
        self._count(reads=1)
        return (_outbox_of(snap.to_dict()), snap.update_time) if snap.exists else None

    def _commit_retry(self, retried: list[BaseException]) -> Any:
        """A commit's retry: only errors that mean "not applied", within 2 s; each error noted in ``retried``."""
        return self._retry_class(predicate=self._commit_retryable, initial=RETRY_INITIAL, maximum=RETRY_MAXIMUM,
                                 multiplier=2.0, timeout=RETRY_DEADLINE, on_error=retried.append)  # fmt: skip

    def _landed(self, records: Sequence[RoutingRecord], refs: list[Any]) -> bool:
        """Whether the stored documents are exactly ``records`` (a retried commit that had applied)."""
        snaps = {snap.reference.path: snap for snap in self.client.get_all(refs, **self._read_kw)}
        self._count(reads=len(refs))
        for record, ref in zip(records, refs, strict=True):
            snap = snaps.get(ref.path)
            if snap is None or not snap.exists or record_from_doc(_kind(record), snap.to_dict()) != record:
                return False
        return True

    def delete(self, record: Department | Agent) -> bool:
        ref = self._doc(*path_of(record).split("/"))
        snap = ref.get(**self._read_kw)
        self._count(reads=1)
        if not snap.exists or (snap.to_dict() or {}).get("revision") != record.revision:
            return False
        retried: list[BaseException] = []
        try:
            ref.delete(option=self.client.write_option(last_update_time=snap.update_time),
                       timeout=COMMIT_TIMEOUT, retry=self._commit_retry(retried))  # fmt: skip
        except (self._gexc.FailedPrecondition, self._gexc.NotFound):
            if not retried or ref.get(**self._read_kw).exists:  # else the first attempt had deleted it
                return False
        self._count(writes=1)
        return True

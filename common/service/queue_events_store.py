"""Queue and agent events from department routing, written in the commit that caused them.

    EventingRoutingStore(inner, outbox)      a RoutingStore (common/adapters/routing_store.py)

Routing changes its state only by ``commit(records)``: each record the next revision of what it read
(compare-and-set). This store passes every call to ``inner``, but turns each commit into
``inner.commit_outbox(records, derive)``: the store reads the documents a commit writes anyway, and
``derive`` compares each entry or agent with its stored revision (common/core/queue_events.py) and
returns the document's outbox (what is stored and not yet published, then the new rows). The outbox
travels in the same precondition-guarded write as the revision: no extra document, read or write.
After the commit lands, the outboxes written go to the event outbox's dispatcher
(``EventOutbox.routing_written``), which publishes them off the caller's path and acknowledges
(``ack_outbox``: one write per document); the sweeper republishes what is left
(``EventOutbox.sweep`` asks ``outboxes_since``).

Rules owned here:
- A commit refused by its preconditions writes no rows: only events of states that exist are ever
  published. A crash after the commit leaves the rows in the documents, for the sweeper.
- ``before`` is the stored document, not a remembered read: every committed revision is compared
  with its predecessor, whichever instance read it.
- ``queue.answered`` and ``queue.abandoned`` carry the department's ``service_level_seconds``, taken
  from the departments routing reads through this store (a department it has not seen costs one
  read, before the commit).
- A derivation that raises is logged and the commit goes on with the stored outbox unchanged: events
  never change routing's answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from common.adapters.routing_store import Department, QueueEntry, has_outbox
from common.core.queue_events import agent_events, entry_events
from common.service.event_outbox import EventOutbox

log = logging.getLogger("ivr.events")


class EventingRoutingStore:
    def __init__(self, inner: Any, outbox: EventOutbox) -> None:
        self.inner, self.outbox = inner, outbox
        self._levels: dict[tuple[str, str], int] = {}  # (tenant, department) -> service_level_seconds
        self._lock = threading.Lock()
        self.derive_failures = 0
        outbox.add_routing(inner)

    def __getattr__(self, name: str) -> Any:  # every other method and counter is the inner store's
        return getattr(self.inner, name)

    def _note(self, departments: Sequence[Department | None]) -> None:
        with self._lock:
            for d in departments:
                if d is not None:
                    self._levels[(d.tenant_id, d.id)] = d.settings.service_level_seconds

    def get_department(self, tenant_id: str, department_id: str) -> Department | None:
        found = self.inner.get_department(tenant_id, department_id)
        self._note([found])
        return found

    def list_departments(self, tenant_id: str) -> list[Department]:
        found = self.inner.list_departments(tenant_id)
        self._note(found)
        return found

    def _service_levels(self, records: Sequence[Any]) -> dict[tuple[str, str], int]:
        wanted = {(r.tenant_id, r.department_id) for r in records if isinstance(r, QueueEntry)}
        with self._lock:
            missing = wanted - set(self._levels)
        for tenant_id, department_id in sorted(missing):
            try:
                self.get_department(tenant_id, department_id)
            except Exception:  # the commit decides about the outage; the events go without the level
                log.warning("events: could not read department %s/%s's service level", tenant_id, department_id)
        with self._lock:
            return {key: self._levels[key] for key in wanted if key in self._levels}

    def commit(self, records: Sequence[Any]) -> bool:
        if not any(has_outbox(r) for r in records):
            done = bool(self.inner.commit(records))
            if done:  # a department written here is one this process has seen
                self._note([r for r in records if isinstance(r, Department)])
            return done
        levels = self._service_levels(records)
        now = self.outbox.now().isoformat()

        def derive(before: dict[str, Any] | None, after: dict[str, Any],
                   stored: list[dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
            try:
                if "department_id" in after:
                    level = levels.get((after["tenant_id"], after["department_id"]))
                    made = entry_events(before, after, now, service_level_seconds=level)
                else:
                    made = agent_events(before, after, now)
                return self.outbox.pending_rows(stored, [r.row() for r in made])
            except Exception:
                self.derive_failures += 1
                log.exception("events: could not derive the queue events of a routing commit")
                return list(stored)

        written = self.inner.commit_outbox(records, derive)
        if written is None:
            return False
        if written:
            self.outbox.routing_written(self.inner, written)
        return True

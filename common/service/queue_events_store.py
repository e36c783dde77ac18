"""Queue and agent events from department routing, without routing knowing about them.

    EventingRoutingStore(inner, outbox)      a RoutingStore (common/adapters/routing_store.py)

Routing changes its state only by ``commit(records)``: each record the next revision of what it read
(compare-and-set). This store passes every call to ``inner`` and remembers the last revisions it
read or wrote of each entry and agent; after a commit lands, each entry or agent written is compared
with the revision before it (common/core/queue_events.py) and the events are handed to the event
outbox's dispatcher (``EventOutbox.emit``), off the caller's path.

Rules owned here:
- A revision whose predecessor this process never saw (another instance read it) exports nothing
  but a created entry's queue.joined: guessing a difference would invent events. Counted in
  ``unseen``.
- Derivation or hand-off failures are logged and never change the commit's answer.
- Not an outbox: the events of a commit live only in this process until they are published, so an
  instance that stops in between loses them (the call events do not: they are in the call
  document). The entry's own ``history`` keeps what happened, for a later backfill.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from common.adapters.routing_store import Agent, QueueEntry, path_of
from common.core.queue_events import agent_events, entry_events
from common.service.event_outbox import EventOutbox

log = logging.getLogger("ivr.events")

REMEMBERED = 20_000  # revisions of entries and agents kept to compare the next commit with


class EventingRoutingStore:
    def __init__(self, inner: Any, outbox: EventOutbox) -> None:
        self.inner, self.outbox = inner, outbox
        self._seen: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.unseen = 0

    def __getattr__(self, name: str) -> Any:  # every other method and counter is the inner store's
        return getattr(self.inner, name)

    def _keep(self, found: Any) -> Any:
        records = found if isinstance(found, list) else [found]
        with self._lock:
            for record in records:
                if isinstance(record, QueueEntry | Agent):
                    self._seen[(path_of(record), record.revision)] = record.model_dump(mode="json")
                    self._seen.move_to_end((path_of(record), record.revision))
            while len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
        return found

    def get_entry(self, *args: Any, **kwargs: Any) -> Any:
        return self._keep(self.inner.get_entry(*args, **kwargs))

    def list_entries(self, *args: Any, **kwargs: Any) -> Any:
        return self._keep(self.inner.list_entries(*args, **kwargs))

    def entries_for_call(self, *args: Any, **kwargs: Any) -> Any:
        return self._keep(self.inner.entries_for_call(*args, **kwargs))

    def get_agent(self, *args: Any, **kwargs: Any) -> Any:
        return self._keep(self.inner.get_agent(*args, **kwargs))

    def list_agents(self, *args: Any, **kwargs: Any) -> Any:
        return self._keep(self.inner.list_agents(*args, **kwargs))

    def commit(self, records: Sequence[Any]) -> bool:
        done = bool(self.inner.commit(records))
        if done:
            try:
                self._export(records)
            except Exception:
                log.exception("events: could not derive the queue events of a routing commit")
            self._keep(list(records))
        return done

    def _export(self, records: Sequence[Any]) -> None:
        now = self.outbox.now().isoformat()
        rows = []
        for record in records:
            if not isinstance(record, QueueEntry | Agent):
                continue
            with self._lock:
                before = self._seen.get((path_of(record), record.revision - 1))
            after = record.model_dump(mode="json")
            if before is None and record.revision > 1:
                self.unseen += 1
                continue
            derive = entry_events if isinstance(record, QueueEntry) else agent_events
            made = derive(before, after, now)
            rows += [r.row() for r in made]
        if rows:
            self.outbox.emit(rows)

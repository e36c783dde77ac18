"""The call event outbox: rows written with the state change that caused them, published afterwards.

    outbox = EventOutbox(store, publisher, now)
    record = outbox.attach(record, before, raw_events, flow, environment=..., http_ms=...)   # before the write
    outbox.written(record, token)        # after the write landed: hand it to the dispatcher (never blocks)
    outbox.deliver(call_sid, rows, token)    # publish, then acknowledge (the dispatcher and the sweeper)
    outbox.sweep(older_than_seconds)     # republish every outbox older than that (the scheduled sweeper)
    outbox.record_fallback(call_sid, reason, region)   # call.fallback, after the fallback was answered

Rules owned here:
- A turn's exported rows (common/core/call_events.py ``derive``) go into the call document's
  ``outbox`` in the same write as the turn itself (``save_call``), with the derivation cursor
  (``event_cursor``). Nothing is published before that write landed, so a published event always
  belongs to a state that exists; an event whose write was refused (a duplicate lost the race) is
  never published.
- After the write, ``written`` puts (call, outbox, token) on a bounded queue and returns: the webhook
  never waits for Pub/Sub, the DuckDB file or anything on the network. A dispatcher thread (started on
  first use, ended after a minute without work) publishes the whole outbox and acknowledges with
  ``update_outbox``: the published ids leave the outbox, compare-and-set on the token of the write.
  When a later write came first, the call is re-read and only the published ids are removed.
  A full queue drops the hand-off (logged): the rows are in the document, and the sweeper publishes them.
- At least once: a crash between the write and the publish, a publish that times out, an
  acknowledgement that is lost, all leave rows in the outbox that the sweeper republishes later.
  Event ids are deterministic, so readers deduplicate by ``event_id``; nothing here tries to be
  exactly once.
- Nothing here may change what a caller hears: ``attach`` returns the record without new rows when
  derivation fails (logged), and ``written`` never raises.
- At interpreter exit what is still queued is published, for at most 2 s (Cloud Run sends SIGTERM
  and waits 10 s before it stops an instance); anything left then is the sweeper's.
- An outbox holds at most ``MAX_OUTBOX`` rows: a call that keeps producing events while publishing
  is down for a long time loses its oldest unpublished rows (logged as an error) rather than grow its
  document towards Firestore's 1 MiB limit, which would fail the caller's next turn.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from common.adapters.ports import CallRecord, EventPublisher, Store
from common.adapters.routing_store import OutboxWrite, RoutingStore
from common.core.call_events import CallFacts, derive
from common.core.flow import CompiledFlow

log = logging.getLogger("ivr.events")

MAX_OUTBOX = 1_000
QUEUE_SIZE = 2_000  # hand-offs waiting for the dispatcher; beyond that the sweeper takes over
BATCH_CALLS = 50  # hand-offs published in one batch
IDLE_SECONDS = 60.0  # the dispatcher thread ends after this long without work (and restarts on demand)
ACK_ATTEMPTS = 3
REMEMBERED_IDS = 50_000  # published ids this process keeps, so that its next write drops them already
EXIT_FLUSH_SECONDS = 2.0  # at interpreter exit (a Cloud Run instance gets SIGTERM, then 10 s): publish what is queued

_live: weakref.WeakSet[EventOutbox] = weakref.WeakSet()
_HandOff = tuple[str, list[dict[str, Any]], Any, Any]  # (call sid or routing path, rows, token, routing store)
RoutingOutboxes = RoutingStore  # the outbox half of it: ack_outbox, outboxes_since, read_outbox


@atexit.register
def _flush_at_exit() -> None:
    for outbox in list(_live):
        with contextlib.suppress(Exception):  # exiting: what is left is in the outboxes, for the sweeper
            outbox.drain(timeout=EXIT_FLUSH_SECONDS)


def _since(rows: Sequence[Mapping[str, Any]]) -> datetime | None:
    if not rows:
        return None
    return datetime.fromisoformat(min(str(r["occurred_at"]) for r in rows).replace("Z", "+00:00"))


def same_but_outbox(a: CallRecord, b: CallRecord) -> bool:
    """True when two reads of a call differ at most in the outbox: the write in between was an
    acknowledgement, and a turn computed on the first read is still the right one."""
    skip = {"outbox", "outbox_since"}
    return a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


class EventOutbox:
    def __init__(self, store: Store, publisher: EventPublisher, now: Callable[[], datetime],
                 queue_size: int = QUEUE_SIZE, start_dispatcher: bool = True) -> None:  # fmt: skip
        """``start_dispatcher`` False: hand-offs wait on the queue until ``drain`` (tests of a crash
        between the write and the publish, and the benchmark)."""
        self.store, self.publisher, self.now = store, publisher, now
        self._queue: queue.Queue[_HandOff] = queue.Queue(maxsize=queue_size)
        self.routing: list[RoutingOutboxes] = []  # routing stores whose entry and agent outboxes are swept
        self._dispatch = start_dispatcher
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._published: OrderedDict[str, None] = OrderedDict()
        self.dropped = 0  # hand-offs refused by a full queue
        if start_dispatcher:
            _live.add(self)

    # -- on the webhook's path: pure CPU, no I/O ---------------------------------------------------

    def attach(self, record: CallRecord, before: CallRecord | None, raw_events: Sequence[Mapping[str, Any]],
               flow: CompiledFlow | None, environment: str = "production",
               http_ms: int | None = None) -> CallRecord:  # fmt: skip
        """``record`` (the document about to be written) with this turn's rows appended to the outbox
        of ``before`` (the document read; None for a new call) and the cursor advanced."""
        try:
            base = before if before is not None else record
            facts = CallFacts(record.tenant_id, record.call_sid, record.flow_id, record.flow_version,
                              environment=environment, http_ms=http_ms)  # fmt: skip
            rows, cursor = derive(raw_events, facts, base.event_cursor, flow)
            pending = [r for r in base.outbox if not self.was_published(str(r.get("event_id")))]
            outbox = pending + [r.row() for r in rows]
            if len(outbox) > MAX_OUTBOX:
                log.error("events: call %s has %d unpublished events; dropping the oldest %d", record.call_sid,
                          len(outbox), len(outbox) - MAX_OUTBOX)  # fmt: skip
                outbox = outbox[-MAX_OUTBOX:]
        except Exception:  # a bug in derivation must not change the call: the turn is written without rows
            log.exception("events: could not derive the events of call %s; the turn is kept without them",
                          record.call_sid)  # fmt: skip
            return record
        return record.model_copy(update={"outbox": outbox, "outbox_since": _since(outbox), "event_cursor": cursor})

    def written(self, record: CallRecord, token: Any) -> None:
        """The write of ``record`` landed with ``token``: publish its outbox after the answer."""
        if record.outbox:
            self._hand_off(record.call_sid, list(record.outbox), token)

    def routing_written(self, routing: RoutingOutboxes, writes: Sequence[OutboxWrite]) -> None:
        """A routing commit landed with these entry and agent outboxes: publish them after the answer."""
        for write in writes:
            self._hand_off(write.path, list(write.rows), write.token, routing)

    def add_routing(self, routing: RoutingOutboxes) -> None:
        """Sweep this routing store's outboxes too (the eventing routing store registers its own)."""
        if all(known is not routing for known in self.routing):
            self.routing.append(routing)

    def _hand_off(self, key: str, rows: list[dict[str, Any]], token: Any, routing: Any = None) -> None:
        try:
            self._queue.put_nowait((key, rows, token, routing))
        except queue.Full:
            self.dropped += 1
            log.warning("events: dispatcher queue full; %d events of %r wait for the sweeper", len(rows), key)
            return
        except Exception:
            log.exception("events: could not hand %r's events to the dispatcher", key)
            return
        if self._dispatch:
            self._ensure_thread()

    def record_fallback(self, call_sid: str | None, reason: str, region: str | None = None) -> bool:
        """``call.fallback`` (reason, region) into the call's outbox, then handed to the dispatcher.
        Called after the fallback TwiML was answered, off the caller's path (the web layer does not
        wait for it). Compare-and-set like a turn, ``ACK_ATTEMPTS`` times. False, logged, when there
        is no call record (the call never started) or the store does not answer: then the fallback
        is only in the logs (the request's ``failure`` annotation). Never raises."""
        if not call_sid:
            return False
        try:
            for _ in range(ACK_ATTEMPTS):
                found = self.store.read_call(call_sid)
                if found is None:
                    log.warning("events: call.fallback (%s) of %s not recorded: no call record", reason, call_sid)
                    return False
                record, token = found
                node = record.event_cursor.get("node")  # where the caller was
                raw = [{"type": "call.fallback", "at": self.now().isoformat(), "nodeId": node,
                        "data": {"reason": reason, "region": region}}]  # fmt: skip
                updated = self.attach(record, record, raw, None)
                if updated is record:
                    return False  # derivation failed (logged by attach)
                written = self.store.save_call(updated, token)
                if written is not None:
                    self.written(updated, written)
                    return True
        except Exception as exc:  # the store is down: the fallback stays in the logs only
            log.warning("events: call.fallback (%s) of %s not recorded: %s", reason, call_sid, exc)
            return False
        log.warning("events: call.fallback (%s) of %s not recorded: the call kept changing", reason, call_sid)
        return False

    def was_published(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._published

    # -- off the webhook's path --------------------------------------------------------------------

    def deliver(self, call_sid: str, rows: Sequence[dict[str, Any]], token: Any, routing: Any = None) -> set[str]:
        """Publish ``rows`` (the outbox written with ``token``) and take what was published out of the
        call's outbox (``routing``: out of that routing store's entry or agent document ``call_sid``).
        The published ids."""
        published = self.publisher.publish(rows) if rows else set()
        if published:
            self._remember(published)
            self._acknowledge(call_sid, rows, token, published, routing)
        return published

    def _acknowledge(self, key: str, rows: Sequence[dict[str, Any]], token: Any, published: set[str],
                     routing: Any) -> bool:  # fmt: skip
        if routing is None:
            return self.acknowledge(key, rows, token, published)
        try:
            return bool(routing.ack_outbox(key, rows, published, token))
        except Exception as exc:  # the store is down: the sweeper will republish and acknowledge
            log.warning("events: could not acknowledge %d events of %s: %s", len(published), key, exc)
            return False

    def pending_rows(self, stored: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """A routing document's outbox to write: what is stored and not yet published here, then the
        commit's new rows (at most ``MAX_OUTBOX``, the oldest dropped, as for a call)."""
        outbox = [r for r in stored if not self.was_published(str(r.get("event_id")))] + list(rows)
        if len(outbox) > MAX_OUTBOX:
            log.error("events: a routing document has %d unpublished events; dropping the oldest %d", len(outbox),
                      len(outbox) - MAX_OUTBOX)  # fmt: skip
            outbox = outbox[-MAX_OUTBOX:]
        return outbox

    def acknowledge(self, call_sid: str, rows: Sequence[dict[str, Any]], token: Any, published: set[str]) -> bool:
        """Remove ``published`` from the outbox; compare-and-set, re-reading when a write came first.
        False when the outbox could not be updated (a lost race each time): the rows stay, and a
        later publish duplicates them, which readers drop."""
        current = list(rows)
        for _ in range(ACK_ATTEMPTS):
            remaining = [r for r in current if str(r.get("event_id")) not in published]
            if len(remaining) == len(current):
                return True  # nothing of ours is left: a later write already dropped them
            try:
                if self.store.update_outbox(call_sid, remaining, token) is not None:
                    return True
                found = self.store.read_call(call_sid)
            except Exception as exc:  # the store is down: the sweeper will republish and acknowledge
                log.warning("events: could not acknowledge %d events of call %s: %s", len(published), call_sid, exc)
                return False
            if found is None:
                return True
            current, token = list(found[0].outbox), found[1]
        return False

    def drain(self, timeout: float = 5.0) -> int:
        """Deliver what is queued, on this thread, until the queue is empty and nothing is in flight
        (or ``timeout`` passes). The hand-offs delivered here."""
        stop = time.monotonic() + timeout
        done = 0
        while time.monotonic() < stop:
            batch = self._take(block=False)
            if batch:
                self._publish_batch(batch)
                done += len(batch)
                continue
            # every hand-off put and not yet published and acknowledged, queued or taken (task_done
            # after the batch): a batch the dispatcher has just taken counts too
            if self._queue.unfinished_tasks == 0:
                break
            time.sleep(0.005)
        return done

    def pending(self) -> int:
        return int(self._queue.unfinished_tasks)

    def forget_queued(self) -> int:
        """Drop what is queued and not yet taken, as a stopped instance loses it (tests of a crash
        between the write and the publish); the rows stay in their outboxes for the sweeper."""
        with self._queue.mutex:
            dropped = len(self._queue.queue)
            self._queue.queue.clear()
            self._queue.unfinished_tasks -= dropped
            self._queue.all_tasks_done.notify_all()
        return dropped

    def sweep(self, older_than_seconds: float, limit: int = 200) -> dict[str, Any]:
        """Republish every outbox holding a row older than ``older_than_seconds`` (oldest first, at most
        ``limit`` calls). Idempotent: a row published twice has the same id."""
        now = self.now()
        found = self.store.calls_with_outbox(now - timedelta(seconds=older_than_seconds), limit)
        oldest = max(((now - since).total_seconds() for _, since in found), default=0.0)
        republished = calls = failed = documents = 0
        for sid, _ in found:
            read = self.store.read_call(sid)
            if read is None or not read[0].outbox:
                continue
            record, token = read
            published = self.deliver(sid, record.outbox, token)
            republished += len(published)
            calls += 1
            failed += len(record.outbox) - len(published)
        more = len(found) >= limit
        for routing in self.routing:  # the entries' and agents' outboxes (queue and agent events)
            held = routing.outboxes_since(now - timedelta(seconds=older_than_seconds), limit)
            oldest = max([oldest, *((now - since).total_seconds() for _, since in held)])
            more = more or len(held) >= limit
            for path, _ in held:
                outbox = routing.read_outbox(path)
                if outbox is None or not outbox[0]:
                    continue
                rows, token = outbox
                published = self.deliver(path, rows, token, routing)
                republished += len(published)
                documents += 1
                failed += len(rows) - len(published)
        return {"calls": calls, "routing_documents": documents, "republished": republished, "unpublished": failed,
                "oldest_unpublished_seconds": round(oldest, 3), "older_than_seconds": older_than_seconds,
                "more": more}  # fmt: skip

    # -- the dispatcher thread ---------------------------------------------------------------------

    def _remember(self, ids: set[str]) -> None:
        with self._lock:
            for event_id in ids:
                self._published[event_id] = None
            while len(self._published) > REMEMBERED_IDS:
                self._published.popitem(last=False)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="ivr-events-dispatcher", daemon=True)
            self._thread.start()

    def _take(self, block: bool) -> list[_HandOff]:
        try:
            first = self._queue.get(timeout=IDLE_SECONDS) if block else self._queue.get_nowait()
        except queue.Empty:
            return []
        batch = [first]
        # A publisher whose every batch has a fixed cost (the DuckDB file is opened and closed) asks
        # to wait a little for more: fewer, larger batches.
        linger = float(getattr(self.publisher, "linger_seconds", 0.0)) if block else 0.0
        stop, most = time.monotonic() + linger, BATCH_CALLS * (20 if linger else 1)
        while len(batch) < most:
            try:
                left = stop - time.monotonic()
                batch.append(self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take(block=True)
            if not batch:
                with self._lock:  # idle: end, unless a hand-off slipped in as the wait timed out
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            self._publish_batch(batch)

    def _publish_batch(self, batch: list[_HandOff]) -> None:
        try:
            latest: dict[tuple[int, str], tuple[list[dict[str, Any]], Any, Any]] = {}
            for key, rows, token, routing in batch:  # a later write of a document carries its earlier rows unsent
                latest[(id(routing), key)] = (rows, token, routing)
            rows = [r for outbox, _, _ in latest.values() for r in outbox if not self.was_published(r["event_id"])]
            published = self.publisher.publish(rows) if rows else set()
            self._remember(published)
            for (_, key), (outbox, token, routing) in latest.items():
                mine = published | {str(r["event_id"]) for r in outbox if self.was_published(str(r["event_id"]))}
                if mine:
                    self._acknowledge(key, outbox, token, mine, routing)
        except Exception:  # never let the thread die: what was not acknowledged is the sweeper's
            log.exception("events: a dispatcher batch failed; the sweeper will republish it")
        finally:
            for _ in batch:
                self._queue.task_done()

"""Timers: POST a JSON payload to one of our task endpoints at (or after) a given time, at least once.

    Timers            the port: ``schedule(name, at, path, payload) -> bool``
    EmbeddedTimers    one daemon thread and a heap, in process: the laptop default (no Google at all)
    CloudTasksTimers  Google Cloud Tasks HTTP tasks carrying an OIDC token (production), or the
                      gcloud-tasks-emulator (a local stack, the adapter tests)

Rules every implementation keeps:

- A name identifies one timer. Scheduling a name that is pending, or was delivered within the last
  hour, changes nothing and returns False. That is what real Cloud Tasks does with a task id (it
  refuses a reused id with ALREADY_EXISTS for about an hour after the task ran or was deleted), so
  callers derive names from what the timer is for (entry id + ladder step), and a retried webhook
  cannot start a second timer.
- ``task_id(name)`` turns any name into a Cloud Tasks task id: a short hash prefix first, because
  Cloud Tasks recommends hashed (not sequential) id prefixes for de-duplication lookups to stay fast;
  names that do not fit ``[A-Za-z0-9_-]{1,450}`` are replaced by their full hash.
- Delivery is at least once: Cloud Tasks redelivers on any non-2xx answer and may deliver twice even
  after a 2xx. Handlers are idempotent; the timers do not try to be exactly-once.
- ``CloudTasksTimers`` may spread timers over several queues (one queue dispatches at most 500
  tasks/s: docs/capacity.md): each timer goes to the queue ``shard_of(name, N)`` picks, a hash of
  its name, so a name always lands in the same queue (Cloud Tasks refuses a reused task id only
  within a queue) and one department's timers spread over all of them.
- ``schedule`` never raises: a failure is logged and returns False. Every caller has the periodic
  dispatch sweep as its safety net, and a webhook must not fail because a timer could not be set.

gcloud-tasks-emulator 0.6.2 differs from the real service (the tests pin each of these):
it does NOT de-duplicate names (the same id is accepted and delivered twice), it sends no OIDC
token (it keeps the ``oidc_token`` field but ignores it; a local stack authenticates task requests
with the ``X-Ivr-Task-Secret`` header passed as ``headers``), ``X-CloudTasks-QueueName`` carries the
full queue path, a non-2xx answer is retried at once without backoff, and GetTask/DeleteTask answer
501. Handlers must therefore not depend on the emulator's de-duplication or on that header's form.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

log = logging.getLogger("ivr.timers")

NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,450}")
QUEUE_PATTERN = re.compile(r"projects/[^/]+/locations/[^/]+/queues/[^/]+")
DEDUPE_WINDOW = timedelta(hours=1)  # how long Cloud Tasks refuses a task id once used
RETRY_DELAYS = (1.0, 5.0, 30.0)  # embedded: seconds before each redelivery of a failed delivery
MAX_IDLE_WAIT = 30.0  # embedded: the thread re-reads the clock at least this often (a wall clock may jump)
CREATE_TIMEOUT = 1.0  # seconds per CreateTask attempt: callers are webhooks with a 3 s target
CREATE_RETRY_DEADLINE = 1.5  # seconds within which an UNAVAILABLE CreateTask is retried
RETRY_INITIAL = 0.1
RETRY_MAXIMUM = 0.4


class Timers(Protocol):
    def schedule(self, name: str, at: datetime, path: str, payload: dict[str, Any]) -> bool:
        """Deliver POST <base>/<path> with the JSON payload at or after `at`, at least once.
        `name` is deterministic ([A-Za-z0-9_-]{1,450}; hash longer ids); scheduling a name that is already
        scheduled or delivered within the last hour is a no-op returning False. Never raises: a failure is
        logged and returns False (callers have the periodic sweep as a safety net)."""


def task_id(name: str) -> str:
    """The Cloud Tasks task id for ``name``: deterministic, well spread, at most 467 characters."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    if NAME_PATTERN.fullmatch(name):
        return f"{digest[:16]}-{name}"
    return digest  # too long or foreign characters: the whole hash stands in for it


def shard_of(name: str, count: int) -> int:
    """Which of ``count`` queues the timer ``name`` goes to (0 <= result < count)."""
    return int(hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16) % count


def _utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_body(name: str, payload: dict[str, Any]) -> str | None:
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        log.error("timer %s not scheduled: its payload is not JSON (%s)", name, exc)
        return None


# -- embedded ------------------------------------------------------------------------------------


@dataclass(order=True)
class _Pending:
    at: datetime
    seq: int
    name: str = field(compare=False)
    path: str = field(compare=False)
    body: str = field(compare=False)  # JSON text: each delivery gets a fresh copy, as over HTTP
    attempt: int = field(default=0, compare=False)


class EmbeddedTimers:
    """An in-process timer: one daemon thread sleeping on a condition until the earliest timer is due.

    ``deliver(path, payload)`` runs on that thread, one timer at a time, so it should be quick (a
    local stack hands the payload to the task handler). A delivery that raises or returns False is
    tried again after each of ``retry_delays`` and then given up (logged): the sweep repairs the rest.
    ``clock`` returns the current time (aware); tests pass a fake one and call ``wake()`` after
    moving it. The thread starts with the first timer; ``stop()`` ends it and drops what is pending.
    """

    def __init__(self, deliver: Callable[[str, dict[str, Any]], object],
                 clock: Callable[[], datetime] | None = None, *,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS,
                 dedupe_window: timedelta = DEDUPE_WINDOW) -> None:  # fmt: skip
        self._deliver = deliver
        self._clock = clock or (lambda: datetime.now(UTC))
        self._retry_delays = retry_delays
        self._dedupe_window = dedupe_window
        self._cond = threading.Condition()
        self._heap: list[_Pending] = []
        self._seq = itertools.count()
        # name -> None while pending, else the time until which it is still refused
        self._names: dict[str, datetime | None] = {}
        self._forget: list[tuple[datetime, str]] = []  # heap of (refused until, name)
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._busy = False  # a delivery is running outside the lock
        self.delivered = 0
        self.failed = 0

    def _now(self) -> datetime:
        return _utc(self._clock())

    def schedule(self, name: str, at: datetime, path: str, payload: dict[str, Any]) -> bool:
        if not name:
            log.error("timer for %s not scheduled: it has no name", path)
            return False
        body = _json_body(name, payload)
        if body is None:
            return False
        key = task_id(name)
        with self._cond:
            if self._stopped:
                log.warning("timer %s not scheduled: the timers are stopped", name)
                return False
            self._prune(self._now())
            if key in self._names:
                return False
            self._names[key] = None
            heapq.heappush(self._heap, _Pending(_utc(at), next(self._seq), key, path, body))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ivr-embedded-timers", daemon=True)
                self._thread.start()
            self._cond.notify_all()  # the new timer may be due before the one the thread waits for
        return True

    def wake(self) -> None:
        """Make the thread re-read the clock now (a fake clock was moved)."""
        with self._cond:
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + (1 if self._busy else 0)

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread (after the delivery in progress, if any); pending timers are dropped."""
        with self._cond:
            self._stopped = True
            dropped = len(self._heap)
            self._heap.clear()
            self._cond.notify_all()
            thread = self._thread
        if dropped:
            log.warning("embedded timers stopped with %d timers pending", dropped)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _prune(self, now: datetime) -> None:
        """Forget names whose refusal window is over (the lock is held)."""
        while self._forget and self._forget[0][0] <= now:
            until, key = heapq.heappop(self._forget)
            if self._names.get(key) == until:  # not scheduled again since
                del self._names[key]

    def _next_due(self) -> _Pending | None:
        """Wait for the earliest timer to be due and take it; None once stopped (the lock is held)."""
        while not self._stopped:
            now = self._now()
            if self._heap and self._heap[0].at <= now:
                self._busy = True
                return heapq.heappop(self._heap)
            wait = MAX_IDLE_WAIT
            if self._heap:
                wait = min(wait, max(0.0, (self._heap[0].at - now).total_seconds()))
            self._cond.wait(wait)
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                timer = self._next_due()
            if timer is None:
                return
            ok = self._attempt(timer)
            with self._cond:
                self._busy = False
                now = self._now()
                if ok or timer.attempt >= len(self._retry_delays):
                    until = now + self._dedupe_window
                    self._names[timer.name] = until
                    heapq.heappush(self._forget, (until, timer.name))
                    self._prune(now)
                else:
                    delay = timedelta(seconds=self._retry_delays[timer.attempt])
                    timer.attempt += 1
                    timer.at = now + delay
                    heapq.heappush(self._heap, timer)

    def _attempt(self, timer: _Pending) -> bool:
        try:
            result = self._deliver(timer.path, json.loads(timer.body))
        except Exception:
            log.exception("timer %s: delivery to %s failed (attempt %d)", timer.name, timer.path, timer.attempt + 1)
            result = False
        if result is False:
            if timer.attempt >= len(self._retry_delays):
                log.error("timer %s: given up after %d attempts", timer.name, timer.attempt + 1)
            self.failed += 1
            return False
        self.delivered += 1
        return True


# -- Cloud Tasks ---------------------------------------------------------------------------------


class CloudTasksTimers:
    """HTTP tasks on Cloud Tasks queues, each POSTing JSON to ``base_url + "/" + path``.

    ``queue`` is the full path (projects/P/locations/L/queues/Q), or several separated by commas:
    the timers are then sharded over them by name (``shard_of``). In production every task carries
    an OIDC token minted for ``service_account`` (the task handlers accept nothing else) with
    ``audience`` (Cloud Tasks uses the task's URL when it is None). ``emulator_host`` (host:port)
    points the client at gcloud-tasks-emulator over plaintext gRPC instead; the emulator sends no
    token, so a local stack passes its shared secret in ``headers``. google-cloud-tasks is imported
    when the first timer is scheduled, off the import path of every function.
    """

    def __init__(self, queue: str, base_url: str, *, service_account: str | None = None,
                 audience: str | None = None, emulator_host: str | None = None,
                 headers: Mapping[str, str] | None = None, client: Any = None,
                 timeout: float = CREATE_TIMEOUT) -> None:  # fmt: skip
        queues = tuple(q.strip() for q in queue.split(","))
        for one in queues:
            if not QUEUE_PATTERN.fullmatch(one):
                raise ValueError(f"tasks queue {one!r}: give the full path projects/P/locations/L/queues/Q")
        if len(set(queues)) != len(queues):
            raise ValueError(f"tasks queues {queue!r}: a queue is named twice")
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"tasks base URL {base_url!r}: give the origin the handlers are served on")
        if service_account is None and emulator_host is None and client is None:
            raise ValueError("Cloud Tasks needs a service account: the task handlers accept only its OIDC token")
        self.queues = queues
        self.queue = queues[0]
        self.base_url = base_url.rstrip("/")
        self.service_account = service_account
        self.audience = audience
        self.emulator_host = emulator_host
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._client = client
        self._client_lock = threading.Lock()
        self._call_kw: dict[str, Any] | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from google.cloud import tasks_v2

                    if self.emulator_host:
                        import grpc
                        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

                        channel = grpc.insecure_channel(self.emulator_host)
                        self._client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
                    else:
                        self._client = tasks_v2.CloudTasksClient()
        return self._client

    def _rpc_kw(self) -> dict[str, Any]:
        if self._call_kw is None:
            from google.api_core import exceptions as gexc
            from google.api_core.retry import Retry, if_exception_type

            # UNAVAILABLE means the task was not created. A timed-out CreateTask may have been, and
            # retrying it would only meet ALREADY_EXISTS, so DEADLINE_EXCEEDED is not retried.
            retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable), initial=RETRY_INITIAL,
                          maximum=RETRY_MAXIMUM, multiplier=2.0, timeout=CREATE_RETRY_DEADLINE)  # fmt: skip
            self._call_kw = {"retry": retry, "timeout": self.timeout}
        return self._call_kw

    def url_for(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def queue_for(self, name: str) -> str:
        return self.queues[shard_of(name, len(self.queues))] if len(self.queues) > 1 else self.queue

    def task_name(self, name: str) -> str:
        return f"{self.queue_for(name)}/tasks/{task_id(name)}"

    def build_task(self, name: str, at: datetime, path: str, body: str) -> Any:
        from google.cloud import tasks_v2

        request = tasks_v2.HttpRequest(url=self.url_for(path), http_method=tasks_v2.HttpMethod.POST,
                                       headers={**self.headers, "Content-Type": "application/json"},
                                       body=body.encode("utf-8"))  # fmt: skip
        if self.service_account:
            token = tasks_v2.OidcToken(service_account_email=self.service_account)
            if self.audience:
                token.audience = self.audience
            request.oidc_token = token
        return tasks_v2.Task(name=self.task_name(name), schedule_time=_utc(at), http_request=request)

    def schedule(self, name: str, at: datetime, path: str, payload: dict[str, Any]) -> bool:
        if not name:
            log.error("timer for %s not scheduled: it has no name", path)
            return False
        body = _json_body(name, payload)
        if body is None:
            return False
        try:
            from google.api_core import exceptions as gexc
        except ImportError as exc:
            log.error("timer %s not scheduled: google-cloud-tasks is not installed (%s)", name, exc)
            return False
        try:
            task = self.build_task(name, at, path, body)
            self.client.create_task(parent=self.queue_for(name), task=task, **self._rpc_kw())
        except gexc.AlreadyExists:
            log.info("timer %s exists already (or ran within the last hour): not scheduled again", name)
            return False
        except Exception as exc:  # never raises: the sweep is the safety net
            log.error("timer %s (%s at %s) not scheduled on %s: %s: %s", name, path, at.isoformat(),
                      self.queue_for(name), type(exc).__name__, exc)  # fmt: skip
            return False
        return True

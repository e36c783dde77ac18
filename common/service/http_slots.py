"""How many httpRequestNode requests one instance performs at once: in all, per tenant, and per
tenant and API host.

Rules owned here:
- Each request in flight holds a worker thread of the voice webhooks, so an instance performs at
  most ``total`` at once, and one tenant at most ``per_tenant`` of them: a tenant whose API is slow
  (or hostile) fills its own share and leaves the other tenants' calls theirs.
- Within a tenant's share, one API host (the URL's host and port) holds at most ``per_host``: a
  tenant's slow API fills that part and leaves the tenant's other APIs the rest of its share. The
  host is only a counting key; it appears in the refusal (the tenant's own URL, without userinfo).
- Taking a slot never waits. Without one, the node fails at once (its ``failed`` branch) instead of
  spending the caller's webhook budget in a queue.
- A slot is given back when its request ends and, at the latest, when the request's deadline passes:
  a request that overruns its deadline keeps no slot (the fetcher stops at the deadline anyway; this
  keeps the count right even if one does not). Releasing a slot twice, or after it expired, is
  harmless.
- Copies of one request (Twilio retries, or one step delivered several times at once) take no slot
  of their own: ``SingleFlight`` lets the first perform it and the others share its answer.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

T = TypeVar("T")


class SlotsFull(Exception):
    """No slot: the message says whose limit was reached."""


class HttpSlots:
    def __init__(self, total: int = 16, per_tenant: int = 4, per_host: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        """``per_host``: None is the whole tenant share (no per-host limit)."""
        per_host = per_tenant if per_host is None else per_host
        if total < 1 or not 1 <= per_tenant <= total or not 1 <= per_host <= per_tenant:
            raise ValueError(f"need 1 <= per_host ({per_host}) <= per_tenant ({per_tenant}) <= total ({total})")
        self.total, self.per_tenant, self.per_host = total, per_tenant, per_host
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[int, tuple[str, str, float]] = {}  # slot -> (tenant, host, deadline)
        self._ids = itertools.count(1)

    def _expire(self) -> None:
        now = self._clock()
        for slot in [slot for slot, (_, _, deadline) in self._held.items() if deadline <= now]:
            del self._held[slot]

    def acquire(self, tenant: str, deadline: float, host: str = "") -> int:
        """A slot for ``tenant``'s request to ``host`` until ``deadline`` (on the clock's scale), or
        SlotsFull."""
        with self._lock:
            self._expire()
            if len(self._held) >= self.total:
                raise SlotsFull(f"all {self.total} HTTP-request slots of this instance are in use")
            hosts = [owner_host for owner, owner_host, _ in self._held.values() if owner == tenant]  # its slots'
            if len(hosts) >= self.per_tenant:
                raise SlotsFull(f"this tenant already has {self.per_tenant} HTTP requests in flight on "
                                "this instance")  # fmt: skip
            if self.per_host < self.per_tenant and hosts.count(host) >= self.per_host:
                raise SlotsFull(f"this tenant already has {self.per_host} HTTP requests in flight to "
                                f"{host[:100] or 'this host'} on this instance")  # fmt: skip
            slot = next(self._ids)
            self._held[slot] = (tenant, host, deadline)
            return slot

    def release(self, slot: int) -> None:
        with self._lock:
            self._held.pop(slot, None)

    def in_flight(self, tenant: str | None = None, host: str | None = None) -> int:
        with self._lock:
            self._expire()
            return sum(1 for owner, owner_host, _ in self._held.values()
                       if (tenant is None or owner == tenant) and (host is None or owner_host == host))  # fmt: skip


def host_of(url: str) -> str:
    """The counting key of ``url``'s API: lower-case host, and the port when the URL names one
    (userinfo is left out, so no credential reaches a refusal or a log). "" when it has none."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or ""), parts.port
    except ValueError:  # a malformed port: the fetcher refuses the URL itself
        return ""
    return f"{host}:{port}" if port is not None else host


class _Flight:
    __slots__ = ("done", "finished_at", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.finished_at: float | None = None


class SingleFlight:
    """One request per key at a time in this process; copies wait for its answer and share it.

    Rules owned here:
    - The first caller of ``do`` for a key performs ``work``; a caller arriving while it runs waits
      for it (at most until its own deadline) and gets the same result; one arriving after it ended
      gets the kept result, for ``keep_seconds`` (long enough for Twilio's retries of one webhook).
    - A copy whose deadline passes first, or whose leader raised, gets None and decides for itself.
    - At most ``max_kept`` finished results are kept (the oldest go first); running ones always stay.
    """

    def __init__(self, keep_seconds: float = 60.0, max_kept: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.keep_seconds, self.max_kept = keep_seconds, max_kept
        self._clock = clock
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}

    def _forget_old(self) -> None:
        now = self._clock()
        finished = [(f.finished_at, key) for key, f in self._flights.items() if f.finished_at is not None]
        finished.sort(key=lambda item: item[0])
        extra = len(finished) - self.max_kept
        for index, (at, key) in enumerate(finished):
            if index < extra or at + self.keep_seconds <= now:
                del self._flights[key]

    def do(self, key: Hashable, deadline: float, work: Callable[[], T]) -> T | None:
        with self._lock:
            self._forget_old()
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait(max(0.0, deadline - self._clock()))
            return cast(T | None, flight.result)
        try:
            flight.result = work()
        except BaseException:
            with self._lock:
                self._flights.pop(key, None)
            raise
        finally:
            flight.finished_at = self._clock()
            flight.done.set()
        return flight.result

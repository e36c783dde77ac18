"""How many httpRequestNode requests one instance performs at once, in all and per tenant.

Rules owned here:
- Each request in flight holds a worker thread of the voice webhooks, so an instance performs at
  most ``total`` at once, and one tenant at most ``per_tenant`` of them: a tenant whose API is slow
  (or hostile) fills its own share and leaves the other tenants' calls theirs.
- Taking a slot never waits. Without one, the node fails at once (its ``failed`` branch) instead of
  spending the caller's webhook budget in a queue.
- A slot is given back when its request ends and, at the latest, when the request's deadline passes:
  a request that overruns its deadline keeps no slot (the fetcher stops at the deadline anyway; this
  keeps the count right even if one does not). Releasing a slot twice, or after it expired, is
  harmless.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable


class SlotsFull(Exception):
    """No slot: the message says whose limit was reached."""


class HttpSlots:
    def __init__(self, total: int = 16, per_tenant: int = 4, clock: Callable[[], float] = time.monotonic) -> None:
        if total < 1 or not 1 <= per_tenant <= total:
            raise ValueError(f"need 1 <= per_tenant ({per_tenant}) <= total ({total})")
        self.total, self.per_tenant = total, per_tenant
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[int, tuple[str, float]] = {}  # slot -> (tenant, deadline)
        self._ids = itertools.count(1)

    def _expire(self) -> None:
        now = self._clock()
        for slot in [slot for slot, (_, deadline) in self._held.items() if deadline <= now]:
            del self._held[slot]

    def acquire(self, tenant: str, deadline: float) -> int:
        """A slot for ``tenant`` until ``deadline`` (on the clock's scale), or SlotsFull."""
        with self._lock:
            self._expire()
            if len(self._held) >= self.total:
                raise SlotsFull(f"all {self.total} HTTP-request slots of this instance are in use")
            if sum(1 for owner, _ in self._held.values() if owner == tenant) >= self.per_tenant:
                raise SlotsFull(f"this tenant already has {self.per_tenant} HTTP requests in flight on "
                                "this instance")  # fmt: skip
            slot = next(self._ids)
            self._held[slot] = (tenant, deadline)
            return slot

    def release(self, slot: int) -> None:
        with self._lock:
            self._held.pop(slot, None)

    def in_flight(self, tenant: str | None = None) -> int:
        with self._lock:
            self._expire()
            return sum(1 for owner, _ in self._held.values() if tenant is None or owner == tenant)

"""Queue depth and longest wait per department, exported as Cloud Monitoring gauges once a minute.

    exporter = QueueMetrics(store, routing_store, sink, clock)
    summary = exporter.run()        # scan, choose, write; a dict for the task's answer and the log

Rules owned here:
- Read only through the routing store's public queries: the tenants (``Store.list_tenants``), their
  departments (``RoutingStore.list_departments``, kept ``DEPARTMENTS_REFRESH_SECONDS`` between runs),
  and per department ``count_entries(waiting)`` plus, only when someone waits, the first
  ``SAMPLE`` waiting entries in queue order (what ``GET /api/departments/{d}/stats`` samples too).
  An empty department costs one count; a run stops scanning at its deadline and says so.
- The longest wait is that of a caller on hold (``kind == "call"``; a callback request waits without
  holding a line), measured from ``arrived_at`` (the caller's first arrival: an overflowed caller has
  waited since then), against the department's ``max_wait_seconds``: the ratio above 1 is what the
  alert "a department's longest wait above its maximum" watches.
- Cardinality is bounded whatever the number of tenants: per run, series labelled
  ``department="<tenant>/<department>"`` only for the ``top`` departments (highest wait ratio, then
  most callers waiting), and one ``department="all"`` series per metric with the platform's total
  waiting, longest wait and highest ratio. ``ivr/queue/departments_over_max`` counts all of them. The
  names of every department over its maximum are in the run's log line (at most ``MAX_LOGGED``).
- Writing is one batched call of the sink per run; a failed write is logged, never retried (the next
  run writes fresh values), and never touches a caller's webhook: this runs on its own task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.adapters.metrics import Gauge, MetricSink
from common.adapters.ports import Store
from common.adapters.routing_store import RoutingStore

SAMPLE = 200
TOP = 20
DEPARTMENTS_REFRESH_SECONDS = 600.0
MAX_LOGGED = 50
WAITING, LONGEST, RATIO, OVER_MAX = ("ivr/queue/waiting_callers", "ivr/queue/longest_wait_seconds",
                                     "ivr/queue/longest_wait_ratio", "ivr/queue/departments_over_max")  # fmt: skip
ALL = "all"
log = logging.getLogger("ivr.queue_metrics")


@dataclass(frozen=True, slots=True)
class DepartmentQueue:
    tenant_id: str
    department_id: str
    waiting: int
    longest_wait_seconds: float
    max_wait_seconds: int

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.department_id}"

    @property
    def ratio(self) -> float:
        return self.longest_wait_seconds / self.max_wait_seconds if self.max_wait_seconds > 0 else 0.0


def choose(queues: list[DepartmentQueue], top: int) -> list[DepartmentQueue]:
    """The departments that get their own series: the worst ``top`` (ties broken by key, so a run's
    choice does not depend on the order the store listed them in)."""
    ranked = sorted(queues, key=lambda q: (-q.ratio, -q.waiting, q.key))
    return [q for q in ranked[:top] if q.waiting > 0]


def gauges(queues: list[DepartmentQueue], top: int, at: datetime) -> list[Gauge]:
    points: list[Gauge] = []
    for q in choose(queues, top):
        labels = {"department": q.key}
        points += [Gauge(WAITING, labels, q.waiting, at), Gauge(LONGEST, labels, float(q.longest_wait_seconds), at),
                   Gauge(RATIO, labels, round(q.ratio, 4), at)]  # fmt: skip
    everything = {"department": ALL}
    points += [
        Gauge(WAITING, everything, sum(q.waiting for q in queues), at),
        Gauge(LONGEST, everything, float(max((q.longest_wait_seconds for q in queues), default=0.0)), at),
        Gauge(RATIO, everything, round(max((q.ratio for q in queues), default=0.0), 4), at),
        Gauge(OVER_MAX, {}, sum(q.ratio > 1 for q in queues), at),
    ]
    return points


class QueueMetrics:
    def __init__(self, store: Store, routing_store: RoutingStore, sink: MetricSink, clock: Callable[[], datetime],
                 top: int = TOP, monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.store, self.routing_store, self.sink, self.clock = store, routing_store, sink, clock
        self.top, self.monotonic = top, monotonic
        self._departments: list[tuple[str, str, int]] = []
        self._listed_at: float | None = None

    def departments(self) -> list[tuple[str, str, int]]:
        """(tenant, department, max wait) of every department, re-listed every few minutes."""
        now = self.monotonic()
        if self._listed_at is None or now - self._listed_at >= DEPARTMENTS_REFRESH_SECONDS:
            listed = []
            for tenant in self.store.list_tenants():
                for department in self.routing_store.list_departments(tenant.id):
                    listed.append((tenant.id, department.id, department.settings.max_wait_seconds))
            self._departments, self._listed_at = listed, now
        return self._departments

    def scan(self, deadline: float) -> tuple[list[DepartmentQueue], bool]:
        at = self.clock()
        found: list[DepartmentQueue] = []
        for tenant_id, department_id, max_wait in self.departments():
            if self.monotonic() >= deadline:
                return found, True
            waiting = self.routing_store.count_entries(tenant_id, department_id, "waiting")
            longest = 0.0
            if waiting:
                sample = self.routing_store.list_entries(tenant_id, department_id, "waiting", min(waiting, SAMPLE))
                longest = max(((at - _parse(e.arrived_at)).total_seconds() for e in sample if e.kind == "call"),
                              default=0.0)  # fmt: skip
            found.append(DepartmentQueue(tenant_id, department_id, waiting, max(0.0, longest), max_wait))
        return found, False

    def run(self, budget_seconds: float = 40.0) -> dict[str, Any]:
        began = self.monotonic()
        queues, truncated = self.scan(began + budget_seconds)
        points = gauges(queues, self.top, self.clock())
        over = sorted((q for q in queues if q.ratio > 1), key=lambda q: -q.ratio)
        summary: dict[str, Any] = {
            "departments": len(queues), "series": len(points), "truncated": truncated,
            "waiting": sum(q.waiting for q in queues), "departments_over_max": len(over),
            "over_max": [f"{q.key} {q.longest_wait_seconds:.0f}s/{q.max_wait_seconds}s" for q in over[:MAX_LOGGED]],
            "written": False,
        }  # fmt: skip
        try:
            self.sink.write(points)
            summary["written"] = True
        except Exception as exc:  # the next run writes fresh gauges; nothing to retry
            log.error("queue metrics: writing %d series failed: %s", len(points), str(exc)[:300])
        summary["seconds"] = round(self.monotonic() - began, 3)
        level = logging.WARNING if over or truncated else logging.INFO
        log.log(level, "queue metrics: %d departments, %d waiting, %d over their maximum wait%s",
                len(queues), summary["waiting"], len(over), " (scan truncated)" if truncated else "",
                extra={"kind": "queue_metrics", **summary})  # fmt: skip
        return summary


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

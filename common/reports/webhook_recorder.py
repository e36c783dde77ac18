"""Webhook latency and fallback answers of this process, per minute, in a bounded amount of memory.

    RECORDER.record("flow_step", "voice.step", 84.2, failure=None)    (observability.finish does this)
    RECORDER.snapshot(minutes=60)      {"latency": [...], "functions": [...], "fallbacks": [...]}
    percentile(upper_bounds, counts, 0.95, highest=None)   the q-quantile of a bucketed histogram

Rules owned here:
- Only webhook requests count (routes ``voice.*`` and ``departments.*``), as in the log-based metrics
  ``ivr_webhook_latency`` and ``ivr_fallback_answers`` (monitoring_metrics.tf): a request's latency
  goes into its minute's histogram of its function and route; a request the code marked with a
  ``failure`` (``fallback_url``, ``budget_overrun``, ``unhandled_error``) counts one fallback answer of
  that reason and function.
- Fixed histogram buckets (``BUCKETS_MS`` plus one over the last bound); a percentile is interpolated
  within its bucket, as Cloud Monitoring does for a distribution, and never exceeds the largest
  latency seen. Every label is a word of this code base (observability's bounded routes), and still:
  at most ``MAX_SERIES`` function/route pairs and ``MAX_REASONS`` fallback pairs per minute (more go
  to one ``other`` pair each), and only the last ``WINDOW_MINUTES`` minutes are kept. At those bounds
  it holds about 1.9 MiB (tests/monitoring/test_webhook_recorder.py measures and prints it); a local
  stack's real traffic (a few routes) holds a few KiB.
- Platform-wide, like the metrics: tenants are never a key here (docs/monitoring.md, "Cardinality").
- Cheap on the webhook path: one lock, a dict lookup and a bucket search; no I/O.
  Deployed, each function is its own process: the reports API reads Cloud Monitoring instead
  (``common.reports.webhook_metrics``); this recorder serves ``ivr run``, where every function runs in
  the process that serves the API.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

BUCKETS_MS: tuple[float, ...] = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
WINDOW_MINUTES = 60
MAX_SERIES = 64  # function x route pairs in one minute (4 functions x ~25 webhook routes fit)
MAX_REASONS = 16  # fallback reason x function pairs in one minute (3 x 4 fit)
OTHER = "other"
WEBHOOK_ROUTES = ("voice.", "departments.")


def percentile(upper_bounds: Sequence[float], counts: Sequence[int], q: float, lowest: float = 0.0,
               highest: float | None = None) -> float | None:  # fmt: skip
    """The q-quantile of a histogram whose bucket i holds values below ``upper_bounds[i]`` (and at or
    above the bound before it, or ``lowest``); a last count past the bounds is the overflow bucket,
    read up to ``highest`` (else its lower bound). ``counts`` may be shorter than the buckets."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count <= 0:
            continue
        if seen + count >= rank:
            low = lowest if index == 0 else upper_bounds[index - 1]
            overflow = highest if highest is not None else low
            high = upper_bounds[index] if index < len(upper_bounds) else overflow
            value = low + (high - low) * (rank - seen) / count
            return min(value, highest) if highest is not None else value
        seen += count
    return highest  # rounding: q = 1


@dataclass(slots=True)
class _Series:
    requests: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))

    def add(self, latency_ms: float) -> None:
        self.requests += 1
        self.total_ms += latency_ms
        self.max_ms = max(self.max_ms, latency_ms)
        self.buckets[bisect.bisect_right(BUCKETS_MS, latency_ms)] += 1

    def merge(self, other: _Series) -> None:
        self.requests += other.requests
        self.total_ms += other.total_ms
        self.max_ms = max(self.max_ms, other.max_ms)
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]

    def row(self) -> dict[str, Any]:
        return {"requests": self.requests,
                "p50_ms": _ms(percentile(BUCKETS_MS, self.buckets, 0.5, highest=self.max_ms)),
                "p95_ms": _ms(percentile(BUCKETS_MS, self.buckets, 0.95, highest=self.max_ms)),
                "mean_ms": _ms(self.total_ms / self.requests if self.requests else None),
                "max_ms": _ms(self.max_ms if self.requests else None)}  # fmt: skip


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(slots=True)
class _Minute:
    latency: dict[tuple[str, str], _Series] = field(default_factory=dict)
    fallbacks: dict[tuple[str, str], int] = field(default_factory=dict)


def _iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).isoformat().replace("+00:00", "Z")


class WebhookRecorder:
    def __init__(self, window_minutes: int = WINDOW_MINUTES, clock: Callable[[], float] = time.time) -> None:
        self.window, self.clock = window_minutes, clock
        self._minutes: dict[int, _Minute] = {}  # insertion order is time order (minutes only grow)
        self._lock = threading.Lock()

    def record(self, function: str, route: str, latency_ms: float, failure: str | None = None) -> None:
        if not route.startswith(WEBHOOK_ROUTES):
            return
        minute = int(self.clock() // 60)
        with self._lock:
            slot = self._minutes.get(minute)
            if slot is None:
                slot = self._minutes[minute] = _Minute()
                for old in [m for m in self._minutes if m <= minute - self.window]:
                    del self._minutes[old]
            key = (function, route)
            series = slot.latency.get(key)
            if series is None:
                if len(slot.latency) >= MAX_SERIES:
                    key = (OTHER, OTHER)
                series = slot.latency.setdefault(key, _Series())
            series.add(max(0.0, float(latency_ms)))
            if failure:
                reason = (failure, function)
                if reason not in slot.fallbacks and len(slot.fallbacks) >= MAX_REASONS:
                    reason = (OTHER, OTHER)
                slot.fallbacks[reason] = slot.fallbacks.get(reason, 0) + 1

    def clear(self) -> None:
        with self._lock:
            self._minutes.clear()

    def snapshot(self, minutes: int = WINDOW_MINUTES) -> dict[str, Any]:
        """The last ``minutes`` minutes (this one included): per minute, function and route; per
        function over the whole span; fallback answers per minute, reason and function."""
        now = int(self.clock() // 60)
        with self._lock:
            kept = [(m, slot) for m, slot in self._minutes.items() if m > now - min(minutes, self.window)]
            copies = [(m, {k: _copy(s) for k, s in slot.latency.items()}, dict(slot.fallbacks)) for m, slot in kept]
        latency, fallbacks = [], []
        functions: dict[str, _Series] = {}
        for minute, series, counted in sorted(copies, key=lambda c: c[0]):
            for (function, route), one in sorted(series.items()):
                latency.append({"minute": _iso(minute), "function": function, "route": route, **one.row()})
                functions.setdefault(function, _Series()).merge(one)
            for (reason, function), answers in sorted(counted.items()):
                fallbacks.append({"minute": _iso(minute), "reason": reason, "function": function, "answers": answers})
        return {"latency": latency, "functions": [{"function": f, **s.row()} for f, s in sorted(functions.items())],
                "fallbacks": fallbacks}  # fmt: skip


def _copy(series: _Series) -> _Series:
    return _Series(series.requests, series.total_ms, series.max_ms, list(series.buckets))


#: The process's recorder, fed by ``common.observability.finish``.
RECORDER = WebhookRecorder()

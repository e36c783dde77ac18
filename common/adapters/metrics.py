"""Writing gauge points to Cloud Monitoring (custom metrics), behind a port, off the webhook path.

    sink.write([Gauge("ivr/queue/waiting_callers", {"department": "t1/sales"}, 3, at)])

Implementations:
- ``CloudMonitoringSink(project)``: ``MetricServiceClient.create_time_series`` in batches of at most
  200 series (the API's limit per request), on the ``global`` resource of the project, types
  ``custom.googleapis.com/<name>``. google-cloud-monitoring is imported when the first batch is
  written, never at import (about 0.2 s). A client can be passed in (tests pass a fake that keeps
  the requests).
- ``LogSink``: one JSON log line per point (a laptop stack; or where metrics are only read in logs).
- ``MemorySink``: keeps the points (tests, and ``ivr`` commands that print them).

Choosing (``sink_from_env``): ``IVR_METRICS=cloudmonitoring|log|memory``; default cloudmonitoring when
``K_SERVICE`` is set (Cloud Run) and ``GOOGLE_CLOUD_PROJECT`` names the project, log otherwise.
A point is a gauge: its value holds at its time; one write per series per minute is well within
Cloud Monitoring's one point per 5 s per series.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

CUSTOM_PREFIX = "custom.googleapis.com/"
MAX_SERIES_PER_REQUEST = 200
log = logging.getLogger("ivr.metrics")


@dataclass(frozen=True, slots=True)
class Gauge:
    name: str  # under custom.googleapis.com/, e.g. "ivr/queue/waiting_callers"
    labels: Mapping[str, str]
    value: int | float  # int: an INT64 metric, float: a DOUBLE one
    at: datetime


class MetricSink(Protocol):
    def write(self, points: Sequence[Gauge]) -> None:
        """Write every point or raise; a partial failure raises too (the caller logs it, the next run
        writes fresh values: gauges need no retry)."""


@dataclass
class MemorySink:
    points: list[Gauge] = field(default_factory=list)

    def write(self, points: Sequence[Gauge]) -> None:
        self.points.extend(points)


class LogSink:
    def write(self, points: Sequence[Gauge]) -> None:
        for point in points:
            labels = dict(point.labels)
            log.info("metric %s %s = %s", point.name, labels, point.value,
                     extra={"metric": point.name, "metric_labels": labels, "value": point.value})  # fmt: skip


class MonitoringClient:
    """A project's Cloud Monitoring client, made on first use (``client`` given: that one, as tests
    pass a fake): importing google.cloud.monitoring_v3 costs the many processes that never write or
    read a metric nothing. The writer below and the webhook report's reader
    (common/reports/webhook_metrics.py) share it."""

    def __init__(self, project: str, client: Any = None, timeout: float = 10.0) -> None:
        self.project, self._client, self.timeout = project, client, timeout

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import monitoring_v3

            self._client = monitoring_v3.MetricServiceClient()
        return self._client


class CloudMonitoringSink(MonitoringClient):

    def series(self, point: Gauge) -> Any:
        """The TimeSeries of one gauge point, in google.cloud.monitoring_v3's own types."""
        from google.api import metric_pb2
        from google.cloud import monitoring_v3
        from google.protobuf import timestamp_pb2

        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(point.at)
        kinds = metric_pb2.MetricDescriptor
        integer = isinstance(point.value, int)
        value = (monitoring_v3.TypedValue(int64_value=point.value) if integer
                 else monitoring_v3.TypedValue(double_value=point.value))  # fmt: skip
        return monitoring_v3.TimeSeries(
            metric={"type": CUSTOM_PREFIX + point.name, "labels": dict(point.labels)},
            resource={"type": "global", "labels": {"project_id": self.project}},
            metric_kind=kinds.MetricKind.GAUGE,
            value_type=kinds.ValueType.INT64 if integer else kinds.ValueType.DOUBLE,
            points=[monitoring_v3.Point(interval=monitoring_v3.TimeInterval(end_time=stamp), value=value)],
        )

    def write(self, points: Sequence[Gauge]) -> None:
        built = [self.series(p) for p in points]
        for start in range(0, len(built), MAX_SERIES_PER_REQUEST):
            self.client.create_time_series(name=f"projects/{self.project}",
                                           time_series=built[start:start + MAX_SERIES_PER_REQUEST],
                                           timeout=self.timeout)  # fmt: skip


def sink_from_env(environ: Mapping[str, str]) -> MetricSink:
    chosen = (environ.get("IVR_METRICS") or "").strip().lower()
    project = environ.get("GOOGLE_CLOUD_PROJECT", "")
    if not chosen:
        chosen = "cloudmonitoring" if environ.get("K_SERVICE") and project else "log"
    if chosen == "cloudmonitoring":
        if not project:
            raise ValueError("IVR_METRICS=cloudmonitoring needs GOOGLE_CLOUD_PROJECT")
        return CloudMonitoringSink(project)
    if chosen == "memory":
        return MemorySink()
    if chosen == "log":
        return LogSink()
    raise ValueError(f"IVR_METRICS must be cloudmonitoring, log or memory, not {chosen!r}")

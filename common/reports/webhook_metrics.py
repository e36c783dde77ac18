"""Webhook latency and fallback answers of a deployed platform, read from Cloud Monitoring.

    CloudMonitoringWebhooks(project).read(minutes=60, now=datetime)   the recorder's snapshot shape
    source_from_env(os.environ)       "cloudmonitoring" or "process" (the local recorder)
    answer(minutes, source, project)  the webhooks report's JSON (the API's and ``ivr report webhooks``)

Rules owned here:
- The numbers are the log-based metrics Terraform defines (monitoring_metrics.tf):
  ``logging.googleapis.com/user/ivr_webhook_latency`` (a distribution of ``latency_ms``, labels
  ``function`` and ``route``, buckets 1 ms x 1.25^n) and ``.../ivr_fallback_answers`` (a counter,
  labels ``failure`` and ``function``). Two ``list_time_series`` requests per answer: each aligned
  per minute with ``ALIGN_DELTA`` and summed across the services' revisions with ``REDUCE_SUM``
  grouped by the metric's labels, so a row is one minute of one label pair.
- Percentiles come from the distribution's buckets with the recorder's ``percentile`` (the same
  interpolation within a bucket); the function summary merges the minutes' buckets first.
- google-cloud-monitoring is imported on the first read, never at import (the admin API's first
  request does not pay for it unless it serves this report). A client can be passed in: the tests
  pass a fake that checks the requests built.
- The answer is platform-wide: the metrics carry no tenant label, by design (docs/monitoring.md).
- Choosing (``source_from_env``): ``IVR_METRICS=cloudmonitoring`` or, unset, ``K_SERVICE`` and
  ``GOOGLE_CLOUD_PROJECT`` both set (as ``common.adapters.metrics`` chooses its sink); else the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from common.adapters.metrics import MonitoringClient
from common.reports.webhook_recorder import percentile

LATENCY_METRIC = "logging.googleapis.com/user/ivr_webhook_latency"
FALLBACK_METRIC = "logging.googleapis.com/user/ivr_fallback_answers"


def source_from_env(environ: Mapping[str, str]) -> str:
    chosen = (environ.get("IVR_METRICS") or "").strip().lower()
    if chosen == "cloudmonitoring" or (not chosen and environ.get("K_SERVICE") and environ.get("GOOGLE_CLOUD_PROJECT")):
        return "cloudmonitoring"
    return "process"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _bounds(distribution: Any) -> list[float]:
    """Upper bounds of a distribution's buckets but the overflow: exponential, linear or explicit."""
    options = distribution.bucket_options
    kind = getattr(options, "_pb", options).WhichOneof("options")  # a plain protobuf or a proto-plus message
    if kind == "exponential_buckets":
        e = options.exponential_buckets
        return [e.scale * e.growth_factor**i for i in range(e.num_finite_buckets + 1)]
    if kind == "linear_buckets":
        lin = options.linear_buckets
        return [lin.offset + lin.width * i for i in range(lin.num_finite_buckets + 1)]
    if kind == "explicit_buckets":
        return list(options.explicit_buckets.bounds)
    return []


class _Merged:
    """One function's buckets over several minutes (every series of a metric has the same buckets)."""

    def __init__(self) -> None:
        self.bounds: list[float] = []
        self.counts: list[int] = []
        self.requests, self.total = 0, 0.0

    def add(self, bounds: list[float], counts: list[int], requests: int, mean: float) -> None:
        self.bounds = self.bounds or bounds
        if len(counts) > len(self.counts):
            self.counts.extend([0] * (len(counts) - len(self.counts)))
        for index, count in enumerate(counts):
            self.counts[index] += count
        self.requests += requests
        self.total += requests * mean


def _latency_row(bounds: list[float], counts: list[int], requests: int, mean: float | None) -> dict[str, Any]:
    def ms(q: float) -> float | None:
        value = percentile(bounds, counts, q)
        return None if value is None else round(value, 1)

    return {"requests": requests, "p50_ms": ms(0.5), "p95_ms": ms(0.95),
            "mean_ms": None if mean is None or not requests else round(mean, 1), "max_ms": None}  # fmt: skip


class CloudMonitoringWebhooks(MonitoringClient):
    def request(self, metric: str, labels: tuple[str, ...], start: datetime, end: datetime) -> Any:
        """The ListTimeSeriesRequest of one metric: per minute, summed by its labels."""
        from google.cloud import monitoring_v3
        from google.protobuf import duration_pb2, timestamp_pb2

        begin, finish = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
        begin.FromDatetime(start)
        finish.FromDatetime(end)
        aggregation = monitoring_v3.Aggregation(
            alignment_period=duration_pb2.Duration(seconds=60),
            per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
            cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
            group_by_fields=[f"metric.label.{label}" for label in labels],
        )
        return monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{self.project}", filter=f'metric.type = "{metric}"',
            interval=monitoring_v3.TimeInterval(start_time=begin, end_time=finish), aggregation=aggregation,
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )  # fmt: skip

    def read(self, minutes: int, now: datetime) -> dict[str, Any]:
        end = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        start = end - timedelta(minutes=minutes)
        latency: list[dict[str, Any]] = []
        merged: dict[str, _Merged] = {}
        asked = self.request(LATENCY_METRIC, ("function", "route"), start, end)
        for series in self.client.list_time_series(request=asked, timeout=self.timeout):
            function = series.metric.labels.get("function", "")
            route = series.metric.labels.get("route", "")
            for point in series.points:
                d = point.value.distribution_value
                bounds, counts, requests = _bounds(d), [int(c) for c in d.bucket_counts], int(d.count)
                if not requests:
                    continue
                minute = point.interval.end_time - timedelta(minutes=1)
                latency.append({"minute": _iso(minute), "function": function, "route": route,
                                **_latency_row(bounds, counts, requests, d.mean)})  # fmt: skip
                merged.setdefault(function, _Merged()).add(bounds, counts, requests, d.mean)
        fallbacks: list[dict[str, Any]] = []
        asked = self.request(FALLBACK_METRIC, ("failure", "function"), start, end)
        for series in self.client.list_time_series(request=asked, timeout=self.timeout):
            labels = series.metric.labels
            for point in series.points:
                answers = int(point.value.int64_value)
                if answers:
                    fallbacks.append({"minute": _iso(point.interval.end_time - timedelta(minutes=1)),
                                      "reason": labels.get("failure", ""), "function": labels.get("function", ""),
                                      "answers": answers})  # fmt: skip
        latency.sort(key=lambda r: (r["minute"], r["function"], r["route"]))
        fallbacks.sort(key=lambda r: (r["minute"], r["reason"], r["function"]))
        functions = [{"function": f, **_latency_row(m.bounds, m.counts, m.requests, m.total / m.requests)}
                     for f, m in sorted(merged.items())]  # fmt: skip
        return {"latency": latency, "functions": functions, "fallbacks": fallbacks}


def answer(minutes: int, source: str, project: str = "", now: datetime | None = None,
           filters: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The webhooks report: ``source`` "process" (this process's recorder) or "cloudmonitoring"."""
    from common.reports.webhook_recorder import RECORDER

    body: dict[str, Any] = {"report": "webhooks", "filters": dict(filters or {}), "source": source,
                            "scope": "platform", "minutes": minutes}  # fmt: skip
    if source == "cloudmonitoring":
        body.update(CloudMonitoringWebhooks(project).read(minutes, now or datetime.now(UTC)))
    else:
        body.update(RECORDER.snapshot(minutes))
        if not body["latency"]:
            body["note"] = (f"no webhook requests in the last {minutes} minutes in this process (a local stack "
                            "runs every function in the process that serves this API)")  # fmt: skip
    return body

"""common/adapters/metrics.py with an in-memory exporter standing in for Cloud Monitoring: the time
series built (types, kinds, labels, resource, points), batching at the API's limit, the choice of
sink, and the queue exporter's gauges through it (bounded series whatever the number of tenants)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api import metric_pb2
from google.cloud import monitoring_v3

from common.adapters import metrics
from common.adapters.metrics import CloudMonitoringSink, Gauge, LogSink, MemorySink, sink_from_env
from common.service import queue_metrics
from common.service.queue_metrics import DepartmentQueue

AT = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@dataclass
class FakeMetricService:
    """What ``MetricServiceClient.create_time_series`` received, request by request."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def create_time_series(self, name: str, time_series: list[Any], timeout: float) -> None:
        if self.fail:
            raise RuntimeError("503 the service is unavailable")
        self.requests.append({"name": name, "time_series": list(time_series), "timeout": timeout})


def test_a_gauge_becomes_a_time_series_of_the_right_kind() -> None:
    client = FakeMetricService()
    CloudMonitoringSink("ivr-prod", client=client, timeout=3.0).write([
        Gauge("ivr/queue/waiting_callers", {"department": "acme/sales"}, 3, AT),
        Gauge("ivr/queue/longest_wait_seconds", {"department": "acme/sales"}, 42.5, AT),
    ])  # fmt: skip
    [sent] = client.requests
    assert (sent["name"], sent["timeout"]) == ("projects/ivr-prod", 3.0)
    integer, double = sent["time_series"]
    assert isinstance(integer, monitoring_v3.TimeSeries)
    assert integer.metric.type == "custom.googleapis.com/ivr/queue/waiting_callers"
    assert dict(integer.metric.labels) == {"department": "acme/sales"}
    assert (integer.resource.type, dict(integer.resource.labels)) == ("global", {"project_id": "ivr-prod"})
    assert integer.metric_kind == metric_pb2.MetricDescriptor.MetricKind.GAUGE
    assert integer.value_type == metric_pb2.MetricDescriptor.ValueType.INT64
    assert double.value_type == metric_pb2.MetricDescriptor.ValueType.DOUBLE
    [point] = integer.points
    assert point.value.int64_value == 3 and double.points[0].value.double_value == 42.5
    assert point.interval.end_time.timestamp() == AT.timestamp()  # a gauge: an end time, no start


def test_writes_are_batched_at_the_apis_limit() -> None:
    client = FakeMetricService()
    points = [Gauge("ivr/x", {"department": f"t{i}/d"}, i, AT) for i in range(metrics.MAX_SERIES_PER_REQUEST * 2 + 1)]
    CloudMonitoringSink("p", client=client).write(points)
    assert [len(r["time_series"]) for r in client.requests] == [200, 200, 1]
    written = [s.metric.labels["department"] for r in client.requests for s in r["time_series"]]
    assert written == [p.labels["department"] for p in points]


def test_a_failed_write_raises_for_the_caller_to_log() -> None:
    with pytest.raises(RuntimeError, match="unavailable"):
        CloudMonitoringSink("p", client=FakeMetricService(fail=True)).write([Gauge("ivr/x", {}, 1, AT)])


def test_memory_and_log_sinks(caplog: pytest.LogCaptureFixture) -> None:
    memory = MemorySink()
    point = Gauge("ivr/queue/waiting_callers", {"department": "all"}, 7, AT)
    memory.write([point])
    assert memory.points == [point]
    with caplog.at_level(logging.INFO, logger="ivr.metrics"):
        LogSink().write([point])
    [record] = caplog.records
    assert (record.metric, record.metric_labels, record.value) == ("ivr/queue/waiting_callers",  # type: ignore[attr-defined]
                                                                   {"department": "all"}, 7)  # fmt: skip


@pytest.mark.parametrize("environ, kind", [
    ({}, LogSink), ({"K_SERVICE": "svc"}, LogSink),
    ({"K_SERVICE": "svc", "GOOGLE_CLOUD_PROJECT": "p"}, CloudMonitoringSink),
    ({"IVR_METRICS": "memory", "K_SERVICE": "svc", "GOOGLE_CLOUD_PROJECT": "p"}, MemorySink),
    ({"IVR_METRICS": " LOG "}, LogSink),
    ({"IVR_METRICS": "cloudmonitoring", "GOOGLE_CLOUD_PROJECT": "p"}, CloudMonitoringSink),
])  # fmt: skip
def test_the_sink_is_chosen_from_the_environment(environ: dict[str, str], kind: type) -> None:
    assert type(sink_from_env(environ)) is kind


@pytest.mark.parametrize("environ, message", [
    ({"IVR_METRICS": "cloudmonitoring"}, "needs GOOGLE_CLOUD_PROJECT"),
    ({"IVR_METRICS": "statsd"}, "cloudmonitoring, log or memory"),
])  # fmt: skip
def test_bad_sink_settings_say_what_is_wrong(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sink_from_env(environ)


def test_the_cloud_client_is_made_only_when_first_needed() -> None:
    sink = CloudMonitoringSink("p")
    assert sink._client is None  # constructing a sink costs no import and no connection


def test_queue_gauges_stay_bounded_with_ten_thousand_tenants() -> None:
    """10,000 tenants with a department each: the worst TOP get their own series, plus one
    platform-wide series per metric; the count over the maximum counts every department."""
    queues = [DepartmentQueue(f"t{i:05d}", "sales", waiting=i % 7, longest_wait_seconds=float(i % 300),
                              max_wait_seconds=120) for i in range(10_000)]  # fmt: skip
    client = FakeMetricService()
    points = queue_metrics.gauges(queues, top=queue_metrics.TOP, at=AT)
    CloudMonitoringSink("p", client=client).write(points)
    series = [s for r in client.requests for s in r["time_series"]]
    departments = {s.metric.labels["department"] for s in series if "department" in s.metric.labels}
    assert len(series) == 3 * queue_metrics.TOP + 4
    assert len(departments) == queue_metrics.TOP + 1 and queue_metrics.ALL in departments
    over = next(s for s in series if s.metric.type.endswith(queue_metrics.OVER_MAX))
    assert over.points[0].value.int64_value == sum(q.ratio > 1 for q in queues) > queue_metrics.TOP
    worst = max(queues, key=lambda q: (q.ratio, q.waiting))
    ratios = {s.metric.labels["department"]: s.points[0].value.double_value for s in series
              if s.metric.type.endswith(queue_metrics.RATIO)}  # fmt: skip
    assert ratios[worst.key] == pytest.approx(worst.ratio, abs=1e-4)
    assert ratios[queue_metrics.ALL] == pytest.approx(max(q.ratio for q in queues), abs=1e-4)


def test_points_keep_their_time() -> None:
    client = FakeMetricService()
    later = AT + timedelta(minutes=1)
    CloudMonitoringSink("p", client=client).write([Gauge("ivr/x", {}, 1, AT), Gauge("ivr/x", {}, 2, later)])
    ends = [s.points[0].interval.end_time.timestamp() for s in client.requests[0]["time_series"]]
    assert ends == [AT.timestamp(), later.timestamp()]

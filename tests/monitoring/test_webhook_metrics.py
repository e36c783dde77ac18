"""common/reports/webhook_metrics.py against a local fake of Cloud Monitoring's list_time_series: the
requests built (metric, interval, per-minute alignment, sums by label), percentiles from the
distributions' exponential buckets, and the choice between Cloud Monitoring and the process."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api import distribution_pb2
from google.cloud import monitoring_v3

from common.reports import webhook_metrics
from common.reports.webhook_metrics import FALLBACK_METRIC, LATENCY_METRIC, CloudMonitoringWebhooks, source_from_env
from common.reports.webhook_recorder import percentile

NOW = datetime(2026, 11, 3, 10, 30, 42, tzinfo=UTC)
GROWTH, FINITE = 1.25, 40  # monitoring_metrics.tf: 1 ms x 1.25^n, 40 buckets


def latency_point(minute: int, counts: list[int], mean: float) -> monitoring_v3.Point:
    distribution = distribution_pb2.Distribution(
        count=sum(counts), mean=mean, bucket_counts=counts,
        bucket_options=distribution_pb2.Distribution.BucketOptions(
            exponential_buckets=distribution_pb2.Distribution.BucketOptions.Exponential(
                num_finite_buckets=FINITE, growth_factor=GROWTH, scale=1.0)))  # fmt: skip
    end = NOW.replace(second=0) - timedelta(minutes=minute - 2)  # minute 1: the one under way
    return monitoring_v3.Point(interval=monitoring_v3.TimeInterval(end_time=end),
                               value=monitoring_v3.TypedValue(distribution_value=distribution))  # fmt: skip


def count_point(minute: int, value: int) -> monitoring_v3.Point:
    end = NOW.replace(second=0) - timedelta(minutes=minute - 2)  # minute 1: the one under way
    return monitoring_v3.Point(interval=monitoring_v3.TimeInterval(end_time=end),
                               value=monitoring_v3.TypedValue(int64_value=value))  # fmt: skip


@dataclass
class FakeMetricService:
    """Answers list_time_series by metric type and keeps every request it was sent."""

    answers: dict[str, list[monitoring_v3.TimeSeries]]
    requests: list[tuple[monitoring_v3.ListTimeSeriesRequest, float]] = field(default_factory=list)

    def list_time_series(self, request: monitoring_v3.ListTimeSeriesRequest, timeout: float) -> list[Any]:
        self.requests.append((request, timeout))
        metric = request.filter.split('"')[1]
        return self.answers.get(metric, [])


# bucket i (1..40) holds [1.25^(i-1), 1.25^i) ms; bucket 0 below 1 ms
STEP_COUNTS = [0] * 21 + [6, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2]  # 6 in [1.25^20, 1.25^21) = [86.7, 108.4), ...


@pytest.fixture
def client() -> FakeMetricService:
    step = monitoring_v3.TimeSeries(metric={"type": LATENCY_METRIC, "labels": {"function": "flow_step",
                                                                             "route": "voice.step"}},
                                    points=[latency_point(1, STEP_COUNTS, 150.0), latency_point(2, [0, 0, 3], 1.2)])
    empty = monitoring_v3.TimeSeries(metric={"type": LATENCY_METRIC, "labels": {"function": "incoming_call",
                                                                              "route": "voice.incoming"}},
                                     points=[latency_point(1, [], 0.0)])
    fallback = monitoring_v3.TimeSeries(metric={"type": FALLBACK_METRIC, "labels": {"failure": "budget_overrun",
                                                                                  "function": "flow_step"}},
                                        points=[count_point(1, 2), count_point(3, 0)])  # fmt: skip
    return FakeMetricService({LATENCY_METRIC: [step, empty], FALLBACK_METRIC: [fallback]})


def test_the_requests_ask_per_minute_sums_by_label_over_the_window(client: FakeMetricService) -> None:
    CloudMonitoringWebhooks("ivr-prod", client=client, timeout=4.0).read(30, NOW)
    assert len(client.requests) == 2
    for (request, timeout), metric, labels in zip(client.requests, (LATENCY_METRIC, FALLBACK_METRIC),
                                                  (["function", "route"], ["failure", "function"]), strict=True):
        assert (request.name, request.filter, timeout) == ("projects/ivr-prod", f'metric.type = "{metric}"', 4.0)
        assert request.interval.start_time == datetime(2026, 11, 3, 10, 1, tzinfo=UTC)
        assert request.interval.end_time == datetime(2026, 11, 3, 10, 31, tzinfo=UTC)  # this minute included
        aggregation = request.aggregation
        assert aggregation.alignment_period == timedelta(seconds=60)
        assert aggregation.per_series_aligner == monitoring_v3.Aggregation.Aligner.ALIGN_DELTA
        assert aggregation.cross_series_reducer == monitoring_v3.Aggregation.Reducer.REDUCE_SUM
        assert list(aggregation.group_by_fields) == [f"metric.label.{label}" for label in labels]
        assert request.view == monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL


def test_rows_per_minute_with_percentiles_from_the_buckets(client: FakeMetricService) -> None:
    got = CloudMonitoringWebhooks("ivr-prod", client=client).read(30, NOW)
    bounds = [GROWTH**i for i in range(FINITE + 1)]
    assert [(r["minute"], r["function"], r["route"], r["requests"]) for r in got["latency"]] == [
        ("2026-11-03T10:29:00Z", "flow_step", "voice.step", 3),
        ("2026-11-03T10:30:00Z", "flow_step", "voice.step", 10)]  # fmt: skip
    latest = got["latency"][1]
    # the 5th of 10 lies in [1.25^20, 1.25^21): 5/6 of the way through it
    assert latest["p50_ms"] == pytest.approx(GROWTH**20 + (GROWTH**21 - GROWTH**20) * 5 / 6, abs=0.05)
    assert latest["p95_ms"] == round(percentile(bounds, STEP_COUNTS, 0.95), 1)
    assert GROWTH**30 <= latest["p95_ms"] <= GROWTH**31
    assert (latest["mean_ms"], latest["max_ms"]) == (150.0, None)
    [summary] = got["functions"]
    merged = [a + b for a, b in zip(STEP_COUNTS, [0, 0, 3] + [0] * (len(STEP_COUNTS) - 3), strict=True)]
    assert (summary["function"], summary["requests"]) == ("flow_step", 13)
    assert summary["p50_ms"] == round(percentile(bounds, merged, 0.5), 1)
    assert summary["mean_ms"] == round((150.0 * 10 + 1.2 * 3) / 13, 1)
    assert got["fallbacks"] == [{"minute": "2026-11-03T10:30:00Z", "reason": "budget_overrun",
                                 "function": "flow_step", "answers": 2}]  # fmt: skip


@pytest.mark.parametrize("environ, source", [
    ({}, "process"),
    ({"K_SERVICE": "deploy-flow"}, "process"),  # no project: nothing to read
    ({"K_SERVICE": "deploy-flow", "GOOGLE_CLOUD_PROJECT": "ivr-prod"}, "cloudmonitoring"),
    ({"IVR_METRICS": "cloudmonitoring", "GOOGLE_CLOUD_PROJECT": "p"}, "cloudmonitoring"),
    ({"IVR_METRICS": "log", "K_SERVICE": "x", "GOOGLE_CLOUD_PROJECT": "p"}, "process"),
])  # fmt: skip
def test_source_follows_the_metrics_setting(environ: dict[str, str], source: str) -> None:
    assert source_from_env(environ) == source


def test_module_import_does_not_import_the_client() -> None:
    import subprocess
    import sys

    code = ("import sys, common.reports.webhook_metrics, common.observability; "
            "print('google.cloud.monitoring_v3' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(webhook_metrics.__file__).rsplit("/common/", 1)[0])  # fmt: skip
    assert out.stdout.strip() == "False"

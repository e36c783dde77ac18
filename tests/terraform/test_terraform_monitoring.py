"""Structural tests of the call monitoring (monitoring_metrics.tf, monitoring_queue.tf,
monitoring_alerts.tf, monitoring_dashboard.tf): log-based metrics with bounded labels only, the queue
gauges the exporter writes, the scheduler job that starts it, the alert policies the issue asks for
with their runbook lines, and a dashboard whose every chart reads a metric that exists.
tests/monitoring/test_log_metrics.py runs the metrics' filters over real request lines."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from hcl_tree import PLATFORM, ROOT, block, locals_, resource, resources, variables

sys.path.insert(0, str(ROOT))
from common.service import queue_metrics  # the repository root is not on sys.path of these tests
from common.web import monitoring_tasks

UNBOUNDED = {"tenant", "call_sid", "tenant_id", "number", "caller", "from", "to", "agent", "department"}
COUNTERS = {"calls_started", "calls_completed", "fallback_answers", "flow_errors", "responses_5xx",
            "event_publish_failures"}  # fmt: skip
ALERTS = {"failed_flows", "webhook_p95_over_budget", "fallback_url_traffic", "volume_spike", "no_events_published",
          "events_unpublished_too_long", "queue_wait_over_max"}  # fmt: skip


def test_log_counters_and_their_labels_are_bounded() -> None:
    counters = locals_(PLATFORM)["log_counters"]
    assert set(counters) == COUNTERS
    for name, counter in counters.items():
        assert not set(counter["labels"]) & UNBOUNDED, f"{name}: a label per tenant or call is unbounded"
        for label, field in counter["labels"].items():
            assert re.fullmatch(r"jsonPayload\.[a-z_]+", field), f"{name}.{label}: {field}"
        assert "cloud_run_revision" in counter["filter"] or "request_log_filter" in counter["filter"] or \
            "webhook_log_filter" in counter["filter"], name  # fmt: skip
    metric = resource(PLATFORM, "google_logging_metric", "calls")
    assert metric["for_each"] == "${local.log_counters}"
    assert metric["name"] == "ivr_${each.key}"
    descriptor = block(metric, "metric_descriptor")
    assert (descriptor["metric_kind"], descriptor["value_type"]) == ("DELTA", "INT64")
    labels = descriptor["dynamic"][0]["labels"]
    assert labels["for_each"] == "${each.value.labels}", "every extracted label is declared"
    assert "EXTRACT(${field})" in metric["label_extractors"]


def test_webhook_latency_is_a_distribution_of_the_request_lines() -> None:
    metric = resource(PLATFORM, "google_logging_metric", "webhook_latency")
    assert metric["filter"] == "${local.webhook_log_filter}"
    assert metric["value_extractor"] == "EXTRACT(jsonPayload.latency_ms)"
    assert set(metric["label_extractors"]) == {"function", "route"}
    descriptor = block(metric, "metric_descriptor")
    assert (descriptor["value_type"], descriptor["unit"]) == ("DISTRIBUTION", "ms")
    assert {b["key"] for b in descriptor["labels"]} == {"function", "route"}
    buckets = block(block(metric, "bucket_options"), "exponential_buckets")
    top = buckets["scale"] * buckets["growth_factor"] ** buckets["num_finite_buckets"]
    assert top > 5000, "the buckets must reach past a webhook's overrun (5 s)"
    oldest = resource(PLATFORM, "google_logging_metric", "outbox_oldest_unpublished")
    assert oldest["value_extractor"] == "EXTRACT(jsonPayload.oldest_unpublished_seconds)"
    assert 'jsonPayload.kind=\\"events_sweep\\"' in oldest["filter"]


def test_queue_gauges_are_the_exporters() -> None:
    gauges = locals_(PLATFORM)["queue_gauges"]
    exported = {queue_metrics.WAITING: "INT64", queue_metrics.LONGEST: "DOUBLE", queue_metrics.RATIO: "DOUBLE",
                queue_metrics.OVER_MAX: "INT64"}  # fmt: skip
    assert {name: g["value_type"] for name, g in gauges.items()} == exported
    descriptor = resource(PLATFORM, "google_monitoring_metric_descriptor", "queue")
    assert descriptor["type"] == "custom.googleapis.com/${each.key}"
    assert descriptor["metric_kind"] == "GAUGE"
    assert queue_metrics.OVER_MAX in descriptor["dynamic"][0]["labels"]["for_each"], "departments_over_max: no label"


def test_the_queue_metrics_job_posts_to_the_task_with_the_tasks_identity() -> None:
    job = resource(PLATFORM, "google_cloud_scheduler_job", "queue_metrics")
    target = block(job, "http_target")
    assert target["http_method"] == "POST" and target["uri"] == "${local.queue_metrics_url}"
    assert locals_(PLATFORM)["queue_metrics_url"] == "${local.public_base_url}" + monitoring_tasks.QUEUE_METRICS
    token = block(target, "oidc_token")
    assert token == {"service_account_email": "${google_service_account.tasks_invoker.email}",
                     "audience": "${local.public_base_url}"}  # fmt: skip
    assert block(job, "retry_config")["retry_count"] == 0
    assert variables(PLATFORM)["queue_metrics_schedule"]["default"] == "* * * * *"


def _policies() -> dict[str, dict[str, Any]]:
    return resources(PLATFORM)["google_monitoring_alert_policy"]


def test_the_alerts_of_the_issue_exist_notify_and_say_what_to_check() -> None:
    policies = _policies()
    assert set(policies) >= ALERTS
    for name in ALERTS:
        policy = policies[name]
        assert policy["notification_channels"] == "${var.notification_channels}", name
        assert policy["severity"] in ("ERROR", "WARNING"), name
        documentation = block(policy, "documentation")
        assert "**Check first:**" in documentation["content"], f"{name}: the on-call's first step"
        assert documentation["subject"].startswith("IVR ${var.environment}"), name


def _threshold(name: str) -> dict[str, Any]:
    return block(block(_policies()[name], "conditions"), "condition_threshold")


def _promql(name: str) -> str:
    return str(block(block(_policies()[name], "conditions"), "condition_prometheus_query_language")["query"])


def test_failed_flows_is_fallback_answers_over_calls_started() -> None:
    condition = _threshold("failed_flows")
    assert 'local.log_metric_types["fallback_answers"]' in condition["filter"]
    assert 'local.log_metric_types["calls_started"]' in condition["denominator_filter"]
    assert condition["threshold_value"] == "${var.monitoring.failed_flow_ratio}"


def test_webhook_p95_is_measured_per_function_against_the_budget() -> None:
    condition = _threshold("webhook_p95_over_budget")
    assert "google_logging_metric.webhook_latency.name" in condition["filter"]
    aggregation = block(condition, "aggregations")
    assert aggregation["cross_series_reducer"] == "REDUCE_PERCENTILE_95"
    assert aggregation["group_by_fields"] == ["metric.label.function"]
    assert condition["threshold_value"] == "${var.monitoring.webhook_p95_budget_ms}"


def test_volume_spike_compares_with_the_same_time_of_three_earlier_weeks() -> None:
    query = _promql("volume_spike")
    assert all(f"offset {w}w" in query for w in (1, 2, 3))
    assert "${var.monitoring.volume_spike_factor}" in query and "${var.monitoring.volume_spike_min_per_minute}" in query
    assert query.count("${local.calls_started_promql}") == 5
    assert locals_(PLATFORM)["calls_started_promql"] == \
        'logging_googleapis_com:user_${google_logging_metric.calls["calls_started"].name}'  # fmt: skip


def test_no_events_published_needs_calls_and_no_publish() -> None:
    query = _promql("no_events_published")
    started, _, published = query.partition("unless")
    assert "calls_started_promql" in started and "events_topic_promql" in published
    assert "topic_send_message_operation_count" in locals_(PLATFORM)["events_topic_promql"]
    assert "google_pubsub_topic.call_events.name" in locals_(PLATFORM)["events_topic_promql"]


def test_fallback_url_unpublished_and_queue_waits() -> None:
    assert 'metric.label.failure = \\"fallback_url\\"' in _threshold("fallback_url_traffic")["filter"]
    assert _threshold("fallback_url_traffic")["threshold_value"] == 0
    unpublished = _threshold("events_unpublished_too_long")
    assert unpublished["threshold_value"] == "${var.monitoring.unpublished_max_minutes * 60}"
    assert queue_metrics.OVER_MAX in _threshold("queue_wait_over_max")["filter"]


@pytest.mark.parametrize("setting, default", [
    ("failed_flow_ratio", 0.02), ("webhook_p95_budget_ms", 1500), ("volume_spike_factor", 3),
    ("volume_spike_min_per_minute", 10), ("no_events_minutes", 15), ("unpublished_max_minutes", 10),
])  # fmt: skip
def test_thresholds_have_defaults(setting: str, default: float) -> None:
    kind = re.sub(r"\s+", " ", variables(PLATFORM)["monitoring"]["type"])
    assert f"{setting} = optional(number, {default})" in kind


def test_dashboard_charts_what_the_issue_asks_for() -> None:
    dashboard = resource(PLATFORM, "google_monitoring_dashboard", "calls")
    assert dashboard["dashboard_json"] == "${jsonencode(local.dashboard)}"
    tiles = locals_(PLATFORM)["dashboard_tiles"]
    titles = " | ".join(t["title"] for t in tiles).lower()
    for needed in ("calls started", "calls completed", "p50, p95, p99", "fallback", "waiting", "longest wait",
                   "5xx", "publish failures"):  # fmt: skip
        assert needed in titles, needed
    text = str(locals_(PLATFORM)["dashboard"])
    assert "success rate" in text.lower() and "timeSeriesFilterRatio" in text
    known = {f'local.log_metric_types["{c}"]' for c in COUNTERS} | {
        "local.webhook_latency_type", "local.outbox_oldest_type",
        *(f'google_monitoring_metric_descriptor.queue["{g}"].type' for g in locals_(PLATFORM)["queue_gauges"])}
    for tile in tiles:
        references = re.findall(r"metric\.type=\\\\?\"\$\{([^}]+)\}", str(tile["series"]))
        assert references and set(references) <= known, f"{tile['title']}: {references}"

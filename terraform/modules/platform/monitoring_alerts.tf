# Alert policies over the call metrics (log-based metrics of monitoring_metrics.tf, the queue gauges
# of monitoring_queue.tf, Pub/Sub's own metrics). The function-level 5xx ratio, the webhook p99 and
# the dead-letter policies are in monitoring.tf. Each documentation block says what the on-call
# person should check first; docs/monitoring.md has the longer runbook.
# The two comparisons with history (volume against earlier weeks, calls without any publish) are
# PromQL: a threshold condition cannot compare a series with its own past or with another metric.

locals {
  calls_started_promql = "logging_googleapis_com:user_${google_logging_metric.calls["calls_started"].name}"
  events_topic_promql  = "pubsub_googleapis_com:topic_send_message_operation_count{monitored_resource=\"pubsub_topic\",topic_id=\"${google_pubsub_topic.call_events.name}\"}"
  spike_window         = "30m"
}

resource "google_monitoring_alert_policy" "failed_flows" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: callers hearing the fallback above ${var.monitoring.failed_flow_ratio * 100}% of calls"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "fallback answers / calls started"

    condition_threshold {
      filter             = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.log_metric_types["fallback_answers"]}\""
      denominator_filter = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.log_metric_types["calls_started"]}\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.monitoring.failed_flow_ratio
      duration           = "${var.monitoring.window_seconds}s"

      aggregations {
        alignment_period     = "${var.monitoring.window_seconds}s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "${var.monitoring.window_seconds}s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "${var.alerting.auto_close_after_sec}s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "IVR ${var.environment}: failed flows"
    content   = <<-EOT
      More than ${var.monitoring.failed_flow_ratio * 100}% of calls (${var.environment}) got the fallback answer.
      **Check first:** the metric's `failure` label on the dashboard. `unhandled_error`: the functions'
      errors in Logging (`severity>=ERROR`, the `stack_trace` of the newest), then the last deployment
      or flow publish. `budget_overrun`: Firestore latency and instance CPU. `fallback_url`: Twilio could
      not reach the webhook at all (load balancer, certificate, 5xx alert).
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "webhook_p95_over_budget" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: webhook p95 above ${var.monitoring.webhook_p95_budget_ms} ms"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "p95 of the webhook request lines' latency_ms, per function"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.webhook_latency.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.monitoring.webhook_p95_budget_ms
      duration        = "${var.monitoring.window_seconds}s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
        group_by_fields      = ["metric.label.function"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "${var.alerting.auto_close_after_sec}s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "IVR ${var.environment}: slow webhooks"
    content   = <<-EOT
      The p95 of the webhooks' own latency (${var.environment}) is above ${var.monitoring.webhook_p95_budget_ms} ms:
      callers hear silence between prompts. **Check first:** the dashboard's latency by route (one
      route or all?), then Firestore latency, instance count against max_instances (queued requests)
      and HTTP nodes calling a slow customer API (their duration is in the call events).
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "fallback_url_traffic" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: Twilio is using the fallback URL"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "requests to /webhook/voice/fallback"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.log_metric_types["fallback_answers"]}\" AND metric.label.failure = \"fallback_url\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "${var.alerting.auto_close_after_sec}s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "IVR ${var.environment}: fallback URL in use"
    content   = <<-EOT
      Twilio called the fallback URL: the primary webhook failed or timed out for a live call.
      **Check first:** the fallback lines' `ErrorCode` and `ErrorUrl` in Logging
      (`jsonPayload.failure="fallback_url"`), then the 5xx and latency alerts of the same minutes.
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "volume_spike" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: call volume ${var.monitoring.volume_spike_factor}x the same time of earlier weeks"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "calls started per minute against the mean of the three previous weeks"

    condition_prometheus_query_language {
      query               = <<-EOT
        (sum(rate(${local.calls_started_promql}[${local.spike_window}])) * 60
          > ${var.monitoring.volume_spike_factor} * 60 * (
              sum(rate(${local.calls_started_promql}[${local.spike_window}] offset 1w))
            + sum(rate(${local.calls_started_promql}[${local.spike_window}] offset 2w))
            + sum(rate(${local.calls_started_promql}[${local.spike_window}] offset 3w))
          ) / 3)
        and
        (sum(rate(${local.calls_started_promql}[${local.spike_window}])) * 60 > ${var.monitoring.volume_spike_min_per_minute})
      EOT
      duration            = "600s"
      evaluation_interval = "60s"
    }
  }

  alert_strategy {
    auto_close = "${var.alerting.auto_close_after_sec}s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "IVR ${var.environment}: call volume spike"
    content   = <<-EOT
      Calls per minute are ${var.monitoring.volume_spike_factor}x the mean of the same half hour of the last three weeks
      (and above ${var.monitoring.volume_spike_min_per_minute} a minute). **Check first:** which numbers take the calls
      (Logging: request lines with `call_event="started"`, field `tenant`): one tenant's campaign or
      outage elsewhere is expected traffic; calls from few callers repeating are abuse. Then capacity:
      instances against max_instances, queue waits. Until three weeks of history exist, it cannot fire.
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "no_events_published" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: calls but no call events published for ${var.monitoring.no_events_minutes} min"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "calls started, and nothing published to ${google_pubsub_topic.call_events.name}"

    condition_prometheus_query_language {
      query               = <<-EOT
        sum(increase(${local.calls_started_promql}[${var.monitoring.no_events_minutes}m])) > 0
        unless
        sum(increase(${local.events_topic_promql}[${var.monitoring.no_events_minutes}m])) > 0
      EOT
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }

  alert_strategy {
    auto_close = "${var.alerting.auto_close_after_sec}s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "IVR ${var.environment}: call events not published"
    content   = <<-EOT
      Calls were answered but nothing reached ${google_pubsub_topic.call_events.name} for ${var.monitoring.no_events_minutes} minutes: billing and
      reports fall behind (nothing is lost while the outbox holds the events). **Check first:** the
      `ivr.events` warnings in Logging (publish errors, permission denied on the topic), IVR_EVENTS
      and IVR_EVENTS_TOPIC of the functions, then whether the sweeper job runs.
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "events_unpublished_too_long" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: call events unpublished for more than ${var.monitoring.unpublished_max_minutes} min"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "oldest unpublished event found by the sweeper"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.outbox_oldest_unpublished.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.monitoring.unpublished_max_minutes * 60
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "${var.alerting.auto_close_after_sec}s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "IVR ${var.environment}: call events waiting in outboxes"
    content   = <<-EOT
      The sweeper found call events older than ${var.monitoring.unpublished_max_minutes} minutes still in call documents.
      **Check first:** the sweeper's own lines (`jsonPayload.kind="events_sweep"`: how many, still failing?)
      and the `ivr.events` warnings; Pub/Sub's topic metrics for errors. A call that keeps producing
      events while publishing fails drops its oldest ones (logged as an error): act before that.
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "queue_wait_over_max" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: a department's longest wait is above its maximum"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "departments over their max_wait_seconds"

    condition_threshold {
      filter          = "resource.type = \"global\" AND metric.type = \"${google_monitoring_metric_descriptor.queue["ivr/queue/departments_over_max"].type}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "120s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "${var.alerting.auto_close_after_sec}s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "IVR ${var.environment}: callers waiting too long"
    content   = <<-EOT
      Callers of at least one department have waited longer than its maximum for two minutes.
      **Check first:** the queue-metrics task's log line (`jsonPayload.kind="queue_metrics"`, field
      `over_max` names the departments), then their agents' statuses in the console: nobody
      available, or agents stuck in wrap-up. The department's escalation rules decide what callers get.
    EOT
  }

  depends_on = [google_project_service.apis]
}

# Gen 2 functions run as Cloud Run services, so their request metrics are Cloud Run metrics on the
# cloud_run_revision resource, labelled with the service (= function) name.

locals {
  monitored_services = [for key, _ in local.functions : local.function_names[key]]
  webhook_services   = [for key, f in local.functions : local.function_names[key] if f.webhook]

  monitored_services_filter = join(", ", [for s in local.monitored_services : "\"${s}\""])
  webhook_services_filter   = join(", ", [for s in local.webhook_services : "\"${s}\""])
}

resource "google_monitoring_alert_policy" "function_5xx_ratio" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: function 5xx ratio above ${var.alerting.error_ratio * 100}%"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "5xx / all requests per function"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"run.googleapis.com/request_count\"",
        "metric.labels.response_code_class = \"5xx\"",
        "resource.labels.service_name = one_of(${local.monitored_services_filter})",
      ])
      denominator_filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"run.googleapis.com/request_count\"",
        "resource.labels.service_name = one_of(${local.monitored_services_filter})",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.error_ratio
      duration        = "${var.alerting.duration_seconds}s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }

      denominator_aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
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
    content   = <<-EOT
      A function of the IVR platform (${var.environment}) answers more than ${var.alerting.error_ratio * 100}% of its
      requests with 5xx. For the Twilio webhooks this means callers hear the fallback or are dropped.
      Check the function's logs (resource.labels.service_name in the incident) and the last deployment.
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "webhook_p99_latency" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: webhook p99 latency above ${var.alerting.p99_latency_ms} ms"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "p99 request latency of the Twilio webhook functions"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"run.googleapis.com/request_latencies\"",
        "resource.labels.service_name = one_of(${local.webhook_services_filter})",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.p99_latency_ms
      duration        = "${var.alerting.duration_seconds}s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_99"
        group_by_fields      = ["resource.label.service_name"]
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
    content   = <<-EOT
      The p99 latency of a Twilio webhook function (${var.environment}) is above ${var.alerting.p99_latency_ms} ms.
      Callers hear silence while TwiML is late, and Twilio gives up after its webhook timeout.
      Look for cold starts (min instances), slow Firestore calls and CPU saturation.
    EOT
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "call_events_dead_letters" {
  project               = var.project_id
  display_name          = "IVR ${var.environment}: call events dead-lettered"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Messages waiting in ${google_pubsub_subscription.call_events_dead_letter.name}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"pubsub_subscription\"",
        "metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\"",
        "resource.labels.subscription_id = \"${google_pubsub_subscription.call_events_dead_letter.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
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
    content   = <<-EOT
      BigQuery rejected call events (schema mismatch or permissions); they wait in
      ${google_pubsub_subscription.call_events_dead_letter.name}. Fix the cause, then replay them to call-events.
    EOT
  }

  depends_on = [google_project_service.apis]
}

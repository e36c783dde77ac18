# Log-based metrics: counted and measured from the structured lines the functions already write
# (common/observability.py), so no metric costs the caller's webhook a network call. Every request
# ends with one line `kind = "request"` holding function, route, status, latency_ms and what the
# code annotated (call_event, call_status, failure). Labels take only bounded values: function (4),
# route (a fixed table of about 25), status class, failure and call status (words of the code).
# Tenants and call sids are in the log lines, never in a label: with 10,000 tenants a tenant label
# would be 10,000 time series per metric (docs/monitoring.md, "Cardinality").

locals {
  log_services_filter = "resource.labels.service_name=(${join(" OR ", [for s in local.monitored_services : "\"${s}\""])})"
  request_log_filter  = "resource.type=\"cloud_run_revision\" AND ${local.log_services_filter} AND jsonPayload.kind=\"request\""
  webhook_log_filter  = "${local.request_log_filter} AND jsonPayload.route=~\"^(voice|departments)[.]\""

  # metric name -> the type a dashboard or alert filters on
  log_metric_types = {
    for key, metric in google_logging_metric.calls : key => "logging.googleapis.com/user/${metric.name}"
  }

  # The counters: name suffix -> filter, and the labels extracted (label -> jsonPayload field).
  log_counters = {
    calls_started = {
      description = "Incoming calls a deployed flow answered (call_event = started)."
      filter      = "${local.request_log_filter} AND jsonPayload.call_event=\"started\""
      labels      = {}
    }
    calls_completed = {
      description = "Calls completed (Twilio's final status callback), by Twilio's final CallStatus."
      filter      = "${local.request_log_filter} AND jsonPayload.call_event=\"completed\""
      labels      = { call_status = "jsonPayload.call_status" }
    }
    fallback_answers = {
      description = "Webhook answers in which the caller heard the fallback: unhandled error, budget overrun, or Twilio on the fallback URL."
      filter      = "${local.webhook_log_filter} AND jsonPayload.failure:*"
      labels      = { failure = "jsonPayload.failure", function = "jsonPayload.function" }
    }
    flow_errors = {
      description = "Errors logged while a webhook served a call (besides its request line): engine and service errors."
      filter      = "resource.type=\"cloud_run_revision\" AND ${local.log_services_filter} AND severity>=ERROR AND jsonPayload.route=~\"^(voice|departments)[.]\" AND NOT jsonPayload.kind=\"request\""
      labels      = { function = "jsonPayload.function", logger = "jsonPayload.logger" }
    }
    responses_5xx = {
      description = "Requests answered with a 5xx status, by function and route."
      filter      = "${local.request_log_filter} AND jsonPayload.status>=500"
      labels      = { function = "jsonPayload.function", route = "jsonPayload.route" }
    }
    event_publish_failures = {
      description = "Warnings and errors of the call event outbox (logger ivr.events): a publish, acknowledgement or hand-off that failed."
      filter      = "resource.type=\"cloud_run_revision\" AND ${local.log_services_filter} AND jsonPayload.logger=\"ivr.events\" AND severity>=WARNING"
      labels      = { function = "jsonPayload.function" }
    }
  }
}

resource "google_logging_metric" "calls" {
  for_each = local.log_counters

  project     = var.project_id
  name        = "ivr_${each.key}"
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "IVR ${replace(each.key, "_", " ")}"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }

  label_extractors = { for label, field in each.value.labels : label => "EXTRACT(${field})" }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "webhook_latency" {
  project     = var.project_id
  name        = "ivr_webhook_latency"
  description = "Server-side latency of the Twilio webhooks (voice.* and departments.* routes), in ms, from the request lines."
  filter      = local.webhook_log_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "IVR webhook latency"

    labels {
      key        = "function"
      value_type = "STRING"
    }

    labels {
      key        = "route"
      value_type = "STRING"
    }
  }

  value_extractor = "EXTRACT(jsonPayload.latency_ms)"
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
    route    = "EXTRACT(jsonPayload.route)"
  }

  # 1 ms x 1.25^n, 40 buckets: up to about 7.5 s with a quarter of resolution at every scale, so the
  # p50 of a 20 ms step and the p99 of a 2 s overrun are both read to within 25 %.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 40
      growth_factor      = 1.25
      scale              = 1
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "outbox_oldest_unpublished" {
  project     = var.project_id
  name        = "ivr_outbox_oldest_unpublished"
  description = "Age in seconds of the oldest unpublished call event the sweeper found, one value per sweep (kind events_sweep)."
  filter      = "resource.type=\"cloud_run_revision\" AND ${local.log_services_filter} AND jsonPayload.kind=\"events_sweep\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "IVR oldest unpublished call event"
  }

  value_extractor = "EXTRACT(jsonPayload.oldest_unpublished_seconds)"

  # 1 s x 2^n, 20 buckets: up to about 12 days.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.apis]
}

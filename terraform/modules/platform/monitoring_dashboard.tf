# The operations dashboard: call volume and outcome, webhook latency, fallback answers, errors,
# queues and the event pipeline, from the log-based metrics (monitoring_metrics.tf) and the queue
# gauges (monitoring_queue.tf). The queues' service level over time (answered within threshold) is
# a BigQuery report (view queue_hourly, `ivr report queues`); here are the live gauges.

locals {
  webhook_latency_type = "logging.googleapis.com/user/${google_logging_metric.webhook_latency.name}"
  outbox_oldest_type   = "logging.googleapis.com/user/${google_logging_metric.outbox_oldest_unpublished.name}"

  # One line (or stack) of a chart: a metric filter, how a series is aligned, how series are combined.
  dashboard_rate = {
    perSeriesAligner   = "ALIGN_RATE"
    crossSeriesReducer = "REDUCE_SUM"
    alignmentPeriod    = "60s"
  }

  dashboard_tiles = [
    {
      title = "Calls started per second"
      kind  = "LINE"
      series = [
        { filter = "metric.type=\"${local.log_metric_types["calls_started"]}\"", aggregation = local.dashboard_rate, legend = "started" },
      ]
    },
    {
      title = "Calls completed per second, by Twilio's final status"
      kind  = "STACKED_BAR"
      series = [
        { filter = "metric.type=\"${local.log_metric_types["calls_completed"]}\"", aggregation = merge(local.dashboard_rate, { groupByFields = ["metric.label.call_status"] }), legend = "$${metric.labels.call_status}" },
      ]
    },
    {
      title = "Webhook latency (ms): p50, p95, p99"
      kind  = "LINE"
      series = [
        for p in [50, 95, 99] : {
          filter      = "metric.type=\"${local.webhook_latency_type}\""
          aggregation = { perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_${p}", alignmentPeriod = "60s" }
          legend      = "p${p}"
        }
      ]
    },
    {
      title = "Webhook p95 (ms) by route"
      kind  = "LINE"
      series = [
        { filter = "metric.type=\"${local.webhook_latency_type}\"", aggregation = { perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_95", alignmentPeriod = "60s", groupByFields = ["metric.label.route"] }, legend = "$${metric.labels.route}" },
      ]
    },
    {
      title = "Fallback answers per second, by cause"
      kind  = "STACKED_BAR"
      series = [
        { filter = "metric.type=\"${local.log_metric_types["fallback_answers"]}\"", aggregation = merge(local.dashboard_rate, { groupByFields = ["metric.label.failure"] }), legend = "$${metric.labels.failure}" },
      ]
    },
    {
      title = "5xx answers and flow errors per second, by function"
      kind  = "LINE"
      series = [
        { filter = "metric.type=\"${local.log_metric_types["responses_5xx"]}\"", aggregation = merge(local.dashboard_rate, { groupByFields = ["metric.label.function"] }), legend = "5xx $${metric.labels.function}" },
        { filter = "metric.type=\"${local.log_metric_types["flow_errors"]}\"", aggregation = merge(local.dashboard_rate, { groupByFields = ["metric.label.function"] }), legend = "errors $${metric.labels.function}" },
      ]
    },
    {
      title = "Callers waiting (all departments) and departments over their maximum wait"
      kind  = "LINE"
      series = [
        { filter = "metric.type=\"${google_monitoring_metric_descriptor.queue["ivr/queue/waiting_callers"].type}\" AND metric.label.department=\"all\"", aggregation = { perSeriesAligner = "ALIGN_MAX", alignmentPeriod = "60s" }, legend = "waiting" },
        { filter = "metric.type=\"${google_monitoring_metric_descriptor.queue["ivr/queue/departments_over_max"].type}\"", aggregation = { perSeriesAligner = "ALIGN_MAX", alignmentPeriod = "60s" }, legend = "departments over max" },
      ]
    },
    {
      title = "Longest wait / maximum, worst departments (above 1: over the maximum)"
      kind  = "LINE"
      series = [
        { filter = "metric.type=\"${google_monitoring_metric_descriptor.queue["ivr/queue/longest_wait_ratio"].type}\"", aggregation = { perSeriesAligner = "ALIGN_MAX", alignmentPeriod = "60s" }, legend = "$${metric.labels.department}" },
      ]
    },
    {
      title = "Call events: publish failures per second, oldest unpublished (s)"
      kind  = "LINE"
      series = [
        { filter = "metric.type=\"${local.log_metric_types["event_publish_failures"]}\"", aggregation = local.dashboard_rate, legend = "publish failures" },
        { filter = "metric.type=\"${local.outbox_oldest_type}\"", aggregation = { perSeriesAligner = "ALIGN_PERCENTILE_99", crossSeriesReducer = "REDUCE_MAX", alignmentPeriod = "300s" }, legend = "oldest unpublished" },
      ]
    },
  ]

  dashboard = {
    displayName = "IVR ${var.environment}: calls, webhooks, queues, events"
    labels      = { ivr = "" }
    mosaicLayout = {
      columns = 48
      tiles = concat(
        [for i, tile in local.dashboard_tiles : {
          xPos   = (i % 2) * 24
          yPos   = floor(i / 2) * 16
          width  = 24
          height = 16
          widget = {
            title = tile.title
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [for s in tile.series : {
                plotType           = tile.kind
                legendTemplate     = s.legend
                minAlignmentPeriod = "60s"
                targetAxis         = "Y1"
                timeSeriesQuery = {
                  timeSeriesFilter = { filter = s.filter, aggregation = s.aggregation }
                }
              }]
            }
          }
        }],
        [{
          # Success rate: completed (Twilio's "completed") / every final status. A scorecard, because
          # the ratio is the number people ask for first.
          xPos   = 0
          yPos   = ceil(length(local.dashboard_tiles) / 2) * 16
          width  = 24
          height = 12
          widget = {
            title = "Call success rate (completed / all final statuses), last hour"
            scorecard = {
              timeSeriesQuery = {
                timeSeriesFilterRatio = {
                  numerator = {
                    filter      = "metric.type=\"${local.log_metric_types["calls_completed"]}\" AND metric.label.call_status=\"completed\""
                    aggregation = { perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM", alignmentPeriod = "3600s" }
                  }
                  denominator = {
                    filter      = "metric.type=\"${local.log_metric_types["calls_completed"]}\""
                    aggregation = { perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM", alignmentPeriod = "3600s" }
                  }
                }
              }
              thresholds = [{ value = 0.9, color = "RED", direction = "BELOW" }]
            }
          }
        }],
      )
    }
  }
}

resource "google_monitoring_dashboard" "calls" {
  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard)

  depends_on = [google_project_service.apis]
}

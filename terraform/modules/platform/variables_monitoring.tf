variable "monitoring" {
  description = "Thresholds of the call monitoring alerts (monitoring_alerts.tf; docs/monitoring.md says what each one watches)."
  type = object({
    # failed flows: share of calls started in which the caller heard the fallback (webhook error,
    # budget overrun, Twilio on the fallback URL), over `window_seconds`
    failed_flow_ratio = optional(number, 0.02)
    # webhook p95 budget: Twilio waits at most 15 s for TwiML; callers hear silence long before that
    webhook_p95_budget_ms = optional(number, 1500)
    # volume spike: calls per minute above `volume_spike_factor` x the same 30 minutes of the three
    # previous weeks, and at least `volume_spike_min_per_minute` (a quiet night doubling is no spike)
    volume_spike_factor         = optional(number, 3)
    volume_spike_min_per_minute = optional(number, 10)
    # no events published for `no_events_minutes` while calls were started
    no_events_minutes = optional(number, 15)
    # the sweeper found an outbox row older than this
    unpublished_max_minutes = optional(number, 10)
    window_seconds          = optional(number, 300)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.monitoring.failed_flow_ratio > 0 && var.monitoring.failed_flow_ratio < 1
    error_message = "monitoring.failed_flow_ratio must be between 0 and 1."
  }

  validation {
    condition     = var.monitoring.webhook_p95_budget_ms > 0 && var.monitoring.webhook_p95_budget_ms < 15000
    error_message = "monitoring.webhook_p95_budget_ms must be positive and below Twilio's 15 s webhook timeout."
  }

  validation {
    condition     = var.monitoring.volume_spike_factor > 1 && var.monitoring.volume_spike_min_per_minute >= 0
    error_message = "monitoring.volume_spike_factor must be above 1 and volume_spike_min_per_minute not negative."
  }

  validation {
    condition     = var.monitoring.no_events_minutes >= 5 && var.monitoring.unpublished_max_minutes >= 1
    error_message = "monitoring.no_events_minutes must be at least 5 and unpublished_max_minutes at least 1."
  }

  validation {
    condition     = var.monitoring.window_seconds >= 60 && var.monitoring.window_seconds % 60 == 0
    error_message = "monitoring.window_seconds must be a whole number of minutes, at least 60."
  }
}

variable "queue_metrics_schedule" {
  description = "Cron schedule (UTC) of the queue depth and longest wait export (POST /api/monitoring/tasks/queue-metrics); null: no job."
  type        = string
  default     = "* * * * *"
}

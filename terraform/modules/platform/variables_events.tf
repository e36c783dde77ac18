variable "events_sweep_schedule" {
  description = "Cloud Scheduler cron (UTC) of the event sweeper, POST /api/events/sweep."
  type        = string
  default     = "* * * * *"
}

variable "events_sweep_older_than_seconds" {
  description = "The sweeper republishes outboxes holding an event older than this; longer than a dispatcher's publish and acknowledgement take."
  type        = number
  default     = 120

  validation {
    condition     = var.events_sweep_older_than_seconds >= 10 && var.events_sweep_older_than_seconds <= 86400
    error_message = "events_sweep_older_than_seconds must be from 10 to 86400."
  }
}

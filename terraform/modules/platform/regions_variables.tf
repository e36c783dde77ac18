# Multi-region serving of the voice webhooks (regions_webhooks.tf).

variable "webhook_regions" {
  description = "Regions besides var.region that also serve the Twilio webhooks (incoming_call, flow_step) behind the global load balancer: each gets both functions and a serverless NEG in the webhooks' backend services. Empty: the webhooks run in var.region only. Firestore must then be a multi-region location (nam5, eur3) so every region reads the same calls."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for r in var.webhook_regions : can(regex("^[a-z]+-[a-z]+[0-9]$", r))])
    error_message = "webhook_regions must be Cloud Functions regions such as europe-west1."
  }

  validation {
    condition     = length(distinct(var.webhook_regions)) == length(var.webhook_regions)
    error_message = "webhook_regions must not repeat a region."
  }
}

variable "webhook_threads" {
  description = "gunicorn threads per instance of the webhook functions in webhook_regions (functions-framework reads THREADS; its default is 4 per vCPU). Null: one per concurrent request (max_instance_request_concurrency), so no admitted request queues behind another's Firestore round trip."
  type        = number
  default     = null

  validation {
    condition     = var.webhook_threads == null ? true : var.webhook_threads >= 1 && var.webhook_threads <= 1000
    error_message = "webhook_threads must be between 1 and 1000."
  }
}

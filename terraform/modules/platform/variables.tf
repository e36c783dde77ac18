variable "project_id" {
  description = "Project that hosts the whole platform of one environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "environment" {
  description = "Environment name, exported to the functions as IVR_ENV (dev, staging, prod)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "Region of the functions, Cloud Tasks queues, serverless NEGs and source bucket."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of function, service account and load balancer names."
  type        = string
  default     = "ivr"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,7}$", var.name_prefix))
    error_message = "name_prefix must be 2-8 lower-case letters or digits, starting with a letter (service account ids are at most 30 characters)."
  }
}

variable "domain" {
  description = "Public host name of the HTTPS load balancer. PUBLIC_BASE_URL is https://<domain>, the single URL Twilio calls."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lower-case fully qualified host name without scheme, port or path."
  }
}

variable "twilio_account_sid" {
  description = "Account SID (AC...) of the platform's Twilio account, exported as TWILIO_ACCOUNT_SID. An identifier, not a secret: Twilio sends it with every webhook. Its auth token lives in Secret Manager."
  type        = string

  validation {
    condition     = can(regex("^AC[0-9a-f]{32}$", var.twilio_account_sid))
    error_message = "twilio_account_sid must be AC followed by 32 lower-case hexadecimal digits."
  }
}

variable "enable_subaccount_tokens" {
  description = "Also manage the secret twilio-subaccount-tokens (JSON {\"AC...\": \"token\"} for tenants on their own Twilio sub-accounts) and expose it as TWILIO_SUBACCOUNT_TOKENS. Add its first version before turning this on."
  type        = bool
  default     = false
  nullable    = false
}

variable "extra_environment" {
  description = "Extra non-secret settings for every function, e.g. IVR_CALL_TTL_HOURS, IVR_NUMBER_CACHE_SECONDS, IVR_FALLBACK_DIAL."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = alltrue([
      for key in keys(var.extra_environment) : can(regex("^IVR_[A-Z0-9_]+$", key)) && !can(regex("(TOKEN|SECRET|PEPPER|PASSWORD|KEY)", key))
    ])
    error_message = "extra_environment keys must be IVR_* settings; secrets go to Secret Manager, never here."
  }

  validation {
    condition = length(setintersection(keys(var.extra_environment), [
      "IVR_ENV", "IVR_STORE", "IVR_SECRETS", "IVR_REGION", "IVR_FUNCTION", "IVR_EVENTS_TOPIC",
      "IVR_TASKS", "IVR_TASKS_QUEUE", "IVR_TASKS_SERVICE_ACCOUNT", "IVR_TASKS_AUDIENCE",
      "IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT",
    ])) == 0
    error_message = "extra_environment cannot override variables the platform sets itself."
  }
}

variable "source_dir" {
  description = "Directory holding <function>.zip for every function (written by `python tools/stage_functions.py build`)."
  type        = string
  nullable    = false
}

variable "source_hashes" {
  description = "Optional content hashes of the zips keyed by function (for example from the staging tool); a missing key falls back to filemd5 of the zip."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "functions" {
  description = "Per-environment sizing of each function. Every function of the platform must be listed, so no environment deploys one by accident with default sizing."
  type = map(object({
    min_instances                    = optional(number, 0)
    max_instances                    = optional(number, 10)
    available_memory                 = optional(string, "512Mi")
    available_cpu                    = optional(string)
    timeout_seconds                  = optional(number, 60)
    max_instance_request_concurrency = optional(number, 80)
  }))

  validation {
    condition = (
      length(setsubtract(keys(var.functions), ["incoming_call", "flow_step", "deploy_flow", "route_department"])) == 0 &&
      length(setsubtract(["incoming_call", "flow_step", "deploy_flow", "route_department"], keys(var.functions))) == 0
    )
    error_message = "functions must have exactly the keys incoming_call, flow_step, deploy_flow and route_department."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.min_instances >= 0 && f.min_instances <= f.max_instances])
    error_message = "every function needs 0 <= min_instances <= max_instances."
  }
}

variable "lb_only_ingress" {
  description = "Let the public functions accept traffic only from the load balancer (ALLOW_INTERNAL_AND_GCLB), so https://<domain> is the only way in. False also allows their direct run.app URLs (ALLOW_ALL)."
  type        = bool
  default     = true
  nullable    = false
}

variable "firestore_location" {
  description = "Location of the Firestore database (a multi-region such as nam5 or eur3, or a region). It cannot be changed later."
  type        = string
  default     = "nam5"
  nullable    = false
}

variable "bigquery_location" {
  description = "Location of the ivr_analytics dataset."
  type        = string
  default     = "US"
  nullable    = false
}

variable "deletion_protection" {
  description = "Protect stateful resources (Firestore database, BigQuery table) from deletion. Keep true in prod."
  type        = bool
  default     = true
  nullable    = false
}

variable "enable_apis" {
  description = "Enable the Google APIs the platform needs. Set false when the project factory already does it."
  type        = bool
  default     = true
  nullable    = false
}

variable "notification_channels" {
  description = "Ids of existing Cloud Monitoring notification channels (projects/<p>/notificationChannels/<id>) that receive the alerts."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition = alltrue([
      for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))
    ])
    error_message = "notification_channels entries must look like projects/<project>/notificationChannels/<id>."
  }
}

variable "alerting" {
  description = "Alert thresholds: share of 5xx responses per function, and p99 latency of the Twilio webhook functions."
  type = object({
    error_ratio          = optional(number, 0.05)
    p99_latency_ms       = optional(number, 2000)
    duration_seconds     = optional(number, 300)
    auto_close_after_sec = optional(number, 86400)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.alerting.error_ratio > 0 && var.alerting.error_ratio < 1
    error_message = "alerting.error_ratio must be between 0 and 1."
  }

  validation {
    condition     = var.alerting.p99_latency_ms > 0
    error_message = "alerting.p99_latency_ms must be positive."
  }
}

variable "labels" {
  description = "Labels added to every labelled resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

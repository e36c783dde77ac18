variable "project_id" {
  description = "Google Cloud project of this environment."
  type        = string
}

variable "region" {
  description = "Region of the functions, queues and load balancer backends."
  type        = string
  default     = "us-central1"
}

variable "domain" {
  description = "Host name served by the HTTPS load balancer; PUBLIC_BASE_URL is https://<domain>."
  type        = string
}

variable "twilio_account_sid" {
  description = "Account SID (AC...) of the platform's Twilio account. Not a secret; the auth token is added to Secret Manager out-of-band."
  type        = string
}

variable "enable_subaccount_tokens" {
  description = "Manage the twilio-subaccount-tokens secret and expose it as TWILIO_SUBACCOUNT_TOKENS (add its first version before enabling)."
  type        = bool
  default     = false
}

variable "extra_environment" {
  description = "Extra non-secret IVR_* settings for every function (IVR_CALL_TTL_HOURS, IVR_FALLBACK_DIAL, ...)."
  type        = map(string)
  default     = {}
}

variable "source_dir" {
  description = "Directory with the <function>.zip files from `python tools/stage_functions.py build`. Null means <repo>/build."
  type        = string
  default     = null
}

variable "source_hashes" {
  description = "Optional content hashes of the zips keyed by function; missing ones are computed with filemd5."
  type        = map(string)
  default     = {}
}

variable "firestore_location" {
  description = "Firestore location (cannot be changed after creation)."
  type        = string
  default     = "nam5"
}

variable "bigquery_location" {
  description = "Location of the ivr_analytics dataset."
  type        = string
  default     = "US"
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channel ids (projects/<p>/notificationChannels/<id>)."
  type        = list(string)
  default     = []
}

variable "lb_only_ingress" {
  description = "Public functions accept traffic only through the load balancer."
  type        = bool
  default     = true
}

variable "webhook_regions" {
  description = "Regions besides var.region that also serve the Twilio webhooks behind the load balancer (docs/multi-region.md). us-east1 pairs with us-central1 inside nam5, where Firestore lives."
  type        = list(string)
  default     = ["us-east1"]
}

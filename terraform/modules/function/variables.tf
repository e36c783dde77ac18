variable "project_id" {
  description = "Project that hosts the function."
  type        = string
}

variable "region" {
  description = "Region of the function (and of its underlying Cloud Run service)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Cloud Functions region such as us-central1 or europe-west1."
  }
}

variable "name" {
  description = "Function name. It is also the name of the underlying Cloud Run service, so only lower-case letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{0,47}[a-z0-9]$", var.name))
    error_message = "name must be 2-49 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "description" {
  description = "Human-readable description of the function."
  type        = string
  default     = null
}

variable "bucket_name" {
  description = "GCS bucket that holds the zipped function sources."
  type        = string
}

variable "source_zip_path" {
  description = "Local path of the zip built by tools/stage_functions.py (build/<function>.zip)."
  type        = string

  validation {
    condition     = endswith(var.source_zip_path, ".zip")
    error_message = "source_zip_path must point to a .zip file."
  }
}

variable "source_hash" {
  description = "Content hash of the zip. Null computes filemd5(source_zip_path). It becomes part of the object name, so an unchanged zip never redeploys the function."
  type        = string
  default     = null

  validation {
    condition     = var.source_hash == null ? true : can(regex("^[0-9a-f]{8,128}$", var.source_hash))
    error_message = "source_hash must be a lower-case hexadecimal digest (md5, sha1 or sha256)."
  }
}

variable "function_config" {
  description = "Build and runtime settings of the function."
  type = object({
    entry_point                      = string
    runtime                          = optional(string, "python311")
    available_memory                 = optional(string, "512Mi")
    available_cpu                    = optional(string)
    timeout_seconds                  = optional(number, 60)
    min_instances                    = optional(number, 0)
    max_instances                    = optional(number, 10)
    max_instance_request_concurrency = optional(number, 80)
    ingress                          = optional(string, "ALLOW_ALL")
  })

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.function_config.entry_point))
    error_message = "function_config.entry_point must be a Python identifier."
  }

  validation {
    condition     = can(regex("^python3[0-9]+$", var.function_config.runtime))
    error_message = "function_config.runtime must be a Python runtime such as python311."
  }

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|M|G)$", var.function_config.available_memory))
    error_message = "function_config.available_memory must look like 512Mi or 1Gi."
  }

  validation {
    condition     = var.function_config.timeout_seconds >= 1 && var.function_config.timeout_seconds <= 3600
    error_message = "function_config.timeout_seconds must be between 1 and 3600 for HTTP functions."
  }

  validation {
    condition = (
      var.function_config.min_instances >= 0 &&
      var.function_config.max_instances >= 1 &&
      var.function_config.min_instances <= var.function_config.max_instances
    )
    error_message = "function_config needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }

  validation {
    condition = (
      var.function_config.max_instance_request_concurrency >= 1 &&
      var.function_config.max_instance_request_concurrency <= 1000
    )
    error_message = "function_config.max_instance_request_concurrency must be between 1 and 1000."
  }

  validation {
    condition = (
      var.function_config.available_cpu == null
      ? true
      : can(regex("^[0-9]+(\\.[0-9]+)?$", var.function_config.available_cpu))
    )
    error_message = "function_config.available_cpu must be a number of vCPUs such as \"1\" or \"0.583\"."
  }

  validation {
    # Cloud Run rejects concurrency > 1 on less than one vCPU.
    condition = (
      var.function_config.max_instance_request_concurrency == 1 || var.function_config.available_cpu == null
      ? true
      : try(tonumber(var.function_config.available_cpu) >= 1, false)
    )
    error_message = "function_config.available_cpu must be at least 1 when max_instance_request_concurrency is greater than 1."
  }

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.function_config.ingress)
    error_message = "function_config.ingress must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "environment_variables" {
  description = "Plain (non-secret) environment variables of the function."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = alltrue([
      for key in keys(var.environment_variables) : can(regex("^[A-Z_][A-Z0-9_]*$", key))
    ])
    error_message = "environment variable names must be upper-case letters, digits and underscores."
  }

  validation {
    condition = length(setintersection(
      keys(var.environment_variables),
      ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"],
    )) == 0
    error_message = "PORT, K_SERVICE, K_REVISION, K_CONFIGURATION, FUNCTION_TARGET and FUNCTION_SIGNATURE_TYPE are reserved by the runtime."
  }
}

variable "secret_environment_variables" {
  description = "Environment variables read from Secret Manager at instance start. secret is the secret id in the function's project."
  type = list(object({
    key     = string
    secret  = string
    version = optional(string, "latest")
  }))
  default  = []
  nullable = false

  validation {
    condition = alltrue([
      for s in var.secret_environment_variables : can(regex("^[A-Z_][A-Z0-9_]*$", s.key))
    ])
    error_message = "secret environment variable names must be upper-case letters, digits and underscores."
  }

  validation {
    condition = alltrue([
      for s in var.secret_environment_variables : can(regex("^[A-Za-z0-9_-]{1,255}$", s.secret))
    ])
    error_message = "secret must be a Secret Manager secret id, not a full resource name and never a secret value."
  }

  validation {
    condition = alltrue([
      for s in var.secret_environment_variables : can(regex("^(latest|[1-9][0-9]*)$", s.version))
    ])
    error_message = "version must be \"latest\" or a version number."
  }

  validation {
    condition     = length(distinct([for s in var.secret_environment_variables : s.key])) == length(var.secret_environment_variables)
    error_message = "secret environment variable names must be unique."
  }
}

variable "service_account_email" {
  description = "Runtime service account of the function (one per function, least privilege)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]+@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", var.service_account_email))
    error_message = "service_account_email must be a user-managed service account email."
  }
}

variable "build_service_account" {
  description = "Fully qualified service account (projects/<p>/serviceAccounts/<email>) Cloud Build uses to build the function. Null uses the project default."
  type        = string
  default     = null
}

variable "public" {
  description = "Grant allUsers roles/run.invoker on the underlying Cloud Run service. Needed for Twilio webhooks: Twilio cannot send a bearer token, so the request signature checked by the app is the gate."
  type        = bool
  default     = false
  nullable    = false
}

variable "labels" {
  description = "Labels of the function."
  type        = map(string)
  default     = {}
  nullable    = false
}

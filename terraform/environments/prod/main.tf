provider "google" {
  project = var.project_id
  region  = var.region
}

locals {
  environment = "prod"
  # Relative paths are resolved from the working directory (this directory).
  source_dir = coalesce(var.source_dir, "${path.root}/../../../build")
}

module "platform" {
  source = "../../modules/platform"

  project_id               = var.project_id
  environment              = local.environment
  region                   = var.region
  domain                   = var.domain
  twilio_account_sid       = var.twilio_account_sid
  enable_subaccount_tokens = var.enable_subaccount_tokens
  extra_environment        = var.extra_environment
  source_dir               = local.source_dir
  source_hashes            = var.source_hashes
  firestore_location       = var.firestore_location
  webhook_regions          = var.webhook_regions
  bigquery_location        = var.bigquery_location
  notification_channels    = var.notification_channels
  lb_only_ingress          = var.lb_only_ingress
  deletion_protection      = true

  # The Twilio webhooks keep one warm instance each: a cold start while a caller waits for TwiML
  # is heard as silence.
  functions = {
    incoming_call = {
      min_instances = 1
      max_instances = 50
    }
    flow_step = {
      min_instances = 1
      max_instances = 50
    }
    deploy_flow = {
      min_instances = 0
      max_instances = 3
    }
    route_department = {
      min_instances = 0
      max_instances = 20
    }
  }

  alerting = {
    error_ratio    = 0.02
    p99_latency_ms = 2000
  }
}

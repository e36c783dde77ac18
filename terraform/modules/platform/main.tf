data "google_project" "this" {
  project_id = var.project_id
}

locals {
  public_base_url = "https://${var.domain}"
  public_ingress  = var.lb_only_ingress ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"

  labels = merge(var.labels, {
    app         = "ivr"
    environment = var.environment
    managed-by  = "terraform"
  })

  # The functions of the platform: one per directory of functions/ in the repository. Entry points
  # are the Python functions the functions-framework serves. `routes` are the load balancer paths
  # that reach the function; a function without routes is not behind the load balancer.
  # `reads_tenant_tokens` / `writes_tenant_tokens`: access to the per-account Twilio auth token
  # secrets twilio-token-<AccountSid> (secrets.tf). Every function that checks a signature of, or
  # calls Twilio's REST API for, a tenant's account reads them; only the admin API writes them.
  functions = {
    incoming_call = {
      entry_point          = "incoming_call"
      description          = "Twilio voice webhooks: incoming call, call status callback and fallback."
      public               = true
      ingress              = local.public_ingress
      webhook              = true
      routes               = ["/webhook/voice/incoming", "/webhook/voice/status", "/webhook/voice/fallback"]
      publishes_events     = true
      enqueues_tasks       = true
      reads_tenant_tokens  = true
      writes_tenant_tokens = false
      extra_secrets        = []
    }
    flow_step = {
      entry_point          = "flow_step"
      description          = "Twilio voice webhook that runs the next step of a call flow."
      public               = true
      ingress              = local.public_ingress
      webhook              = true
      routes               = ["/webhook/voice/step", "/webhook/departments/*"]
      publishes_events     = true
      enqueues_tasks       = true
      reads_tenant_tokens  = true
      writes_tenant_tokens = false
      extra_secrets        = []
    }
    deploy_flow = {
      entry_point          = "deploy_flow"
      description          = "Admin API (/api/...) to deploy and roll back call flows; authenticated by API key in the app."
      public               = true
      ingress              = local.public_ingress
      webhook              = false
      routes               = ["/api/*", "/console", "/console/*"]
      publishes_events     = true
      enqueues_tasks       = true
      reads_tenant_tokens  = true
      writes_tenant_tokens = true
      extra_secrets = [
        { key = "IVR_API_KEY_PEPPER", secret = "ivr-admin-api-key-pepper" },
        { key = "IVR_PLATFORM_ADMIN_KEY", secret = "ivr-platform-admin-key" },
      ]
    }
    route_department = {
      entry_point = "route_department"
      description = "Department routing: POST /api/departments/route (API key) and the routing timers' task handlers /api/departments/tasks/* (Cloud Tasks OIDC token), both checked in the app."
      # Public at the IAM level because API-key callers come through the load balancer without a
      # Google identity; ingress always admits only the load balancer and internal sources.
      public               = true
      ingress              = "ALLOW_INTERNAL_AND_GCLB"
      webhook              = false
      routes               = ["/api/departments/route", "/api/departments/tasks/*"]
      publishes_events     = true
      enqueues_tasks       = true
      reads_tenant_tokens  = true
      writes_tenant_tokens = false
      extra_secrets        = []
    }
  }

  function_names = { for key, _ in local.functions : key => "${var.name_prefix}-${replace(key, "_", "-")}" }

  # Settings read by common/config.py (plus what the functions need to find the queues and topic).
  managed_environment = {
    GOOGLE_CLOUD_PROJECT      = var.project_id
    IVR_ENV                   = var.environment
    IVR_STORE                 = "firestore"
    IVR_SECRETS               = "secretmanager"
    PUBLIC_BASE_URL           = local.public_base_url
    IVR_REGION                = var.region
    IVR_EVENTS_TOPIC          = google_pubsub_topic.call_events.id
    IVR_TASKS                 = "cloudtasks"
    IVR_TASKS_QUEUE           = local.routing_timer_queue_ids
    IVR_TASKS_SERVICE_ACCOUNT = google_service_account.tasks_invoker.email
    IVR_TASKS_AUDIENCE        = local.public_base_url
    TWILIO_ACCOUNT_SID        = var.twilio_account_sid
  }
  # The managed settings win over extra_environment (which validation also keeps apart).
  # events_sweeper_environment (events_sweeper.tf): the one account the sweep endpoint accepts.
  common_environment = merge(var.extra_environment, local.managed_environment, local.events_sweeper_environment)

  # Secret values never pass through Terraform: only the secret containers are managed here and
  # versions are added out-of-band (see docs/terraform.md).
  base_secret_environment = [
    { key = "TWILIO_AUTH_TOKEN", secret = "twilio-auth-token" },
  ]
  common_secret_environment = concat(
    local.base_secret_environment,
    var.enable_subaccount_tokens ? [{ key = "TWILIO_SUBACCOUNT_TOKENS", secret = "twilio-subaccount-tokens" }] : [],
  )

  required_apis = [
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudtasks.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? toset(local.required_apis) : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

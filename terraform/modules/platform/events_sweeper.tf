# The event sweeper: every minute Cloud Scheduler POSTs PUBLIC_BASE_URL/api/events/sweep (served by
# deploy_flow, common/web/events_api.py), which republishes every outbox (calls, queue entries,
# agents) holding an event older than IVR_EVENTS_SWEEP_SECONDS: what the functions' dispatchers did
# not publish (an instance stopped between the write and the publish, Pub/Sub down, a publish that
# timed out). Republishing is idempotent: an event keeps its id and the views deduplicate by it.
# Each run logs one line (jsonPayload.kind = "events_sweep") with oldest_unpublished_seconds,
# republished and unpublished.
#
# The job signs its requests with an OIDC token of its own service account, events_sweeper (audience
# PUBLIC_BASE_URL). Least privilege: the account holds no role at all. Cloud Scheduler's service
# agent mints its tokens, deploy_flow is publicly invokable (the admin API comes through the load
# balancer with API keys) and checks the token itself: the sweep endpoint accepts exactly this
# account (IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT), and no other endpoint accepts it (the routing task
# endpoints take only the tasks' account). A retry is pointless (the next run is a minute away).

resource "google_service_account" "events_sweeper" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-events-sweeper"
  display_name = "IVR event sweeper (${var.environment})"
  description  = "Signs the OIDC tokens of the Cloud Scheduler job that calls POST /api/events/sweep; no roles."
}

locals {
  # Read by common/web/events_api.py: the one account whose tokens the sweep endpoint accepts.
  events_sweeper_environment = {
    IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT = google_service_account.events_sweeper.email
  }
}

resource "google_project_service" "cloudscheduler" {
  count = var.enable_apis ? 1 : 0

  project            = var.project_id
  service            = "cloudscheduler.googleapis.com"
  disable_on_destroy = false
}

resource "google_cloud_scheduler_job" "events_sweeper" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-events-sweeper"
  description      = "Republishes events left unpublished in call, queue entry and agent outboxes (POST /api/events/sweep)."
  schedule         = var.events_sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "120s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${local.public_base_url}/api/events/sweep?olderThanSeconds=${var.events_sweep_older_than_seconds}"

    oidc_token {
      service_account_email = google_service_account.events_sweeper.email
      audience              = local.public_base_url
    }
  }

  depends_on = [google_project_service.cloudscheduler]
}

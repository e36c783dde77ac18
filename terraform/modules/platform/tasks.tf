# Queue names cannot be reused for about 7 days after deletion, so this one is not prefixed per
# deployment: one project per environment.
#
# The routing timers: escalation steps of waiting callers and the periodic dispatch sweeps of
# departments. Each task POSTs to PUBLIC_BASE_URL/api/departments/tasks/<kind> with an OIDC token of
# the tasks service account (audience PUBLIC_BASE_URL), which route_department verifies. Delivery
# is at least once and task names are deterministic, so every handler is idempotent; a timer that
# still fails after its attempts is repaired by the next sweep.
locals {
  route_department_sizing = var.functions["route_department"]
}

resource "google_cloud_tasks_queue" "routing_timers" {
  project  = var.project_id
  name     = "routing-timers"
  location = var.region

  rate_limits {
    # Cloud Tasks' own ceiling per queue.
    max_dispatches_per_second = 500
    # No more requests in flight than route_department can serve: a 429 from a saturated function
    # would use up an attempt of a timer that was merely early.
    max_concurrent_dispatches = min(5000, local.route_department_sizing.max_instances * local.route_department_sizing.max_instance_request_concurrency)
  }

  # Retries 1 s, 2 s, 4 s, 8 s after the first attempt: a timer is due now, so retry soon, and give
  # up within seconds rather than act on a caller's state from minutes ago.
  retry_config {
    max_attempts  = 5
    min_backoff   = "1s"
    max_backoff   = "60s"
    max_doublings = 4
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}

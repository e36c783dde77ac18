# Queue names cannot be reused for about 7 days after deletion, so these are not prefixed per
# deployment: one project per environment.

# Routes a caller to a department while they are on the line: fast retries over a short window,
# because a task that succeeds after the caller hung up is useless.
resource "google_cloud_tasks_queue" "department_dispatch" {
  project  = var.project_id
  name     = "department-dispatch"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 50
    max_concurrent_dispatches = 100
  }

  retry_config {
    max_attempts       = 5
    max_retry_duration = "60s"
    min_backoff        = "0.5s"
    max_backoff        = "5s"
    max_doublings      = 3
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}

# Escalations (callbacks, supervisor notifications) may wait: slower, longer retries.
resource "google_cloud_tasks_queue" "escalation" {
  project  = var.project_id
  name     = "escalation"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 10
    max_concurrent_dispatches = 20
  }

  retry_config {
    max_attempts       = 10
    max_retry_duration = "3600s"
    min_backoff        = "5s"
    max_backoff        = "300s"
    max_doublings      = 5
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}

# Queue depth and longest wait per department: gauges written to Cloud Monitoring once a minute by
# POST /api/monitoring/tasks/queue-metrics (common/service/queue_metrics.py), started by Cloud
# Scheduler with an OIDC token of the tasks' service account, through the load balancer to
# deploy_flow (the handler accepts that token only, like the routing timers).
# The descriptors are declared here so that alerts and dashboards can name the metrics before the
# first point is written, and so that their labels stay what the exporter writes: one label,
# department = "<tenant>/<department>" for the worst TOP departments, or "all" (bounded series).

locals {
  queue_gauges = {
    "ivr/queue/waiting_callers"      = { value_type = "INT64", unit = "1", description = "Callers waiting in the department's queue." }
    "ivr/queue/longest_wait_seconds" = { value_type = "DOUBLE", unit = "s", description = "Longest current wait of a caller on hold in the department." }
    "ivr/queue/longest_wait_ratio"   = { value_type = "DOUBLE", unit = "1", description = "Longest current wait / the department's max_wait_seconds (above 1: over its maximum)." }
    "ivr/queue/departments_over_max" = { value_type = "INT64", unit = "1", description = "Departments whose longest current wait is above their maximum (all of them, not only the exported ones)." }
  }
  queue_metrics_url = "${local.public_base_url}/api/monitoring/tasks/queue-metrics"
}

resource "google_monitoring_metric_descriptor" "queue" {
  for_each = local.queue_gauges

  project      = var.project_id
  type         = "custom.googleapis.com/${each.key}"
  display_name = "IVR ${replace(trimprefix(each.key, "ivr/queue/"), "_", " ")}"
  description  = each.value.description
  metric_kind  = "GAUGE"
  value_type   = each.value.value_type
  unit         = each.value.unit

  dynamic "labels" {
    for_each = each.key == "ivr/queue/departments_over_max" ? [] : ["department"]
    content {
      key         = labels.value
      value_type  = "STRING"
      description = "<tenant>/<department> for the worst departments of the run, or all"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_cloud_scheduler_job" "queue_metrics" {
  count = var.queue_metrics_schedule != null ? 1 : 0

  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-queue-metrics"
  description      = "Queue depth and longest wait per department to Cloud Monitoring (POST /api/monitoring/tasks/queue-metrics)."
  schedule         = var.queue_metrics_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  # A missed minute is not retried: the next run writes fresher gauges than a retry would.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = local.queue_metrics_url

    oidc_token {
      service_account_email = google_service_account.tasks_invoker.email
      audience              = local.public_base_url
    }
  }

  # Cloud Scheduler is enabled with the event sweeper (events_sweeper.tf).
  depends_on = [google_project_service.apis, google_project_service.cloudscheduler]
}

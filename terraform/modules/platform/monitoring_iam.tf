# What deploy_flow needs of Cloud Monitoring and BigQuery: it serves the queue-metrics task (writes
# the queue gauges, common/adapters/metrics.py), GET /api/reports/webhooks (reads the log-based
# metrics' time series, common/reports/webhook_metrics.py) and the other /api/reports/* (queries the
# report views, common/reports/bigquery.py). Cloud Monitoring's roles and BigQuery's jobUser have no
# narrower binding point than the project; reading the views is granted on the dataset only (the
# views and the table they read live there). The webhooks' functions get none of it.

resource "google_project_iam_member" "deploy_flow_metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.function["deploy_flow"].email}"
}

resource "google_project_iam_member" "deploy_flow_monitoring_viewer" {
  project = var.project_id
  role    = "roles/monitoring.viewer"
  member  = "serviceAccount:${google_service_account.function["deploy_flow"].email}"
}

resource "google_project_iam_member" "deploy_flow_bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.function["deploy_flow"].email}"
}

resource "google_bigquery_dataset_iam_member" "deploy_flow_reports_reader" {
  project    = google_bigquery_dataset.analytics.project
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.function["deploy_flow"].email}"
}

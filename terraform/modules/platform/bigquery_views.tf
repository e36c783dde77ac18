# Report views over ivr_analytics.call_events: billing, cost per flow, per-node funnels, department
# queues and call volume. Each view is one file of sql/ (BigQuery Standard SQL); the files name what
# they read as `${project}.${dataset}.NAME`, filled in here with the module's own dataset. The same files are
# transpiled to DuckDB by the local reports and their tests (common/reports/sql.py, tests/reports/),
# so what is deployed is what is tested. docs/reports.md describes every column.
#
# BigQuery checks a view's query when the view is created, so views are created layer by layer: a
# view after the views it reads (tests/terraform/test_terraform_views.py checks the layers against the
# references in the files). deletion_protection is on, as checkov asks of every table: to rename or
# drop a view, set it to false and apply first (a view holds no data; recreating one loses nothing).

locals {
  report_sql_vars = {
    project = google_bigquery_dataset.analytics.project
    dataset = google_bigquery_dataset.analytics.dataset_id
  }

  # Layer 0: read only the table (or nothing).
  report_views_base = {
    call_events_unique = "Call events, each exactly once: duplicates (same event_id) removed."
    platform_prices    = "Dated price table (USD list prices, with sources) every report cost is computed with."
  }

  # Layer 1: read layer 0.
  report_views_calls = {
    call_costs         = "One row per call: month, billable minutes, counted operations, Twilio pass-through and platform cost."
    node_funnel        = "Per flow version and node: entered, callers, left, hung up, ended, time spent."
    node_outcomes      = "Per flow version, node and outcome: how callers left the node, and time spent."
    queue_hourly       = "Per department and UTC hour: offered, answered, abandoned, service level, average and p90 wait."
    call_volume_hourly = "Per tenant, flow and UTC hour: calls started, completed, failed (fallback, engine guard, unhandled outcome), success rate."
  }

  # Layer 2: read layer 1.
  report_views_summaries = {
    billing_monthly   = "Per tenant and UTC month: calls, billable minutes, webhook steps, HTTP requests, recordings, transfers, costs."
    flow_costs        = "Per tenant, month, flow and version: calls and what they cost, in total and per call."
    call_volume_daily = "Per tenant, flow and UTC day: call_volume_hourly rolled up, success rate recomputed from the day's counts."
  }
}

resource "google_bigquery_table" "report_view_base" {
  #checkov:skip=CKV_GCP_80:A view stores no data to encrypt (BigQuery refuses an encryption configuration on a view); the table it reads is the call_events table.
  for_each = local.report_views_base

  project             = google_bigquery_dataset.analytics.project
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = each.key
  description         = each.value
  labels              = local.labels
  deletion_protection = true # Terraform's guard only: a changed query is updated in place

  view {
    query          = templatefile("${path.module}/sql/${each.key}.sql", local.report_sql_vars)
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.call_events]
}

resource "google_bigquery_table" "report_view_calls" {
  #checkov:skip=CKV_GCP_80:A view stores no data to encrypt (BigQuery refuses an encryption configuration on a view); the table it reads is the call_events table.
  for_each = local.report_views_calls

  project             = google_bigquery_dataset.analytics.project
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = each.key
  description         = each.value
  labels              = local.labels
  deletion_protection = true # Terraform's guard only: a changed query is updated in place

  view {
    query          = templatefile("${path.module}/sql/${each.key}.sql", local.report_sql_vars)
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.report_view_base]
}

resource "google_bigquery_table" "report_view_summaries" {
  #checkov:skip=CKV_GCP_80:A view stores no data to encrypt (BigQuery refuses an encryption configuration on a view); the table it reads is the call_events table.
  for_each = local.report_views_summaries

  project             = google_bigquery_dataset.analytics.project
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = each.key
  description         = each.value
  labels              = local.labels
  deletion_protection = true # Terraform's guard only: a changed query is updated in place

  view {
    query          = templatefile("${path.module}/sql/${each.key}.sql", local.report_sql_vars)
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.report_view_calls]
}

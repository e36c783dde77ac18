# Call events: the functions publish one JSON message per event to call-events; a BigQuery
# subscription streams them into ivr_analytics.call_events using the table's own schema, so the
# message's top-level keys are the column names (see schemas/call_events.json). Messages BigQuery
# rejects go to the dead-letter topic instead of blocking the subscription.

resource "google_pubsub_topic" "call_events" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption at rest: customer-managed keys would put Cloud KMS on the path of every call event published by the webhooks, and nothing requires customer-held keys.
  project                    = var.project_id
  name                       = "call-events"
  labels                     = local.labels
  message_retention_duration = "86400s"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "call_events_dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption at rest: customer-managed keys would put Cloud KMS on the path of every call event dead-lettered, and nothing requires customer-held keys.
  project                    = var.project_id
  name                       = "call-events-dead-letter"
  labels                     = local.labels
  message_retention_duration = "604800s"

  depends_on = [google_project_service.apis]
}

# Keeps dead-lettered messages for inspection and replay (a topic alone stores nothing).
resource "google_pubsub_subscription" "call_events_dead_letter" {
  project                    = var.project_id
  name                       = "call-events-dead-letter-hold"
  topic                      = google_pubsub_topic.call_events_dead_letter.id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

resource "google_bigquery_dataset" "analytics" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption at rest: customer-managed keys would put Cloud KMS on the path of every call event written to BigQuery, and nothing requires customer-held keys.
  project                    = var.project_id
  dataset_id                 = "ivr_analytics"
  friendly_name              = "IVR analytics"
  description                = "Call events of the IVR platform, streamed from Pub/Sub."
  location                   = var.bigquery_location
  labels                     = local.labels
  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.apis]
}

# Always protected, in dev too: the events are the billing record. Destroying an environment
# means setting deletion_protection = false here and applying before terraform destroy.
resource "google_bigquery_table" "call_events" {
  #checkov:skip=CKV_GCP_80:Google-managed encryption at rest: customer-managed keys would put Cloud KMS on the path of every call event written to BigQuery, and nothing requires customer-held keys.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = "call_events"
  description         = "One row per call event (call started, node entered, transfer, call completed...)."
  schema              = file("${path.module}/schemas/call_events.json")
  clustering          = ["tenant_id", "type"]
  labels              = local.labels
  deletion_protection = true

  time_partitioning {
    type  = "DAY"
    field = "occurred_at"
  }
}

resource "google_bigquery_table_iam_member" "pubsub_writer" {
  project    = var.project_id
  dataset_id = google_bigquery_table.call_events.dataset_id
  table_id   = google_bigquery_table.call_events.table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.call_events_dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "call_events_bigquery" {
  project              = var.project_id
  name                 = "call-events-to-bigquery"
  topic                = google_pubsub_topic.call_events.id
  labels               = local.labels
  ack_deadline_seconds = 60

  bigquery_config {
    table               = "${google_bigquery_table.call_events.project}.${google_bigquery_table.call_events.dataset_id}.${google_bigquery_table.call_events.table_id}"
    use_table_schema    = true
    drop_unknown_fields = true
    write_metadata      = false
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.call_events_dead_letter.id
    max_delivery_attempts = 10
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_bigquery_table_iam_member.pubsub_writer,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.call_events_bigquery.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

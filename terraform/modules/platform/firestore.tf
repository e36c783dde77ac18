resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.deletion_protection ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.apis]
}

# Call state documents carry expires_at; Firestore deletes them (usually within 24 h) once it has
# passed. The single-field indexes of expires_at are left as inherited: call volume is far below the
# rate at which an index on a monotonically increasing timestamp hotspots.
resource "google_firestore_field" "calls_ttl" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "calls"
  field      = "expires_at"

  ttl_config {}
}

locals {
  # Composite indexes of the queries the app runs (common/adapters/firestore.py). The deployment
  # history is read newest-first from tenants/{t}/deployments (a single-field index, automatic) and
  # filtered in the service, so it needs none.
  firestore_indexes = {
    # Stale-call sweep: calls where status == "active" and expires_at <= now.
    calls_expiry = {
      collection = "calls"
      fields = [
        { field_path = "status", order = "ASCENDING" },
        { field_path = "expires_at", order = "ASCENDING" },
      ]
    }
  }
}

resource "google_firestore_index" "this" {
  for_each = local.firestore_indexes

  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields

    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}

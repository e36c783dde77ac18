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

# calls.updated_at changes on every webhook step and rises monotonically: its automatic single-field
# index would take every step's write as a sequential index entry (about 730 a second at the
# capacity plan's peak, past the ~500/s such an index sustains; docs/capacity.md). No query orders or
# filters calls by it, so it is not indexed. An empty index_config removes the automatic indexes.
resource "google_firestore_field" "calls_updated_at" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "calls"
  field      = "updated_at"

  index_config {}
}

# Department queue entries (tenants/{t}/departments/{d}/entries/{e}) carry expires_at too, so an
# entry whose call ended without a callback does not stay forever if the sweep misses it.
resource "google_firestore_field" "entries_ttl" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "entries"
  field      = "expires_at"

  ttl_config {}
}

# The routing store finds a call's entries across departments with a collection group query on
# call_sid. Firestore keeps single-field indexes automatically for collection scope only, so the
# collection group one is declared here (with the two automatic ones, which an override replaces).
resource "google_firestore_field" "entries_call_sid" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "entries"
  field      = "call_sid"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "DESCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

locals {
  # Composite indexes of the queries the app runs (common/adapters/firestore.py and
  # routing_firestore.py). The deployment history is read newest-first from
  # tenants/{t}/deployments (a single-field index, automatic) and filtered in the service, so it
  # needs none. Each field has either an order or array_config = "CONTAINS".
  firestore_indexes = {
    # Stale-call sweep: calls where status == "active" and expires_at <= now.
    calls_expiry = {
      collection  = "calls"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "status", order = "ASCENDING", array_config = null },
        { field_path = "expires_at", order = "ASCENDING", array_config = null },
      ]
    }
    # A department's waiting line (tenants/{t}/departments/{d}/entries): status == "waiting",
    # highest priority first, then earliest arrival (then document id, implicitly).
    queue_waiting_line = {
      collection  = "entries"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "status", order = "ASCENDING", array_config = null },
        { field_path = "priority", order = "DESCENDING", array_config = null },
        { field_path = "arrived_at", order = "ASCENDING", array_config = null },
      ]
    }
    # Agents of a department in a given status. Tiers live in a map, which array-contains cannot
    # query, so agents carry the flat list department_ids. One index for the tenant's own
    # collection (tenants/{t}/agents, the dispatcher's query), one for collection group queries
    # across tenants.
    agents_by_department_status = {
      collection  = "agents"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "department_ids", order = null, array_config = "CONTAINS" },
        { field_path = "status", order = "ASCENDING", array_config = null },
      ]
    }
    agents_by_department_status_all_tenants = {
      collection  = "agents"
      query_scope = "COLLECTION_GROUP"
      fields = [
        { field_path = "department_ids", order = null, array_config = "CONTAINS" },
        { field_path = "status", order = "ASCENDING", array_config = null },
      ]
    }
  }
}

resource "google_firestore_index" "this" {
  for_each = local.firestore_indexes

  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = each.value.collection
  query_scope = each.value.query_scope

  dynamic "fields" {
    for_each = each.value.fields

    content {
      field_path   = fields.value.field_path
      order        = fields.value.order
      array_config = fields.value.array_config
    }
  }
}

# The console's call list (FirestoreStore.list_calls): a tenant's calls newest first, optionally only
# active or only ended ones. Kept apart from local.firestore_indexes, which lists the routing queries.
locals {
  call_list_indexes = {
    calls_by_tenant = [
      { field_path = "tenant_id", order = "ASCENDING" },
      { field_path = "created_at", order = "DESCENDING" },
    ]
    calls_by_tenant_status = [
      { field_path = "tenant_id", order = "ASCENDING" },
      { field_path = "status", order = "ASCENDING" },
      { field_path = "created_at", order = "DESCENDING" },
    ]
  }
}

resource "google_firestore_index" "call_list" {
  for_each = local.call_list_indexes

  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "calls"
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value

    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}

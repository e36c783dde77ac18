# The routing outbox: queue and agent events wait in their queue entry or agent document (fields
# outbox and outbox_since) until published (common/service/queue_events_store.py). The sweeper finds
# them with collection group queries, outbox_since <= now - N ordered by outbox_since, over
# "entries" (tenants/{t}/departments/{d}/entries) and "agents" (tenants/{t}/agents). Firestore keeps
# single-field indexes automatically for collection scope only, so the collection group ones are
# declared here, with the collection scope ones an override replaces. outbox_since is set only while
# events wait (cleared by the acknowledgement), so its index does not take every routing write.
#
# The outbox itself (an array of event maps) is never queried: its automatic indexes would take an
# index entry per attribute of every event of every routing write, so they are removed.

locals {
  routing_outbox_collections = toset(["entries", "agents"])
}

resource "google_firestore_field" "routing_outbox_since" {
  for_each = local.routing_outbox_collections

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value
  field      = "outbox_since"

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

resource "google_firestore_field" "routing_outbox_unindexed" {
  for_each = local.routing_outbox_collections

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value
  field      = "outbox"

  index_config {}
}

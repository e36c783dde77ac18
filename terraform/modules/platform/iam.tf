# One runtime service account per function, each with only what that function needs. Grants are on
# the individual topic, queue and secret wherever the API allows it, and at project level only for
# Firestore (roles/datastore.user has no narrower binding point).

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = local.function_names[each.key]
  display_name = "IVR ${each.key} (${var.environment})"
  description  = "Runtime identity of the ${each.key} Cloud Function."

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "function_datastore_user" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_pubsub_topic_iam_member" "function_event_publisher" {
  for_each = { for key, f in local.functions : key => f if f.publishes_events }

  project = var.project_id
  topic   = google_pubsub_topic.call_events.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Identity of the routing timers' OIDC tokens (Cloud Tasks signs them as this account); it may
# invoke nothing but route_department, and route_department accepts task requests only with its
# token (checked in the app: email, audience PUBLIC_BASE_URL).
resource "google_service_account" "tasks_invoker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-tasks-invoker"
  display_name = "IVR Cloud Tasks invoker (${var.environment})"
  description  = "Signs the OIDC tokens of the routing timer tasks that call route_department."

  depends_on = [google_project_service.apis]
}

# route_department is also publicly invokable (POST /api/departments/route comes through the load
# balancer with an API key, which Cloud Run IAM cannot check), so today this binding adds nothing;
# it is what keeps the timers working if that route ever moves and the function becomes private.
resource "google_cloud_run_service_iam_member" "tasks_invoke_route_department" {
  project  = var.project_id
  location = var.region
  service  = module.functions["route_department"].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.tasks_invoker.email}"
}

locals {
  task_queues = {
    for i, queue in google_cloud_tasks_queue.routing_timers : "routing_timers_${i}" => queue.name
  }

  task_enqueue_grants = merge([
    for fn, f in local.functions : {
      for queue, queue_name in local.task_queues : "${fn}/${queue}" => {
        function = fn
        queue    = queue_name
      }
    } if f.enqueues_tasks
  ]...)
}

resource "google_cloud_tasks_queue_iam_member" "function_enqueuer" {
  for_each = local.task_enqueue_grants

  project  = var.project_id
  location = var.region
  name     = each.value.queue
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Creating a task with an OIDC token for the invoker account needs actAs on that account.
resource "google_service_account_iam_member" "function_acts_as_tasks_invoker" {
  for_each = { for key, f in local.functions : key => f if f.enqueues_tasks }

  service_account_id = google_service_account.tasks_invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Cloud Functions (gen 2) builds run as this account instead of the default compute account, which
# newer projects no longer grant build permissions to.
resource "google_service_account" "function_builder" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-function-builder"
  display_name = "IVR function builder (${var.environment})"
  description  = "Cloud Build identity that builds the Cloud Functions images."

  depends_on = [google_project_service.apis]
}

# The roles Google documents for a user-specified build service account of functions: build logs,
# the built image in Artifact Registry, the source and build objects in Cloud Storage. Not
# roles/cloudbuild.builds.builder: it also lets code running in a build start other builds (and so
# act as other build identities), which a function build never needs.
resource "google_project_iam_member" "function_builder" {
  for_each = toset([
    "roles/artifactregistry.writer",
    "roles/logging.logWriter",
    "roles/storage.objectAdmin",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.function_builder.email}"
}

# Pub/Sub's service agent writes the BigQuery subscription and forwards undeliverable messages.
locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

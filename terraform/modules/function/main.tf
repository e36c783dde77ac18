locals {
  # The object name carries the content hash of the zip: a function whose zip did not change keeps
  # the same object name, so Terraform sees no diff and does not rebuild or redeploy it. This relies
  # on tools/stage_functions.py writing reproducible zips (sorted entries, fixed timestamps).
  # (A conditional only reports errors of the branch it takes, so filemd5 is not evaluated when a
  # hash is passed in.)
  source_hash = var.source_hash != null ? var.source_hash : filemd5(var.source_zip_path)
  object_name = "functions/${var.name}/${local.source_hash}.zip"

  # Concurrency > 1 needs at least one vCPU. With concurrency 1 the platform derives the CPU from
  # the memory size unless one is given.
  available_cpu = (
    var.function_config.available_cpu != null
    ? var.function_config.available_cpu
    : (var.function_config.max_instance_request_concurrency > 1 ? "1" : null)
  )

  # The platform injects LOG_EXECUTION_ID into every gen 2 function; declaring it avoids a
  # permanent plan diff. The caller can still override it.
  environment_variables = merge({ LOG_EXECUTION_ID = "true" }, var.environment_variables)
}

resource "google_storage_bucket_object" "source" {
  name         = local.object_name
  bucket       = var.bucket_name
  source       = var.source_zip_path
  content_type = "application/zip"
}

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = var.description
  labels      = var.labels

  build_config {
    runtime         = var.function_config.runtime
    entry_point     = var.function_config.entry_point
    service_account = var.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket_object.source.bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = var.function_config.available_memory
    available_cpu                    = local.available_cpu
    timeout_seconds                  = var.function_config.timeout_seconds
    min_instance_count               = var.function_config.min_instances
    max_instance_count               = var.function_config.max_instances
    max_instance_request_concurrency = var.function_config.max_instance_request_concurrency
    ingress_settings                 = var.function_config.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = var.service_account_email
    environment_variables            = local.environment_variables

    dynamic "secret_environment_variables" {
      for_each = var.secret_environment_variables
      iterator = secret_env

      content {
        key        = secret_env.value.key
        project_id = var.project_id
        secret     = secret_env.value.secret
        version    = secret_env.value.version
      }
    }
  }

  lifecycle {
    precondition {
      condition = length(setintersection(
        keys(var.environment_variables),
        [for s in var.secret_environment_variables : s.key],
      )) == 0
      error_message = "A variable cannot be both a plain and a secret environment variable."
    }
  }
}

# Gen 2 functions are served by a Cloud Run service of the same name; invocation is gated by
# roles/run.invoker on that service, not by the Cloud Functions invoker role.
resource "google_cloud_run_service_iam_member" "public_invoker" {
  #checkov:skip=CKV_GCP_102:Twilio cannot send a bearer token, so the webhook functions must be publicly invokable: the X-Twilio-Signature check in the app is the gate. The other public functions are reached through the load balancer by callers without a Google identity and authenticate in the app (API keys, Cloud Tasks OIDC tokens); ingress keeps the direct URLs closed.
  count = var.public ? 1 : 0

  project  = var.project_id
  location = google_cloudfunctions2_function.this.location
  service  = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

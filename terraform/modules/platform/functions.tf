resource "google_storage_bucket" "function_sources" {
  #checkov:skip=CKV_GCP_62:Holds only the function zips built from the repository (no caller data); usage logs would need a second bucket for no investigative value, and changes to the bucket and its IAM are in the Admin Activity audit logs.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-function-sources"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = local.labels

  versioning {
    enabled = true
  }

  # Objects are content-addressed (the hash is in the name), so old ones only matter for rollback.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

module "functions" {
  source   = "../function"
  for_each = local.functions

  project_id            = var.project_id
  region                = var.region
  name                  = local.function_names[each.key]
  description           = each.value.description
  bucket_name           = google_storage_bucket.function_sources.name
  source_zip_path       = "${var.source_dir}/${each.key}.zip"
  source_hash           = lookup(var.source_hashes, each.key, null)
  service_account_email = google_service_account.function[each.key].email
  build_service_account = google_service_account.function_builder.id
  public                = each.value.public
  labels                = merge(local.labels, { function = replace(each.key, "_", "-") })

  function_config = {
    entry_point                      = each.value.entry_point
    runtime                          = "python311"
    available_memory                 = var.functions[each.key].available_memory
    available_cpu                    = var.functions[each.key].available_cpu
    timeout_seconds                  = var.functions[each.key].timeout_seconds
    min_instances                    = var.functions[each.key].min_instances
    max_instances                    = var.functions[each.key].max_instances
    max_instance_request_concurrency = var.functions[each.key].max_instance_request_concurrency
    ingress                          = each.value.ingress
  }

  environment_variables = merge(local.common_environment, {
    IVR_FUNCTION = each.key
  })

  secret_environment_variables = [
    for s in concat(local.common_secret_environment, each.value.extra_secrets) : {
      key     = s.key
      secret  = google_secret_manager_secret.this[s.secret].secret_id
      version = "latest"
    }
  ]

  depends_on = [
    google_project_iam_member.function_builder,
    google_project_iam_member.function_datastore_user,
    google_secret_manager_secret_iam_member.function_accessor,
    google_firestore_database.this,
  ]
}

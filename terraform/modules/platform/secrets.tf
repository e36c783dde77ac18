# Secret containers only. There is deliberately no google_secret_manager_secret_version anywhere in
# this configuration: a version's payload would be stored in plain text in the Terraform state.
# Values are added out-of-band with `gcloud secrets versions add` (see docs/terraform.md).

locals {
  secrets = {
    "twilio-auth-token"        = "Twilio auth token; the webhooks validate X-Twilio-Signature with it."
    "ivr-admin-api-key-pepper" = "Pepper mixed into the hashes of admin API keys checked by deploy_flow."
  }
  optional_secrets = var.enable_subaccount_tokens ? {
    "twilio-subaccount-tokens" = "JSON map of Twilio sub-account SID to auth token, for tenants on their own sub-accounts."
  } : {}
  managed_secrets = merge(local.secrets, local.optional_secrets)

  # Which runtime service accounts may read which secret.
  secret_accessors = merge(concat(
    [
      for fn, _ in local.functions : {
        for s in local.common_secret_environment : "${s.secret}/${fn}" => { secret = s.secret, function = fn }
      }
    ],
    [
      for fn, f in local.functions : {
        for s in f.extra_secrets : "${s.secret}/${fn}" => { secret = s.secret, function = fn }
      }
    ],
  )...)
}

resource "google_secret_manager_secret" "this" {
  for_each = local.managed_secrets

  project   = var.project_id
  secret_id = each.key
  labels    = local.labels

  annotations = {
    description = each.value
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "function_accessor" {
  for_each = local.secret_accessors

  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

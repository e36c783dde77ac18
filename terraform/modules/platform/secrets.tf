# Secret containers only. There is deliberately no google_secret_manager_secret_version anywhere in
# this configuration: a version's payload would be stored in plain text in the Terraform state.
# Values are added out-of-band with `gcloud secrets versions add` (see docs/terraform.md).

locals {
  secrets = {
    "twilio-auth-token"        = "Twilio auth token; the webhooks validate X-Twilio-Signature with it."
    "ivr-admin-api-key-pepper" = "Pepper mixed into the hashes of admin API keys checked by deploy_flow."
    "ivr-platform-admin-key"   = "Platform administration key of /api/platform/... (tenants and their Twilio accounts), checked by deploy_flow."
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

# Tenants' Twilio auth tokens: one secret per linked account, twilio-token-<AccountSid>, created and
# versioned at run time by the admin API (deploy_flow) when a tenant is linked or relinked, read by
# the functions that check that account's signatures or call Twilio for it. The secrets are not
# managed here (they come and go with tenants), so the grants are project-level bindings limited
# by an IAM condition to that name prefix. Secret Manager names resources by project number in
# IAM conditions, and a version's name (.../secrets/<id>/versions/<n>) starts with its secret's.
locals {
  tenant_token_secret_prefix = "twilio-token-"
  tenant_token_condition     = "resource.name.startsWith(\"projects/${data.google_project.this.number}/secrets/${local.tenant_token_secret_prefix}\")"
}

resource "google_project_iam_member" "tenant_token_accessor" {
  for_each = { for key, f in local.functions : key => f if f.reads_tenant_tokens }

  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"

  condition {
    title       = "twilio-token secrets only"
    description = "Only the per-account Twilio auth tokens (${local.tenant_token_secret_prefix}<AccountSid>)."
    expression  = local.tenant_token_condition
  }
}

resource "google_project_iam_member" "tenant_token_version_adder" {
  for_each = { for key, f in local.functions : key => f if f.writes_tenant_tokens }

  project = var.project_id
  role    = "roles/secretmanager.secretVersionAdder"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"

  condition {
    title       = "twilio-token secrets only"
    description = "Add versions (token rotation) only to ${local.tenant_token_secret_prefix}<AccountSid> secrets."
    expression  = local.tenant_token_condition
  }
}

# Creating a secret is authorised on the project (the secret does not exist yet), so no condition
# on the secret's name can apply to it: a binding conditioned on the prefix would refuse every
# create. The role holds that one permission and nothing else, so the admin API can create empty
# secrets of any name, but read or version only the twilio-token-* ones (the bindings above).
resource "google_project_iam_custom_role" "tenant_token_secret_creator" {
  project     = var.project_id
  role_id     = "${var.name_prefix}TenantTokenSecretCreator"
  title       = "IVR tenant token secret creator (${var.environment})"
  description = "Create the ${local.tenant_token_secret_prefix}<AccountSid> secrets of linked Twilio accounts; versions are added under a separate, conditioned grant."
  permissions = ["secretmanager.secrets.create"]

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "tenant_token_secret_creator" {
  for_each = { for key, f in local.functions : key => f if f.writes_tenant_tokens }

  project = var.project_id
  role    = google_project_iam_custom_role.tenant_token_secret_creator.id
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Unlinking an account (a tenant relinked to another one) deletes that account's token secret, so
# no token outlives its link. Deleting is authorised on the secret itself, so the name condition
# applies: only twilio-token-* secrets can be deleted.
resource "google_project_iam_custom_role" "tenant_token_secret_deleter" {
  project     = var.project_id
  role_id     = "${var.name_prefix}TenantTokenSecretDeleter"
  title       = "IVR tenant token secret deleter (${var.environment})"
  description = "Delete the ${local.tenant_token_secret_prefix}<AccountSid> secret of an unlinked Twilio account."
  permissions = ["secretmanager.secrets.delete"]

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "tenant_token_secret_deleter" {
  for_each = { for key, f in local.functions : key => f if f.writes_tenant_tokens }

  project = var.project_id
  role    = google_project_iam_custom_role.tenant_token_secret_deleter.id
  member  = "serviceAccount:${google_service_account.function[each.key].email}"

  condition {
    title       = "twilio-token secrets only"
    description = "Delete only ${local.tenant_token_secret_prefix}<AccountSid> secrets."
    expression  = local.tenant_token_condition
  }
}

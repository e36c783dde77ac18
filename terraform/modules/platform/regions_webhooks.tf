# The Twilio webhooks in several regions behind the one global external Application Load Balancer.
#
# var.region serves every function (functions.tf, load_balancer.tf). Each region of
# var.webhook_regions also runs incoming_call and flow_step, built from the same zip, with the same
# identity, secrets, environment (IVR_REGION set to its own region) and sizing, and gets a serverless
# NEG. google_compute_backend_service.webhooks puts every region's NEG of a function in one backend
# service: the load balancer sends each request to the closest region and, with outlier detection,
# away from a region whose backend keeps answering 5xx. Firestore is one multi-region database
# (var.firestore_location, nam5 by default), so any region can serve any webhook of a call: the call
# document, read and compare-and-set written on every step, is the only state a step needs.
#
# The region-pinned fallback: /webhook/voice/fallback/<region> reaches incoming_call in that region
# only (google_compute_backend_service.webhook_fallback). A number's Fallback URL names a region
# other than the one its calls usually reach (output twilio_fallback_urls), so when the primary
# URL fails because a region is down, Twilio's retry goes where the region is not.
#
# Wiring in the URL map (load_balancer.tf): local.webhook_backend_ids replaces the single-region
# backend of each webhook function's path rules, and local.regional_path_rules adds one path rule
# per region-pinned fallback path. See docs/multi-region.md.

locals {
  webhook_functions   = { for key, f in local.functions : key => f if f.webhook }
  webhook_all_regions = concat([var.region], var.webhook_regions)

  # "<function>/<region>" -> the replica of that webhook function in that extra region
  webhook_replicas = {
    for pair in setproduct(keys(local.webhook_functions), var.webhook_regions) :
    "${pair[0]}/${pair[1]}" => { function = pair[0], region = pair[1] }
  }

  webhook_threads = {
    for key, _ in local.webhook_functions :
    key => coalesce(var.webhook_threads, var.functions[key].max_instance_request_concurrency)
  }

  # function -> its multi-region backend service (only when there is more than one region)
  webhook_backend_ids = { for key, b in google_compute_backend_service.webhooks : key => b.id }

  # region-pinned fallback path -> the backend service of incoming_call in that region
  regional_path_rules = {
    for region, b in google_compute_backend_service.webhook_fallback :
    "/webhook/voice/fallback/${region}" => b.id
  }
}

module "webhook_replicas" {
  source   = "../function"
  for_each = local.webhook_replicas

  project_id            = var.project_id
  region                = each.value.region
  name                  = "${local.function_names[each.value.function]}-${each.value.region}"
  description           = "${local.functions[each.value.function].description} (${each.value.region})"
  bucket_name           = google_storage_bucket.function_sources.name
  source_zip_path       = "${var.source_dir}/${each.value.function}.zip"
  source_hash           = lookup(var.source_hashes, each.value.function, null)
  service_account_email = google_service_account.function[each.value.function].email
  build_service_account = google_service_account.function_builder.id
  public                = local.functions[each.value.function].public
  labels                = merge(local.labels, { function = replace(each.value.function, "_", "-"), region = each.value.region })

  function_config = {
    entry_point                      = local.functions[each.value.function].entry_point
    runtime                          = "python311"
    available_memory                 = var.functions[each.value.function].available_memory
    available_cpu                    = var.functions[each.value.function].available_cpu
    timeout_seconds                  = var.functions[each.value.function].timeout_seconds
    min_instances                    = var.functions[each.value.function].min_instances
    max_instances                    = var.functions[each.value.function].max_instances
    max_instance_request_concurrency = var.functions[each.value.function].max_instance_request_concurrency
    # Only the load balancer reaches a replica: Twilio calls the domain, never a replica's own URL.
    ingress = "ALLOW_INTERNAL_AND_GCLB"
  }

  environment_variables = merge(local.common_environment, {
    IVR_FUNCTION = each.value.function
    IVR_REGION   = each.value.region
    THREADS      = tostring(local.webhook_threads[each.value.function])
  })

  secret_environment_variables = [
    for s in concat(local.common_secret_environment, local.functions[each.value.function].extra_secrets) : {
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

resource "google_compute_region_network_endpoint_group" "webhook_replica" {
  for_each = local.webhook_replicas

  project               = var.project_id
  name                  = "${module.webhook_replicas[each.key].name}-neg"
  region                = each.value.region
  network_endpoint_type = "SERVERLESS"

  cloud_function {
    function = module.webhook_replicas[each.key].name
  }
}

# One backend service per webhook function with a serverless NEG in every region.
resource "google_compute_backend_service" "webhooks" {
  for_each = length(var.webhook_regions) > 0 ? local.webhook_functions : {}

  project               = var.project_id
  name                  = "${local.function_names[each.key]}-regions"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  dynamic "backend" {
    for_each = var.webhook_regions

    content {
      group = google_compute_region_network_endpoint_group.webhook_replica["${each.key}/${backend.value}"].id
    }
  }

  # A region whose functions keep failing is taken out of rotation for a while (serverless NEGs
  # have no health checks; this is how the load balancer notices a failing region).
  outlier_detection {
    consecutive_errors = 5
    interval {
      seconds = 10
    }
    base_ejection_time {
      seconds = 30
    }
    max_ejection_percent = 50
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

# incoming_call of one region only: what a region-pinned Fallback URL reaches.
resource "google_compute_backend_service" "webhook_fallback" {
  for_each = length(var.webhook_regions) > 0 ? toset(local.webhook_all_regions) : toset([])

  project               = var.project_id
  name                  = "${local.function_names["incoming_call"]}-fallback-${each.key}"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = (each.key == var.region
      ? google_compute_region_network_endpoint_group.function["incoming_call"].id
      : google_compute_region_network_endpoint_group.webhook_replica["incoming_call/${each.key}"].id
    )
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }

  lifecycle {
    precondition {
      condition     = !contains(var.webhook_regions, var.region)
      error_message = "webhook_regions lists the regions besides var.region; var.region serves the webhooks already."
    }
  }
}

# Global external Application Load Balancer: https://<domain> is the single public base URL that
# Twilio and admins call. Every function with routes gets a serverless NEG and a backend service;
# the URL map sends each path to its function. Path rules match the longest path first, so
# /api/departments/route and /api/departments/tasks/* reach route_department and the rest of /api/*
# deploy_flow.

locals {
  lb_functions = { for key, f in local.functions : key => f if length(f.routes) > 0 }

  # path -> function, for the URL map and for outputs/tests.
  lb_routes = merge([
    for key, f in local.lb_functions : { for path in f.routes : path => key }
  ]...)

  # Unmatched paths go to deploy_flow, which answers 404 for anything it does not serve.
  lb_default_function = "deploy_flow"
}

resource "google_compute_global_address" "lb" {
  project = var.project_id
  name    = "${var.name_prefix}-lb"

  depends_on = [google_project_service.apis]
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.lb_functions

  project               = var.project_id
  name                  = "${local.function_names[each.key]}-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_function {
    function = module.functions[each.key].name
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.lb_functions

  project               = var.project_id
  name                  = "${local.function_names[each.key]}-backend"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "https" {
  project         = var.project_id
  name            = "${var.name_prefix}-https"
  default_service = google_compute_backend_service.function[local.lb_default_function].id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "ivr"
  }

  path_matcher {
    name            = "ivr"
    default_service = google_compute_backend_service.function[local.lb_default_function].id

    dynamic "path_rule" {
      for_each = local.lb_functions

      content {
        paths = path_rule.value.routes
        # a webhook function served from several regions has one backend service over every region's
        # NEG (regions_webhooks.tf); the others keep their single-region backend
        service = lookup(local.webhook_backend_ids, path_rule.key, google_compute_backend_service.function[path_rule.key].id)
      }
    }

    # /webhook/voice/fallback/<region>: a number's Fallback URL pinned to one region (regions_webhooks.tf)
    dynamic "path_rule" {
      for_each = local.regional_path_rules

      content {
        paths   = [path_rule.key]
        service = path_rule.value
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(flatten([for f in values(local.lb_functions) : f.routes])) == length(local.lb_routes)
      error_message = "Two functions declare the same load balancer route."
    }
  }
}

resource "google_compute_managed_ssl_certificate" "lb" {
  project = var.project_id
  name    = "${var.name_prefix}-cert-${substr(md5(var.domain), 0, 8)}"

  managed {
    domains = [var.domain]
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_ssl_policy" "lb" {
  project         = var.project_id
  name            = "${var.name_prefix}-tls12-modern"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.apis]
}

resource "google_compute_target_https_proxy" "lb" {
  project          = var.project_id
  name             = "${var.name_prefix}-https"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [google_compute_managed_ssl_certificate.lb.id]
  ssl_policy       = google_compute_ssl_policy.lb.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "${var.name_prefix}-https"
  target                = google_compute_target_https_proxy.lb.id
  ip_address            = google_compute_global_address.lb.id
  ip_protocol           = "TCP"
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "http_redirect" {
  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_target_http_proxy" "http_redirect" {
  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http_redirect" {
  project               = var.project_id
  name                  = "${var.name_prefix}-http-redirect"
  target                = google_compute_target_http_proxy.http_redirect.id
  ip_address            = google_compute_global_address.lb.id
  ip_protocol           = "TCP"
  port_range            = "80"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

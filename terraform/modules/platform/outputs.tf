output "public_base_url" {
  description = "PUBLIC_BASE_URL of the functions; configure the Twilio numbers with <this>/webhook/voice/incoming."
  value       = local.public_base_url
}

output "load_balancer_ip" {
  description = "IPv4 address to put in the A record of the domain (the managed certificate is issued once DNS points here)."
  value       = google_compute_global_address.lb.address
}

output "routes" {
  description = "Load balancer path -> function."
  value       = local.lb_routes
}

output "functions" {
  description = "Deployed functions: name, direct URI and source object."
  value = {
    for key, m in module.functions : key => {
      name          = m.name
      uri           = m.uri
      source_object = m.source_object
    }
  }
}

output "service_accounts" {
  description = "Runtime service account of each function."
  value       = { for key, sa in google_service_account.function : key => sa.email }
}

output "secret_ids" {
  description = "Secret Manager secrets whose values must be added out-of-band."
  value       = [for s in google_secret_manager_secret.this : s.secret_id]
}

output "call_events_topic" {
  description = "Pub/Sub topic the functions publish call events to."
  value       = google_pubsub_topic.call_events.id
}

output "routing_timers_queue" {
  description = "Cloud Tasks queues of the routing timers, comma-separated full paths (IVR_TASKS_QUEUE)."
  value       = local.routing_timer_queue_ids
}

output "tasks_service_account" {
  description = "Service account whose OIDC token the routing timer tasks carry (IVR_TASKS_SERVICE_ACCOUNT)."
  value       = google_service_account.tasks_invoker.email
}

output "tenant_token_secret_prefix" {
  description = "Name prefix of the per-account Twilio auth token secrets the admin API creates (twilio-token-<AccountSid>)."
  value       = local.tenant_token_secret_prefix
}

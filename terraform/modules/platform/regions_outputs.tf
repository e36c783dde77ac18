output "webhook_regions" {
  description = "Regions serving the Twilio webhooks, var.region first."
  value       = local.webhook_all_regions
}

output "twilio_fallback_urls" {
  description = "Fallback URL to configure on the Twilio numbers whose calls usually reach each region: the region-pinned fallback of another region (the next one in webhook_regions, wrapping around). With one region, the plain fallback URL."
  value = length(var.webhook_regions) == 0 ? { (var.region) = "${local.public_base_url}/webhook/voice/fallback" } : {
    for index, region in local.webhook_all_regions :
    region => "${local.public_base_url}/webhook/voice/fallback/${local.webhook_all_regions[(index + 1) % length(local.webhook_all_regions)]}"
  }
}

output "webhook_replicas" {
  description = "The webhook functions in the extra regions: name and direct URI."
  value       = { for key, m in module.webhook_replicas : key => { name = m.name, uri = m.uri, region = m.location } }
}

output "public_base_url" {
  description = "The single URL Twilio calls (PUBLIC_BASE_URL)."
  value       = module.platform.public_base_url
}

output "load_balancer_ip" {
  description = "Point the domain's A record here."
  value       = module.platform.load_balancer_ip
}

output "routes" {
  description = "Load balancer path -> function."
  value       = module.platform.routes
}

output "functions" {
  description = "Deployed functions."
  value       = module.platform.functions
}

output "secret_ids" {
  description = "Secrets whose values must be added out-of-band before the first full apply."
  value       = module.platform.secret_ids
}

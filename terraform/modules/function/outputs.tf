output "name" {
  description = "Function name (also the name of its Cloud Run service)."
  value       = google_cloudfunctions2_function.this.name
}

output "uri" {
  description = "HTTPS URI of the function's Cloud Run service."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "id" {
  description = "Full resource id of the function."
  value       = google_cloudfunctions2_function.this.id
}

output "location" {
  description = "Region of the function."
  value       = google_cloudfunctions2_function.this.location
}

output "source_object" {
  description = "GCS object (content-addressed) the function was built from."
  value       = "gs://${google_storage_bucket_object.source.bucket}/${google_storage_bucket_object.source.name}"
}

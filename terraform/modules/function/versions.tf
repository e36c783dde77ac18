terraform {
  # optional() attributes with defaults in object types need >= 1.3; the environments pin >= 1.5.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
  }
}

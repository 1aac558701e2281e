output "user_data" {
  description = "cloud-init user data (#cloud-config) installing and starting Peregrine."
  value       = local.user_data
  sensitive   = true
}

output "user_data_base64" {
  description = "The same, base64-encoded (Azure custom_data)."
  value       = base64encode(local.user_data)
  sensitive   = true
}

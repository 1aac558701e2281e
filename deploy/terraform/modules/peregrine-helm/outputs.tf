output "namespace" {
  description = "Namespace Peregrine runs in."
  value       = helm_release.peregrine.namespace
}

output "release" {
  description = "Helm release name."
  value       = helm_release.peregrine.name
}

output "server_service" {
  description = "Service of the server (HTTP API and dashboard)."
  value       = "${helm_release.peregrine.name}-server.${helm_release.peregrine.namespace}.svc"
}

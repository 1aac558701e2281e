# Example: Peregrine on an existing cluster from the current kubeconfig,
# alerts to stdout and a SIEM webhook, metrics for the Prometheus Operator.
terraform {
  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12, < 3.0"
    }
  }
}

provider "helm" {
  kubernetes {
    config_path = "~/.kube/config"
  }
}

variable "agent_token" {
  type      = string
  default   = ""
  sensitive = true
}

module "peregrine" {
  source = "../../modules/peregrine-helm"

  image_repository    = "registry.example.com/security/peregrine"
  image_tag           = "0.1.0"
  priority_class_name = "system-node-critical"
  outputs = [
    "stdout:json",
    "webhook:https://siem.example.com/ingest,min=warning",
  ]
  custom_rules = {
    "payments.yaml" = <<-EOT
      - rule: Shell in payments
        condition: spawned_process and k8s.ns.name = "payments" and proc.name in (bash, sh)
        output: shell in payments (%proc.cmdline %container.name)
        priority: WARNING
    EOT
  }
  agent_token       = var.agent_token
  service_monitor   = true
  prometheus_rule   = true
  grafana_dashboard = true
}

output "server" {
  value = module.peregrine.server_service
}

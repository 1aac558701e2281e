# Installs the Peregrine chart (deploy/helm/peregrine) with the values most
# installations set; anything else goes through var.extra_values.
locals {
  values = {
    image = {
      repository = var.image_repository
      tag        = var.image_tag
    }
    agent = {
      privileged        = var.privileged
      outputs           = var.outputs
      resources         = var.agent_resources
      priorityClassName = var.priority_class_name
      nodeSelector      = var.node_selector
    }
    customRules = var.custom_rules
    server = {
      enabled = var.server_enabled
      store = {
        type           = var.postgres_secret == "" ? "sqlite" : "postgres"
        postgresSecret = var.postgres_secret
      }
    }
    metrics = {
      serviceMonitor = { enabled = var.service_monitor }
      prometheusRule = { enabled = var.prometheus_rule }
    }
    grafana = {
      dashboard = { enabled = var.grafana_dashboard }
    }
  }
}

resource "helm_release" "peregrine" {
  name             = var.release_name
  namespace        = var.namespace
  create_namespace = true
  chart            = coalesce(var.chart_path, "${path.module}/../../../helm/peregrine")
  values           = concat([yamlencode(local.values)], var.extra_values)

  set_sensitive {
    name  = "server.agentToken.value"
    value = var.agent_token
  }
}

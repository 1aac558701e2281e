variable "release_name" {
  description = "Helm release name."
  type        = string
  default     = "peregrine"
}

variable "namespace" {
  description = "Namespace to install into (created when missing)."
  type        = string
  default     = "peregrine"
}

variable "chart_path" {
  description = "Path of the chart (default: the chart in this repository)."
  type        = string
  default     = null
}

variable "image_repository" {
  description = "Image repository the nodes pull from (build with deploy/build-image.sh and push)."
  type        = string
}

variable "image_tag" {
  description = "Image tag."
  type        = string
  default     = "latest"
}

variable "privileged" {
  description = "Run the agent privileged instead of with the minimal capability set."
  type        = bool
  default     = false
}

variable "outputs" {
  description = "Agent outputs (--output specs, see the README)."
  type        = list(string)
  default     = ["stdout:json"]
}

variable "custom_rules" {
  description = "Extra rule files: file name => rules (Falco language)."
  type        = map(string)
  default     = {}
}

variable "agent_resources" {
  description = "Agent resources (requests/limits)."
  type = object({
    requests = map(string)
    limits   = map(string)
  })
  default = {
    requests = { cpu = "100m", memory = "256Mi" }
    limits   = { memory = "1Gi" }
  }
}

variable "priority_class_name" {
  description = "Priority class of the agent pods (e.g. system-node-critical)."
  type        = string
  default     = ""
}

variable "node_selector" {
  description = "Node selector of the agent pods."
  type        = map(string)
  default     = {}
}

variable "server_enabled" {
  description = "Install the server (store, API, dashboard)."
  type        = bool
  default     = true
}

variable "agent_token" {
  description = "Agent token for the server (peregrine server token add NAME --role agent)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "postgres_secret" {
  description = "Name of a Secret with key `url` (postgres://...): use PostgreSQL instead of SQLite."
  type        = string
  default     = ""
}

variable "service_monitor" {
  description = "Create ServiceMonitors (Prometheus Operator)."
  type        = bool
  default     = false
}

variable "prometheus_rule" {
  description = "Create the PrometheusRule with the alerting rules."
  type        = bool
  default     = false
}

variable "grafana_dashboard" {
  description = "Create the Grafana dashboard ConfigMap (sidecar label grafana_dashboard)."
  type        = bool
  default     = false
}

variable "extra_values" {
  description = "More chart values (YAML documents), applied last."
  type        = list(string)
  default     = []
}

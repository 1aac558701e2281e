variable "binary_url" {
  description = "URL of the peregrine binary (a release artifact or your own build) the VM downloads at first boot."
  type        = string
}

variable "binary_sha256" {
  description = "SHA-256 of the binary; the download is refused when it differs."
  type        = string
}

variable "rules_url" {
  description = "URL of a tar.gz of the rules/ directory, unpacked in /usr/share/peregrine/rules."
  type        = string
}

variable "rules_sha256" {
  description = "SHA-256 of the rules archive."
  type        = string
}

variable "agent_args" {
  description = "The agent's command line after `peregrine agent` (rules and outputs)."
  type        = string
  default     = "--rules /usr/share/peregrine/rules/falco-upstream/falco_rules.yaml --output stdout:json --output file:/var/log/peregrine/alerts.jsonl,max_mb=100,keep=5"
}

variable "server_url" {
  description = "Peregrine server the agent ships alerts to (empty: none)."
  type        = string
  default     = ""
}

variable "server_token" {
  description = "Agent token for server_url."
  type        = string
  default     = ""
  sensitive   = true
}

variable "run_server" {
  description = "Also run the server on this VM (peregrine-server.service; TLS files in /etc/peregrine/tls)."
  type        = bool
  default     = false
}

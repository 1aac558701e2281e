# Renders the cloud-init user data that installs Peregrine on a VM with the
# systemd units of deploy/systemd. Provider-agnostic: pass `user_data` to an
# aws_instance, google_compute_instance (metadata user-data),
# azurerm_linux_virtual_machine (custom_data, base64) and so on.
locals {
  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    agent_unit    = file("${path.module}/../../../systemd/peregrine-agent.service")
    server_unit   = file("${path.module}/../../../systemd/peregrine-server.service")
    run_server    = var.run_server
    agent_args    = var.agent_args
    server_url    = var.server_url
    server_token  = var.server_token
    binary_url    = var.binary_url
    binary_sha256 = var.binary_sha256
    rules_url     = var.rules_url
    rules_sha256  = var.rules_sha256
  })
}

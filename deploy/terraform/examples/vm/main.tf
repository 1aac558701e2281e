# Example: an EC2 instance running the Peregrine agent, shipping alerts to a
# Peregrine server.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = "eu-west-1"
}

variable "server_token" {
  type      = string
  sensitive = true
}

module "peregrine" {
  source = "../../modules/peregrine-vm"

  binary_url    = "https://artifacts.example.com/peregrine/0.1.0/peregrine-x86_64-linux"
  binary_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
  rules_url     = "https://artifacts.example.com/peregrine/0.1.0/rules.tar.gz"
  rules_sha256  = "0000000000000000000000000000000000000000000000000000000000000000"
  server_url    = "https://peregrine.example.com:8470"
  server_token  = var.server_token
}

data "aws_ami" "debian" {
  most_recent = true
  owners      = ["136693071363"]
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
}

resource "aws_instance" "host" {
  ami           = data.aws_ami.debian.id
  instance_type = "t3.small"
  user_data     = module.peregrine.user_data
  tags = {
    Name = "peregrine-watched-host"
  }
}

#!/usr/bin/env bash
# A throwaway private CA and a localhost server certificate signed by it,
# for the TLS tests: ./scripts/test-pki.sh DIR writes DIR/ca.pem,
# DIR/cert.pem, DIR/key.pem (valid two days).
set -euo pipefail
dir=${1:?usage: test-pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Peregrine test CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out leaf.csr 2>/dev/null
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile ext.cnf -out cert.pem 2>/dev/null

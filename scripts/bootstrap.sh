#!/usr/bin/env bash
# Install what building (and, with --test, testing) Peregrine needs.
# Idempotent: only missing packages are installed. Debian/Ubuntu, as root.
set -euo pipefail
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v llvm-strip >/dev/null 2>&1 || need+=(llvm)
[[ -e /usr/include/bpf/bpf_helpers.h ]] || need+=(libbpf-dev)
[[ -e /usr/include/linux/types.h ]] || need+=(linux-libc-dev)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)  # containerd-client generates its gRPC code
if (( want_test )); then
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || need+=(containerd)
  command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  # deploy/ tests: a real Prometheus and promtool, systemd-analyze, npm (Helm).
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
fi
if (( ${#need[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing packages ${need[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "bootstrap: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if (( want_test )); then
  bash "$(dirname "$0")/bootstrap-deploy-tools.sh"
  # The OTLP sink's tests decode with the official OpenTelemetry classes.
  python3 -c 'import grpc, opentelemetry.proto' 2>/dev/null ||
    python3 -m pip install -q 'opentelemetry-proto==1.45.2' 'grpcio==1.85.1'
  # API property tests (crates/peregrine-server/tests/schemathesis.rs), pinned.
  st_version=4.32.5
  if ! st --version 2>/dev/null | grep -q "$st_version"; then
    echo "bootstrap: installing schemathesis $st_version (pip)"
    python3 -m pip install -q --disable-pip-version-check "schemathesis==$st_version" \
      || python3 -m pip install -q --disable-pip-version-check --break-system-packages "schemathesis==$st_version"
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: cargo (Rust >= 1.87) is required and not installed" >&2
  exit 1
fi

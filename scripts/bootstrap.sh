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
if (( want_test )); then
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || need+=(containerd)
  command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  command -v curl >/dev/null 2>&1 || need+=(curl)
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
if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: cargo (Rust >= 1.87) is required and not installed" >&2
  exit 1
fi

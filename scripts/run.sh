#!/usr/bin/env bash
# Build and run Peregrine on this host (as root): ./scripts/run.sh [ARGS...]
# Without arguments it streams what the kernel sees (`peregrine capture`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cargo build --release --quiet -p peregrine
if [[ $# -eq 0 ]]; then
  set -- capture
fi
exec ./target/release/peregrine "$@"

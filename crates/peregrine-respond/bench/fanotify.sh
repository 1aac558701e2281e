#!/usr/bin/env bash
# fanotify enforcement cost (root): decision latency p50/p99 and fork+exec
# overhead with a policy matching nothing. Run on a quiet machine only.
#   crates/peregrine-respond/bench/fanotify.sh [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo run --release -q -p peregrine-respond --example fanotify_bench -- "${1:-2000}"

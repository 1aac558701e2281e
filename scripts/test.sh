#!/usr/bin/env bash
# The whole test suite. Run as root (eBPF, Docker): ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Incremental caches only help edit-compile loops and double the target
# directory's size; CI's disk has run out while linking the test binaries.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
echo "== disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free for the build"
bash scripts/bootstrap.sh --test
bash scripts/start-docker.sh
bash scripts/test-image.sh
bash scripts/start-containerd.sh >/dev/null
PEREGRINE_TEST_POSTGRES=$(bash scripts/start-postgres.sh)
[[ "$PEREGRINE_TEST_POSTGRES" == postgres://* ]] || {
  echo "start-postgres.sh printed no URL: [$PEREGRINE_TEST_POSTGRES]" >&2
  exit 1
}
export PEREGRINE_TEST_POSTGRES

echo "== format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

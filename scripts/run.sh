#!/usr/bin/env bash
# Build and run Peregrine on this host (as root): ./scripts/run.sh [ARGS...]
# Without arguments: the agent with Falco's stable rules and Peregrine's
# default ruleset, alerts on stdout, metrics on http://127.0.0.1:9376/metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cargo build --release --quiet -p peregrine
if [[ $# -eq 0 ]]; then
  set -- agent --rules rules/falco-upstream/falco_rules.yaml
  for f in rules/peregrine/*.yaml; do set -- "$@" --rules "$f"; done
  set -- "$@" --output stdout
fi
exec ./target/release/peregrine "$@"

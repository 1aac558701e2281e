#!/usr/bin/env bash
# Build and run Peregrine on this host (as root): ./scripts/run.sh [ARGS...]
# Without arguments: the all-in-one `peregrine run` (agent + server +
# dashboard on http://127.0.0.1:8470, SQLite in /var/lib/peregrine) with
# Falco's stable rules and Peregrine's default ruleset; alerts also on stdout,
# metrics on http://127.0.0.1:9376/metrics. The sign-in link is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cargo build --release --quiet -p peregrine
if [[ $# -eq 0 ]]; then
  set -- run --rules rules/falco-upstream/falco_rules.yaml
  for f in rules/peregrine/*.yaml; do set -- "$@" --rules "$f"; done
  set -- "$@" --output stdout
fi
exec ./target/release/peregrine "$@"

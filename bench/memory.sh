#!/usr/bin/env bash
# Memory of `peregrine agent` (Falco stable rules) across many short-lived
# processes and containers: prints RSS after a warm-up and after each phase.
#
#   ./bench/memory.sh            (as root; needs dockerd: scripts/start-docker.sh)
#   PROCS=10000 CONTAINERS=200 ./bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PROCS=${PROCS:-10000}
CONTAINERS=${CONTAINERS:-200}
bash scripts/bootstrap.sh --test >/dev/null
bash scripts/start-docker.sh >/dev/null
bash scripts/test-image.sh >/dev/null
cargo build --release --quiet -p peregrine
log=$(mktemp)
./target/release/peregrine agent --ready --no-metrics --rules rules/falco-upstream/falco_rules.yaml --output file:/dev/null 2>"$log" &
AGENT=$!
trap 'kill $AGENT 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 400); do grep -q '^ready' "$log" && break; sleep 0.05; done
rss() { awk '/VmRSS/ {print $2}' /proc/$AGENT/status; }
anon() { awk '/RssAnon/ {print $2}' /proc/$AGENT/status; }
report() { printf '%-34s VmRSS %6d kB  RssAnon %6d kB\n' "$1" "$(rss)" "$(anon)"; }

for i in $(seq 1000); do /bin/true; done; sleep 6
report "after warm-up (1,000 processes)"
for i in $(seq "$PROCS"); do /bin/true; done; sleep 6
report "after $PROCS processes"
for i in $(seq "$CONTAINERS"); do docker run --rm peregrine-test:latest /bin/true >/dev/null; done; sleep 6
report "after $CONTAINERS containers"
for i in $(seq "$PROCS"); do /bin/true; done; sleep 6
report "after $PROCS more processes"

#!/usr/bin/env bash
# Benign soak: ordinary developer and operator work under the agent with the
# default rule set (Falco's stable rules + rules/peregrine), counting alerts.
# Every alert here is a false alarm. Run as root: ./bench/soak.sh
# (needs network for apt-get and a running dockerd with peregrine-test:latest,
# see scripts/test-image.sh). DURATION=3600 ./bench/soak.sh repeats the work
# until an hour has passed (one round otherwise); KEEP=DIR keeps the alerts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p peregrine
bin=./target/release/peregrine
work=$(mktemp -d /tmp/pg-soak.XXXXXX)
alerts=$work/alerts.jsonl
rules=(--rules rules/falco-upstream/falco_rules.yaml)
for f in rules/peregrine/*.yaml; do rules+=(--rules "$f"); done
"$bin" agent "${rules[@]}" --no-metrics --output "file:$alerts" --ready 2>"$work/agent.log" &
agent=$!
trap 'kill $agent 2>/dev/null || true' EXIT
until grep -q '^ready' "$work/agent.log"; do sleep 0.2; done
start=$(date +%s)
step() { echo "== $*"; }

round() {
  local r=$1
  step "build this project (the whole workspace, fresh target dir, debug)"
  # From a clone of the committed tree: edits in the working copy during a
  # long soak must not break its build.
  rm -rf "$work/src"; git clone -q "$PWD" "$work/src"
  (cd "$work/src" && CARGO_TARGET_DIR=$work/target-$r cargo build --quiet --workspace)
  step "run a package test suite (peregrine-rules: unit, semantics, Falco files, Sigma)"
  (cd "$work/src" && CARGO_TARGET_DIR=$work/target-$r cargo test --quiet -p peregrine-rules >/dev/null)
  step "apt-get: update, install and remove packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends jq tree >/dev/null
  apt-get remove -y -qq jq tree >/dev/null
  step "git: clone, branch, commit, log, gc"
  rm -rf "$work/repo"; git clone -q "$PWD" "$work/repo"
  (cd "$work/repo" && git checkout -q -b soak && echo soak >> README.md && git -c user.email=s@x -c user.name=soak commit -qam soak && git log --oneline >/dev/null && git gc -q)
  step "containers: run, exec, stop"
  if docker info >/dev/null 2>&1; then
    for i in 1 2 3; do docker run --rm peregrine-test:latest sh -c 'ls / >/dev/null; cat /etc/hostname >/dev/null' ; done
    cid=$(docker run -d peregrine-test:latest sleep 30)
    docker exec "$cid" sh -c 'ps >/dev/null 2>&1; ls /tmp' >/dev/null
    docker stop -t 1 "$cid" >/dev/null; docker rm "$cid" >/dev/null
  else
    echo "(docker not running: container step skipped)"
  fi
  if ctr -a /run/pg-containerd/containerd.sock version >/dev/null 2>&1; then
    # A Kubernetes-style container run by containerd (scripts/start-containerd.sh).
    ctr -a /run/pg-containerd/containerd.sock -n k8s.io run --rm \
      --label io.kubernetes.pod.name=soak-$r --label io.kubernetes.pod.namespace=soak \
      docker.io/library/peregrine-test:latest "soak-$r-$$" sh -c 'ls / >/dev/null; sleep 1'
  fi
  step "admin chores: logs, services, processes, network"
  journalctl -n 50 >/dev/null 2>&1 || true
  ps aux >/dev/null; ss -tan >/dev/null 2>&1 || true; df -h >/dev/null; uptime >/dev/null
  curl -s -o /dev/null https://deb.debian.org/ || true
  tar czf "$work/etc-copy.tgz" -C "$work/repo" docs
  rm -rf "$work/target-$r"
}

DURATION=${DURATION:-0}
rounds=0
while :; do
  rounds=$((rounds + 1))
  echo "== round $rounds ($(( $(date +%s) - start )) s elapsed, $(wc -l < "$alerts" 2>/dev/null || echo 0) alerts so far)"
  # A failing step (network down for apt, say) is reported, not fatal.
  round "$rounds" || echo "(round $rounds: a step failed, continuing)"
  (( $(date +%s) - start >= DURATION )) && break
done
sleep 2
end=$(date +%s)
kill -INT $agent; wait $agent 2>/dev/null || true
trap - EXIT
n=$(wc -l < "$alerts" 2>/dev/null || echo 0)
secs=$((end - start))
echo
echo "soak: ${secs}s of benign work ($rounds round(s)), $n alert(s) = $(( n * 3600 / (secs > 0 ? secs : 1) )) per hour"
if [[ $n -gt 0 ]]; then
  echo "by rule:"
  python3 -c 'import json,sys,collections
c=collections.Counter()
ex=collections.defaultdict(dict)
for l in open(sys.argv[1]):
    a=json.loads(l); c[a["rule"]]+=1
    ex[a["rule"]].setdefault(a["output_fields"].get("proc.name", "?"), a["output"][:220])
for r,n in c.most_common():
    print(f"  {n:4}  {r}")
    for p, o in list(ex[r].items())[:3]: print(f"          {o}")' "$alerts"
fi
[[ -n "${KEEP:-}" ]] && mkdir -p "$KEEP" && cp "$alerts" "$KEEP/" 2>/dev/null || true
rm -rf "$work"

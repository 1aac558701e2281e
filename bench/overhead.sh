#!/usr/bin/env bash
# Overhead of the Peregrine sensor on three workloads, bare vs under
# `peregrine capture`, in one run. Prints per-iteration costs and ratios.
#
#   ./bench/overhead.sh            (as root)
#   N_OPEN=2000000 N_EXEC=2000 N_CONN=20000 REPS=3 ./bench/overhead.sh
#
# Modes:
#   bare         no sensor
#   filter-path  open/connect/exec programs attached, kernel path filter that
#                matches nothing (file events end in the kernel after path
#                resolution)
#   filter-comm  same kinds, comm allow-list that matches nothing (events end
#                at syscall entry)
#   full         every kind attached, everything decoded in user space
#   agent        `peregrine agent` with Falco's stable rules (falco_rules.yaml):
#                kernel filtering from the rules, state, rule evaluation;
#                its peak RSS is printed
#   falco        Falco itself with the same rule file (modern eBPF probe),
#                when a `falco` binary is on PATH (FALCO=/path overrides);
#                skipped otherwise
# Then a throughput run: two parallel open/close loops under full capture,
# reporting events/s delivered and kernel drops.
set -euo pipefail
cd "$(dirname "$0")/.."
N_OPEN=${N_OPEN:-1000000}
N_EXEC=${N_EXEC:-2000}
N_CONN=${N_CONN:-10000}
REPS=${REPS:-3}
OUT=bench/out
mkdir -p "$OUT"
bash scripts/bootstrap.sh >/dev/null
cargo build --release --quiet -p peregrine -p peregrine-sensor --bins
PG=target/release/peregrine
TR=target/release/pg-trigger
FILE=/etc/hostname
PORT=$(( 20000 + RANDOM % 20000 ))

$TR serve "$PORT" > "$OUT/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 0.3

div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a / b }'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

start_capture() { # args: log file, capture args...
  local log=$1; shift
  $PG capture --stats --ready "$@" 2>"$log" &
  CAP=$!
  for _ in $(seq 1 200); do grep -q '^ready' "$log" 2>/dev/null && return 0; sleep 0.05; done
  echo "capture did not start:"; cat "$log"; exit 1
}
start_agent() { # args: log file
  local log=$1
  $PG agent --ready --rules rules/falco-upstream/falco_rules.yaml --output file:/dev/null 2>"$log" &
  CAP=$!
  for _ in $(seq 1 400); do grep -q '^ready' "$log" 2>/dev/null && return 0; sleep 0.05; done
  echo "agent did not start:"; cat "$log"; exit 1
}
start_falco() { # args: log file
  local log=$1
  "$FALCO_BIN" -o engine.kind=modern_ebpf -o stdout_output.enabled=false \
    -o json_output=true -r rules/falco-upstream/falco_rules.yaml >"$log" 2>&1 &
  CAP=$!
  # Falco logs "Opening 'syscall' source" once its probe is attached.
  for _ in $(seq 1 600); do
    grep -q "Opening 'syscall' source\|Opening event source" "$log" 2>/dev/null && { sleep 1; return 0; }
    kill -0 "$CAP" 2>/dev/null || { echo "falco did not start:"; cat "$log"; exit 1; }
    sleep 0.05
  done
  echo "falco did not start in 30 s:"; cat "$log"; exit 1
}
stop_capture() {
  if [[ -n "${RSS_OUT:-}" ]]; then
    awk '/VmHWM/ {print $2}' /proc/"$CAP"/status >> "$RSS_OUT"
    awk '/VmRSS/ {print $2}' /proc/"$CAP"/status >> "$RSS_OUT.now"
  fi
  kill -INT "$CAP"
  # A program started in the background may have SIGINT ignored: TERM after 5 s.
  for _ in $(seq 1 100); do kill -0 "$CAP" 2>/dev/null || break; sleep 0.05; done
  kill -TERM "$CAP" 2>/dev/null || true
  wait "$CAP" || true
}

declare -A OPEN EXEC CONN
MODES=(bare filter-path filter-comm full agent)
FALCO_BIN=${FALCO:-$(command -v falco || true)}
if [[ -n "$FALCO_BIN" ]]; then
  MODES+=(falco)
else
  echo "(falco not found on PATH: the falco row is skipped; FALCO=/path/to/falco adds it)"
fi
RSS_LOG="$OUT/agent-rss.txt"
: > "$RSS_LOG"
: > "$RSS_LOG.now"
for mode in "${MODES[@]}"; do
  o=(); e=(); c=()
  for rep in $(seq 1 "$REPS"); do
    log="$OUT/capture-$mode-$rep.log"
    case $mode in
      bare) CAP= ;;
      filter-path) start_capture "$log" --filter kind=open,exec,connect --filter path=/nonexistent-prefix ;;
      filter-comm) start_capture "$log" --filter kind=open,exec,connect --filter comm=pg-no-such-comm ;;
      full) start_capture "$log" ;;
      agent) start_agent "$log" ;;
      falco) start_falco "$log" ;;
    esac
    if [[ $mode == agent ]]; then RSS_OUT=$RSS_LOG; else RSS_OUT=; fi
    o+=("$($TR open-loop $FILE "$N_OPEN")")
    e+=("$($TR exec-loop "$N_EXEC")")
    c+=("$($TR connect-loop "$PORT" "$N_CONN")")
    [[ -n "${CAP:-}" ]] && stop_capture
  done
  OPEN[$mode]=$(printf '%s\n' "${o[@]}" | median)
  EXEC[$mode]=$(printf '%s\n' "${e[@]}" | median)
  CONN[$mode]=$(printf '%s\n' "${c[@]}" | median)
done

echo
echo "Peregrine sensor overhead ($(date -u +%F), $(uname -r), $(nproc) CPUs, median of $REPS)"
printf '%-12s %16s %8s %16s %8s %16s %8s\n' mode "open+close ns" ratio "fork+exec us" ratio "connect us" ratio
for mode in "${MODES[@]}"; do
  printf '%-12s %16.0f %7.2fx %16.1f %7.2fx %16.1f %7.2fx\n' "$mode" \
    "${OPEN[$mode]}" "$(div "${OPEN[$mode]}" "${OPEN[bare]}")" \
    "$(div "${EXEC[$mode]}" "1000")" "$(div "${EXEC[$mode]}" "${EXEC[bare]}")" \
    "$(div "${CONN[$mode]}" "1000")" "$(div "${CONN[$mode]}" "${CONN[bare]}")"
done

echo "agent RSS after the workloads (VmRSS, median): $(median < "$RSS_LOG.now") kB; peak (VmHWM, includes start-up): $(median < "$RSS_LOG") kB"

echo
echo "Throughput: 2 parallel open/close loops of $N_OPEN under full capture (kind=open)"
log="$OUT/capture-throughput.log"
start_capture "$log" --filter kind=open
t0=$(date +%s%N)
$TR open-loop $FILE "$N_OPEN" >/dev/null & a=$!
$TR open-loop $FILE "$N_OPEN" >/dev/null & b=$!
wait $a $b
t1=$(date +%s%N)
sleep 0.2
stop_capture
emitted=$(awk '$1=="file" {print $3}' "$log")
dropped=$(awk '$1=="file" {print $5}' "$log")
secs=$(div "$(( t1 - t0 ))" 1000000000)
printf 'events delivered: %d in %.2fs = %.0f events/s, kernel drops: %d\n' \
  "$emitted" "$secs" "$(div "$emitted" "$secs")" "$dropped"
grep '^events:' "$log" | sed 's/^/user space: /'

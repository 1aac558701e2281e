#!/usr/bin/env bash
# Overhead of `peregrine trace` (the no-eBPF mode: seccomp-filtered ptrace)
# on the open/close loop and the fork+exec loop, bare vs traced, in one run.
# Prints per-iteration costs and ratios (median of REPS runs).
#
#   ./bench/trace-overhead.sh            (as root)
#   N_OPEN=200000 N_EXEC=1000 REPS=3 ./bench/trace-overhead.sh
#   SMOKE=1 ./bench/trace-overhead.sh    (tiny counts: checks the script only)
#
# Modes:
#   bare        the loop alone
#   trace       `peregrine trace` with Falco's stable rules (falco_rules.yaml):
#               the seccomp filter stops only the syscalls those rules need
#               (open* and exec among them), each stop decoded, state, rules
#   trace-all   the same with every syscall stopping (--no-seccomp,
#               PTRACE_SYSCALL: what `--pid` attach mode costs)
#   agent       the eBPF agent with the same rules (WITH_EBPF=1; for
#               comparison on hosts where eBPF loads)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${SMOKE:-}" ]]; then
  N_OPEN=${N_OPEN:-2000}; N_EXEC=${N_EXEC:-20}; REPS=${REPS:-1}
fi
N_OPEN=${N_OPEN:-200000}
N_EXEC=${N_EXEC:-1000}
REPS=${REPS:-3}
OUT=bench/out
mkdir -p "$OUT"
PROFILE=${PROFILE:-release}
if [[ $PROFILE == release ]]; then
  cargo build --release --quiet -p peregrine -p peregrine-sensor --bins
  BIN=${CARGO_TARGET_DIR:-target}/release
else
  cargo build --quiet -p peregrine -p peregrine-sensor --bins
  BIN=${CARGO_TARGET_DIR:-target}/debug
fi
PG=$BIN/peregrine
TR=$BIN/pg-trigger
FILE=/etc/hostname
RULES=rules/falco-upstream/falco_rules.yaml

div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a / b }'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One measurement: the loop prints its per-iteration cost (ns) on stdout;
# under `peregrine trace` alerts go to /dev/null, so stdout is the loop's.
measure() { # mode, loop args...
  local mode=$1; shift
  case $mode in
    bare) "$TR" "$@" ;;
    trace) "$PG" trace --rules "$RULES" --output file:/dev/null -- "$TR" "$@" ;;
    trace-all) "$PG" trace --no-seccomp --rules "$RULES" --output file:/dev/null -- "$TR" "$@" ;;
    agent) "$TR" "$@" ;;
  esac
}

MODES=(bare trace trace-all)
[[ -n "${WITH_EBPF:-}" ]] && MODES+=(agent)
declare -A OPEN EXEC
for mode in "${MODES[@]}"; do
  o=(); e=()
  if [[ $mode == agent ]]; then
    log="$OUT/trace-overhead-agent.log"
    "$PG" agent --ready --no-metrics --rules "$RULES" --output file:/dev/null 2>"$log" &
    AGENT=$!
    for _ in $(seq 1 400); do grep -q '^ready' "$log" 2>/dev/null && break; sleep 0.05; done
  fi
  for _ in $(seq 1 "$REPS"); do
    o+=("$(measure "$mode" open-loop "$FILE" "$N_OPEN" | tail -1)")
    e+=("$(measure "$mode" exec-loop "$N_EXEC" | tail -1)")
  done
  if [[ $mode == agent ]]; then kill -INT "$AGENT"; wait "$AGENT" || true; fi
  OPEN[$mode]=$(printf '%s\n' "${o[@]}" | median)
  EXEC[$mode]=$(printf '%s\n' "${e[@]}" | median)
done

echo
echo "peregrine trace overhead ($(date -u +%F), $(uname -r), $(nproc) CPUs, median of $REPS; open/close x$N_OPEN, fork+exec x$N_EXEC)"
printf '%-10s %16s %8s %16s %8s\n' mode "open+close ns" ratio "fork+exec us" ratio
for mode in "${MODES[@]}"; do
  printf '%-10s %16.0f %7.2fx %16.1f %7.2fx\n' "$mode" \
    "${OPEN[$mode]}" "$(div "${OPEN[$mode]}" "${OPEN[bare]}")" \
    "$(div "${EXEC[$mode]}" "1000")" "$(div "${EXEC[$mode]}" "${EXEC[bare]}")"
done

#!/usr/bin/env bash
# Cost of watching i386-ABI syscalls (`int 0x80`): the sensor's compat
# program sits on the raw sys_exit tracepoint, which every syscall passes.
# Bare vs `peregrine capture` with and without it, in one run; prints
# nanoseconds per iteration (median of REPS) and ratios.
#
#   ./bench/compat.sh            (as root, nothing else loaded on the host)
#   N_SYS=5000000 N_OPEN=1000000 REPS=5 ./bench/compat.sh
#
# Loops:
#   getppid     a syscall no program hooks: only the compat program's test
#               (is this an i386-ABI syscall?) runs
#   open/close  /etc/hostname: the open program runs (kernel path filter
#               matching nothing, so records end in the kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
N_SYS=${N_SYS:-3000000}
N_OPEN=${N_OPEN:-500000}
REPS=${REPS:-5}
OUT=bench/out
mkdir -p "$OUT"
cargo build --release --quiet -p peregrine -p peregrine-sensor --bins
BIN=${CARGO_TARGET_DIR:-target}/release
PG=$BIN/peregrine
TR=$BIN/pg-trigger

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

start_capture() { # capture args...
  local log=$OUT/compat-capture.log
  $PG capture --stats --ready --filter kind=open --filter path=/nonexistent-prefix "$@" 2>"$log" &
  CAP=$!
  for _ in $(seq 1 400); do grep -q '^ready' "$log" 2>/dev/null && return 0; sleep 0.05; done
  echo "capture did not start:"; cat "$log"; exit 1
}
stop_capture() { kill -INT "$CAP"; wait "$CAP" 2>/dev/null || true; }

measure() { # mode -> prints "sys open"
  local s o
  s=$(for _ in $(seq 1 "$REPS"); do $TR syscall-loop "$N_SYS"; done | median)
  o=$(for _ in $(seq 1 "$REPS"); do $TR open-loop /etc/hostname "$N_OPEN"; done | median)
  echo "$s $o"
}

read -r bare_s bare_o < <(measure)
start_capture --no-compat-syscalls
read -r off_s off_o < <(measure)
stop_capture
start_capture
read -r on_s on_o < <(measure)
stop_capture

printf '%-28s %12s %12s\n' mode "getppid ns" "open ns"
printf '%-28s %12.1f %12.1f\n' bare "$bare_s" "$bare_o"
printf '%-28s %12.1f %12.1f\n' "capture, no compat program" "$off_s" "$off_o"
printf '%-28s %12.1f %12.1f\n' "capture, compat program" "$on_s" "$on_o"
echo "getppid: compat on/off $(div "$on_s" "$off_s")x, on/bare $(div "$on_s" "$bare_s")x"
echo "open:    compat on/off $(div "$on_o" "$off_o")x, on/bare $(div "$on_o" "$bare_o")x"

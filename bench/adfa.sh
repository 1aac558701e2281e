#!/usr/bin/env bash
# Full ADFA-LD evaluation (Creech & Hu 2013) of the syscall-sequence anomaly
# model: trains the STIDE-style n-gram baseline and the Kneser-Ney language
# model on the 833 normal training traces, then scores the 4,372 validation
# traces (negatives) and the 746 attack traces (positives); prints ROC AUC
# with a 95 % bootstrap interval (1,000 resamples, seed 2013), detection
# rates at 1 % and 5 % false positives, and per-family results. The
# per-trace scores go to $OUT/{ngram,kn}.csv (trace,label,score).
#
#   ./bench/adfa.sh                      (data in ../shared/data/adfa-ld)
#   ADFA_LD=/path/to/adfa-ld OUT=/tmp/adfa ./bench/adfa.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ADFA_LD=${ADFA_LD:-../shared/data/adfa-ld}
OUT=${OUT:-target/adfa}
BIN=${CARGO_TARGET_DIR:-target}/release/peregrine
mkdir -p "$OUT"
cargo build --release --quiet -p peregrine
for kind in ngram kn; do
    echo "== $kind"
    "$BIN" model train --adfa-ld "$ADFA_LD" --kind "$kind" -o "$OUT/$kind.model"
    "$BIN" model eval --adfa-ld "$ADFA_LD" --model "$OUT/$kind.model" \
        --scores "$OUT/$kind.csv" --bootstrap 1000 --seed 2013
done

#!/usr/bin/env bash
# Time loading generated rules files (many rules, macros, lists, appends and
# exceptions) of growing size; linear loading shows about x2 time per
# doubling. The generator is crates/peregrine-rules/tests/common/generate.rs.
#
#   ./bench/rules_load.sh              (1, 2, 4, 8 MB)
#   ./bench/rules_load.sh 1 2 4 8 50   (sizes in MB)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -p peregrine-rules --example rules_load -- "$@"

#!/usr/bin/env bash
# Rebuild adfa-ld-subset.tar.gz from a full ADFA-LD copy (see README.md here).
set -euo pipefail
export LC_ALL=C
S=${1:?usage: make-subset.sh ADFA_LD_DIR}
out=$(cd "$(dirname "$0")" && pwd)/adfa-ld-subset.tar.gz
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
D=$tmp/adfa-ld
mkdir -p "$D/ADFA-LD/Training_Data_Master" "$D/ADFA-LD/Validation_Data_Master"
cp "$S/adfa_i386_to_x86_64.tsv" "$S/README.upstream.md" "$D/"
ls "$S/ADFA-LD/Training_Data_Master" | sort | head -300 |
  sed "s|^|$S/ADFA-LD/Training_Data_Master/|" | xargs cp -t "$D/ADFA-LD/Training_Data_Master"
ls "$S/ADFA-LD/Validation_Data_Master" | sort | awk 'NR%8==1' |
  sed "s|^|$S/ADFA-LD/Validation_Data_Master/|" | xargs cp -t "$D/ADFA-LD/Validation_Data_Master"
for d in "$S"/ADFA-LD/Attack_Data_Master/*_1 "$S"/ADFA-LD/Attack_Data_Master/*_2; do
  mkdir -p "$D/ADFA-LD/Attack_Data_Master/$(basename "$d")"
  cp "$d"/* "$D/ADFA-LD/Attack_Data_Master/$(basename "$d")/"
done
tar -C "$tmp" --sort=name --owner=0 --group=0 --mtime=2013-01-01 -czf "$out" adfa-ld
echo "wrote $out"

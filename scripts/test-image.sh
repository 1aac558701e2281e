#!/usr/bin/env bash
# Build the minimal container image the tests use (no registry here):
# real host binaries plus their shared libraries, imported with `docker import`.
# Idempotent: does nothing when the image exists.
set -euo pipefail
IMAGE=${IMAGE:-peregrine-test:latest}
BINARIES="sh bash cat sleep echo true ls id touch rm uname whoami hostname cp chmod"
# The image is rebuilt when its binary list changes (an older image from a
# previous checkout lacks what newer tests run).
CONTENT=$(echo "$BINARIES" | sha256sum | cut -c1-16)
have=$(docker image inspect --format '{{ index .Config.Labels "pg.content" }}' "$IMAGE" 2>/dev/null || true)
if [[ "$have" == "$CONTENT" ]]; then
  exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root}
for b in $BINARIES; do
  src=$(type -P "$b")
  cp -L "$src" "$root/bin/$b"
  ldd "$src" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -Ln "$lib" "$root$lib" 2>/dev/null || true
  done
done
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
tar -C "$root" -c . | docker import -c "LABEL pg.content=$CONTENT" - "$IMAGE" >/dev/null
echo "built $IMAGE"

#!/usr/bin/env bash
# Build the Peregrine container image here, without a registry.
#
#   deploy/build-image.sh [BINARY]      (default: target/release/peregrine)
#
# 1. The base image of the collect stage (`peregrine-base:bookworm`) comes
#    from a local tarball: a debootstrap'd Debian bookworm minbase when a
#    Debian mirror answers, otherwise a minimal root filesystem made of this
#    host's own files (sh, ldd, cp, setpriv... and their libraries), the way
#    scripts/test-image.sh builds the test image. It is imported once with
#    `docker import` (PEREGRINE_BASE_TARBALL=FILE imports that tarball
#    instead; PEREGRINE_BASE=host skips debootstrap).
# 2. The build context gets the binary (debug info stripped), the
#    entrypoint and the default rules; `docker build` runs deploy/Dockerfile
#    with the classic builder (no BuildKit needed).
# Idempotent: the image is labelled with a hash of what went into it and is
# not rebuilt when that is unchanged. Env: IMAGE (default peregrine:latest),
# PEREGRINE_BASE_IMAGE (default peregrine-base:bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-peregrine:latest}
BASE_IMAGE=${PEREGRINE_BASE_IMAGE:-peregrine-base:bookworm}
BIN=${1:-target/release/peregrine}
[[ -x "$BIN" ]] || { echo "build-image: no binary at $BIN (cargo build --release -p peregrine)" >&2; exit 1; }

host_rootfs() {
  local root=$1 b src
  mkdir -p "$root"/{etc,tmp,proc,sys,dev,root}
  mkdir -p "$root/usr/bin"
  ln -s usr/bin "$root/bin"
  local libs_of=("$BIN")
  for b in sh dash bash ldd cp ln mkdir chmod chown cat echo grep printf rm setpriv dirname env; do
    src=$(type -P "$b")
    cp -L "$src" "$root/usr/bin/$b"
    [[ "$(head -c2 "$src")" == "#!" ]] || libs_of+=("$src")
  done
  # The libraries of these tools and of the binary the image will hold (the
  # collect stage resolves the binary's libraries inside this base).
  for src in "${libs_of[@]}"; do
    ldd "$src" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -Ln "$lib" "$root$lib" 2>/dev/null || true
    done
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
}

build_base() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local how=host tarball=${PEREGRINE_BASE_TARBALL:-}
  if [[ -z "$tarball" ]]; then
    tarball=$work/base.tar
    if [[ "${PEREGRINE_BASE:-}" != host ]] && command -v debootstrap >/dev/null &&
      timeout 300 debootstrap --variant=minbase bookworm "$work/root" \
        "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1; then
      how=debootstrap
    else
      rm -rf "$work/root"
      host_rootfs "$work/root"
    fi
    tar -C "$work/root" -c . >"$tarball"
  else
    how=tarball
  fi
  docker import -c "LABEL pg.base=$how" "$tarball" "$BASE_IMAGE" >/dev/null
  echo "build-image: imported $BASE_IMAGE ($how)"
}

# One build at a time (tests build the image in parallel).
exec 9>/tmp/peregrine-build-image.lock
flock 9
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || build_base

ctx=$(mktemp -d)
# Intermediate images of the collect stage are not kept, built or not.
trap 'rm -rf "$ctx"; docker image prune -f --filter label=pg.stage=collect >/dev/null 2>&1 || true' EXIT
objcopy --strip-debug "$BIN" "$ctx/peregrine" 2>/dev/null || cp "$BIN" "$ctx/peregrine"
cp deploy/docker/entrypoint.sh "$ctx/entrypoint.sh"
mkdir -p "$ctx/rules"
cp -r rules/falco-upstream rules/peregrine "$ctx/rules/"
cp deploy/Dockerfile "$ctx/Dockerfile"
base_id=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")
content=$( (cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$base_id") | sha256sum | cut -c1-16)
have=$(docker image inspect --format '{{ index .Config.Labels "pg.content" }}' "$IMAGE" 2>/dev/null || true)
if [[ "$have" == "$content" ]]; then
  echo "build-image: $IMAGE is up to date"
  exit 0
fi
old_id=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if ! log=$(DOCKER_BUILDKIT=0 docker build -q --force-rm --build-arg "BASE=$BASE_IMAGE" \
  --label "pg.content=$content" -t "$IMAGE" "$ctx" 2>&1); then
  echo "$log" >&2
  exit 1
fi
# The previous build of this tag, now untagged (kept while a container uses it).
new_id=$(docker image inspect --format '{{.Id}}' "$IMAGE")
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
  docker rmi "$old_id" >/dev/null 2>&1 || true
fi
echo "build-image: built $IMAGE"

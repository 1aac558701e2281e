#!/usr/bin/env bash
# A containerd of our own for the tests (no systemd here), next to Docker's:
# socket /run/pg-containerd/containerd.sock, state under /var/lib/pg-containerd.
# Idempotent; imports the test image (scripts/test-image.sh) into the k8s.io
# namespace when it is missing or changed. Prints the socket path.
set -euo pipefail
SOCK=/run/pg-containerd/containerd.sock
CONF=/run/pg-containerd.toml
ctr_() { ctr -a "$SOCK" "$@"; }
if ! ctr_ version >/dev/null 2>&1; then
  mkdir -p /run/pg-containerd
  cat > "$CONF" <<CONF
version = 2
root = "/var/lib/pg-containerd"
state = "/run/pg-containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
CONF
  echo "start-containerd: starting containerd (log: /tmp/peregrine-containerd.log)" >&2
  # Not in the caller's pipe: $(...) around this script must not wait for it.
  setsid containerd --config "$CONF" </dev/null >/tmp/peregrine-containerd.log 2>&1 &
  for _ in $(seq 1 60); do
    ctr_ version >/dev/null 2>&1 && break
    sleep 0.5
  done
  ctr_ version >/dev/null 2>&1 || {
    echo "start-containerd: containerd did not come up; see /tmp/peregrine-containerd.log" >&2
    tail -20 /tmp/peregrine-containerd.log >&2 || true
    exit 1
  }
fi
# The test image, by the content label test-image.sh puts on it.
want=$(docker image inspect -f '{{index .Config.Labels "pg.content"}}' peregrine-test:latest)
have=$(ctr_ -n k8s.io images ls 2>/dev/null | awk '$1 == "docker.io/library/peregrine-test:latest" {print $3}')
marker=/var/lib/pg-containerd/peregrine-test.content
if [[ -z "$have" || "$(cat "$marker" 2>/dev/null)" != "$want" ]]; then
  docker save peregrine-test:latest | ctr_ -n k8s.io images import - >/dev/null
  echo "$want" > "$marker"
fi
echo "$SOCK"

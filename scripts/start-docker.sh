#!/usr/bin/env bash
# Start dockerd in the background if no daemon answers (no systemd here).
# Machine state persists between runs: a containerd socket left behind by a
# containerd that has gone makes dockerd dial it and give up instead of
# starting its own, so a socket nobody answers on is removed first.
set -euo pipefail
if docker info >/dev/null 2>&1; then
  exit 0
fi
SYSTEM_CONTAINERD=/run/containerd/containerd.sock
if [[ -S "$SYSTEM_CONTAINERD" ]] && ! timeout 5 ctr -a "$SYSTEM_CONTAINERD" version >/dev/null 2>&1; then
  echo "start-docker: removing stale $SYSTEM_CONTAINERD (no containerd answers on it)"
  rm -f "$SYSTEM_CONTAINERD"
fi
# A dockerd still starting or hung from an earlier run holds the pid file.
if pgrep -x dockerd >/dev/null; then
  echo "start-docker: a dockerd is running but does not answer; stopping it"
  pkill -x dockerd || true
  for _ in $(seq 1 20); do pgrep -x dockerd >/dev/null || break; sleep 0.5; done
  pkill -9 -x dockerd || true
fi
echo "start-docker: starting dockerd (log: /tmp/peregrine-dockerd.log)"
setsid dockerd </dev/null >/tmp/peregrine-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "start-docker: dockerd did not come up; see /tmp/peregrine-dockerd.log" >&2
tail -20 /tmp/peregrine-dockerd.log >&2 || true
exit 1

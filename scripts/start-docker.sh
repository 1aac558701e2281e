#!/usr/bin/env bash
# Start dockerd in the background if no daemon answers (no systemd here).
set -euo pipefail
if docker info >/dev/null 2>&1; then
  exit 0
fi
echo "start-docker: starting dockerd (log: /tmp/peregrine-dockerd.log)"
nohup dockerd >/tmp/peregrine-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "start-docker: dockerd did not come up; see /tmp/peregrine-dockerd.log" >&2
tail -20 /tmp/peregrine-dockerd.log >&2 || true
exit 1

#!/usr/bin/env bash
# Benign workload: what developers and administrators do every day, run
# under `peregrine ci` with the default ruleset (Falco's stable rules +
# rules/peregrine). Every alert is a false alarm; the summary gives alerts
# per rule and per hour of work. Run as root: ./bench/benign.sh
#
# Work (each step timed; a failing step is reported, not fatal): a C build
# with make as root, apt-get install/remove (nginx and small tools), a
# systemd-less service (nginx started, queried, stopped), a `docker build`
# FROM the local peregrine-test:latest image, a debootstrap of Debian into a
# temp dir (chroot + dpkg; packages cached in /var/cache/pg-benign), the
# rootfs packed and unpacked with tar and deleted, a cargo build, git clone/
# commit/gc, useradd/usermod/userdel, sudo/su/runuser, a Python venv with pip
# installing a local wheel, docker run/exec/cp/stop, ssh-keygen, logrotate
# and admin chores (ps, df, ss, journalctl, find, grep, crontab -l, tar).
#
# Needs network for apt-get and debootstrap (first run), dockerd with
# peregrine-test:latest (scripts/test-image.sh). PEREGRINE=path/to/binary
# skips the release build; STEPS="make cargo" runs only those steps;
# KEEP=DIR keeps the SARIF report; ROUNDS=N repeats the work.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} != --inside ]]; then
  bin=${PEREGRINE:-}
  if [[ -z $bin ]]; then
    cargo build --release --quiet -p peregrine
    bin=${CARGO_TARGET_DIR:-target}/release/peregrine
  fi
  work=$(mktemp -d /tmp/pg-benign.XXXXXX)
  rules=(--rules rules/falco-upstream/falco_rules.yaml)
  for f in rules/peregrine/*.yaml; do rules+=(--rules "$f"); done
  # Alerts are collected by `peregrine ci`, which watches the script's
  # process tree and the containers it starts (not the rest of this shared
  # machine); --fail-on emergency: every alert is reported, none fails.
  "$bin" ci "${rules[@]}" --fail-on emergency --sarif "$work/alerts.sarif" \
    -- bash "$0" --inside "$work" 2>"$work/ci.log" || true
  grep '^== step\|^(step' "$work/ci.log" || true
  # Events seen and lost: an alert-free run means something only if the
  # kernel did not drop the work's events.
  grep 'dropped in the kernel' "$work/ci.log" | sed 's/^/peregrine ci: /' || true
  python3 - "$work" rules/falco-upstream/falco_rules.yaml <<'EOF'
import collections, json, os, re, sys
work, falco_file = sys.argv[1], sys.argv[2]
secs = float(open(os.path.join(work, "work-seconds")).read())
ours = set()
if os.path.exists(os.path.join(work, "containers")):
    ours = {l.strip()[:12] for l in open(os.path.join(work, "containers")) if l.strip()}
falco = set(re.findall(r"^- rule: (.+?)\s*$", open(falco_file).read(), re.M))
doc = json.load(open(os.path.join(work, "alerts.sarif")))
mine, other = [], []
for r in doc["runs"][0]["results"]:
    c = (r["properties"].get("container") or {}).get("id", "host")
    (mine if c == "host" or c[:12] in ours else other).append(r)
by = collections.Counter(r["ruleId"] for r in mine)
ex = collections.defaultdict(list)
for r in mine:
    if len(ex[r["ruleId"]]) < 3:
        ex[r["ruleId"]].append(r["message"]["text"].replace("\n", " ")[:240])
n = len(mine)
nf = sum(k for rule, k in by.items() if rule in falco)
print(f"\nbenign: {secs:.0f}s of work, {n} alert(s) = {n * 3600 / max(secs, 1):.1f} per hour of work"
      f" ({nf} from Falco's stable rules, {n - nf} from rules/peregrine)")
for rule, k in by.most_common():
    print(f"  {k:5}  {rule}{'  [Falco stable]' if rule in falco else ''}")
    for e in ex[rule]:
        print(f"           {e}")
if other:
    print(f"(not counted: {len(other)} alert(s) from containers this script did not start:"
          f" {sorted(collections.Counter(r['ruleId'] for r in other).items())})")
EOF
  if [[ -n ${KEEP:-} ]]; then mkdir -p "$KEEP" && cp "$work/alerts.sarif" "$work/ci.log" "$KEEP/"; fi
  rm -rf "$work"
  exit 0
fi

# ---- inside `peregrine ci` ----
work=$2
export DEBIAN_FRONTEND=noninteractive
cache=/var/cache/pg-benign
mkdir -p "$cache/debootstrap"
total=0

c_build() {
  local d=$work/cproj
  mkdir -p "$d/src"
  for i in $(seq 1 12); do
    printf '#include <stdio.h>\nint f%d(int x) { return x * %d; }\n' "$i" "$i" >"$d/src/f$i.c"
  done
  printf '#include <stdio.h>\nint f1(int);\nint main(void) { printf("%%d\\n", f1(2)); return 0; }\n' >"$d/src/main.c"
  cat >"$d/Makefile" <<'MK'
SRC := $(wildcard src/*.c)
OBJ := $(SRC:.c=.o)
CFLAGS := -O1 -Wall
app: $(OBJ)
	$(CC) -o $@ $^
%.o: %.c
	$(CC) $(CFLAGS) -c -o $@ $<
install: app
	install -D -m 0755 app $(DESTDIR)/usr/local/bin/app
	install -D -m 0644 /dev/null $(DESTDIR)/etc/app.conf
clean:
	rm -f app $(OBJ)
.PHONY: install clean
MK
  make -s -C "$d" -j2
  "$d/app" >/dev/null
  # A staged install (DESTDIR), as packaging does.
  make -s -C "$d" install DESTDIR="$d/stage"
  make -s -C "$d" clean
  rm -rf "$d"
}

apt_install() {
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends nginx-light tree jq logrotate >/dev/null
}

service() {
  nginx -t -q
  nginx
  curl -fs -o /dev/null http://127.0.0.1/ || true
  nginx -s stop
  sleep 1
}

apt_remove() {
  apt-get remove -y -qq --purge nginx-light nginx-common tree jq logrotate >/dev/null
  apt-get autoremove -y -qq >/dev/null
}

# Containers this script starts (alerts from other containers, which other
# work on the machine may start meanwhile, are reported apart).
note_containers() { grep -o 'Running in [0-9a-f]*' | awk '{print substr($3, 1, 12)}' >>"$work/containers"; }

docker_build() {
  docker info >/dev/null 2>&1 || { echo "(docker not running)"; return 1; }
  local d=$work/dockerctx
  mkdir -p "$d"
  printf 'hello\n' >"$d/index.html"
  # peregrine-test:latest (scripts/test-image.sh) has sh, cp, chmod, touch, ls, cat.
  cat >"$d/Dockerfile" <<'DF'
FROM peregrine-test:latest
COPY index.html /srv/index.html
RUN cp /srv/index.html /srv/copy.html && chmod 644 /srv/copy.html && touch /srv/stamp && ls /srv >/dev/null
CMD ["cat", "/srv/index.html"]
DF
  DOCKER_BUILDKIT=0 docker build --rm -t pg-benign:latest "$d" 2>&1 | note_containers
  docker run --rm --cidfile "$d/cid" pg-benign:latest >/dev/null
  cut -c1-12 "$d/cid" >>"$work/containers"
  # A long-running container: exec into it, copy a file out, stop it.
  local cid
  cid=$(docker run -d pg-benign:latest sleep 30)
  echo "${cid:0:12}" >>"$work/containers"
  docker exec "$cid" sh -c 'ls /srv >/dev/null; cat /srv/index.html >/dev/null'
  docker cp "$cid:/srv/index.html" "$d/out.html"
  docker stop -t 1 "$cid" >/dev/null
  docker rm "$cid" >/dev/null
  docker rmi -f pg-benign:latest >/dev/null
  rm -rf "$d"
}

debootstrap_step() {
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
  local t=$work/rootfs
  debootstrap --variant=minbase --cache-dir="$cache/debootstrap" bookworm "$t" \
    http://deb.debian.org/debian >/dev/null
  chroot "$t" dpkg -l >/dev/null
  chroot "$t" sh -c 'echo benign > /etc/motd; useradd -m builder; userdel -r builder 2>/dev/null || true'
}

tar_step() {
  local t=$work/rootfs
  [[ -d $t ]] || { echo "(no rootfs from the debootstrap step)"; return 1; }
  tar -C "$t" --exclude=./proc --exclude=./sys --exclude=./dev -czf "$work/rootfs.tgz" .
  rm -rf "$t"
  mkdir -p "$work/unpacked"
  tar -C "$work/unpacked" -xzf "$work/rootfs.tgz"
  ls "$work/unpacked/etc" >/dev/null
  rm -rf "$work/unpacked"
  # The rootfs as a base image, and an image built on it.
  if docker info >/dev/null 2>&1; then
    docker import "$work/rootfs.tgz" pg-benign-debian:latest >/dev/null
    local d=$work/debctx
    mkdir -p "$d"
    cat >"$d/Dockerfile" <<'DF'
FROM pg-benign-debian:latest
RUN useradd -m app && echo 'app.conf' > /etc/app.conf && dpkg -l >/dev/null
USER app
RUN id >/dev/null && echo done > /home/app/done
DF
    DOCKER_BUILDKIT=0 docker build --rm -t pg-benign-app:latest "$d" 2>&1 | note_containers
    docker rmi -f pg-benign-app:latest pg-benign-debian:latest >/dev/null
    rm -rf "$d"
  fi
  rm -f "$work/rootfs.tgz"
}

cargo_build() {
  local d=$work/hello-rs
  cargo new -q --vcs none "$d"
  (cd "$d" && CARGO_TARGET_DIR=$d/target cargo build -q --offline && ./target/debug/hello-rs >/dev/null)
  rm -rf "$d"
}

git_step() {
  rm -rf "$work/repo"
  git clone -q --depth 20 "file://$PWD" "$work/repo"
  (cd "$work/repo" && git checkout -q -b benign && echo benign >>README.md &&
    git -c user.email=b@x -c user.name=benign commit -qam benign &&
    git log --oneline >/dev/null && git gc -q)
  rm -rf "$work/repo"
}

users_step() {
  userdel -r pgbenign 2>/dev/null || true
  useradd -m -s /bin/bash pgbenign
  usermod -aG users pgbenign
  su pgbenign -c 'id >/dev/null; echo hi > ~/note'
  sudo -u pgbenign sh -c 'cat ~/note >/dev/null'
  runuser -u pgbenign -- true
  su -s /bin/sh nobody -c 'id >/dev/null'
  userdel -r pgbenign 2>/dev/null
}

python_step() {
  local d=$work/py
  mkdir -p "$d"
  python3 -m venv "$d/venv"
  # A local wheel, written by hand (no index is reached).
  python3 - "$d" <<'PY'
import base64, hashlib, sys, zipfile
d = sys.argv[1]
files = {
    "pgbenign/__init__.py": "def hello():\n    return 'hi'\n",
    "pgbenign-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: pgbenign\nVersion: 0.1\n",
    "pgbenign-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: benign\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
rec = []
with zipfile.ZipFile(f"{d}/pgbenign-0.1-py3-none-any.whl", "w") as z:
    for name, text in files.items():
        z.writestr(name, text)
        h = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        rec.append(f"{name},sha256={h},{len(text)}")
    rec.append("pgbenign-0.1.dist-info/RECORD,,")
    z.writestr("pgbenign-0.1.dist-info/RECORD", "\n".join(rec) + "\n")
PY
  "$d/venv/bin/pip" install -q --no-index "$d/pgbenign-0.1-py3-none-any.whl"
  "$d/venv/bin/python" -c 'import pgbenign; pgbenign.hello()'
  rm -rf "$d"
}

chores() {
  # Keys and logs, as a developer and an operator handle them.
  ssh-keygen -q -t ed25519 -N '' -C benign -f "$work/id_benign"
  ssh-keygen -l -f "$work/id_benign.pub" >/dev/null
  rm -f "$work/id_benign" "$work/id_benign.pub"
  mkdir -p "$work/logs"
  echo line >"$work/logs/app.log"
  printf '%s {\n  rotate 2\n  missingok\n}\n' "$work/logs/app.log" >"$work/logrotate.conf"
  logrotate -f -s "$work/logrotate.state" "$work/logrotate.conf" 2>/dev/null || true
  rm -rf "$work/logs" "$work/logrotate.conf" "$work/logrotate.state"
  ps aux >/dev/null
  df -h >/dev/null
  ss -tan >/dev/null 2>&1 || true
  uptime >/dev/null
  journalctl -n 20 >/dev/null 2>&1 || true
  find /etc -maxdepth 1 -name '*.conf' >/dev/null
  grep -r root /etc/passwd >/dev/null
  crontab -l >/dev/null 2>&1 || true
  systemctl --version >/dev/null 2>&1 || true
  tar czf "$work/docs.tgz" docs && rm -f "$work/docs.tgz"
}

run_step() {
  local name=$1 t0 t1
  if [[ -n ${STEPS:-} && " $STEPS " != *" $name "* ]]; then return 0; fi
  echo "== step $name" >&2
  t0=$(date +%s.%N)
  # In the background so that `set -e` holds inside the step (it does not
  # in a function called from an `||` list).
  (set -e; "$name") &
  wait $! || echo "(step $name failed: $?)" >&2
  t1=$(date +%s.%N)
  total=$(python3 -c "print($total + $t1 - $t0)")
  echo "(step $name: $(python3 -c "print(round($t1 - $t0, 1))") s)" >&2
}

for _ in $(seq 1 "${ROUNDS:-1}"); do
  for s in c_build apt_install service docker_build debootstrap_step tar_step \
    cargo_build git_step users_step python_step chores apt_remove; do
    run_step "$s"
  done
done
echo "$total" >"$work/work-seconds"

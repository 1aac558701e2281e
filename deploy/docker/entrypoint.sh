#!/bin/sh
# Entrypoint of the Peregrine image: `agent`, `server`, `run` or any other
# peregrine sub-command (no argument: `agent`).
# - `agent` and `run` without --rules/--config (`trace` without --rules) get
#   the rules shipped in the image: Falco's stable rules and Peregrine's
#   default ruleset.
# - The agent and `run` need root (eBPF, /proc of every process); the server
#   does not: started as root it drops to the `peregrine` user (65532) and
#   no capabilities before it starts.
set -e
[ "$#" -eq 0 ] && set -- agent
cmd=$1
case "$cmd" in
  agent | run)
    has_rules=no
    for a in "$@"; do
      case "$a" in
        --rules | --rules=* | --config | --config=*) has_rules=yes ;;
      esac
    done
    if [ "$has_rules" = no ]; then
      set -- "$@" --rules /etc/peregrine/rules/falco-upstream/falco_rules.yaml
      for f in /etc/peregrine/rules/peregrine/*.yaml; do
        set -- "$@" --rules "$f"
      done
    fi
    ;;
  trace)
    # Rules go before the `--` that starts the traced command.
    has_rules=no
    for a in "$@"; do
      [ "$a" = -- ] && break
      case "$a" in
        --rules | --rules=*) has_rules=yes ;;
      esac
    done
    if [ "$has_rules" = no ]; then
      rules="--rules /etc/peregrine/rules/falco-upstream/falco_rules.yaml"
      for f in /etc/peregrine/rules/peregrine/*.yaml; do
        rules="$rules --rules $f"
      done
      shift
      # shellcheck disable=SC2086 # the paths have no spaces
      set -- trace $rules "$@"
    fi
    ;;
esac
uid=
while read -r key value _; do
  if [ "$key" = "Uid:" ]; then
    uid=$value
    break
  fi
done </proc/self/status
if [ "$cmd" = server ] && [ "$uid" = 0 ]; then
  exec /usr/bin/setpriv --reuid=65532 --regid=65532 --clear-groups \
    --inh-caps=-all --bounding-set=-all -- /usr/bin/peregrine "$@"
fi
exec /usr/bin/peregrine "$@"

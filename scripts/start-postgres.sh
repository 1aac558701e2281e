#!/usr/bin/env bash
# Start the local PostgreSQL cluster the tests use (Debian's postgresql) and
# make sure the test role and database exist. Idempotent. Prints the URL.
set -euo pipefail
# Only the URL goes to stdout (callers capture it); everything the PostgreSQL
# tools print (e.g. pg_ctlcluster's "Removed stale pid file.") goes to stderr.
exec 3>&1 1>&2
ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
if [[ -z "$ver" ]]; then
  echo "start-postgres: PostgreSQL is not installed (bootstrap --test installs it)" >&2
  exit 1
fi
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$ver main$"; then
  pg_createcluster "$ver" main >/dev/null 3>&-
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$ver" main start 3>&-  # the server must not hold the caller's pipe
fi
port=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')
psql_su() { su postgres -s /bin/sh -c "psql -p $port -qtAX -c \"$1\"" 3>&-; }
for _ in $(seq 1 50); do
  psql_su "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.2
done
[[ "$(psql_su "SELECT 1 FROM pg_roles WHERE rolname='peregrine'")" == 1 ]] ||
  psql_su "CREATE ROLE peregrine LOGIN CREATEDB PASSWORD 'peregrine'" >/dev/null
[[ "$(psql_su "SELECT 1 FROM pg_database WHERE datname='peregrine'")" == 1 ]] ||
  psql_su "CREATE DATABASE peregrine OWNER peregrine" >/dev/null
echo "postgres://peregrine:peregrine@127.0.0.1:$port/peregrine" >&3

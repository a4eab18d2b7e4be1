#!/bin/bash
# The PostgreSQL image's entrypoint: on first start, a cluster in $PGDATA whose superuser is
# POSTGRES_USER with POSTGRES_PASSWORD (SCRAM over the network, nothing trusted but the local
# socket) and a database POSTGRES_DB; then the server in the foreground.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
: "${POSTGRES_USER:=tracker}" "${POSTGRES_DB:=tracker}"
if [[ ! -s $PGDATA/PG_VERSION ]]; then
  if [[ -z ${POSTGRES_PASSWORD:-} ]]; then
    echo "postgres-start: POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  "$bin/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [[ $POSTGRES_DB != postgres ]]; then
    "$bin/createdb" -h /var/run/postgresql -U "$POSTGRES_USER" -O "$POSTGRES_USER" "$POSTGRES_DB"
  fi
  "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres-start: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' \
  -c max_connections="${POSTGRES_MAX_CONNECTIONS:-200}" -c shared_buffers=256MB \
  -c synchronous_commit=on -c log_line_prefix='%m [%p] %q%u@%d '

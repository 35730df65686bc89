#!/bin/sh
# Initialise PGDATA once (superuser `postgres`, password from POSTGRES_PASSWORD, password
# logins from the pod network), then run Postgres in the foreground.
set -eu
data=${PGDATA:-/bitnami/postgresql/data}
port=${POSTGRESQL_PORT_NUMBER:-5432}
if [ ! -s "$data/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
  mkdir -p "$data" && chmod 700 "$data"
  password_file=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$password_file"
  initdb -D "$data" -U postgres --pwfile="$password_file" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
fi
exec postgres -D "$data" -p "$port" -c listen_addresses='*' -c unix_socket_directories=/tmp

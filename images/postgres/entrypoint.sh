#!/bin/sh
# Initialise PGDATA once, then run Postgres in the foreground. Superuser `postgres` with the
# password POSTGRES_POSTGRES_PASSWORD (or POSTGRES_PASSWORD when no other user is asked for);
# with POSTGRES_USER (the Bitnami subchart's `auth.username`), that user with POSTGRES_PASSWORD,
# owning database POSTGRES_DATABASE: Airflow connects as it, not as the superuser. Password
# logins from the pod network.
set -eu
data=${PGDATA:-/bitnami/postgresql/data}
port=${POSTGRESQL_PORT_NUMBER:-5432}
user=${POSTGRES_USER:-postgres}
if [ ! -s "$data/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
  superuser_password=$POSTGRES_PASSWORD
  if [ "$user" != postgres ]; then
    : "${POSTGRES_POSTGRES_PASSWORD:?POSTGRES_POSTGRES_PASSWORD is not set (the superuser's, beside $user's)}"
    superuser_password=$POSTGRES_POSTGRES_PASSWORD
  fi
  mkdir -p "$data" && chmod 700 "$data"
  password_file=$(mktemp)
  printf '%s' "$superuser_password" >"$password_file"
  initdb -D "$data" -U postgres --pwfile="$password_file" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  if [ "$user" != postgres ]; then
    database=${POSTGRES_DATABASE:-$user}
    quoted=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
    # Single-user mode: no server, no port open yet; one statement per line.
    printf '%s\n' "CREATE ROLE \"$user\" LOGIN PASSWORD '$quoted';" \
      "CREATE DATABASE \"$database\" OWNER \"$user\";" | postgres --single -D "$data" postgres >/dev/null
  fi
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
fi
exec postgres -D "$data" -p "$port" -c listen_addresses='*' -c unix_socket_directories=/tmp

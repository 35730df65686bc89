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

# One query in single-user mode (no server, no port open): 1 if it returns a row.
found() {
  printf '%s\n' "SELECT 1 AS found WHERE $1;" | postgres --single -D "$data" postgres 2>/dev/null \
    | grep -q 'found = "1"'
}

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
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
fi
# Every start, so that data made before the user was asked for gets it too (its database then
# starts empty: the old one stays, owned by the superuser).
if [ "$user" != postgres ]; then
  database=${POSTGRES_DATABASE:-$user}
  if ! found "EXISTS (SELECT FROM pg_roles WHERE rolname = '$user')"; then
    quoted=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
    printf '%s\n' "CREATE ROLE \"$user\" LOGIN PASSWORD '$quoted';" | postgres --single -D "$data" postgres >/dev/null
  fi
  if ! found "EXISTS (SELECT FROM pg_database WHERE datname = '$database')"; then
    printf '%s\n' "CREATE DATABASE \"$database\" OWNER \"$user\";" | postgres --single -D "$data" postgres >/dev/null
  fi
fi
exec postgres -D "$data" -p "$port" -c listen_addresses='*' -c unix_socket_directories=/tmp

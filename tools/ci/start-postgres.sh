#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests and print how to reach it.
#
#   eval "$(tools/ci/start-postgres.sh)"       # exports TEST_DATABASE_URL and TEST_PG_DATADIR
#   tools/ci/start-postgres.sh --stop "$TEST_PG_DATADIR"
#
# The cluster lives in a fresh directory under /tmp, listens on 127.0.0.1 only, on a free port, with
# trust authentication (nothing else can reach it) and durability off (fsync=off: it is thrown away).
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
# Only the export lines go to stdout; progress and errors go to stderr.
set -euo pipefail

bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  # Debian/Ubuntu keep the server binaries off PATH, one directory per major version: take the newest.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  echo "start-postgres: no PostgreSQL server binaries found (install the 'postgresql' package)" >&2
  exit 1
}

BIN=$(bindir)

as_server_user() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = "--stop" ]; then
  datadir=${2:?usage: start-postgres.sh --stop DATADIR}
  as_server_user "$BIN/pg_ctl" -D "$datadir" -m fast -w stop >&2 || true
  rm -rf "$datadir"
  exit 0
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

datadir=$(mktemp -d /tmp/pg-test.XXXXXX)
if [ "$(id -u)" = "0" ]; then
  chown postgres: "$datadir"
fi
chmod 700 "$datadir"

as_server_user "$BIN/initdb" -D "$datadir" -U postgres -E UTF8 --locale=C --auth=trust --no-sync >/dev/null

# A port taken between the check and the start (another job) makes pg_ctl fail: try a few.
port=""
for _ in 1 2 3 4 5; do
  candidate=$(free_port)
  if as_server_user "$BIN/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $candidate -k $datadir -c max_connections=300 \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null; then
    port=$candidate
    break
  fi
done
if [ -z "$port" ]; then
  echo "start-postgres: the server did not start; its log:" >&2
  cat "$datadir/server.log" >&2 || true
  exit 1
fi

# The tests' role may create databases: each PostgreSQL test gets a fresh one. pg_signal_backend: a
# test's DROP DATABASE ... WITH (FORCE) may have to end an autovacuum worker that is on that database.
as_server_user "$BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
  -c "CREATE ROLE bot LOGIN CREATEDB PASSWORD 'bot'" -c "GRANT pg_signal_backend TO bot" \
  -c "CREATE DATABASE bot OWNER bot" >&2

echo "start-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $datadir" >&2
echo "export TEST_DATABASE_URL=postgresql://bot:bot@127.0.0.1:$port/bot"
echo "export TEST_PG_DATADIR=$datadir"

#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests that need a real database.
#
#   eval "$(bash scripts/postgres.sh start)"   starts one on a free port of 127.0.0.1 and prints
#                                             `export WRIT_TEST_DATABASE_URL=…` and
#                                             `export WRIT_TEST_PG_DIR=…`
#   bash scripts/postgres.sh stop DIR           stops it and removes DIR
#
# Debian's PostgreSQL is installed with apt when missing (as root). PostgreSQL refuses to run as
# root, so as root the cluster belongs to the system user `writ-pg`, created when missing; its
# directory lives under /tmp, where that user can reach it. Clients authenticate with a random
# password (scram-sha-256) that exists only in this run's URL.
set -euo pipefail

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

as_owner() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u writ-pg -- "$@"
  else
    "$@"
  fi
}

start() {
  local bin
  if ! bin="$(pg_bin)"; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing PostgreSQL (apt-get install postgresql)" >&2
      apt-get install -y -qq postgresql >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null; }
      bin="$(pg_bin)"
    else
      echo "PostgreSQL is not installed: apt-get install postgresql" >&2
      return 1
    fi
  fi
  if [ "$(id -u)" = "0" ] && ! id writ-pg >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin writ-pg
  fi
  local dir
  dir="$(mktemp -d /tmp/writ-pg.XXXXXX)"
  chmod 700 "$dir"
  [ "$(id -u)" = "0" ] && chown writ-pg "$dir"
  local password
  password="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
  (umask 077 && printf '%s\n' "$password" > "$dir/pwfile")
  [ "$(id -u)" = "0" ] && chown writ-pg "$dir/pwfile"
  as_owner "$bin/initdb" -D "$dir/data" -U writ --pwfile="$dir/pwfile" \
    --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$dir/pwfile"
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on" \
    start >/dev/null || { cat "$dir/server.log" >&2; return 1; }
  echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)" >&2
  echo "export WRIT_TEST_PG_DIR='$dir'"
  echo "export WRIT_TEST_DATABASE_URL='postgres://writ:$password@127.0.0.1:$port/postgres'"
}

stop() {
  local dir="${1:?usage: postgres.sh stop DIR}" bin
  case "$dir" in /tmp/writ-pg.*) ;; *) echo "not a test cluster: $dir" >&2; return 1 ;; esac
  bin="$(pg_bin)" || return 0
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: scripts/postgres.sh start | stop DIR" >&2; exit 2 ;;
esac

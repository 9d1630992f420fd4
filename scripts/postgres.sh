#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the tests (Debian's packages), never a shared server:
#
#   eval "$(bash scripts/postgres.sh start)"   # prints export WRIT_TEST_POSTGRES_URL=… and WRIT_PG_DIR=…
#   bash scripts/postgres.sh env  [DIR]        # prints them again
#   bash scripts/postgres.sh stop [DIR]        # stops the server and removes DIR
#   bash scripts/postgres.sh pause DIR         # stops the server, keeping DIR (an outage)
#   bash scripts/postgres.sh resume DIR        # starts it again on the same port
#
# `start` installs postgresql-15 with apt when its binaries are missing, initdb's a cluster into
# a new temporary directory, and starts it on a free port of 127.0.0.1 only (no other address,
# and its Unix socket inside that directory). PostgreSQL refuses to run as root: as root the
# server runs as the unprivileged system user `writ-pg` (created when missing). TCP connections
# are accepted from 127.0.0.1 only, with a random password (scram-sha-256) that exists only in
# this run's URL (the `url` file in DIR is mode 0600); the Unix socket takes peer auth. The
# cluster is a test fixture: test data only, removed by `stop`. DIR defaults to $WRIT_PG_DIR.
# (Grown from the seed's script: same user, password and loopback rules, plus `env`, the
# PostgreSQL 15 binaries the issue names, and the variable names the tests read.)
set -euo pipefail

PG_BIN=${WRIT_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=writ-pg

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

# Runs a command as the server's user (as root: writ-pg; otherwise: the caller).
as_pg() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

ensure_installed() {
  if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]; then
    return
  fi
  [ "$(id -u)" = "0" ] || die "$PG_BIN/initdb is missing; install postgresql-15 (apt-get install postgresql-15)"
  echo "postgres.sh: installing postgresql-15" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql-15 >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql-15 >&2; }
  [ -x "$PG_BIN/initdb" ] || die "postgresql-15 did not install $PG_BIN/initdb"
}

ensure_user() {
  [ "$(id -u)" = "0" ] || return 0
  if ! id -u "$PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
  fi
}

# A port on 127.0.0.1 that nothing listens on now (the server start retries on a race).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free port found on 127.0.0.1"
}

print_env() {
  local dir=$1
  [ -f "$dir/url" ] || die "$dir holds no test server (no url file)"
  echo "export WRIT_TEST_POSTGRES_URL=$(cat "$dir/url")"
  echo "export WRIT_PG_DIR=$dir"
}

start() {
  ensure_installed
  ensure_user
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/writ-pg.XXXXXX")
  chmod 700 "$dir"
  mkdir -m 700 "$dir/data"
  if [ "$(id -u)" = "0" ]; then
    chown -R "$PG_USER" "$dir"
  fi
  local password
  password=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
  (umask 077 && printf '%s\n' "$password" >"$dir/pwfile")
  if [ "$(id -u)" = "0" ]; then
    chown "$PG_USER" "$dir/pwfile"
  fi
  as_pg "$PG_BIN/initdb" -D "$dir/data" -U writ --pwfile="$dir/pwfile" \
    --auth-host=scram-sha-256 --auth-local=peer --encoding=UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { rm -f "$dir/pwfile"; cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"
  # Loopback only: no other host line, and the server listens on 127.0.0.1 alone.
  cat >"$dir/data/pg_hba.conf" <<'EOF'
local all all peer
host  all all 127.0.0.1/32 scram-sha-256
EOF
  local port started=""
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if pg_start "$dir" "$port"; then
      started=1
      break
    fi
  done
  [ -n "$started" ] || { tail -20 "$dir/server.log" >&2 || true; die "the server did not start"; }
  echo "$port" >"$dir/port"
  (umask 077 && echo "postgres://writ:$password@127.0.0.1:$port/postgres" >"$dir/url")
  print_env "$dir"
}

pg_start() {
  as_pg "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $2 -c unix_socket_directories=$1 -c max_connections=300 -c shared_buffers=64MB" \
    start >&2
}

own_dir() {
  local dir=$1
  [ -n "$dir" ] || die "which directory? (argument or WRIT_PG_DIR)"
  case "$dir" in
    "${TMPDIR:-/tmp}"/writ-pg.*) ;;
    *) die "$dir is not a directory this script made" ;;
  esac
}

# An outage for the fail-closed tests: the server stops (fast shutdown: connections are
# closed), its data stays, and `resume` starts it on the same port.
pause() {
  own_dir "$1"
  as_pg "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >&2
}

resume() {
  own_dir "$1"
  [ -f "$1/port" ] || die "$1 has no port file"
  pg_start "$1" "$(cat "$1/port")"
}

stop() {
  local dir=${1:-${WRIT_PG_DIR:-}}
  own_dir "$dir"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  env) print_env "${2:-${WRIT_PG_DIR:-}}" ;;
  pause) pause "${2:-}" ;;
  resume) resume "${2:-}" ;;
  *) die "usage: $0 start|stop [DIR]|env [DIR]|pause DIR|resume DIR" ;;
esac

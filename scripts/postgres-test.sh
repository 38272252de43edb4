#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (and the cluster demo).
#
#   scripts/postgres-test.sh start URLFILE   initdb + start in a new temporary
#                                            directory; writes the server's
#                                            connection URL (database
#                                            bastion_test) into URLFILE
#   scripts/postgres-test.sh stop URLFILE    stops it and removes the directory
#   scripts/postgres-test.sh pause URLFILE   stops it as a crash would (immediate),
#                                            keeping its data (outage tests)
#   scripts/postgres-test.sh resume URLFILE  starts it again after pause
#
# The server listens on a Unix socket in its directory only (no TCP port, so
# parallel runs never collide) and asks every connection for a password
# (SCRAM), a random one made here and kept in the URL: a test's connection
# process, which cannot read the gateway's configuration, must not get in
# (tests/e2e/monitor_test.cpp). When run as
# root it runs as the "postgres" user (initdb refuses root). It is tuned for
# tests, not for keeping data: fsync is off (a crash of the machine loses it;
# nothing here outlives the test run), unless BASTION_POSTGRES_DURABLE=1
# (benchmarks: commits are fsync'd as in production). If PostgreSQL is not installed, start
# writes "unavailable: REASON" instead of a URL, and the PostgreSQL tests
# skip with that reason.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|pause|resume URLFILE" >&2
  exit 2
}
[ $# -eq 2 ] || usage
action=$1
urlfile=$2

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then
    echo "$d"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

# Starts the server in DIR (its data in DIR/data, its socket in DIR).
start_server() {
  local bin=$1 dir=$2 durability="-c fsync=off -c full_page_writes=off"
  [ "${BASTION_POSTGRES_DURABLE:-0}" = 1 ] && durability=""
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' $durability -c max_connections=300 -c shared_buffers=64MB" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$action" in
  start)
    bin=$(bindir)
    if [ -z "$bin" ]; then
      echo "unavailable: PostgreSQL is not installed (apt-get install postgresql)" >"$urlfile"
      echo "postgres-test: PostgreSQL is not installed; its tests will skip" >&2
      exit 0
    fi
    if [ "$(id -u)" -eq 0 ] && ! getent passwd postgres >/dev/null; then
      echo "unavailable: running as root and there is no postgres user to run the server as" >"$urlfile"
      exit 0
    fi
    # A server left by an interrupted run: stop it first.
    if [ -f "$urlfile" ]; then "$0" stop "$urlfile" || true; fi
    dir=$(mktemp -d /tmp/bastion-postgres-XXXXXX)
    chmod 0755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    user=$(as_owner id -un)
    password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    (umask 077 && echo "$password" >"$dir/pwfile")
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir/pwfile"; fi
    as_owner "$bin/initdb" -D "$dir/data" --auth=scram-sha-256 --pwfile="$dir/pwfile" --username="$user" \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/pwfile"
    start_server "$bin" "$dir"
    PGPASSWORD=$password as_owner "$bin/createdb" -h "$dir" -U "$user" bastion_test
    # The tests keep each deployment in a schema of its own and drop it after:
    # the audit log's trigram extension lives in public, made once, so that
    # no deployment's schema takes it (and others' indexes) when dropped.
    PGPASSWORD=$password as_owner "$bin/psql" -h "$dir" -U "$user" -d bastion_test -qc \
      "CREATE EXTENSION pg_trgm SCHEMA public" >/dev/null
    (umask 077 && echo "postgresql://$user:$password@/bastion_test?host=$dir" >"$urlfile")
    echo "$dir" >"$urlfile.dir"
    ;;
  stop)
    [ -f "$urlfile.dir" ] || { rm -f "$urlfile"; exit 0; }
    dir=$(cat "$urlfile.dir")
    bin=$(bindir)
    if [ -n "$bin" ] && [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    case "$dir" in /tmp/bastion-postgres-*) rm -rf "$dir" ;; esac
    rm -f "$urlfile" "$urlfile.dir"
    ;;
  pause|resume)
    [ -f "$urlfile.dir" ] || { echo "postgres-test: no server started with $urlfile" >&2; exit 1; }
    dir=$(cat "$urlfile.dir")
    bin=$(bindir)
    if [ "$action" = pause ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    else
      start_server "$bin" "$dir"
    fi
    ;;
  *) usage ;;
esac

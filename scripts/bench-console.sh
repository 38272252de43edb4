#!/usr/bin/env bash
# Web console server time (not a test): what the monitor spends answering a
# console page (gateway/app/console_web.h) on a large deployment (default
# 10,000 people, 1,000 targets, 100 customers, 100,000 requests and grants,
# 100,000 sessions with 10 commands each, and 1,000,000 audit records of
# history), p50 and p99
# over 200 calls per page (20 for the Recordings and Audit pages). Writes
# bench/RESULTS-console.md.
#
#   scripts/bench-console.sh [--people N] [--targets N] [--elevations N] [--sessions N] [--audit N] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --people|--targets|--elevations|--sessions|--audit|--rounds)
      [ $# -ge 2 ] || { echo "bench-console.sh: $1 needs a number" >&2; exit 2; }
      args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-console.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh
./scripts/build.sh bastion-bench >/dev/null
work="$(mktemp -d /tmp/bastion-bench-console-XXXXXX)"
trap 'rm -rf "$work"' EXIT
rows="$(./build/bench/bastion-bench --dir "$work" console "${args[@]}")"
{
  echo "# Web console: server time per page"
  echo
  echo "Measured by \`scripts/bench-console.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, SQLite (WAL)."
  echo "Server time: one \`ConsoleWeb::call\` in the monitor, from the web process's call to its answer"
  echo "(session check, policy, queries, JSON); TLS and HTML rendering in the web process are not in it."
  echo
  echo "| what | result |"
  echo "|---|---|"
  echo "$rows"
} > bench/RESULTS-console.md
cat bench/RESULTS-console.md

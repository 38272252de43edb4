#!/usr/bin/env bash
# The restore drill's timings (not a test): a deployment whose audit log
# holds N records (default 1,000,000), then `bastionctl backup` (plain and
# encrypted), `bastionctl restore` (which checks every file and verifies the
# whole audit chain), and `bastionctl audit verify` alone. Writes
# bench/RESULTS-backup.md.
#
#   scripts/bench-backup.sh [--records N]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
records=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --records) records="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-backup.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh
./scripts/build.sh bastionctl bastion-bench >/dev/null
ctl="$root/build/gateway/bastionctl"
work="$(mktemp -d /tmp/bastion-bench-backup-XXXXXX)"
trap 'rm -rf "$work"' EXIT
"$ctl" init --state-dir "$work/state" >/dev/null
cfg="$work/state/bastion.toml"
secs() { python3 -c 'import sys,time; print(f"{time.time():.3f}")'; }
t0=$(secs); "$root/build/bench/bastion-bench" fill-audit --database "$work/state/bastion.db" --records "$records"; t1=$(secs)
"$ctl" --config "$cfg" audit checkpoint >/dev/null
db_mib=$(du -m "$work/state/bastion.db" | cut -f1)
"$ctl" recording keygen --out "$work/operator" >/dev/null

row() { printf '| %s | %s s | %s |\n' "$1" "$2" "$3"; }
elapsed() { python3 -c "print(f'{$2 - $1:.1f}')"; }
{
  echo "# Backup and restore drill"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores; a deployment made by \`bastionctl init\` whose audit log holds"
  echo "$records records (appended by \`bastion-bench fill-audit\` in $(elapsed "$t0" "$t1") s, then signed by a checkpoint);"
  echo "the SQLite file is ${db_mib} MiB. scripts/bench-backup.sh."
  echo
  echo "| step | time | size / result |"
  echo "|---|---|---|"
  a=$(secs); "$ctl" --config "$cfg" backup --out "$work/plain.tar" >"$work/b1.log"; b=$(secs)
  row "bastionctl backup (online snapshot + tar)" "$(elapsed "$a" "$b")" "$(du -m "$work/plain.tar" | cut -f1) MiB"
  a=$(secs); "$ctl" --config "$cfg" backup --out "$work/sealed.backup" --encrypt-to "$work/operator.pub" >"$work/b2.log"; b=$(secs)
  row "bastionctl backup --encrypt-to (X25519 + AES-256-GCM)" "$(elapsed "$a" "$b")" "$(du -m "$work/sealed.backup" | cut -f1) MiB"
  a=$(secs); "$ctl" restore "$work/plain.tar" --state-dir "$work/r1" >"$work/r1.log"; b=$(secs)
  row "bastionctl restore (files + whole audit chain verified)" "$(elapsed "$a" "$b")" "$(grep -o 'audit log intact: [0-9]* records' "$work/r1.log")"
  a=$(secs); "$ctl" restore "$work/sealed.backup" --state-dir "$work/r2" --identity "$work/operator.key" >"$work/r2.log"; b=$(secs)
  row "bastionctl restore of the encrypted one" "$(elapsed "$a" "$b")" "$(grep -o 'audit log intact: [0-9]* records' "$work/r2.log")"
  a=$(secs); "$ctl" --config "$work/r1/bastion.toml" audit verify >"$work/v.log"; b=$(secs)
  row "of which: bastionctl audit verify alone" "$(elapsed "$a" "$b")" "$(grep -o '[0-9]* records' "$work/v.log" | head -1)"
} | tee bench/RESULTS-backup.md

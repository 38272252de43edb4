#!/usr/bin/env bash
# Evidence pack timings (not a test): a deployment whose audit log holds N
# records (default 1,000,000), then `bastionctl evidence export` of the
# period that holds them all and `bastion-verify` of the pack, with the time
# and peak memory of each. Writes bench/RESULTS-evidence.md.
#
#   scripts/bench-evidence.sh [--records N]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
records=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --records) records="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-evidence.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh
./scripts/build.sh bastionctl bastion-verify bastion-bench >/dev/null
ctl="$root/build/gateway/bastionctl"
verify="$root/build/gateway/bastion-verify"
work="$(mktemp -d /tmp/bastion-bench-evidence-XXXXXX)"
trap 'rm -rf "$work"' EXIT
"$ctl" init --state-dir "$work/state" >/dev/null
cfg="$work/state/bastion.toml"
# Runs a command; prints "SECONDS PEAK_RSS_MIB" of it (its output goes to $work/last.log).
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
with open(sys.argv[1], "w") as log:
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
took = time.time() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{took:.1f} {rss:.0f} {rc}")
PY
}
read -r fill_s _ _ < <(measure "$work/fill.log" "$root/build/bench/bastion-bench" fill-audit --database "$work/state/bastion.db" --records "$records")
"$ctl" --config "$cfg" audit checkpoint >/dev/null
db_mib=$(du -m "$work/state/bastion.db" | cut -f1)
from=$(date -u -d yesterday +%Y-%m-%d); to=$(date -u -d tomorrow +%Y-%m-%d)
read -r exp_s exp_rss exp_rc < <(measure "$work/export.log" "$ctl" --config "$cfg" evidence export --from "$from" --to "$to" --out "$work/pack.tar")
[ "$exp_rc" = 0 ] || { cat "$work/export.log" >&2; exit 1; }
pack_mib=$(du -m "$work/pack.tar" | cut -f1)
read -r ver_s ver_rss ver_rc < <(measure "$work/verify.log" "$verify" --expect-key "$work/state/audit_signing_key.pub" "$work/pack.tar")
[ "$ver_rc" = 0 ] || { cat "$work/verify.log" >&2; exit 1; }
read -r aud_s aud_rss _ < <(measure "$work/audit.log" "$ctl" --config "$cfg" audit verify)
{
  echo "# Evidence pack export and offline verification"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores; a deployment made by \`bastionctl init\` whose audit log holds"
  echo "$records records (appended by \`bastion-bench fill-audit\` in ${fill_s} s, then signed by a checkpoint);"
  echo "the SQLite file is ${db_mib} MiB. The period exported is the one that holds them all. scripts/bench-evidence.sh."
  echo
  echo "| step | time | peak memory | result |"
  echo "|---|---|---|---|"
  echo "| bastionctl evidence export | ${exp_s} s | ${exp_rss} MiB | ${pack_mib} MiB pack |"
  echo "| bastion-verify (offline, every check) | ${ver_s} s | ${ver_rss} MiB | $(grep -o 'RESULT: [A-Z]*' "$work/verify.log") |"
  echo "| for comparison: bastionctl audit verify (the database) | ${aud_s} s | ${aud_rss} MiB | $(grep -o 'audit log intact: [0-9]* records' "$work/audit.log") |"
} | tee bench/RESULTS-evidence.md

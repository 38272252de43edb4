#!/usr/bin/env bash
# Benchmarks (not tests): prints a markdown table and writes bench/RESULTS.md.
#   scripts/bench.sh [--quick]      --quick: smaller sizes, for a smoke run
# Everything runs on loopback: a real sshd target, bastiond, the OpenSSH client.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
./scripts/deps.sh
./scripts/build.sh bastiond bastionctl bastion-softkey bastion-bench >/dev/null

stream_mib=1024; cast_mib=1024; records=20000; runs=3
if [ "$quick" = 1 ]; then stream_mib=64; cast_mib=32; records=2000; runs=1; fi

work="$(mktemp -d /tmp/bastion-bench-XXXXXX)"
cleanup() {
  [ -f "$work/bastiond.pid" ] && kill "$(cat "$work/bastiond.pid")" 2>/dev/null || true
  [ -f "$work/sshd.pid" ] && kill "$(cat "$work/sshd.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bin="$root/build/gateway"
softkey="$root/build/tests/softkey/libbastion-softkey.so"
login="$(id -un)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw_port=$(free_port); t_port=$(free_port)

"$bin/bastionctl" init --state-dir "$work/state" --listen "127.0.0.1:$gw_port" >/dev/null
ctl() { "$bin/bastionctl" --config "$work/state/bastion.toml" "$@"; }
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/direct_key"
ctl ca show > "$work/ca.pub"
cat > "$work/sshd_config" <<CFG
Port $t_port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
TrustedUserCAKeys $work/ca.pub
AuthorizedKeysFile $work/direct_key.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
CFG
/usr/sbin/sshd -f "$work/sshd_config" -E "$work/sshd.log"
ctl target add rec-on --address "127.0.0.1:$t_port" --host-key "$work/host_key.pub" --label bench=1 >/dev/null
ctl target add rec-off --address "127.0.0.1:$t_port" --host-key "$work/host_key.pub" --label bench=1 --recording off >/dev/null
ctl role add bench --targets 'bench=1' --logins "$login" >/dev/null
ctl user add bencher --role bench >/dev/null
ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -f "$work/sk"
ctl key add bencher "$work/sk.pub" >/dev/null
echo "[127.0.0.1]:$gw_port $(cat "$work/state/ssh_host_ed25519_key.pub")" > "$work/known_hosts"
"$bin/bastiond" --config "$work/state/bastion.toml" >"$work/bastiond.log" 2>&1 &
echo $! > "$work/bastiond.pid"
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null && break; sleep 0.1; done

gw=(ssh -F /dev/null -p "$gw_port" -i "$work/sk" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes
    -o UserKnownHostsFile="$work/known_hosts" -o SecurityKeyProvider="$softkey")
direct=(ssh -F /dev/null -p "$t_port" -i "$work/direct_key" -o IdentitiesOnly=yes -o IdentityAgent=none
        -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
bytes=$((stream_mib * 1048576))
# Median of $runs timings of a command that streams $bytes to /dev/null.
median_s() {
  local times=()
  for _ in $(seq "$runs"); do
    local t0 t1; t0=$(date +%s%N); "$@" "head -c $bytes /dev/zero" > /dev/null; t1=$(date +%s%N)
    times+=("$(( (t1 - t0) / 1000000 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}
d=$(median_s "${direct[@]}" "$login@127.0.0.1")
on=$(median_s "${gw[@]}" "$login@rec-on@127.0.0.1")
off=$(median_s "${gw[@]}" "$login@rec-off@127.0.0.1")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mibs() { awk -v s="$1" -v m="$stream_mib" 'BEGIN {printf "%.0f MiB/s", m / s}'; }

{
  echo "# bastion benchmarks"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r); medians of $runs runs where timed end to end."
  echo
  echo "| what | size | time | rate / ratio |"
  echo "|---|---|---|---|"
  echo "| exec stream target->client, direct sshd | $stream_mib MiB | ${d} s | $(mibs "$d") (baseline) |"
  echo "| ... through bastiond, recording on | $stream_mib MiB | ${on} s | $(mibs "$on"), x$(ratio "$on" "$d") of direct |"
  echo "| ... through bastiond, recording off | $stream_mib MiB | ${off} s | $(mibs "$off"), x$(ratio "$off" "$d") of direct |"
  "$root/build/bench/bastion-bench" --dir "$work" audit --records "$records" --procs 1
  "$root/build/bench/bastion-bench" --dir "$work" audit --records "$records" --procs 8
  "$root/build/bench/bastion-bench" --dir "$work" recordings --mib "$cast_mib"
} | tee "$root/bench/RESULTS.md"

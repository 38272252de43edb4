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

# Leaver to last disconnect: N live sessions of one person, a leaver file
# renamed into the spool, time until the last ssh client has exited; with
# 10,000 (quick: 1,000) people in the database.
people=10000; rounds_1=20; rounds_10=10; rounds_100=5
if [ "$quick" = 1 ]; then people=1000; rounds_1=3; rounds_10=2; rounds_100=1; fi
python3 - "$people" > "$work/people.jsonl" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print('{"event_id":"bench-j%d","type":"joiner","employee_id":"BJ%d","username":"bj%d","department":"Bench"}' % (i, i, i))
PY
ctl hr apply "$work/people.jsonl" > /dev/null
spool="$work/state/hr/incoming"
# percentile P of the numbers on stdin (nearest rank)
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((p/100)*NR+0.999); if (i<1) i=1; if (i>NR) i=NR; print a[i]}'; }
leaver_round() {  # $1 = sessions, $2 = round; prints milliseconds
  local n=$1 who="lv$1x$2" pids=() i
  ctl user add "$who" --role bench --employee-id "EMP-$who" > /dev/null
  ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -f "$work/$who" -C "$who"
  ctl key add "$who" "$work/$who.pub" > /dev/null
  local key=(ssh -F /dev/null -p "$gw_port" -i "$work/$who" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes
             -o UserKnownHostsFile="$work/known_hosts" -o SecurityKeyProvider="$softkey")
  for ((i = 0; i < n; i++)); do
    "${key[@]}" "$login@rec-off@127.0.0.1" "echo up; exec sleep 600" > "$work/$who.$i.out" 2>/dev/null &
    pids+=($!)
    # stay under the per-source pre-auth cap: let each wave of 8 log in
    if (( i % 8 == 7 )); then
      for ((j = i - 7; j <= i; j++)); do
        for _ in $(seq 100); do grep -q up "$work/$who.$j.out" 2>/dev/null && break; sleep 0.05; done
      done
    fi
  done
  for ((i = 0; i < n; i++)); do
    for _ in $(seq 200); do grep -q up "$work/$who.$i.out" 2>/dev/null && break; sleep 0.05; done
  done
  echo "{\"event_id\":\"bench-leave-$who\",\"type\":\"leaver\",\"employee_id\":\"EMP-$who\"}" > "$work/$who.jsonl"
  local t0 t1; t0=$(date +%s%N)
  mv "$work/$who.jsonl" "$spool/$who.jsonl"
  wait "${pids[@]}" 2>/dev/null || true
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
leaver_row() {  # $1 = sessions, $2 = rounds
  local ms=()
  for r in $(seq "$2"); do ms+=("$(leaver_round "$1" "$r")"); done
  local p50 p99; p50=$(printf '%s\n' "${ms[@]}" | pct 50); p99=$(printf '%s\n' "${ms[@]}" | pct 99)
  echo "| leaver file -> last of $1 live session(s) gone, $people people in the database | $2 rounds | p50 ${p50} ms | p99 ${p99} ms (target < 1000 ms) |"
}
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
  leaver_row 1 "$rounds_1"
  leaver_row 10 "$rounds_10"
  leaver_row 100 "$rounds_100"
  "$root/build/bench/bastion-bench" --dir "$work" audit --records "$records" --procs 1
  "$root/build/bench/bastion-bench" --dir "$work" audit --records "$records" --procs 8
  "$root/build/bench/bastion-bench" --dir "$work" recordings --mib "$cast_mib"
} | tee "$root/bench/RESULTS.md"

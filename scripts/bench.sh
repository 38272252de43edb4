#!/usr/bin/env bash
# Benchmarks (not tests): bastiond against the alternatives people already
# have, measured in one run on this machine, alternating runs, medians and
# ratios. Prints markdown tables and writes bench/RESULTS.md.
#
#   scripts/bench.sh [--quick] [--storms-only] [--recording-only]
#   (several gateway nodes on one PostgreSQL: scripts/bench-cluster.sh)
#     --quick           small sizes and few runs (a smoke run, a few minutes)
#     --storms-only     only the login storms (section 6); writes bench/RESULTS-storms.md (not
#                       with --quick), leaves bench/RESULTS.md alone
#     --recording-only  only what recording costs: throughput, keystroke latency and
#                       bytes on disk (sections 1, 3 and 7); writes bench/RESULTS-recording.md
#                       (not with --quick), leaves bench/RESULTS.md alone
#
# Paths compared (all on loopback, same target sshd, same client):
#   direct    ssh to the target's sshd
#   ssh -J    through a second sshd used as a jump host (ProxyJump)
#   force     an sshd whose ForceCommand runs ssh to the target (the classic recording bastion)
#   gw rec    bastiond, recording on (asciicast + digests)
#   gw norec  bastiond, recording off
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
quick=0; storms_only=0; recording_only=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --storms-only) storms_only=1 ;;
    --recording-only) recording_only=1 ;;
    *) echo "bench.sh: unknown argument $a (usage: scripts/bench.sh [--quick] [--storms-only] [--recording-only])" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh
command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }
./scripts/build.sh bastiond bastionctl bastion-softkey bastion-bench >/dev/null

# sizes and counts
stream_mib=1024; scp_mib=256; runs=3; setup_runs=50; par_logins=40; keys=200
cast_mib=1024; records=20000
people=10000; rounds_1=20; rounds_10=10; rounds_100=5; kill_rounds=20
scale_levels="1 100 500 1000"
bursts="100 500"; storm_per_minute=1000; storm_minutes=10; storm_hold=12
if [ "$quick" = 1 ]; then
  stream_mib=64; scp_mib=16; runs=1; setup_runs=8; par_logins=8; keys=40
  cast_mib=32; records=2000
  people=1000; rounds_1=3; rounds_10=2; rounds_100=1; kill_rounds=3
  scale_levels="1 20"
  bursts="20 50"; storm_per_minute=120; storm_minutes=1
fi

work="$(mktemp -d /tmp/bastion-bench-XXXXXX)"
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null || true
  for p in bastiond sshd jump force; do
    [ -f "$work/$p.pid" ] && kill "$(cat "$work/$p.pid")" 2>/dev/null || true
  done
  rm -rf "$work" /dev/shm/bastion-bench-upload 2>/dev/null || true
}
trap cleanup EXIT
bin="$root/build/gateway"
softkey="$root/build/tests/softkey/libbastion-softkey.so"
login="$(id -un)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw_port=$(free_port); t_port=$(free_port); j_port=$(free_port); f_port=$(free_port)
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
# percentile P (nearest rank) of the numbers on stdin
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((p/100)*NR+0.999); if (i<1) i=1; if (i>NR) i=NR; print a[i]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "-"; else printf "%.2f", a / b}'; }

# --- the deployment -----------------------------------------------------------
"$bin/bastionctl" init --state-dir "$work/state" --listen "127.0.0.1:$gw_port" >/dev/null
ctl() { "$bin/bastionctl" --config "$work/state/bastion.toml" "$@"; }
# The pre-auth limits stay at their defaults (the login storms measure them).
# Logins are measured without the WebAuthn step-up (a person in a browser is
# not what is benchmarked) and keys are enrolled without attestation.
# The HR circuit breaker would hold the revocation rounds' leaver files (each
# makes one of a handful of active people a leaver): it has its own tests.
sed -i 's/^require_attestation = true/require_attestation = false/; s/^max_leaver_share = 0.1 /max_leaver_share = 1.0 /' \
  "$work/state/bastion.toml"
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
mkdir -p "$work/home"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/direct_key"
ctl ca show > "$work/ca.pub"
cat > "$work/force.sh" <<SH
#!/bin/sh
# ForceCommand: run the person's command (or a shell) on the target with ssh.
if [ -n "\$SSH_ORIGINAL_COMMAND" ]; then
  exec ssh -F $work/ssh_config -T direct "\$SSH_ORIGINAL_COMMAND"
fi
exec ssh -F $work/ssh_config -tt direct
SH
chmod 755 "$work/force.sh"
sshd_conf() {  # name port [extra lines]
  cat > "$work/$1.conf" <<CFG
Port $2
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/$1.pid
TrustedUserCAKeys $work/ca.pub
AuthorizedKeysFile $work/direct_key.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
MaxStartups 1000
MaxSessions 50
AllowTcpForwarding yes
Subsystem sftp internal-sftp
# The login shell reads ~/.bashrc; root's on these machines runs pyenv's
# setup (about 0.3 s of CPU per login), which is not what is measured here.
SetEnv HOME=$work/home
$3
CFG
  /usr/sbin/sshd -f "$work/$1.conf" -E "$work/$1.log"
}
sshd_conf sshd "$t_port" ""
sshd_conf jump "$j_port" ""
sshd_conf force "$f_port" "ForceCommand $work/force.sh"
ctl target add rec-on --address "127.0.0.1:$t_port" --host-key "$work/host_key.pub" --label bench=1 >/dev/null
ctl target add rec-off --address "127.0.0.1:$t_port" --host-key "$work/host_key.pub" --label bench=1 --recording off >/dev/null
ctl role add bench --targets 'bench=1' --logins "$login" --step-up none >/dev/null
ctl user add bencher --role bench >/dev/null
ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -f "$work/sk"
ctl key add bencher "$work/sk.pub" >/dev/null
# (ssh_config: the first value found wins, so the catch-all block comes last)
cat > "$work/ssh_config" <<CFG
Host direct
  Port $t_port
Host jumphost
  Port $j_port
Host jump
  Port $t_port
  ProxyJump jumphost
Host force
  Port $f_port
Host gw-rec
  Port $gw_port
  User $login@rec-on
  IdentityFile $work/sk
  SecurityKeyProvider $softkey
Host gw-norec
  Port $gw_port
  User $login@rec-off
  IdentityFile $work/sk
  SecurityKeyProvider $softkey
Host *
  IdentitiesOnly yes
  IdentityAgent none
  BatchMode yes
  LogLevel ERROR
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  HostName 127.0.0.1
  IdentityFile $work/direct_key
  User $login
CFG
"$bin/bastiond" --config "$work/state/bastion.toml" >"$work/bastiond.log" 2>&1 &
echo $! > "$work/bastiond.pid"
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null && break; sleep 0.1; done
S=(ssh -F "$work/ssh_config")
paths="direct jump force gw-rec gw-norec"
label() { case "$1" in direct) echo "direct sshd";; jump) echo "ssh -J via sshd";; force) echo "sshd ForceCommand ssh";;
  gw-rec) echo "bastiond, recording on";; gw-norec) echo "bastiond, recording off";; esac; }
for p in $paths; do "${S[@]}" "$p" true || { echo "bench: path $p does not work" >&2; cat "$work"/*.log >&2; exit 1; }; done

# --- 6. login storms (first when --storms-only) -------------------------------------
# Every login runs `echo admitted; sleep`, from one source address, with
# Ansible's connect timeout (10 s, which covers the SSH banner exchange).
storm_ssh=("${S[@]}" -o ConnectTimeout=10 gw-norec)
storm_tables() {
  echo "| burst | admitted | refused | last admitted, after the first ssh started | login latency p50 | p99 |"
  echo "|---|---|---|---|---|---|"
  for n in $bursts; do
    python3 "$root/bench/storm.py" burst --count "$n" --hold 10 --log-dir "$work/burst-$n" -- "${storm_ssh[@]}" || true
    sleep 12  # the burst's sessions end
  done
  echo
  echo "Sustained: $storm_per_minute logins per minute for $storm_minutes minute(s), each session held ${storm_hold} s" \
       "($((storm_per_minute * storm_hold / 60)) open at a time). bastiond and all its processes, sampled at the end of each minute:"
  echo
  echo "| minute | logins started | admitted | refused | sessions open | PSS | PSS per connection process | descriptors | processes |"
  echo "|---|---|---|---|---|---|---|---|---|"
  python3 "$root/bench/storm.py" sustained --per-minute "$storm_per_minute" --minutes "$storm_minutes" \
    --hold "$storm_hold" --bastiond-pid "$(cat "$work/bastiond.pid")" --log-dir "$work/sustained" -- "${storm_ssh[@]}" || true
}
if [ "$storms_only" = 1 ]; then
  {
    echo "# Login storms (scripts/bench.sh --storms-only)"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r), $(ssh -V 2>&1). One source address, recording off, default pre-auth limits."
    echo
    storm_tables
  } | tee "$work/RESULTS-storms.md"
  [ "$quick" = 1 ] || cp "$work/RESULTS-storms.md" "$root/bench/RESULTS-storms.md"
  exit 0
fi

# --- 1. throughput ---------------------------------------------------------------
bytes=$((stream_mib * 1048576))
head -c $((scp_mib * 1048576)) /dev/urandom > "$work/upload.bin"
# Incompressible data, staged to a file first (urandom itself is slower than the paths).
head -c "$bytes" /dev/urandom > "$work/random.bin"
declare -A t_down t_up t_scp t_rdown t_rup
for p in $paths; do t_down[$p]=""; t_up[$p]=""; t_scp[$p]=""; t_rdown[$p]=""; t_rup[$p]=""; done
for _ in $(seq "$runs"); do
  for p in $paths; do  # alternate paths within each run
    t0=$(ms_now); "${S[@]}" "$p" "head -c $bytes /dev/zero" > /dev/null; t1=$(ms_now)
    t_down[$p]+="$((t1 - t0)) "
    t0=$(ms_now); head -c "$bytes" /dev/zero | "${S[@]}" "$p" "cat > /dev/null"; t1=$(ms_now)
    t_up[$p]+="$((t1 - t0)) "
    t0=$(ms_now); "${S[@]}" "$p" "cat $work/random.bin" > /dev/null; t1=$(ms_now)
    t_rdown[$p]+="$((t1 - t0)) "
    t0=$(ms_now); "${S[@]}" "$p" "cat > /dev/null" < "$work/random.bin"; t1=$(ms_now)
    t_rup[$p]+="$((t1 - t0)) "
    t0=$(ms_now); scp -q -O -F "$work/ssh_config" "$work/upload.bin" "$p:/dev/shm/bastion-bench-upload"; t1=$(ms_now)
    t_scp[$p]+="$((t1 - t0)) "
  done
done
med() { printf '%s\n' $1 | pct 50; }
rate() { awk -v ms="$1" -v mib="$2" 'BEGIN {printf "%.0f MiB/s", mib / (ms / 1000)}'; }
throughput_table() {
  echo "| path | ${stream_mib} MiB zeros target->client | client->target | ${stream_mib} MiB random target->client | client->target | ${scp_mib} MiB scp upload | ratio to ssh -J (zeros down / up, random down / up, scp) |"
  echo "|---|---|---|---|---|---|---|"
  local jd ju js jrd jru
  jd=$(med "${t_down[jump]}"); ju=$(med "${t_up[jump]}"); js=$(med "${t_scp[jump]}")
  jrd=$(med "${t_rdown[jump]}"); jru=$(med "${t_rup[jump]}")
  for p in $paths; do
    local d u s rd ru
    d=$(med "${t_down[$p]}"); u=$(med "${t_up[$p]}"); s=$(med "${t_scp[$p]}")
    rd=$(med "${t_rdown[$p]}"); ru=$(med "${t_rup[$p]}")
    echo "| $(label "$p") | $d ms, $(rate "$d" "$stream_mib") | $u ms, $(rate "$u" "$stream_mib") | $rd ms, $(rate "$rd" "$stream_mib") | $ru ms, $(rate "$ru" "$stream_mib") | $s ms, $(rate "$s" "$scp_mib") | $(ratio "$d" "$jd") / $(ratio "$u" "$ju"), $(ratio "$rd" "$jrd") / $(ratio "$ru" "$jru"), $(ratio "$s" "$js") |"
  done
  echo
  echo "Recording on vs off (same run): zeros $(ratio "$(med "${t_down[gw-rec]}")" "$(med "${t_down[gw-norec]}")") down /" \
       "$(ratio "$(med "${t_up[gw-rec]}")" "$(med "${t_up[gw-norec]}")") up, random" \
       "$(ratio "$(med "${t_rdown[gw-rec]}")" "$(med "${t_rdown[gw-norec]}")") down /" \
       "$(ratio "$(med "${t_rup[gw-rec]}")" "$(med "${t_rup[gw-norec]}")") up, scp" \
       "$(ratio "$(med "${t_scp[gw-rec]}")" "$(med "${t_scp[gw-norec]}")")."
}

# --- 7. bytes on disk per byte of session output ------------------------------------
# The newest recording on rec-on: its size in bytes.
newest_recording_size() {
  local id; id=$(ctl sessions list --json --target rec-on | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  for _ in $(seq 50); do  # the recording's end is written after the client has gone
    local size; size=$(ctl sessions show "$id" --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["recordings"]; print(r[0]["size"] if r and r[0]["size"] >= 0 else "")')
    [ -n "$size" ] && { echo "$size"; return; }
    sleep 0.2
  done
  echo 0
}
storage_rows() {
  local n out size
  n=$((64 * 1048576)); [ "$quick" = 1 ] && n=$((8 * 1048576))
  "${S[@]}" gw-rec "head -c $n $work/random.bin" > /dev/null
  size=$(newest_recording_size)
  echo "| binary exec output ($((n / 1048576)) MiB random, byte-exact stream, zstd) | $(ratio "$size" "$n") |"
  "${S[@]}" gw-rec "head -c $n /dev/zero" > /dev/null
  size=$(newest_recording_size)
  echo "| binary exec output ($((n / 1048576)) MiB zeros, byte-exact stream, zstd) | $(ratio "$size" "$n") |"
  "${S[@]}" -tt gw-rec "find /usr | head -200000" > "$work/find.out" 2>/dev/null
  out=$(stat -c %s "$work/find.out"); size=$(newest_recording_size)
  echo '| text in a terminal (`find /usr \| head -200000`, '"$((out / 1024))"' KiB shown, asciicast + command index) | '"$(ratio "$size" "$out")"' |'
}

us_ms() { awk -v us="$1" 'BEGIN {printf "%.1f", us / 1000}'; }

# --- 2. connection setup -----------------------------------------------------------
if [ "$recording_only" = 0 ]; then
declare -A t_setup
for p in $paths; do t_setup[$p]=""; done
for _ in $(seq "$setup_runs"); do
  for p in $paths; do
    t0=$(date +%s%N); "${S[@]}" "$p" true; t1=$(date +%s%N)
    t_setup[$p]+="$(( (t1 - t0) / 1000 )) "
  done
done
setup_table() {
  echo "| path | login to exit (\`true\`), p50 | p99 | p50 ratio to ssh -J |"
  echo "|---|---|---|---|"
  local j50; j50=$(printf '%s\n' ${t_setup[jump]} | pct 50)
  for p in $paths; do
    local p50 p99; p50=$(printf '%s\n' ${t_setup[$p]} | pct 50); p99=$(printf '%s\n' ${t_setup[$p]} | pct 99)
    echo "| $(label "$p") | $(us_ms "$p50") ms | $(us_ms "$p99") ms | $(ratio "$p50" "$j50") |"
  done
}
logins_per_second() {  # $1 = parallel clients; each does par_logins logins
  local n=$1 t0 t1
  t0=$(date +%s%N)
  for _ in $(seq "$n"); do
    ( for _ in $(seq "$par_logins"); do "${S[@]}" gw-norec true || echo fail >> "$work/par_fail"; done ) &
  done
  wait
  t1=$(date +%s%N)
  local fails=0; [ -f "$work/par_fail" ] && fails=$(wc -l < "$work/par_fail") && rm -f "$work/par_fail"
  awk -v n="$((n * par_logins))" -v ns="$((t1 - t0))" -v f="$fails" \
    'BEGIN {printf "%.1f logins/s (%d logins, %d failed)", n / (ns / 1e9), n, f}'
}
lps8=$(logins_per_second 8)
lps32=$(logins_per_second 32)
fi  # not --recording-only

# --- 3. interactive latency --------------------------------------------------------
keystroke() {  # $1 = host; prints "p50 p99" in microseconds
  python3 - "$work/ssh_config" "$1" "$keys" <<'PY'
import os, pty, select, sys, time
cfg, host, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execvp("ssh", ["ssh", "-F", cfg, "-tt", host, "stty raw -echo; cat"])
def read_until(token, timeout=10):
    buf, end = b"", time.time() + timeout
    while token not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        if not r: raise SystemExit("timeout waiting for echo")
        buf += os.read(fd, 4096)
    return buf
os.write(fd, b"READY\r"); read_until(b"READY")
time.sleep(0.3)
samples = []
for i in range(n):
    c = bytes([ord("a") + i % 26])
    t0 = time.perf_counter_ns(); os.write(fd, c); read_until(c); samples.append((time.perf_counter_ns() - t0) // 1000)
    time.sleep(0.01)
os.write(fd, b"\x04"); os.kill(pid, 9); os.waitpid(pid, 0)
samples.sort()
pick = lambda p: samples[min(len(samples) - 1, max(0, int(p / 100 * len(samples) + 0.999) - 1))]
print(pick(50), pick(99))
PY
}
read -r kd50 kd99 <<< "$(keystroke direct)"
read -r kj50 kj99 <<< "$(keystroke jump)"
read -r kg50 kg99 <<< "$(keystroke gw-norec)"
read -r kr50 kr99 <<< "$(keystroke gw-rec)"
latency_table() {
  echo "| path | p50 | p99 | overhead vs direct p50 / p99 |"
  echo "|---|---|---|---|"
  echo "| direct sshd | $(us_ms "$kd50") ms | $(us_ms "$kd99") ms | - |"
  echo "| ssh -J via sshd | $(us_ms "$kj50") ms | $(us_ms "$kj99") ms | $(us_ms $((kj50 - kd50))) / $(us_ms $((kj99 - kd99))) ms |"
  echo "| bastiond, recording off | $(us_ms "$kg50") ms | $(us_ms "$kg99") ms | $(us_ms $((kg50 - kd50))) / $(us_ms $((kg99 - kd99))) ms |"
  echo "| bastiond, recording on (asciicast + command index) | $(us_ms "$kr50") ms | $(us_ms "$kr99") ms | $(us_ms $((kr50 - kd50))) / $(us_ms $((kr99 - kd99))) ms |"
}
storage_table() {
  echo "| what | bytes on disk per byte of output |"
  echo "|---|---|"
  storage_rows
}
if [ "$recording_only" = 1 ]; then
{
  echo "# What recording costs (scripts/bench.sh --recording-only)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r), $(ssh -V 2>&1). All on loopback; one target sshd."
  echo
  echo "## Throughput (medians of $runs alternating runs)"
  echo
  throughput_table
  echo
  echo "## Interactive latency (one keystroke echoed by the target's pty, $keys keystrokes)"
  echo
  latency_table
  echo
  echo "## Recordings on disk (through the gateway)"
  echo
  storage_table
  echo
  echo "| what | size | time | rate |"
  echo "|---|---|---|---|"
  "$root/build/bench/bastion-bench" --dir "$work" streams --mib "$((stream_mib / 4))"
  "$root/build/bench/bastion-bench" --dir "$work" command-index --mib "$((stream_mib / 16))"
} | tee "$work/RESULTS-recording.md"
  [ "$quick" = 1 ] || cp "$work/RESULTS-recording.md" "$root/bench/RESULTS-recording.md"
  exit 0
fi

# --- 4. scale: idle interactive sessions ------------------------------------------
gw_pids() { local b; b=$(cat "$work/bastiond.pid"); echo "$b"; pgrep -P "$b" || true; }
mem_kib() {  # $1 = Pss or Rss: the sum over bastiond and its children
  local sum=0 v
  for p in $(gw_pids); do
    v=$(awk -v k="$1:" '$1 == k {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
cpu_ticks() { local sum=0 p; for p in $(gw_pids); do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$sum"; }
scale_rows=""
base_pss=$(mem_kib Pss)
started=0
for level in $scale_levels; do
  avail=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
  if [ "$avail" -lt $((3 * 1024 * 1024)) ]; then
    scale_rows+="| $level sessions | skipped: only $((avail / 1024)) MiB of memory available | | | |"$'\n'
    break
  fi
  while [ "$started" -lt "$level" ]; do
    # an idle interactive session: a pty and a shell waiting for input
    (sleep 100000 | "${S[@]}" -tt gw-norec > /dev/null 2>&1) &
    started=$((started + 1))
    (( started % 16 == 0 )) && sleep 0.5  # stay under the pre-auth caps
  done
  for _ in $(seq 600); do
    live=$(ctl sessions list --live --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$live" -ge "$level" ] && break
    sleep 0.5
  done
  sleep 2
  pss=$(mem_kib Pss); rss=$(mem_kib Rss)
  c0=$(cpu_ticks); sleep 10; c1=$(cpu_ticks)
  cpu=$(awk -v t="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f%%", 100 * t / hz / 10}')
  # per live session: when not every client got in (pre-auth caps, a slow
  # machine), dividing by the level would understate the cost
  per=$(awk -v p="$pss" -v b="$base_pss" -v n="$live" 'BEGIN {printf "%.2f", (n > 0 ? (p - b) / n / 1024 : 0)}')
  scale_rows+="| $level sessions ($live live) | $((pss / 1024)) MiB | $((rss / 1024)) MiB | $per MiB | $cpu |"$'\n'
done
pkill -f "sleep 100000" 2>/dev/null || true
# EOF on a pty session's stdin does not end the remote shell: end the clients too.
pkill -f -- "-tt gw-norec" 2>/dev/null || true
for _ in $(seq 120); do
  live=$(ctl sessions list --live --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  [ "$live" -eq 0 ] && break
  sleep 0.5
done

# --- 5. revocation ---------------------------------------------------------------------
kill_ms=()
for r in $(seq "$kill_rounds"); do
  "${S[@]}" gw-norec "echo up; exec sleep 600" > "$work/kill.out" 2>/dev/null &
  cpid=$!
  for _ in $(seq 200); do grep -q up "$work/kill.out" 2>/dev/null && break; sleep 0.05; done
  id=$(ctl sessions list --live --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  t0=$(date +%s%N); ctl sessions kill "$id" --reason bench > /dev/null; wait "$cpid" 2>/dev/null || true; t1=$(date +%s%N)
  kill_ms+=("$(( (t1 - t0) / 1000000 ))")
done
python3 - "$people" > "$work/people.jsonl" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print('{"event_id":"bench-j%d","type":"joiner","employee_id":"BJ%d","username":"bj%d","department":"Bench"}' % (i, i, i))
PY
ctl hr apply "$work/people.jsonl" > /dev/null
spool="$work/state/hr/incoming"
leaver_round() {  # $1 = sessions, $2 = round; prints milliseconds
  local n=$1 who="lv$1x$2" pids=() i
  ctl user add "$who" --role bench --employee-id "EMP-$who" > /dev/null
  ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -f "$work/$who" -C "$who"
  ctl key add "$who" "$work/$who.pub" > /dev/null
  for ((i = 0; i < n; i++)); do
    "${S[@]}" -i "$work/$who" gw-norec "echo up; exec sleep 600" > "$work/$who.$i.out" 2>/dev/null &
    pids+=($!)
    if (( i % 16 == 15 )); then sleep 0.5; fi
  done
  for ((i = 0; i < n; i++)); do
    for _ in $(seq 400); do grep -q up "$work/$who.$i.out" 2>/dev/null && break; sleep 0.05; done
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
  echo "| HR leaver file -> last of $1 session(s) gone ($people people in the database) | $2 | $(printf '%s\n' "${ms[@]}" | pct 50) ms | $(printf '%s\n' "${ms[@]}" | pct 99) ms |"
}
leaver_rows="$(leaver_row 1 "$rounds_1")
$(leaver_row 10 "$rounds_10")
$(leaver_row 100 "$rounds_100")"

storm_rows="$(storm_tables)"

{
  echo "# bastion benchmarks"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(ssh -V 2>&1)."
  echo "All on loopback; one target sshd. $([ "$quick" = 1 ] && echo "QUICK RUN (small sizes). ")Medians of $runs alternating runs for throughput."
  echo
  echo "## Throughput"
  echo
  throughput_table
  echo
  echo "## Connection setup"
  echo
  setup_table
  echo
  echo "Sustained logins through bastiond (recording off, \`true\`): 8 parallel clients: $lps8; 32 parallel: $lps32."
  echo
  echo "## Interactive latency (one keystroke echoed by the target's pty, $keys keystrokes)"
  echo
  latency_table
  echo
  echo "## Scale: idle interactive sessions through bastiond (bastiond + its connection processes)"
  echo
  echo "| sessions | PSS total | RSS total | PSS per session | CPU while idle (10 s) |"
  echo "|---|---|---|---|---|"
  printf '%s' "$scale_rows"
  echo
  echo "PSS counts each shared page once across processes (forked children share code and libraries); RSS counts them in every process."
  echo
  echo "## Revocation"
  echo
  echo "| what | rounds | p50 | p99 |"
  echo "|---|---|---|---|"
  echo "| \`bastionctl sessions kill\` -> client disconnected | $kill_rounds | $(printf '%s\n' "${kill_ms[@]}" | pct 50) ms | $(printf '%s\n' "${kill_ms[@]}" | pct 99) ms |"
  echo "$leaver_rows"
  echo
  echo "## Login storms (one source address, recording off, default pre-auth limits)"
  echo
  echo "$storm_rows"
  echo
  echo "## Storage"
  echo
  echo "| what | size | time | rate |"
  echo "|---|---|---|---|"
  "$root/build/bench/bastion-bench" --dir "$work" audit --records "$records" --procs 1
  "$root/build/bench/bastion-bench" --dir "$work" audit --records "$records" --procs 8
  for w in 1 8 64; do
    "$root/build/bench/bastion-bench" --dir "$work" group-commit --records "$records" --writers "$w"
  done
  "$root/build/bench/bastion-bench" --dir "$work" recordings --mib "$cast_mib"
  "$root/build/bench/bastion-bench" --dir "$work" streams --mib "$((stream_mib / 4))"
  "$root/build/bench/bastion-bench" --dir "$work" command-index
  echo
  echo "## Recordings on disk (through the gateway)"
  echo
  storage_table
} | tee "$work/RESULTS.md"
if [ "$quick" = 1 ]; then
  echo "(quick run: bench/RESULTS.md left as it was)"
else
  cp "$work/RESULTS.md" "$root/bench/RESULTS.md"
fi

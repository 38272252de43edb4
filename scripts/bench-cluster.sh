#!/usr/bin/env bash
# Benchmarks (not tests) of several gateway nodes on one PostgreSQL, on this
# machine: logins per second through 1, 2 and 3 nodes, durable audit appends
# per second from 1 and 3 writers, and the time from a leaver file on node A
# to the end of the person's sessions on nodes B and C. PostgreSQL is a
# throwaway server (scripts/postgres-test.sh) with fsync on, as in
# production. Prints markdown tables and writes bench/RESULTS-cluster.md.
#
#   scripts/bench-cluster.sh [--quick]     --quick: short runs (a smoke run), RESULTS-cluster.md left alone
#
# All nodes share this machine's cores with PostgreSQL, the target sshd and
# the clients: more nodes cannot mean more logins per second here; what the
# numbers show is what sharing one database costs.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) echo "bench-cluster.sh: unknown argument $a (usage: scripts/bench-cluster.sh [--quick])" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh
command -v python3 >/dev/null || { echo "bench-cluster: python3 is needed" >&2; exit 1; }
./scripts/build.sh bastiond bastionctl bastion-softkey bastion-bench >/dev/null

seconds=30; clients=16; appends=20000; rounds=20
if [ "$quick" = 1 ]; then seconds=5; clients=8; appends=2000; rounds=3; fi

work="$(mktemp -d /tmp/bastion-bench-cluster-XXXXXX)"
chmod 755 "$work"
cleanup() {
  for f in "$work"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  "$root/scripts/postgres-test.sh" stop "$work/pg.url" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
BASTION_POSTGRES_DURABLE=1 ./scripts/postgres-test.sh start "$work/pg.url"
if grep -q '^unavailable' "$work/pg.url"; then cat "$work/pg.url" >&2; exit 1; fi
url="$(cat "$work/pg.url")"
bin="$root/build/gateway"
softkey="$root/build/tests/softkey/libbastion-softkey.so"
login="$(id -un)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ports=("$(free_port)" "$(free_port)" "$(free_port)")
t_port=$(free_port)

# --- node A, the target, people ----------------------------------------------
"$bin/bastionctl" init --state-dir "$work/node-a" --listen "127.0.0.1:${ports[0]}" --database "$url" >/dev/null
# Keys are enrolled without attestation and logins need no step-up (a person
# in a browser is not what is measured); the HR circuit breaker would hold
# the leaver rounds (it has its own tests). Without a public URL there is no
# web process, so the nodes need no web ports of their own.
sed -i -e 's/^require_attestation = true/require_attestation = false/' \
  -e 's/^max_leaver_share = 0.1 /max_leaver_share = 1.0 /' -e 's/^leaver_floor = 2 /leaver_floor = 100000 /' \
  "$work/node-a/bastion.toml"
ctl() { "$bin/bastionctl" --config "$work/node-a/bastion.toml" "$@"; }
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ctl ca show >"$work/ca.pub"
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
mkdir -p "$work/home"
cat >"$work/sshd.conf" <<CFG
Port $t_port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
TrustedUserCAKeys $work/ca.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
MaxStartups 1000
SetEnv HOME=$work/home
CFG
/usr/sbin/sshd -f "$work/sshd.conf" -E "$work/sshd.log"
ctl target add t --address "127.0.0.1:$t_port" --host-key "$work/host_key.pub" --label bench=1 >/dev/null
ctl role add bench --targets 'bench=1' --logins "$login" --step-up none >/dev/null
ctl user add bencher --role bench >/dev/null
ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -f "$work/sk"
ctl key add bencher "$work/sk.pub" >/dev/null
for k in $(seq 0 $((rounds - 1))); do
  ctl user add "leaver$k" --employee-id "E$k" --role bench >/dev/null
  ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -f "$work/leaver$k"
  ctl key add "leaver$k" "$work/leaver$k.pub" >/dev/null
done
cat >"$work/ssh_config" <<CFG
Host gw
  HostName 127.0.0.1
  User $login@t
  SecurityKeyProvider $softkey
  IdentitiesOnly yes
  IdentityAgent none
  BatchMode yes
  LogLevel ERROR
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  ConnectTimeout 20
CFG

# --- nodes B and C: copies of A's state directory ----------------------------
start_node() {  # name port
  "$bin/bastiond" --config "$work/$1/bastion.toml" >>"$work/$1.log" 2>&1 &
  echo $! >"$work/$1.pid"
  for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0; sleep 0.1; done
  echo "bench-cluster: node $1 did not start" >&2; cat "$work/$1.log" >&2; exit 1
}
start_node node-a "${ports[0]}"
for i in 1 2; do
  n=node-$([ $i = 1 ] && echo b || echo c)
  mkdir -p "$work/$n"
  find "$work/node-a" -maxdepth 1 -type f \( -name 'bastion.toml' -o -name '*key*' -o -name '*.pem' \) \
    -exec cp {} "$work/$n/" \;
  sed -i -e "s/^listen = \"127.0.0.1:${ports[0]}\"/listen = \"127.0.0.1:${ports[$i]}\"/" \
    -e "s/^\[gateway\]$/[gateway]\nnode_name = \"$n\"/" "$work/$n/bastion.toml"
  start_node "$n" "${ports[$i]}"
done
ssh_cmd=(ssh -F "$work/ssh_config")
"${ssh_cmd[@]}" -p "${ports[1]}" -i "$work/sk" gw true || { echo "bench-cluster: a login through node B fails" >&2; cat "$work"/*.log >&2; exit 1; }

{
  echo "# Several gateway nodes on one PostgreSQL (scripts/bench-cluster.sh)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r), $(ssh -V 2>&1), PostgreSQL $("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/postgres" --version | awk '{print $3}') (fsync on)."
  echo "Every node, PostgreSQL, the target sshd and the clients share this machine's cores."
  echo
  echo "## Logins per second"
  echo
  echo "$clients clients log in one after the other for $seconds s (\`ssh gw true\`, recording on, no step-up), spread evenly over the nodes."
  echo
  echo "| nodes | clients | logins | failed | logins/s | latency p50 | p99 |"
  echo "|---|---|---|---|---|---|---|"
  for k in 1 2 3; do
    list=$(IFS=,; echo "${ports[*]:0:$k}")
    python3 "$root/bench/cluster.py" logins --ports "$list" --clients "$clients" --seconds "$seconds" -- \
      "${ssh_cmd[@]}" -i "$work/sk" gw
  done
  echo
  echo "## Durable audit appends per second"
  echo
  echo "Chained and committed with fsync, from separate processes as separate nodes write (\`bastion-bench\`): each append its own"
  echo "transaction, then as the monitor writes them (a group commit of the records its connections have waiting, 8 here)."
  echo "For comparison, one SQLite writer (one node, one file) on this machine in the same run."
  echo
  echo "| what | records | time | rate |"
  echo "|---|---|---|---|"
  n=0
  for mode in audit group-commit; do
    for procs in 1 3; do
      n=$((n + 1))
      psql -q "$url" -c "CREATE SCHEMA bench$n" >/dev/null
      extra=(); [ "$mode" = group-commit ] && extra=(--writers 8)
      "$root/build/bench/bastion-bench" --dir "$work" "$mode" --records "$appends" --procs "$procs" "${extra[@]}" \
        --database "$url&options=-csearch_path%3Dbench$n" | grep '^|' | tail -n 1
    done
  done
  "$root/build/bench/bastion-bench" --dir "$work" audit --records "$appends" | grep '^|' | tail -n 1
  "$root/build/bench/bastion-bench" --dir "$work" group-commit --records "$appends" --writers 8 | grep '^|' | tail -n 1
  echo
  echo "## Revocation across nodes"
  echo
  echo "A leaver file renamed into node A's spool; the person has a session through node B and one through node C: time to the end of the later one."
  echo
  echo "| rounds | p50 | p99 | max |"
  echo "|---|---|---|---|"
  python3 "$root/bench/cluster.py" revocation --spool "$work/node-a/hr" --b "${ports[1]}" --c "${ports[2]}" \
    --rounds "$rounds" --keys "$work" -- "${ssh_cmd[@]}" gw
} | tee "$work/RESULTS-cluster.md"
[ "$quick" = 1 ] || cp "$work/RESULTS-cluster.md" "$root/bench/RESULTS-cluster.md"

#!/usr/bin/env bash
# Three gateway nodes on one PostgreSQL, on this machine: a throwaway
# PostgreSQL server (scripts/postgres-test.sh), node A set up by
# scripts/demo.sh on it (ports 2200/8443, target sshd on 2222), and nodes B
# and C (2201, 2202) started from copies of node A's state directory: the
# same keys and database, their own ports, node names, spools and
# recordings. State lives in ./cluster-demo-state;
# `scripts/cluster-demo.sh stop` stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
state="$root/cluster-demo-state"
export BASTION_DEMO_STATE="$state/node-a"

stop() {
  for n in node-b node-c; do
    if [ -f "$state/$n/bastiond.pid" ]; then
      kill "$(cat "$state/$n/bastiond.pid")" 2>/dev/null || true
      rm -f "$state/$n/bastiond.pid"
    fi
  done
  [ -d "$state/node-a" ] && ./scripts/demo.sh stop >/dev/null
  [ -f "$state/postgres.url" ] && ./scripts/postgres-test.sh stop "$state/postgres.url"
  return 0
}

if [ "${1:-}" = "stop" ]; then
  stop
  echo "cluster demo stopped (state kept in $state; delete it to start over)"
  exit 0
fi

./scripts/deps.sh
stop
rm -rf "$state"
mkdir -p "$state"
./scripts/postgres-test.sh start "$state/postgres.url"
if grep -q '^unavailable' "$state/postgres.url"; then
  cat "$state/postgres.url" >&2
  exit 1
fi
BASTION_DEMO_DATABASE="$(cat "$state/postgres.url")" ./scripts/demo.sh >"$state/node-a-demo.txt"

bin="$root/build/gateway"
login="$(id -un)"
port=2200
for n in node-b node-c; do
  port=$((port + 1))
  web=$((port + 6243))  # 8444, 8445
  mkdir -p "$state/$n"
  find "$state/node-a" -maxdepth 1 -type f \( -name 'bastion.toml' -o -name '*key*' -o -name '*.pem' \) \
    ! -name 'demo_*' ! -name 'carol_*' -exec cp {} "$state/$n/" \;
  sed -i -e "s/^listen = \"127.0.0.1:2200\"/listen = \"127.0.0.1:$port\"/" \
    -e "s/^listen = \"127.0.0.1:8443\"/listen = \"127.0.0.1:$web\"/" \
    -e "s/^\[gateway\]$/[gateway]\nnode_name = \"$n\"/" "$state/$n/bastion.toml"
  "$bin/bastiond" --config "$state/$n/bastion.toml" >>"$state/$n/bastiond.log" 2>&1 &
  echo $! >"$state/$n/bastiond.pid"
  echo "[127.0.0.1]:$port $(cat "$state/node-a/ssh_host_ed25519_key.pub")" >>"$state/node-a/known_hosts"
  cat >>"$state/node-a/ssh_config" <<CFG
Host gw-${n#node-}
  HostName 127.0.0.1
  Port $port
  IdentityFile $state/node-a/demo_key
  IdentitiesOnly yes
  IdentityAgent none
  SecurityKeyProvider $root/build/tests/softkey/libbastion-softkey.so
  UserKnownHostsFile $state/node-a/known_hosts
  StrictHostKeyChecking yes
CFG
  for _ in $(seq 1 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
ctl="$bin/bastionctl --config $state/node-a/bastion.toml"
cat <<MSG

bastion cluster demo: three gateway nodes on one PostgreSQL (its URL, with
its password, is in $state/postgres.url)
  node A  127.0.0.1:2200  (ssh alias gw)     state $state/node-a
  node B  127.0.0.1:2201  (ssh alias gw-b)   state $state/node-b
  node C  127.0.0.1:2202  (ssh alias gw-c)   state $state/node-c

  $ctl nodes list
  ssh -F $state/node-a/ssh_config $login@demo-target@gw-b 'sleep 600'   # a session through node B
  $ctl sessions list --live                 # every node's sessions, with their node
  $ctl sessions kill ID                     # run on node A: node B ends it within a second
  $ctl user disable demo                    # ends demo's sessions on every node
  kill -9 \$(cat $state/node-b/bastiond.pid)   # node B's sessions are marked ended after 10 s

Node A's own demo instructions (approvals, replay, ...): $state/node-a-demo.txt
Stop: scripts/cluster-demo.sh stop
MSG

#!/usr/bin/env bash
# SCIM provisioning (not a test): how fast an identity provider's
# deactivation ends a person's live sessions, and how long a provider's
# initial load of many users takes. One gateway on loopback, one target
# sshd, the software security key; the provider is an HTTPS client of
# /scim/v2 on one kept-alive connection. Writes bench/RESULTS-scim.md.
#
#   scripts/bench-scim.sh [--quick]
#
# Deprovisioning: a person with 1 (or 100) live ssh sessions (`sleep` on the
# target); from sending Okta's PATCH (`{"op":"replace","value":{"active":false}}`)
# to each ssh client's exit. 20 runs with 1 session, 3 runs with 100 (5 and
# 1 with 20 under --quick).
# Initial load: 10,000 users (1,000 with --quick), each as Okta does it: a
# GET with filter `userName eq "..."` (none found), then a POST.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-scim.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh
./scripts/build.sh bastiond bastionctl bastion-softkey >/dev/null

work="$(mktemp -d /tmp/bastion-bench-scim-XXXXXX)"
cleanup() {
  for p in bastiond sshd; do
    [ -f "$work/$p.pid" ] && kill "$(cat "$work/$p.pid")" 2>/dev/null || true
  done
  for p in bastiond sshd; do
    for _ in $(seq 50); do
      [ -f "$work/$p.pid" ] && kill -0 "$(cat "$work/$p.pid")" 2>/dev/null || break
      sleep 0.1
    done
  done
  if [ -n "${BENCH_KEEP:-}" ]; then echo "bench-scim: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
bin="$root/build/gateway"
softkey="$root/build/tests/softkey/libbastion-softkey.so"
login="$(id -un)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw_port=$(free_port); t_port=$(free_port); web_port=$(free_port)

"$bin/bastionctl" init --state-dir "$work/state" --listen "127.0.0.1:$gw_port" \
  --public-url "https://localhost:$web_port" >/dev/null
ctl() { "$bin/bastionctl" --config "$work/state/bastion.toml" "$@"; }
python3 - "$work/state/bastion.toml" "$web_port" <<'PY'
import re, sys
p, port = sys.argv[1], sys.argv[2]
s = open(p).read()
web = s.index("[web]")
head, tail = s[:web], s[web:]
tail, n = re.subn(r'^listen = "[^"]*"', 'listen = "127.0.0.1:%s"' % port, tail, count=1, flags=re.M)
assert n == 1, "no [web] listen line"
s = head + tail
# Department SRE gives the bench role; the load is not rate limited; one
# leaver after another is not a mass revocation here (the breaker is tested elsewhere).
s = s.replace('# SRE = ["ops"]', 'SRE = ["bench"]')
s = re.sub(r'^requests_per_second = 50 ', 'requests_per_second = 100000 ', s, flags=re.M)
s = re.sub(r'^leaver_floor = 2 ', 'leaver_floor = 100000 ', s, flags=re.M)
s = re.sub(r'^require_attestation = true', 'require_attestation = false', s, flags=re.M)
open(p, "w").write(s)
PY
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
mkdir -p "$work/home"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ctl ca show > "$work/ca.pub"
cat > "$work/sshd.conf" <<CFG
Port $t_port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
TrustedUserCAKeys $work/ca.pub
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
MaxStartups 200
MaxSessions 200
SetEnv HOME=$work/home
CFG
/usr/sbin/sshd -f "$work/sshd.conf" -E "$work/sshd.log"
ctl target add app --address "127.0.0.1:$t_port" --host-key "$work/host_key.pub" >/dev/null
ctl role add bench --targets app --logins "$login" --step-up none >/dev/null
token="$(ctl scim token add bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$bin/bastiond" --config "$work/state/bastion.toml" >"$work/bastiond.log" 2>&1 &
echo $! > "$work/bastiond.pid"
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$web_port") 2>/dev/null && break; sleep 0.1; done

python3 - "$work" "$web_port" "$token" "$gw_port" "$login" "$softkey" "$bin/bastionctl" "$quick" <<'PY' > "$work/rows.md"
import http.client, json, os, ssl, subprocess, sys, time
work, web_port, token, gw_port, login, softkey, ctl, quick = sys.argv[1:9]
web_port, gw_port, quick = int(web_port), int(gw_port), int(quick)
conf = work + "/state/bastion.toml"

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(p / 100 * len(xs) + 0.999) - 1))]

ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
conn = None
def scim(method, path, body=None):
    # One kept-alive connection, opened again when the server has closed an
    # idle one (after [web]'s header deadline), as a provider's client does.
    global conn
    headers = {"Authorization": "Bearer " + token}
    if body is not None: headers["Content-Type"] = "application/scim+json"
    for attempt in (0, 1):
        if conn is None: conn = http.client.HTTPSConnection("127.0.0.1", web_port, context=ctx)
        try:
            conn.request(method, "/scim/v2" + path, body=None if body is None else json.dumps(body), headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, (json.loads(data) if data else None)
        except (OSError, http.client.HTTPException):
            conn.close(); conn = None
            if attempt: raise

def person(name):
    """A SCIM user (department SRE: the bench role) with an enrolled software security key."""
    st, u = scim("POST", "/Users", {"userName": name + "@example.com", "active": True,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "SRE"}})
    if st != 201: raise SystemExit("create %s: %d %r" % (name, st, u))
    key = "%s/%s_sk" % (work, name)
    subprocess.check_call(["ssh-keygen", "-q", "-t", "ed25519-sk", "-w", softkey, "-N", "", "-f", key])
    subprocess.check_call([ctl, "--config", conf, "key", "add", name, key + ".pub"], stdout=subprocess.DEVNULL)
    cfg = "%s/%s_ssh_config" % (work, name)
    with open(cfg, "w") as f:
        f.write("Host gw\n  Port %d\n  User %s@app\n  IdentityFile %s\n  SecurityKeyProvider %s\n  IdentitiesOnly yes\n"
                "  IdentityAgent none\n  BatchMode yes\n  LogLevel ERROR\n  StrictHostKeyChecking no\n"
                "  UserKnownHostsFile /dev/null\n  HostName 127.0.0.1\n" % (gw_port, login, key, softkey))
    return u["id"], cfg

def sessions(cfg, n):
    out = []
    for _ in range(n):
        p = subprocess.Popen(["ssh", "-F", cfg, "gw", "echo up; exec sleep 600"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        line = p.stdout.readline()
        if b"up" not in line: raise SystemExit("a session did not start: %r" % line)
        out.append(p)
    return out

def deprovision(n, runs):
    lasts, each = [], []
    for run in range(runs):
        uid, cfg = person("p%d-%d" % (n, run))
        procs = sessions(cfg, n)
        scim("GET", "/ServiceProviderConfig")  # the connection is open and warm, as a provider's is
        t0 = time.perf_counter()
        st, _ = scim("PATCH", "/Users/" + uid, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                 "Operations": [{"op": "replace", "value": {"active": False}}]})
        if st != 200: raise SystemExit("PATCH: %d" % st)
        answered = time.perf_counter() - t0
        ends = []
        for p in procs:
            p.wait(timeout=30)
            ends.append(time.perf_counter() - t0)
        # Each ssh exit was seen once the one before it was waited for: the
        # true times are at most these; the last one is exact within polling.
        each += ends
        lasts.append(max(ends))
    return answered, lasts, each

print("| live sessions | runs | PATCH answered | request to last session gone: p50 | p99 | each session gone: p50 | p99 |")
print("|---|---|---|---|---|---|---|")
for n, runs in ((1, 5 if quick else 20), (20 if quick else 100, 1 if quick else 3)):
    answered, lasts, each = deprovision(n, runs)
    print("| %d | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.1f ms |" % (n, runs, answered * 1e3,
          pct(lasts, 50) * 1e3, pct(lasts, 99) * 1e3, pct(each, 50) * 1e3, pct(each, 99) * 1e3))

users = 1000 if quick else 10000
lat = []
t0 = time.perf_counter()
for i in range(users):
    a = time.perf_counter()
    name = "load%05d@example.com" % i
    st, found = scim("GET", "/Users?filter=" + "userName%20eq%20%22" + name.replace("@", "%40") + "%22")
    if st != 200 or found["totalResults"] != 0: raise SystemExit("lookup %s: %d" % (name, st))
    st, _ = scim("POST", "/Users", {"userName": name, "externalId": "ext%05d" % i, "active": True,
        "emails": [{"value": name, "type": "work", "primary": True}],
        "name": {"givenName": "Load", "familyName": "User %d" % i},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "L%05d" % i, "department": "SRE"}})
    if st != 201: raise SystemExit("create %s: %d" % (name, st))
    lat.append(time.perf_counter() - a)
total = time.perf_counter() - t0
print()
print("| initial load | result |")
print("|---|---|")
print("| %d users (a filtered GET and a POST each) | %.1f s (%.0f users/s) |" % (users, total, users / total))
print("| one user (GET + POST) | p50 %.1f ms, p99 %.1f ms |" % (pct(lat, 50) * 1e3, pct(lat, 99) * 1e3))
st, page = scim("GET", "/Users?startIndex=5000&count=100")
t = time.perf_counter(); scim("GET", "/Users?filter=" + "userName%20eq%20%22load09999%40example.com%22"); t = time.perf_counter() - t
print("| afterwards: a filtered GET by userName among %d | %.1f ms |" % (users, t * 1e3))
PY
{
  echo "# SCIM provisioning"
  echo
  echo "Measured by \`scripts/bench-scim.sh$([ "$quick" = 1 ] && echo " --quick")\` on $(date -u +%Y-%m-%d), $(nproc) cores, one gateway on loopback, SQLite (synchronous=FULL)."
  echo "The provider is one HTTPS client on a kept-alive connection; ssh clients, the target sshd and the gateway share the cores."
  echo
  cat "$work/rows.md"
} > "$work/RESULTS-scim.md"
if [ "$quick" = 0 ]; then cp "$work/RESULTS-scim.md" bench/RESULTS-scim.md; fi
cat "$work/RESULTS-scim.md"

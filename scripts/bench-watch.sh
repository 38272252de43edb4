#!/usr/bin/env bash
# Live watch (not a test): how fast what a person types in a recorded
# terminal reaches people watching it in the web console, and what watching
# costs the session. One gateway on loopback, one target sshd, the software
# security key; the watchers are HTTPS clients of the console's event stream
# (/console/sessions/ID/watch/events) signed in as an approver of the
# target's customer (in headless Chromium with a virtual authenticator, once).
# Writes bench/RESULTS-watch.md.
#
#   scripts/bench-watch.sh [--quick]
#
# Latency: the person's shell prints a marker (`echo $((N+1))X`, so the
# typed text never contains it); measured from the keystroke (Enter) to the
# marker on the person's own terminal and in each watcher's stream.
# Throughput: a terminal's output (`base64` of zeros) through the gateway,
# with no watcher, one, and 10 watchers reading it all (the watchers' TLS
# clients run on the same two cores as the gateway, the target and ssh).
# Then 100 sessions (20 with --quick) watched at once, one watcher each:
# their keystroke-to-watcher latency, and another session's throughput
# while they are watched against while they are not.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-watch.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done
markers=200; stream_mib=32; runs=3
if [ "$quick" = 1 ]; then markers=20; stream_mib=4; runs=1; fi
./scripts/deps.sh
./tests/browser/install.sh >/dev/null
./scripts/build.sh bastiond bastionctl bastion-softkey >/dev/null

work="$(mktemp -d /tmp/bastion-bench-watch-XXXXXX)"
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
  # BENCH_KEEP=1: the processes stop, the folder (logs, state) stays.
  if [ -n "${BENCH_KEEP:-}" ]; then echo "bench-watch: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
bin="$root/build/gateway"
softkey="$root/build/tests/softkey/libbastion-softkey.so"
login="$(id -un)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw_port=$(free_port); t_port=$(free_port); web_port=$(free_port)
public_url="https://localhost:$web_port"  # WebAuthn needs a domain name, not an address

"$bin/bastionctl" init --state-dir "$work/state" --listen "127.0.0.1:$gw_port" --public-url "$public_url" >/dev/null
ctl() { "$bin/bastionctl" --config "$work/state/bastion.toml" "$@"; }
# Enrolled without attestation (not what is measured); ten watchers and
# their pages from one address.
sed -i "s/^require_attestation = true/require_attestation = false/; s/^max_connections = 64 /max_connections = 160 /; s/^max_connections_per_source = 8 /max_connections_per_source = 160 /" \
  "$work/state/bastion.toml"
python3 - "$work/state/bastion.toml" "$web_port" <<'PY'
import re, sys
p, port = sys.argv[1], sys.argv[2]
s = open(p).read()
web = s.index("[web]")
head, tail = s[:web], s[web:]
tail, n = re.subn(r'^listen = "[^"]*"', 'listen = "127.0.0.1:%s"' % port, tail, count=1, flags=re.M)
assert n == 1, "no [web] listen line"
open(p, "w").write(head + tail)
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
SetEnv HOME=$work/home
CFG
/usr/sbin/sshd -f "$work/sshd.conf" -E "$work/sshd.log"
ctl customer add acme >/dev/null
ctl target add acme-app --address "127.0.0.1:$t_port" --host-key "$work/host_key.pub" --customer acme >/dev/null
ctl role add bench --targets acme-app --logins "$login" --step-up none >/dev/null
ctl user add typist --role bench >/dev/null
ctl user add carol >/dev/null
ctl customer approver add acme carol >/dev/null
ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -f "$work/sk"
ctl key add typist "$work/sk.pub" >/dev/null
# carol is active once she has an SSH key too (a person is pending until then).
ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -f "$work/carol_sk"
ctl key add carol "$work/carol_sk.pub" >/dev/null
# The DevTools virtual authenticator's attestation, trusted here as in the tests.
ctl fido roots add "$root/tests/browser/chromium-virtual-authenticator-attestation.pem" >/dev/null
ctl fido aaguids add 01020304-0506-0708-0102-030405060708 --name "Chromium virtual authenticator" >/dev/null
"$bin/bastiond" --config "$work/state/bastion.toml" >"$work/bastiond.log" 2>&1 &
echo $! > "$work/bastiond.pid"
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$web_port") 2>/dev/null && break; sleep 0.1; done

# carol's security key, then a console session (its cookie) for the watchers.
url="$(ctl user invite carol 2>/dev/null | tr -d '\r\n')"
node tests/browser/webauthn.mjs register --url "$url" --state "$work/carol.json" --cert "$work/state/web_cert.pem" \
  --page-text "$work/carol.txt" >"$work/register.out" 2>&1 || {
  echo "bench-watch: carol's security key did not register:" >&2; cat "$work/register.out" >&2; exit 1; }
cred="$(sed -n 's/.*bastionctl user confirm-key \(-- \)\{0,1\}carol \([^ ]*\).*/\2/p' "$work/carol.txt" | head -1)"
ctl user confirm-key -- carol "$cred" >/dev/null
cat > "$work/steps.json" <<'JSON'
[{"goto": "/console/signin"}, {"fill": "#user", "value": "carol"}, {"click": "#signin"},
 {"waitFor": "body[data-page=requests]"}, {"cookie": "cookie"}]
JSON
cookie="$(node tests/browser/console.mjs --base "$public_url" --state "$work/carol.json" --steps "$work/steps.json" \
  --cert "$work/state/web_cert.pem" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"]["cookie"])')"
[ -n "$cookie" ] || { echo "bench-watch: could not sign carol in" >&2; exit 1; }

cat > "$work/ssh_config" <<CFG
Host gw
  Port $gw_port
  User $login@acme-app
  IdentityFile $work/sk
  SecurityKeyProvider $softkey
  IdentitiesOnly yes
  IdentityAgent none
  BatchMode yes
  LogLevel ERROR
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  HostName 127.0.0.1
CFG

python3 - "$work" "$web_port" "$cookie" "$markers" "$stream_mib" "$runs" "$bin/bastionctl" "$quick" <<'PY' > "$work/rows.md"
import json, os, pty, select, socket, ssl, subprocess, sys, threading, time
work, web_port, cookie, markers, stream_mib, runs, ctl = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
quick = int(sys.argv[8])
cfg = work + "/ssh_config"

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(p / 100 * len(xs) + 0.999) - 1))]

class Terminal:
    """ssh -tt to the gateway in a pty, a shell on the target."""
    def __init__(self):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvp("ssh", ["ssh", "-F", cfg, "-tt", "gw", "env PS1='$ ' HISTFILE=/dev/null bash --norc --noprofile -i"])
        self.buf = b""
        self.read_until(b"$ ", 30)
    def read_until(self, token, timeout=30):
        # Linear in what is read: only the last few bytes are kept between reads.
        end = time.time() + timeout
        while token not in self.buf:
            r, _, _ = select.select([self.fd], [], [], max(0, end - time.time()))
            if not r: raise SystemExit("terminal: timeout waiting for %r; the last bytes: %r" % (token, self.buf[-200:]))
            self.buf = self.buf[-len(token):] + os.read(self.fd, 65536)
        at = self.buf.index(token) + len(token)
        self.buf = self.buf[at:]
    def close(self):
        os.write(self.fd, b"exit\r")
        try: os.waitpid(self.pid, 0)
        except ChildProcessError: pass
        os.close(self.fd)

class Watcher(threading.Thread):
    """One console watcher: the event stream, and when each marker arrived."""
    def __init__(self, session):
        super().__init__(daemon=True)
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", web_port)))
        self.sock.sendall(("GET /console/sessions/%s/watch/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Cookie: __Host-bastion-console=%s\r\nAccept: text/event-stream\r\n\r\n"
                           % (session, web_port, cookie)).encode())
        self.lock = threading.Lock(); self.seen = {}; self.wanted = set(); self.tail = b""; self.bytes = 0
        self.started = threading.Event()
    def want(self, marker):
        with self.lock: self.wanted.add(marker)
    def run(self):
        while True:
            try: data = self.sock.recv(65536)
            except (OSError, ssl.SSLError): return
            if not data: return
            now = time.perf_counter()
            self.bytes += len(data)
            if b"200 OK" in data[:40]: self.started.set()
            window = self.tail + data
            with self.lock:
                for m in list(self.wanted):
                    if m in window:
                        self.seen[m] = now; self.wanted.discard(m)
            self.tail = window[-64:]
    def close(self):
        # Shut down, wait for the reading thread, then close: a descriptor
        # closed under a thread still in SSL_read is soon reused (by the next
        # terminal's pty), and a late TLS alert written to it would be typed
        # into that session.
        try: self.sock.shutdown(socket.SHUT_RDWR)
        except OSError: pass
        if self.is_alive(): self.join(10)
        self.sock.close()

def live_session():
    for _ in range(100):
        for s in json.loads(subprocess.check_output([ctl, "--config", work + "/state/bastion.toml", "sessions", "list", "--user", "typist", "--json"])):
            if not s.get("ended_at"): return s["id"]
        time.sleep(0.1)
    raise SystemExit("no live session")

def latency(n_watchers):
    term = Terminal()
    watchers = [Watcher(live_session()) for _ in range(n_watchers)]
    for w in watchers: w.start()
    for w in watchers:
        if not w.started.wait(30): raise SystemExit("a watcher's stream did not start")
    time.sleep(0.5)
    own, watched = [], []
    for i in range(markers):
        marker = ("%dX" % (100000 + i)).encode()
        for w in watchers: w.want(marker)
        t0 = time.perf_counter()
        os.write(term.fd, ("echo $((%d+1))X\r" % (100000 + i - 1)).encode())
        term.read_until(marker)
        own.append(time.perf_counter() - t0)
        end = time.time() + 10
        while time.time() < end and any(marker not in w.seen for w in watchers): time.sleep(0.001)
        for w in watchers:
            if marker not in w.seen: raise SystemExit("a watcher never saw marker %s" % marker)
            watched.append(w.seen[marker] - t0)
        time.sleep(0.05)
    term.close()
    for w in watchers: w.close()
    return own, watched

def throughput(n_watchers):
    term = Terminal()
    watchers = [Watcher(live_session()) for _ in range(n_watchers)]
    for w in watchers: w.start()
    for w in watchers: w.started.wait(30)
    time.sleep(0.5)
    t0 = time.perf_counter()
    os.write(term.fd, ("head -c %d /dev/zero | base64 -w 0; echo; echo $((1+1))DONE\r" % (stream_mib << 20)).encode())
    term.read_until(b"2DONE", 600)
    elapsed = time.perf_counter() - t0
    term.close()
    for w in watchers: w.close()
    return stream_mib * 4 / 3 / elapsed, sum(w.bytes for w in watchers)

rows = []
for n in (1, 10):
    own, watched = latency(n)
    rows.append("| %d | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms |" % (n, markers, pct(own, 50) * 1e3, pct(own, 99) * 1e3,
                pct(watched, 50) * 1e3, pct(watched, 99) * 1e3))
print("## Keystroke to screen\n")
print("| watchers | markers | own terminal p50 | p99 | watchers' streams p50 | p99 |")
print("|---|---|---|---|---|---|")
print("\n".join(rows))
speeds = {0: [], 1: [], 10: []}
for _ in range(runs):
    for n in (0, 1, 10):
        speeds[n].append(throughput(n)[0])
med = {n: sorted(v)[len(v) // 2] for n, v in speeds.items()}
print("\n## Terminal output through the gateway (median of %d alternating runs, %d MiB of zeros as base64)\n" % (runs, stream_mib))
print("| watchers | MiB/s | ratio to none |")
print("|---|---|---|")
for n in (0, 1, 10):
    print("| %d | %.1f | %.2f |" % (n, med[n], med[n] / med[0]))

# Many sessions watched at once ([web] max_watches, default 100): each of
# `many` live sessions has one watcher; each prints markers in turn. Then
# the relay's throughput for one more session while the others are watched,
# against the same with nobody watching them.
def open_sessions(n):
    known = set()
    out = []
    for _ in range(n):
        t = Terminal()
        for _ in range(100):
            ids = [s["id"] for s in json.loads(subprocess.check_output([ctl, "--config", work + "/state/bastion.toml",
                   "sessions", "list", "--user", "typist", "--json"])) if not s.get("ended_at") and s["id"] not in known]
            if ids: break
            time.sleep(0.05)
        if len(ids) != 1: raise SystemExit("cannot tell which session is new: %r" % ids)
        known.add(ids[0])
        out.append((t, ids[0]))
    return out

many = 100 if quick == 0 else 20
sessions = open_sessions(many)
watchers = [Watcher(sid) for _, sid in sessions]
for w in watchers: w.start()
for w in watchers:
    if not w.started.wait(60): raise SystemExit("a watcher's stream did not start")
time.sleep(1)
lat = []
rounds = 5 if quick == 0 else 1
for r in range(rounds):
    for i, ((term, _), w) in enumerate(zip(sessions, watchers)):
        marker = ("%dY" % (200000 + r * 1000 + i)).encode()
        w.want(marker)
        t0 = time.perf_counter()
        os.write(term.fd, ("echo $((%d+1))Y\r" % (200000 + r * 1000 + i - 1)).encode())
        term.read_until(marker)
        end = time.time() + 10
        while time.time() < end and marker not in w.seen: time.sleep(0.001)
        if marker not in w.seen: raise SystemExit("watcher %d never saw marker %s" % (i, marker))
        lat.append(w.seen[marker] - t0)
busy = [throughput(0)[0] for _ in range(runs)]
for w in watchers: w.close()
time.sleep(1)
idle = [throughput(0)[0] for _ in range(runs)]
for term, _ in sessions: term.close()
print("\n## %d sessions watched at once (one watcher each)\n" % many)
print("| what | result |")
print("|---|---|")
print("| keystroke to watcher, %d markers across the %d sessions | p50 %.1f ms, p99 %.1f ms |" % (len(lat), many, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3))
b, i = sorted(busy)[len(busy) // 2], sorted(idle)[len(idle) // 2]
print("| another session's output, %d MiB, while the %d are watched | %.1f MiB/s |" % (stream_mib, many, b))
print("| the same, the %d still open but nobody watching | %.1f MiB/s |" % (many, i))
print("| ratio | %.2f |" % (b / i))
PY
{
  echo "# Live watch in the web console"
  echo
  echo "Measured by \`scripts/bench-watch.sh$([ "$quick" = 1 ] && echo " --quick")\` on $(date -u +%Y-%m-%d), $(nproc) cores, one gateway on loopback, SQLite."
  echo "A watcher is an HTTPS client of \`/console/sessions/ID/watch/events\` (what the console's player reads);"
  echo "the browser's own drawing is not in these numbers."
  echo
  cat "$work/rows.md"
} > "$work/RESULTS-watch.md"
if [ "$quick" = 0 ]; then cp "$work/RESULTS-watch.md" bench/RESULTS-watch.md; fi
cat "$work/RESULTS-watch.md"

#!/usr/bin/env python3
"""Several gateway nodes on one PostgreSQL, for scripts/bench-cluster.sh (a benchmark, not a test).

  cluster.py logins --ports P1,P2,... --clients C --seconds S -- SSH-COMMAND...
      C clients log in one after the other for S seconds, each running `true`;
      client i starts on port i mod len(ports) and moves to the next port at
      each login, so every node gets the same share. Prints one markdown table
      row: nodes, clients, logins, failed, logins/s, latency p50 and p99.

  cluster.py revocation --spool DIR --b PORT --c PORT --rounds N --keys DIR -- SSH-COMMAND...
      N rounds: person leaverK (key DIR/leaverK, employee EK) opens a session
      through the nodes at ports B and C; a leaver file for EK is renamed into
      DIR/incoming (node A's spool); the time from the rename to the end of
      the later of the two sessions is the revocation latency. Prints one
      markdown table row: rounds, p50, p99, max.

SSH-COMMAND is the ssh command line up to the destination (without -p, -i or
the remote command).
"""
import argparse
import os
import subprocess
import sys
import threading
import time


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    i = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.4999)) - 1))
    return s[i]


def logins(args, ssh):
    ports = [int(p) for p in args.ports.split(",")]
    lock = threading.Lock()
    ok, failed, latencies = [0], [0], []
    errors = []
    deadline = time.monotonic() + args.seconds

    def client(i):
        n = i
        while time.monotonic() < deadline:
            port = ports[n % len(ports)]
            n += 1
            t0 = time.monotonic()
            r = subprocess.run(ssh[:1] + ["-p", str(port)] + ssh[1:] + ["true"], capture_output=True, text=True)
            dt = time.monotonic() - t0
            with lock:
                if r.returncode == 0:
                    ok[0] += 1
                    latencies.append(dt)
                else:
                    failed[0] += 1
                    if len(errors) < 3:
                        errors.append(r.stderr.strip().splitlines()[:2])

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    for e in errors:
        print("login failed:", " / ".join(e), file=sys.stderr)
    print(f"| {len(ports)} | {args.clients} | {ok[0]} | {failed[0]} | {ok[0] / elapsed:.1f} | "
          f"{pct(latencies, 50) * 1000:.0f} ms | {pct(latencies, 99) * 1000:.0f} ms |")


def wait_for_line(proc, text, timeout):
    """Reads proc's stdout until a line contains text (True) or timeout/EOF (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            return False
        if text in line:
            return True
    return False


def revocation(args, ssh):
    times = []
    for k in range(args.rounds):
        key = os.path.join(args.keys, f"leaver{k}")
        sessions = []
        for port in (args.b, args.c):
            cmd = ssh[:1] + ["-p", str(port), "-i", key] + ssh[1:] + ["echo up; sleep 60"]
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if not wait_for_line(p, "up", 15):
                p.kill()
                print(f"round {k}: the session through port {port} did not start", file=sys.stderr)
                sys.exit(1)
            sessions.append(p)
        part = os.path.join(args.spool, f".leaver{k}.part")
        with open(part, "w") as f:
            f.write('{"event_id":"bench-leaver-%d","type":"leaver","employee_id":"E%d"}\n' % (k, k))
        t0 = time.monotonic()
        os.rename(part, os.path.join(args.spool, "incoming", f"leaver{k}.jsonl"))
        for p in sessions:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                print(f"round {k}: a session outlived the leaver by 10 s", file=sys.stderr)
                sys.exit(1)
        times.append(time.monotonic() - t0)
    ms = [t * 1000 for t in times]
    print(f"| {args.rounds} | {pct(ms, 50):.0f} ms | {pct(ms, 99):.0f} ms | {max(ms):.0f} ms |")


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        print("cluster.py: SSH-COMMAND after -- is required", file=sys.stderr)
        sys.exit(2)
    cut = argv.index("--")
    ssh = argv[cut + 1:]
    p = argparse.ArgumentParser(prog="cluster.py", description="Several gateway nodes (see the module docs).")
    sub = p.add_subparsers(dest="mode", required=True)
    lg = sub.add_parser("logins")
    lg.add_argument("--ports", required=True)
    lg.add_argument("--clients", type=int, default=16)
    lg.add_argument("--seconds", type=float, default=20)
    rv = sub.add_parser("revocation")
    rv.add_argument("--spool", required=True)
    rv.add_argument("--b", type=int, required=True)
    rv.add_argument("--c", type=int, required=True)
    rv.add_argument("--rounds", type=int, default=20)
    rv.add_argument("--keys", required=True)
    args = p.parse_args(argv[:cut])
    if args.mode == "logins":
        logins(args, ssh)
    else:
        revocation(args, ssh)


if __name__ == "__main__":
    main()

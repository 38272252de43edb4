#!/usr/bin/env python3
"""Login storms through bastiond, for scripts/bench.sh (a benchmark, not a test).

  storm.py burst --count N --hold S -- SSH-COMMAND...
      Starts N logins at once, each running `echo admitted; sleep S`. Prints
      one markdown table row: admitted, refused, time to admit the whole burst,
      p50 and p99 of the per-login latency (start of ssh to "admitted").

  storm.py sustained --per-minute R --minutes M --hold S --bastiond-pid PID -- SSH-COMMAND...
      Starts R logins per minute, evenly spaced, for M minutes, each holding
      its session S seconds (R/60*S sessions open at once). Prints one row per
      minute: logins started, admitted, refused, sessions open, and bastiond's
      memory (PSS of bastiond and all its descendants), open descriptors and
      process count, sampled at the end of the minute; then a row for after
      the last session ended ("after"), to compare with the one before the
      first login ("before"). "per process": PSS above the "before" row,
      divided by the connection processes (processes but bastiond itself).

SSH-COMMAND is the ssh command line up to the destination; the remote command
is appended. A login counts as refused when ssh exits without printing
"admitted"; the first lines of up to five refusals go to stderr.
"""
import argparse
import os
import subprocess
import sys
import time


def descendants(pid):
    """pid and every process below it (from /proc's parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_usage(pid):
    """(PSS MiB, open fds, processes) of pid and its descendants."""
    pss_kb, fds, procs = 0, 0, 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss_kb += int(line.split()[1])
                        break
            fds += len(os.listdir(f"/proc/{p}/fd"))
            procs += 1
        except OSError:
            continue  # it ended meanwhile
    return pss_kb / 1024.0, fds, procs


class Login:
    def __init__(self, ssh, hold, log_dir, n):
        self.started = time.monotonic()
        self.admitted_at = None
        self.path = os.path.join(log_dir, f"{n}.log")
        self.out = open(self.path, "wb")
        self.proc = subprocess.Popen(ssh + [f"echo admitted; sleep {hold}"], stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def poll(self):
        """'open', 'admitted' (just now), 'refused' or 'done'."""
        if self.admitted_at is None:
            with open(self.path, "rb") as f:
                if b"admitted" in f.read():
                    self.admitted_at = time.monotonic()
                    return "admitted"
            if self.proc.poll() is not None:
                self.out.close()
                return "refused"
            return "open"
        if self.proc.poll() is not None:
            self.out.close()
            return "done"
        return "open"

    def first_line(self):
        with open(self.path, "rb") as f:
            return f.read().decode(errors="replace").strip().splitlines()[:1]


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    i = max(0, min(len(values) - 1, int(p / 100.0 * len(values) + 0.999) - 1))
    return values[i]


def report_refusals(refused):
    for login in refused[:5]:
        print("refused: " + " ".join(login.first_line()), file=sys.stderr)


def burst(args, ssh):
    t0 = time.monotonic()
    logins = [Login(ssh, args.hold, args.log_dir, i) for i in range(args.count)]
    pending, refused, latencies = set(range(args.count)), [], []
    while pending and time.monotonic() - t0 < args.timeout:
        for i in list(pending):
            state = logins[i].poll()
            if state == "admitted":
                latencies.append(logins[i].admitted_at - logins[i].started)
                pending.discard(i)
            elif state == "refused":
                refused.append(logins[i])
                pending.discard(i)
        time.sleep(0.02)
    whole = max((l.admitted_at for l in logins if l.admitted_at), default=t0) - t0
    for login in logins:
        login.proc.wait()
    report_refusals(refused)
    print(f"| {args.count} at once | {len(latencies)} | {len(refused) + len(pending)} | {whole:.1f} s "
          f"| {pct(latencies, 50):.2f} s | {pct(latencies, 99):.2f} s |")
    return 0 if len(latencies) == args.count else 1


def sustained(args, ssh):
    interval = 60.0 / args.per_minute
    total = args.per_minute * args.minutes
    pss0, fds, procs = tree_usage(args.bastiond_pid)
    print(f"| before | - | - | - | 0 | {pss0:.0f} MiB | - | {fds} | {procs} |")
    sys.stdout.flush()
    t0 = time.monotonic()
    live, refused_all = [], []
    started = admitted = refused = 0
    minute = 1
    while True:
        now = time.monotonic()
        while started < total and now >= t0 + started * interval:
            live.append(Login(ssh, args.hold, args.log_dir, started))
            started += 1
        still = []
        for login in live:
            state = login.poll()
            if state == "admitted":
                admitted += 1
                still.append(login)
            elif state == "refused":
                refused += 1
                refused_all.append(login)
            elif state == "open":
                still.append(login)
        live = still
        if now >= t0 + minute * 60.0 and minute <= args.minutes:
            pss, fds, procs = tree_usage(args.bastiond_pid)
            per = (pss - pss0) / max(1, procs - 1)
            print(f"| {minute} | {started} | {admitted} | {refused} | {len(live)} | {pss:.0f} MiB | {per:.2f} MiB "
                  f"| {fds} | {procs} |")
            sys.stdout.flush()
            minute += 1
        if started >= total and not live:
            break
        time.sleep(0.02)
    time.sleep(2)  # the connection processes of the last sessions exit
    pss, fds, procs = tree_usage(args.bastiond_pid)
    print(f"| after | {started} | {admitted} | {refused} | 0 | {pss:.0f} MiB | - | {fds} | {procs} |")
    report_refusals(refused_all)
    return 0 if refused == 0 else 1


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    cut = argv.index("--")
    ssh = argv[cut + 1:]
    p = argparse.ArgumentParser(prog="storm.py", description="Login storms through bastiond (see the module docs).")
    sub = p.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("burst")
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--timeout", type=float, default=300)
    s = sub.add_parser("sustained")
    s.add_argument("--per-minute", type=int, required=True)
    s.add_argument("--minutes", type=int, required=True)
    s.add_argument("--bastiond-pid", type=int, required=True)
    for q in (b, s):
        q.add_argument("--hold", type=int, default=10)
        q.add_argument("--log-dir", required=True)
    args = p.parse_args(argv[:cut])
    if not ssh:
        p.error("no ssh command after --")
    os.makedirs(args.log_dir, exist_ok=True)
    return burst(args, ssh) if args.mode == "burst" else sustained(args, ssh)


if __name__ == "__main__":
    sys.exit(main())

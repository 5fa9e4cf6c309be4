#!/usr/bin/env python3
"""Two ferry builds side by side, operation by operation, in the same conditions.

usage: sudo bench/ops_ab.py N NAME=BIN NAME=BIN [OP...]

Each build gets a daemon of its own on a private host (a network namespace and roots under
/tmp/ferry-ops-ab/NAME) with two networks and one running sandbox. Then, N times, each
operation is timed as a whole CLI call on one build, then on the other, so that whatever
else the machine does falls on both alike. OPs (default: all) are noop (`network inspect
bridge`), run_none / run_net (`run -d ... -- sleep 3600`, then `rm -f` untimed), rm_none /
rm_net (`rm -f` of such a sandbox, its start untimed), connect / disconnect (of the running
sandbox to the second network), net_create / net_rm. Prints the median, 25th percentile and
minimum of each, in ms, and the daemon's CPU time per iteration (the timed operation with
its untimed set-up or clean-up; its own threads, kernel included, from /proc; children such
as a sandbox's init are not counted).
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = "/tmp/ferry-ops-ab"
OPS = ["noop", "run_none", "run_net", "rm_none", "rm_net", "connect", "disconnect",
       "net_create", "net_rm"]


def sh(*args, check=True):
    return subprocess.run(args, check=check, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)


class Daemon:
    def __init__(self, name, binary):
        self.name, self.bin = name, binary
        self.ns = f"ferry-ab-{name}"
        self.root = f"{ROOT}/{name}"
        self.cli = [binary, "-H", f"unix://{self.root}/run/ferry.sock"]

    def up(self):
        sh("ip", "netns", "del", self.ns, check=False)
        sh("ip", "netns", "add", self.ns)
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        with open(f"{self.root}/daemon.json", "w") as f:
            f.write("{}")
        self.log = open(f"{self.root}/daemon.log", "w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, self.bin, "daemon", "--data-root",
             f"{self.root}/data", "--exec-root", f"{self.root}/run", "--config-file",
             f"{self.root}/daemon.json"], stdout=self.log, stderr=self.log)
        for _ in range(200):
            if subprocess.run(self.cli + ["info"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        else:
            sys.exit(f"{self.name}: the daemon did not start (see {self.root}/daemon.log)")
        for n in ("n1", "n2"):
            self.run(["network", "create", n])
        self.run(["run", "-d", "--name", "pc", "--network", "n1", "--", "sleep", "3600"])

    def down(self):
        ids = subprocess.run(self.cli + ["ps", "-aq"], capture_output=True, text=True).stdout
        for i in ids.split():
            sh(*self.cli, "rm", "-f", i, check=False)
        self.proc.terminate()
        self.proc.wait()
        pids = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True,
                              text=True).stdout.split()
        for p in pids:
            sh("kill", "-KILL", p, check=False)
        sh("ip", "netns", "del", self.ns, check=False)

    def run(self, args):
        r = subprocess.run(self.cli + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode:
            sys.exit(f"{self.name}: ferry {' '.join(args)}: {r.stderr.decode().strip()}")

    def timed(self, args):
        t = time.perf_counter()
        self.run(args)
        return (time.perf_counter() - t) * 1000

    def cpu_ms(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # `ip netns exec` execs the daemon, so the PID is the daemon's.
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def one(d, op, i):
    """Times one operation (with its untimed set-up or clean-up)."""
    if op == "noop":
        return d.timed(["network", "inspect", "bridge"])
    if op in ("run_none", "run_net"):
        net = "none" if op == "run_none" else "n1"
        ms = d.timed(["run", "-d", "--name", f"s{i}", "--network", net, "--", "sleep", "3600"])
        d.run(["rm", "-f", f"s{i}"])
        return ms
    if op in ("rm_none", "rm_net"):
        net = "none" if op == "rm_none" else "n1"
        d.run(["run", "-d", "--name", f"r{i}", "--network", net, "--", "sleep", "3600"])
        return d.timed(["rm", "-f", f"r{i}"])
    if op == "connect":
        ms = d.timed(["network", "connect", "n2", "pc"])
        d.run(["network", "disconnect", "n2", "pc"])
        return ms
    if op == "disconnect":
        d.run(["network", "connect", "n2", "pc"])
        return d.timed(["network", "disconnect", "n2", "pc"])
    if op == "net_create":
        ms = d.timed(["network", "create", f"x{i}"])
        d.run(["network", "rm", f"x{i}"])
        return ms
    if op == "net_rm":
        d.run(["network", "create", f"y{i}"])
        return d.timed(["network", "rm", f"y{i}"])
    sys.exit(f"unknown operation {op}")


def main():
    if len(sys.argv) < 4 or os.getuid() != 0:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    builds = [a.split("=", 1) for a in sys.argv[2:] if "=" in a]
    ops = [a for a in sys.argv[2:] if "=" not in a] or OPS
    daemons = [Daemon(name, path) for name, path in builds]
    try:
        for d in daemons:
            d.up()
        samples = {(d.name, op): [] for d in daemons for op in ops}
        cpu = {(d.name, op): 0.0 for d in daemons for op in ops}
        for i in range(n):
            for op in ops:
                for d in daemons:
                    c = d.cpu_ms()
                    samples[(d.name, op)].append(one(d, op, i))
                    cpu[(d.name, op)] += d.cpu_ms() - c
        for op in ops:
            for d in daemons:
                v = sorted(samples[(d.name, op)])
                print(f"{op:<11} {d.name:<8} median {statistics.median(v):6.2f}  "
                      f"p25 {v[len(v) // 4]:6.2f}  min {v[0]:6.2f}  "
                      f"daemon CPU/op {cpu[(d.name, op)] / n:5.2f}")
    finally:
        for d in daemons:
            if hasattr(d, "proc"):
                d.down()


if __name__ == "__main__":
    main()

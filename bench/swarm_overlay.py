#!/usr/bin/env python3
"""ferry's swarm overlay, measured on hosts made by bench/swarm-overlay.sh (network namespaces on
one underlay bridge, a daemon each, joined in a swarm).

  propagation  from `ferry run -d` returning on host 0 to the first TCP connection from a
               sandbox on host 1 to the new sandbox, by address and by name (127.0.0.11)
  loss         from a host's daemon killed with -9 to its endpoint gone from every other
               host's resolver (lease TTL T)
  throughput   one TCP stream (iperf3) between sandboxes on two hosts over the overlay, and
               between the two host namespaces over the underlay, interleaved

Usage: swarm_overlay.py HOSTS_FILE TRIALS LOSS_TRIALS TTL
(TPUT_HOOK: a shell command run before the throughput rounds, to try a setting.
 TPUT_PIN=0: run iperf3 unpinned, at normal priority; by default the client runs on CPU 0
 and the server on CPU 1, both SCHED_FIFO, so that other work on a shared machine does not
 decide the figure. TPUT_ROUNDS, TPUT_SECS: interleaved rounds and seconds per stream.)
HOSTS_FILE lines: "<netns> <socket> <daemon pid file>" per host, host 0 the manager.
"""

import ctypes
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

FERRY = os.environ.get("FERRY_BIN", "ferry")
libc = ctypes.CDLL("libc.so.6", use_errno=True)
CLONE_NEWNET = 0x40000000


def ferry(host, *args, check=True):
    env = dict(os.environ, FERRY_HOST="unix://" + host["sock"])
    r = subprocess.run([FERRY, *args], env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ferry {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def enter_netns(path):
    """Moves the calling thread into a network namespace (sockets it makes live there)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def sandbox_netns(host, name):
    pid = json.loads(ferry(host, "inspect", name))[0]["State"]["Pid"]
    return f"/proc/{pid}/ns/net"


def dns_a(name, server="127.0.0.11", timeout=0.2):
    """One A query; the first answer's address, or None."""
    qid = os.getpid() & 0xFFFF
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (server, 53))
        data, _ = s.recvfrom(2048)
    except OSError:
        return None
    finally:
        s.close()
    an = struct.unpack(">H", data[6:8])[0]
    if an == 0:
        return None
    i = 12
    while data[i] != 0:  # the question's name
        i += data[i] + 1
    i += 5
    for _ in range(an):
        if data[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while data[i] != 0:
                i += data[i] + 1
            i += 1
        typ, _, _, rdlen = struct.unpack(">HHIH", data[i : i + 10])
        i += 10
        if typ == 1 and rdlen == 4:
            return socket.inet_ntoa(data[i : i + 4])
        i += rdlen
    return None


def connects(addr, port, timeout=0.05):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def probe(netns, target, by_name, out, ready, deadline=10.0):
    """In `netns`, tries to connect to `target` (an address, or a name resolved at
    127.0.0.11) until it works; records the time it did."""
    enter_netns(netns)
    ready.set()
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        addr = dns_a(target) if by_name else target
        if addr and connects(addr, 80):
            out.append(time.monotonic())
            return
        time.sleep(0.001)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(label, xs):
    if not xs:
        return f"| {label} | no samples | | | |"
    ms = [x * 1000 for x in xs]
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {pct(ms, 99):.1f} | {max(ms):.1f} |"


def propagation(hosts, trials):
    a, b = hosts[0], hosts[1]
    client_ns = sandbox_netns(b, "client")
    by_addr, by_name, misses = [], [], 0
    for t in range(trials):
        name, ip = f"p{t}", f"10.231.{100 + t // 250}.{t % 250 + 2}"
        got_a, got_n, ready = [], [], [threading.Event(), threading.Event()]
        threads = [
            threading.Thread(target=probe, args=(client_ns, ip, False, got_a, ready[0])),
            threading.Thread(target=probe, args=(client_ns, name, True, got_n, ready[1])),
        ]
        for th in threads:
            th.start()
        for r in ready:
            r.wait()
        ferry(a, "run", "-d", "--name", name, "--network", "prop", "--ip", ip,
              "--", "socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:true")
        returned = time.monotonic()
        for th in threads:
            th.join()
        if got_a:
            by_addr.append(max(0.0, got_a[0] - returned))
        if got_n:
            by_name.append(max(0.0, got_n[0] - returned))
        if not got_a or not got_n:
            misses += 1
        ferry(a, "rm", "-f", name)
    return by_addr, by_name, misses


def loss(hosts, trials, ttl, restart):
    """Kills host 2's daemon; times until its sandbox's name is gone on hosts 0 and 1."""
    victim = hosts[2]
    watchers = [sandbox_netns(h, "client") for h in hosts[:2]]
    times = []
    for _ in range(trials):
        # Its endpoint is known everywhere first.
        for ns in watchers:
            ok = [False]

            def known(ns=ns, ok=ok):
                enter_netns(ns)
                end = time.monotonic() + 30
                while time.monotonic() < end and not ok[0]:
                    ok[0] = dns_a("lost") is not None
                    time.sleep(0.01)

            th = threading.Thread(target=known)
            th.start()
            th.join()
            if not ok[0]:
                raise RuntimeError("the victim's sandbox never resolved")
        pid = int(open(victim["pidfile"]).read().strip())
        gone_at = []

        def gone(ns, out):
            enter_netns(ns)
            end = time.monotonic() + ttl + 30
            while time.monotonic() < end:
                if dns_a("lost") is None:
                    out.append(time.monotonic())
                    return
                time.sleep(0.01)

        outs = [[] for _ in watchers]
        ths = [threading.Thread(target=gone, args=(ns, o)) for ns, o in zip(watchers, outs)]
        os.kill(pid, 9)
        killed = time.monotonic()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        if all(outs):
            times.append(max(o[0] for o in outs) - killed)
        subprocess.run(restart, shell=True, check=True)
    return times


def pinned(cpu):
    """The prefix that runs a command on one CPU at real-time priority (unless TPUT_PIN=0)."""
    if os.environ.get("TPUT_PIN", "1") == "0" or (os.cpu_count() or 1) < 2:
        return []
    return ["chrt", "-f", "10", "taskset", "-c", str(cpu)]


def iperf(client_ns, server_ns, addr, secs):
    srv = subprocess.Popen([*pinned(1), "nsenter", f"--net={server_ns}", "iperf3", "-s", "-1", "-p", "5201"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    r = subprocess.run([*pinned(0), "nsenter", f"--net={client_ns}", "iperf3", "-c", addr, "-p", "5201",
                        "-t", str(secs), "-J"], capture_output=True, text=True)
    srv.wait(timeout=10)
    j = json.loads(r.stdout)
    end = j["end"]
    return end["sum_received"]["bits_per_second"] / 1e9, end["cpu_utilization_percent"]["host_total"]


def throughput(hosts, rounds, secs):
    a, b = hosts[0], hosts[1]
    ov = (sandbox_netns(b, "client"), sandbox_netns(a, "tput"),
          json.loads(ferry(a, "inspect", "tput"))[0]["NetworkSettings"]["Networks"]["prop"]["IPAddress"])
    ul = (f"/run/netns/{b['ns']}", f"/run/netns/{a['ns']}", a["underlay"])
    res = {"overlay": [], "underlay": []}
    for _ in range(rounds):
        for kind, (c, s, addr) in (("overlay", ov), ("underlay", ul)):
            res[kind].append(iperf(c, s, addr, secs))
    return res


def main():
    hosts_file, trials, loss_trials, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    hosts = []
    for line in open(hosts_file):
        ns, sock, pidfile, underlay = line.split()
        hosts.append({"ns": ns, "sock": sock, "pidfile": pidfile, "underlay": underlay})
    restart_cmd = os.environ["RESTART_VICTIM"]
    print(f"# {len(hosts)} hosts, {trials} propagation trials, {loss_trials} loss trials, lease TTL {ttl} s")
    by_addr, by_name, misses = propagation(hosts, trials)
    print("\n| propagation, `run -d` returned on host 0 → first TCP connect from host 1 | samples | median ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(summary("by address", by_addr))
    print(summary("by name (127.0.0.11)", by_name))
    print(f"\nmissed (no connect within 10 s): {misses}")
    if os.environ.get("TPUT_HOOK"):
        subprocess.run(os.environ["TPUT_HOOK"], shell=True, check=True)
    rounds = int(os.environ.get("TPUT_ROUNDS", "3"))
    secs = int(os.environ.get("TPUT_SECS", "5"))
    tput = throughput(hosts, rounds, secs)
    pin = "unpinned" if os.environ.get("TPUT_PIN", "1") == "0" else "client CPU 0, server CPU 1, SCHED_FIFO"
    print(f"\n| one TCP stream, host 1 → host 0 (iperf3, {secs} s, {rounds} interleaved rounds, {pin}) | Gbit/s per round | median Gbit/s | sender CPU % |")
    print("|---|---|---|---|")
    for kind in ("overlay", "underlay"):
        g = [x[0] for x in tput[kind]]
        c = [x[1] for x in tput[kind]]
        print(f"| {kind} | {', '.join(f'{x:.2f}' for x in g)} | {statistics.median(g):.2f} | {statistics.median(c):.0f} |")
    og = statistics.median([x[0] for x in tput["overlay"]])
    ug = statistics.median([x[0] for x in tput["underlay"]])
    ratios = [o[0] / u[0] * 100 for o, u in zip(tput["overlay"], tput["underlay"])]
    print(f"\noverlay / underlay: {og / ug * 100:.0f}% (medians); per round: {', '.join(f'{r:.0f}%' for r in ratios)}; load average {os.getloadavg()[0]:.1f}")
    lt = loss(hosts, loss_trials, ttl, restart_cmd)
    print(f"\n| host loss, daemon killed → its endpoint gone from every other host's resolver (TTL {ttl} s) | samples | median ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(summary("withdrawn everywhere", lt))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""ferry's swarm services, measured on hosts made by bench/swarm-services.sh (network namespaces
on one underlay bridge, a daemon each, joined in a swarm; an outside client linked to the last
host).

  failover   a host with a replica dies (its daemon killed with -9 and its underlay link cut):
             from then until (a) the leader has placed the replica elsewhere and it runs
             (3 running tasks, none on the dead host), and (b) every replica answers, both
             through the VIP (from a sandbox on host 0) and through the routing mesh (from the
             outside client, through the last host, which runs no replica)
  scale      `service scale web=30` from 3 on 4 hosts: when each new replica runs, and when all
             30 answer through the VIP
  mesh       connections/s and per-connection latency (connect to first line), sequential,
             through the mesh on the last host (replicas on other hosts) vs straight to a
             replica published on that host (mode=host); through the VIP from a sandbox on
             host 0 vs straight to a replica's overlay address

Usage: swarm_services.py HOSTS_FILE FAILOVER_TRIALS TTL
HOSTS_FILE lines: "<netns> <socket> <daemon pid file> <underlay address>", host 0 the manager.
"""

import ctypes
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

FERRY = os.environ.get("FERRY_BIN", "ferry")
libc = ctypes.CDLL("libc.so.6", use_errno=True)
CLONE_NEWNET = 0x40000000
REPLICA = ["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo $HOSTNAME"]


def ferry(host, *args, check=True):
    env = dict(os.environ, FERRY_HOST="unix://" + host["sock"])
    r = subprocess.run([FERRY, *args], env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ferry {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def api_get(host, path):
    c = UnixHTTP(host["sock"])
    try:
        c.request("GET", path)
        r = c.getresponse()
        return json.loads(r.read() or b"null")
    finally:
        c.close()


def node_id(host):
    for line in ferry(host, "info").splitlines():
        line = line.strip()
        if line.startswith("NodeID: "):
            return line[len("NodeID: "):]
    raise RuntimeError("no NodeID")


def enter_netns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def in_netns(path, fn):
    """Runs fn() on a thread inside a network namespace; its result."""
    out = {}

    def run():
        try:
            enter_netns(path)
            out["v"] = fn()
        except Exception as e:  # noqa: BLE001 - reported to the caller
            out["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


def ask(addr, port, timeout=0.5):
    """One connection: the first line, or None."""
    try:
        s = socket.create_connection((addr, port), timeout=timeout)
    except OSError:
        return None
    try:
        s.settimeout(timeout)
        return s.makefile().readline().strip() or None
    except OSError:
        return None
    finally:
        s.close()


def answers(addr, port, n):
    """The first lines of n connections (None for a failed one)."""
    return [ask(addr, port) for _ in range(n)]


def running_tasks(host, service):
    return [
        t
        for t in api_get(host, f"/services/{service}/tasks") or []
        if t.get("DesiredState") == "Running" and t.get("State") == "running"
    ]


ANSWERS_SCRIPT = r"""
import json, socket, sys
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = []
for _ in range(n):
    try:
        s = socket.create_connection((addr, port), timeout=0.5)
        s.settimeout(0.5)
        out.append(s.makefile().readline().strip() or None)
        s.close()
    except OSError:
        out.append(None)
print(json.dumps(out))
"""


def vip_answers(host, vip, n):
    """The first lines of n connections to the VIP from the client sandbox's own process."""
    out = ferry(host, "exec", "client", "--", "python3", "-c", ANSWERS_SCRIPT, vip, "80", str(n),
                check=False)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return [None]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def summary(v):
    return {
        "n": len(v),
        "p50": round(pct(v, 50), 3),
        "p99": round(pct(v, 99), 3),
        "max": round(max(v), 3),
    }


def sandbox_netns(host, name):
    pid = json.loads(ferry(host, "inspect", name))[0]["State"]["Pid"]
    return f"/proc/{pid}/ns/net"


def failover(hosts, ids, trials, ttl, client_ns, vip):
    placed, answered = [], []
    victims = [i for i in range(1, len(hosts) - 1)]
    for trial in range(trials):
        tasks = running_tasks(hosts[0], "web")
        on = {t["NodeID"] for t in tasks}
        v = next((i for i in victims if ids[i] in on), None)
        if v is None:
            raise RuntimeError(f"no victim among {victims}: {on}")
        vh = hosts[v]
        pid = int(open(vh["pidfile"]).read().strip())
        t0 = time.monotonic()
        os.kill(pid, 9)
        subprocess.run(["ip", "-n", vh["ns"], "link", "set", "ul0", "down"], check=True)
        t_placed = None
        while True:
            now = time.monotonic() - t0
            if now > ttl + 30:
                raise RuntimeError(f"trial {trial}: not recovered: {running_tasks(hosts[0], 'web')}")
            try:
                tasks = running_tasks(hosts[0], "web")
            except OSError:
                time.sleep(0.05)
                continue
            ok = len(tasks) == 3 and all(t["NodeID"] != ids[v] for t in tasks)
            if ok and t_placed is None:
                t_placed = now
            if ok:
                names = set(vip_answers(hosts[0], vip, 30))
                mesh = set(in_netns("/run/netns/fss-out", lambda: answers("192.0.2.1", 8080, 30)))
                if None not in names and None not in mesh and len(names) == 3 and len(mesh) == 3:
                    answered.append(time.monotonic() - t0)
                    placed.append(t_placed)
                    break
            time.sleep(0.05)
        # The host comes back; its stale replica must go.
        subprocess.run(os.environ["RESTART_HOST"].split() + [str(v)], check=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stale = [
                line for line in ferry(vh, "ps", check=False).splitlines() if " web." in line
            ]
            if not stale and len(running_tasks(hosts[0], "web")) == 3:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"trial {trial}: host {v} kept a stale replica")
        print(f"failover trial {trial}: placed {placed[-1]:.2f}s, answering {answered[-1]:.2f}s",
              file=sys.stderr)
    return {"placed_s": summary(placed), "answering_s": summary(answered)}


def scale(hosts, client_ns, vip):
    before = {t["ID"] for t in running_tasks(hosts[0], "web")}
    t0 = time.monotonic()
    ferry(hosts[0], "service", "scale", "web=30")
    seen = {}
    while len(seen) < 27:
        for t in running_tasks(hosts[0], "web"):
            if t["ID"] not in before and t["ID"] not in seen:
                seen[t["ID"]] = time.monotonic() - t0
        if time.monotonic() - t0 > 120:
            raise RuntimeError(f"scale: only {len(seen)} new replicas running")
        time.sleep(0.02)
    all_running = time.monotonic() - t0
    while True:
        names = set(vip_answers(hosts[0], vip, 300))
        if None not in names and len(names) == 30:
            break
        if time.monotonic() - t0 > 180:
            raise RuntimeError(f"scale: {len(names)} replicas answer through the VIP")
    all_answer = time.monotonic() - t0
    order = sorted(seen.values())
    ferry(hosts[0], "service", "scale", "web=3")
    return {
        "replica_4_s": round(order[0], 3),
        "replica_30_s": round(order[-1], 3),
        "gaps_ms_p50": round(statistics.median(
            [(b - a) * 1000 for a, b in zip(order, order[1:])]), 1),
        "all_running_s": round(all_running, 3),
        "all_answer_vip_s": round(all_answer, 3),
    }


def rate(ns, addr, port, seconds=3.0):
    def run():
        lat = []
        end = time.monotonic() + seconds
        fails = 0
        while time.monotonic() < end:
            t = time.monotonic()
            if ask(addr, port, timeout=2) is None:
                fails += 1
                continue
            lat.append(time.monotonic() - t)
        return lat, fails

    lat, fails = in_netns(ns, run)
    return {
        "conn_per_s": round(len(lat) / seconds, 1),
        "latency_ms_p50": round(statistics.median(lat) * 1000, 3),
        "failed": fails,
    }


RATE_SCRIPT = r"""
import json, socket, statistics, sys, time
addr, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
lat, fails = [], 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    t = time.monotonic()
    try:
        s = socket.create_connection((addr, port), timeout=2)
        s.settimeout(2)
        ok = bool(s.makefile().readline().strip())
        s.close()
    except OSError:
        ok = False
    if not ok:
        fails += 1
        continue
    lat.append(time.monotonic() - t)
print(json.dumps({"conn_per_s": round(len(lat) / seconds, 1),
                  "latency_ms_p50": round(statistics.median(lat) * 1000, 3) if lat else None,
                  "failed": fails}))
"""


def rate_in_sandbox(host, sandbox, addr, port, seconds=3.0):
    """rate(), from a process of the sandbox itself (in its cgroup, where the connect-time
    balancing applies, as for the sandbox's own programs)."""
    out = ferry(host, "exec", sandbox, "--", "python3", "-c", RATE_SCRIPT, addr, str(port),
                str(seconds))
    return json.loads(out.strip().splitlines()[-1])


def main():
    path, trials, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    hosts = []
    for line in open(path):
        ns, sock, pidfile, addr = line.split()
        hosts.append({"ns": ns, "sock": sock, "pidfile": pidfile, "addr": addr})
    ids = [node_id(h) for h in hosts]
    last = len(hosts) - 1
    a = hosts[0]
    ferry(a, "network", "create", "-d", "overlay", "--attachable", "bench")
    ferry(a, "service", "create", "--name", "web", "--replicas", "3", "--network", "bench",
          "--publish", "published=8080,target=80", "--constraint", f"node.id!={ids[last]}",
          "--", *REPLICA)
    ferry(a, "service", "create", "--name", "direct", "--network", "bench",
          "--publish", "published=8081,target=80,mode=host",
          "--constraint", f"node.id=={ids[last]}", "--", *REPLICA)
    ferry(a, "run", "-d", "--name", "client", "--network", "bench", "--", "sleep", "1000000")
    client_ns = sandbox_netns(a, "client")
    deadline = time.monotonic() + 60
    while len(running_tasks(a, "web")) < 3 or len(running_tasks(a, "direct")) < 1:
        if time.monotonic() > deadline:
            raise RuntimeError(
                "services did not start: "
                + json.dumps(api_get(a, "/services/web/tasks"))
                + json.dumps(api_get(a, "/services/direct/tasks"))
            )
        time.sleep(0.1)
    vip = json.loads(ferry(a, "service", "inspect", "web"))[0]["Endpoint"]["VirtualIPs"][0]["Addr"].split("/")[0]
    while None in set(in_netns("/run/netns/fss-out", lambda: answers("192.0.2.1", 8080, 10))):
        time.sleep(0.1)
    prefix = vip.rsplit(".", 1)[0] + "."
    replica = next(
        addr.split("/")[0]
        for addr in running_tasks(a, "web")[0]["Addresses"]
        if addr.startswith(prefix)
    )
    results = {"hosts": len(hosts), "ttl_s": ttl}
    results["mesh"] = {
        "through_node_without_replica": rate("/run/netns/fss-out", "192.0.2.1", 8080),
        "straight_to_replica_host_port": rate("/run/netns/fss-out", "192.0.2.1", 8081),
        "vip_from_other_host": rate_in_sandbox(a, "client", vip, 80),
        "straight_to_replica_overlay": rate_in_sandbox(a, "client", replica, 80),
    }
    print(json.dumps(results["mesh"]), file=sys.stderr)
    results["scale"] = scale(hosts, client_ns, vip)
    print(json.dumps(results["scale"]), file=sys.stderr)
    time.sleep(3)
    results["failover"] = failover(hosts, ids, trials, ttl, client_ns, vip)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

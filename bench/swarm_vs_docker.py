#!/usr/bin/env python3
"""Swarm services on one host, ferry and Docker swarm side by side, through their CLIs (each
polled every 50 ms; a CLI call is the clock's grain). Made to be run by
bench/swarm-vs-docker.sh, which starts both daemons in namespaces of their own.

  create  `service create --replicas 30`: until the service lists 30/30 running
  scale   `service scale S=30` from 3 running: until 30/30
  update  `service update --env-add K=V` over 10 running replicas, parallelism 1, no delay,
          stop-first, the default monitor period (5 s on both): until the update is
          `completed`, and until every running task is a new one
  remove  `service rm` of the 30: until no replica (container) is left

Usage: swarm_vs_docker.py ENGINE TRIALS OUT_DIR, ENGINE one of ferry|docker; the CLI is
$FERRY_CMD or $DOCKER_CMD (a command line).
"""

import json
import os
import shlex
import statistics
import subprocess
import sys
import time

ENGINE, TRIALS, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CLI = shlex.split(os.environ["FERRY_CMD" if ENGINE == "ferry" else "DOCKER_CMD"])
POLL = 0.05
LIMIT = 300.0


def cli(*args, check=True):
    r = subprocess.run([*CLI, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{ENGINE} {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def create_args(name, replicas, net):
    """The engine's `service create` for a busybox httpd replica on an overlay network."""
    if ENGINE == "docker":
        # dnsrr: IPVS (the VIP) does not run here; --init so that httpd, as the container's
        # first process, ends on SIGTERM (ferry's replicas have ferry-init).
        return ["service", "create", "--detach", "--no-resolve-image", "--init",
                "--endpoint-mode", "dnsrr", "--name", name, "--replicas", str(replicas),
                "--network", net, "bb:latest", "httpd", "-f", "-p", "80"]
    return ["service", "create", "--name", name, "--replicas", str(replicas),
            "--network", net, "--", "busybox", "httpd", "-f", "-p", "80"]


def running(name):
    """(running, wanted) replicas as `service ls` shows them."""
    if ENGINE == "docker":
        out = cli("service", "ls", "--filter", f"name={name}", "--format",
                  "{{.Name}} {{.Replicas}}", check=False)
        for line in out.splitlines():
            n, r = line.split()[:2]
            if n == name:
                a, b = r.split("/")[:2]
                return int(a), int(b.split()[0])
        return 0, -1
    out = cli("service", "ls", check=False)
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 4 and cols[1] == name:
            a, b = cols[3].split("/")[:2]
            return int(a), int(b)
    return 0, -1


def replicas_left():
    if ENGINE == "docker":
        return len(cli("ps", "-aq").split())
    return len([l for l in cli("ps", "-aq").split() if l])


def update_state(name):
    if ENGINE == "docker":
        return cli("service", "inspect", "-f",
                   "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", name,
                   check=False).strip()
    try:
        v = json.loads(cli("service", "inspect", name, check=False) or "[]")
        return ((v[0].get("UpdateStatus") or {}).get("State") or "") if v else ""
    except json.JSONDecodeError:
        return ""


def task_ids(name):
    """IDs of the tasks desired running."""
    if ENGINE == "docker":
        out = cli("service", "ps", "-q", "--filter", "desired-state=running", name, check=False)
        return set(out.split())
    ids = set()
    for line in cli("service", "ps", name, check=False).splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 4 and cols[3] == "Running":
            ids.add(cols[0])
    return ids


def until(cond, t0):
    while time.monotonic() - t0 < LIMIT:
        if cond():
            return time.monotonic() - t0
        time.sleep(POLL)
    raise RuntimeError("timed out")


def wait_running(name, n):
    until(lambda: running(name) == (n, n), time.monotonic())


def remove(name):
    t0 = time.monotonic()
    cli("service", "rm", name)
    return until(lambda: replicas_left() == 0, t0)


samples = {k: [] for k in ("create30", "scale3to30", "update10_completed",
                           "update10_all_new", "remove30")}
for trial in range(TRIALS):
    name = f"bench{trial}"
    # create 30
    t0 = time.monotonic()
    cli(*create_args(name, 30, "bnet"))
    samples["create30"].append(until(lambda: running(name) == (30, 30), t0))
    samples["remove30"].append(remove(name))
    # scale 3 -> 30
    cli(*create_args(name, 3, "bnet"))
    wait_running(name, 3)
    t0 = time.monotonic()
    if ENGINE == "docker":
        cli("service", "scale", "--detach", f"{name}=30")
    else:
        cli("service", "scale", f"{name}=30")
    samples["scale3to30"].append(until(lambda: running(name) == (30, 30), t0))
    remove(name)
    # update over 10
    cli(*create_args(name, 10, "bnet"))
    wait_running(name, 10)
    before = task_ids(name)
    t0 = time.monotonic()
    upd = ["service", "update", "--env-add", f"K=v{trial}", "--update-parallelism", "1",
           "--update-delay", "0s"]
    if ENGINE == "docker":
        upd.append("--detach")
    cli(*upd, name)
    all_new = None
    while time.monotonic() - t0 < LIMIT:
        if all_new is None:
            ids = task_ids(name)
            if ids and not (ids & before) and running(name) == (10, 10):
                all_new = time.monotonic() - t0
        if update_state(name) == "completed":
            break
        time.sleep(POLL)
    else:
        raise RuntimeError("update did not complete")
    done = time.monotonic() - t0
    samples["update10_completed"].append(done)
    samples["update10_all_new"].append(all_new if all_new is not None else done)
    remove(name)
    print(f"{ENGINE} trial {trial}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in samples.items()),
          flush=True)

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, f"{ENGINE}.json"), "w") as f:
    json.dump(samples, f, indent=1)
for k, v in samples.items():
    print(f"{ENGINE} {k}: median {statistics.median(v):.2f}s (min {min(v):.2f}, max {max(v):.2f}, n={len(v)})")

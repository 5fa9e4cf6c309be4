#!/usr/bin/env python3
"""A probe, not a product setting: what the overlay's throughput would be if its frames did not
cross the bridge (and so not br_netfilter, which this machine kind's kernel has built in and on
in every namespace). Run it as TPUT_HOOK of bench/swarm-overlay.sh:

  TPUT_HOOK="python3 bench/overlay_fastpath_probe.py /tmp/ferry-bench/swarm/hosts" \\
    FERRY_BIN=target/release/ferry bash bench/swarm-overlay.sh 5 0 0

On every host it adds a table `netdev ferry_probe`: on the host end of each local sandbox's veth,
frames for a remote endpoint's MAC go straight to the network's VXLAN device (`fwd`); on the VXLAN
device, frames for a local endpoint's MAC go straight to its veth. Everything else (ARP,
broadcast, the host's own link) still crosses the bridge. With `--gro` it also turns GRO on for
those veths (both ends) and the VXLAN devices (needs ethtool). Leaves with the bench's namespaces.

HOSTS_FILE lines: "<netns> <socket> <daemon pid file> <underlay address>" per host.
"""

import json
import os
import subprocess
import sys

FERRY = os.environ.get("FERRY_BIN", "target/release/ferry")


def ferry(sock, *args):
    env = dict(os.environ, FERRY_HOST=f"unix://{sock}")
    return subprocess.run([FERRY, *args], env=env, capture_output=True, text=True, check=True).stdout


def endpoints(sock):
    """(network id, MAC, host end of the veth, sandbox pid) of each sandbox on an overlay."""
    out = []
    for cid in ferry(sock, "ps", "-q").split():
        d = json.loads(ferry(sock, "inspect", cid))[0]
        for n in d["NetworkSettings"]["Networks"].values():
            if not n.get("EndpointID"):
                continue
            out.append((n["NetworkID"], n["MacAddress"], "vo" + n["EndpointID"][:13], d["State"]["Pid"]))
    return out


def main():
    hosts = [line.split() for line in open(sys.argv[1]) if line.strip()]
    gro = "--gro" in sys.argv
    eps = {h[0]: endpoints(h[1]) for h in hosts}
    for ns, _sock, *_ in hosts:
        links = {l["ifname"] for l in json.loads(subprocess.run(
            ["ip", "-n", ns, "-j", "link"], capture_output=True, text=True, check=True).stdout)}
        local = [e for e in eps[ns] if e[2] in links]
        chains = []
        for net in sorted({e[0] for e in local}):
            vx = f"fx-{net[:12]}"
            if vx not in links:
                continue
            remote = sorted({e[1] for other, es in eps.items() if other != ns for e in es if e[0] == net})
            mine = [e for e in local if e[0] == net]
            for _n, _mac, vo, _pid in mine:
                if remote:
                    chains.append(f'chain out_{vo} {{ type filter hook ingress device "{vo}" priority 0; '
                                  f'ether daddr {{ {", ".join(remote)} }} fwd to "{vx}"; }}')
                chains.append(f'chain to_{vo} {{ fwd to "{vo}"; }}')
            vmap = ", ".join(f"{mac} : jump to_{vo}" for _n, mac, vo, _pid in mine)
            chains.append(f'chain in_{vx} {{ type filter hook ingress device "{vx}" priority 0; '
                          f'ether daddr vmap {{ {vmap} }}; }}')
            if gro:
                for dev in [vx] + [e[2] for e in mine]:
                    subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "gro", "on"], check=True)
                for _n, _mac, _vo, pid in mine:
                    sandbox_links = json.loads(subprocess.run(
                        ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "link"],
                        capture_output=True, text=True, check=True).stdout)
                    for l in sandbox_links:
                        if l["ifname"] != "lo":
                            subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ethtool", "-K",
                                            l["ifname"], "gro", "on"], check=True)
        if not chains:
            continue
        script = "table netdev ferry_probe {\n" + "\n".join(chains) + "\n}\n"
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True, check=True)
        print(f"{ns}: {len(chains)} chains", file=sys.stderr)


if __name__ == "__main__":
    main()

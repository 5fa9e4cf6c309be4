#!/usr/bin/env python3
"""Summarises bench/services.sh raw results: medians per engine and measurement, and the
VIP's and the mesh's cost relative to the direct path."""
import json
import statistics
import sys
from collections import defaultdict

rows = defaultdict(lambda: defaultdict(list))
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        for k, v in r["r"].items():
            rows[(r["engine"], r["what"])][k].append(v)


def med(engine, what, key):
    v = rows.get((engine, what), {}).get(key)
    return statistics.median(v) if v else None


engines = sorted({e for e, _ in rows})
for e in engines:
    if (e, "vip-unavailable") in rows:
        print(f"NOTE: {e}'s VIPs and mesh did not answer (no IPVS in this kernel): only its direct path")
        print("      is measured, and its scale changes count until the new task answers on its own address.")
        print()
print("connections (median of runs; rate in conn/s, latency connect-to-EOF in us)")
print(f"{'engine':8} {'path':18} {'conn/s':>8} {'p50':>6} {'p90':>6} {'p99':>6} {'failed':>6}")
for e in engines:
    for what in ["direct-t1", "vip-t1", "vip-host-path-t1", "direct-t2", "vip-t2", "vip-host-path-t2", "host-direct-t1", "mesh-t1"]:
        if (e, what) not in rows:
            continue
        print(
            f"{e:8} {what:18} {med(e, what, 'per_sec'):8.0f} {med(e, what, 'p50_us'):6.0f} "
            f"{med(e, what, 'p90_us'):6.0f} {med(e, what, 'p99_us'):6.0f} {med(e, what, 'failed'):6.0f}"
        )
print()
print("VIP and mesh vs direct (rate ratio; added p50 latency)")
for e in engines:
    for via, direct in [("vip-t1", "direct-t1"), ("vip-t2", "direct-t2"),
                        ("vip-host-path-t1", "direct-t1"), ("vip-host-path-t2", "direct-t2"),
                        ("mesh-t1", "host-direct-t1")]:
        if (e, via) in rows and (e, direct) in rows:
            ratio = med(e, via, "per_sec") / med(e, direct, "per_sec")
            added = med(e, via, "p50_us") - med(e, direct, "p50_us")
            # Runs alternate, so the i-th runs of both were measured side by side.
            a, b = rows[(e, via)]["per_sec"], rows[(e, direct)]["per_sec"]
            paired = statistics.median(x / y for x, y in zip(a, b) if y)
            print(f"{e:8} {via:16} vs {direct:15} rate x{ratio:.3f} ({(1 - ratio) * 100:+.1f}% loss; "
                  f"median of paired runs x{paired:.3f})  p50 {added:+.0f} us")
print()
print("scale changes (median ms: the command; until the new replica answers through the VIP)")
for e in engines:
    for what in sorted({w for en, w in rows if en == e and w.startswith("scale")}):
        print(f"{e:8} {what:20} command {med(e, what, 'command_ms'):7.0f}  effect {med(e, what, 'effect_ms'):7.0f}")
if len(engines) > 1 and "ferry" in engines:
    print()
    print("ferry / other (rate: higher is better; time: lower is better)")
    for o in [e for e in engines if e != "ferry"]:
        for what in ["vip-t1", "vip-t2", "mesh-t1"]:
            a, b = med("ferry", what, "per_sec"), med(o, what, "per_sec")
            if a and b:
                print(f"{what:22} rate ferry/{o} x{a / b:.2f}")
        for what in sorted({w for en, w in rows if en == "ferry" and w.startswith("scale")}):
            a, b = med("ferry", what, "effect_ms"), med(o, what, "effect_ms")
            if a and b:
                print(f"{what:22} time ferry/{o} x{a / b:.2f}")

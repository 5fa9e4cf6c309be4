"""docker-py 7 against a ferry daemon (DOCKER_HOST): a network with an IPAM pool, a container
on it, connected to a second network, its logs, execs in it (one with a terminal), then
everything removed.
Prints "ok" last; any failure raises."""

import docker

client = docker.from_env()
assert client.ping()
assert client.version()["ApiVersion"] == "1.50"

pool = docker.types.IPAMPool(subnet="10.44.0.0/24", gateway="10.44.0.1")
front = client.networks.create("front", ipam=docker.types.IPAMConfig(pool_configs=[pool]))
back = client.networks.create("back", labels={"tier": "db"})
assert front.attrs["IPAM"]["Config"][0]["Gateway"] == "10.44.0.1"

web = client.containers.run(
    "host",
    ["sh", "-c", "echo from-web; exec sleep 600"],
    detach=True,
    name="web",
    network="front",
    environment={"A": "1"},
)
back.connect(web, aliases=["db"], ipv4_address=None)
web.reload()
assert sorted(web.attrs["NetworkSettings"]["Networks"]) == ["back", "front"], web.attrs
assert web.attrs["NetworkSettings"]["Networks"]["front"]["IPAddress"].startswith("10.44.0.")
assert "db" in web.attrs["NetworkSettings"]["Networks"]["back"]["Aliases"]
assert [c.name for c in client.containers.list(filters={"network": "back"})] == ["web"]

for _ in range(100):
    if web.logs() == b"from-web\n":
        break
    import time

    time.sleep(0.05)
assert web.logs() == b"from-web\n", web.logs()

r = web.exec_run(["sh", "-c", "echo $A; ip -o -4 addr show eth1; exit 5"])
assert r.exit_code == 5, r
out = r.output.decode()
assert out.startswith("1\n") and "inet " in out, out
r = web.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
assert r.output == (b"out\n", b"err\n"), r
# With a terminal: one raw stream, output and errors on it, lines ended as a terminal does.
r = web.exec_run(["sh", "-c", "tty; echo err >&2; exit 2"], tty=True)
assert (r.exit_code, r.output) == (2, b"/dev/pts/0\r\nerr\r\n"), r

assert client.containers.run("host", ["echo", "once"], remove=True) == b"once\n"
out = client.containers.run("host", ["sh", "-c", "test -t 1 && echo term"], tty=True, remove=True)
assert out == b"term\r\n", out

back.disconnect(web)
web.remove(force=True)
front.remove()
back.remove()
assert client.containers.list(all=True) == []
print("ok")

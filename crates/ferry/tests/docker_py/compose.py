"""docker-py 7 making what a Compose project makes, against a ferry daemon (DOCKER_HOST).

Project `shop`: networks `shop_frontend` and `shop_backend` (internal), services web
(frontend), api (both networks, static addresses) and db (backend), each container labelled
and aliased by its service as Compose does.

    python3 compose.py up     # creates and checks it; prints "ok"
    python3 compose.py down   # removes everything labelled with the project; prints "ok"

Any failure raises."""

import sys

import docker

PROJECT = "shop"
client = docker.from_env()


def labels(**extra):
    out = {"com.docker.compose.project": PROJECT, "com.docker.compose.version": "2.20.2"}
    out.update({f"com.docker.compose.{k}": v for k, v in extra.items()})
    return out


def network(name, subnet, internal=False):
    pool = docker.types.IPAMPool(subnet=subnet)
    return client.networks.create(
        f"{PROJECT}_{name}",
        driver="bridge",
        internal=internal,
        ipam=docker.types.IPAMConfig(pool_configs=[pool]),
        labels=labels(network=name),
        check_duplicate=True,
    )


def endpoint(service, ip=None):
    """An endpoint as Compose asks for it: the service's name as an alias, and a static
    address when the file gives one."""
    return client.api.create_endpoint_config(aliases=[service], ipv4_address=ip)


def service(name, first, more=()):
    """One replica of a service: created on its first network, connected to the others
    before it starts (Compose's order), then started."""
    net, ip = first
    c = client.containers.create(
        "host",
        ["sleep", "600"],
        name=f"{PROJECT}-{name}-1",
        hostname=name,
        labels=labels(service=name, **{"container-number": "1", "oneoff": "False"}),
        network=net.name,
        networking_config={net.name: endpoint(name, ip)},
    )
    for net, ip in more:
        net.connect(c, aliases=[name], ipv4_address=ip)
    c.start()
    c.reload()
    return c


def lookup(c, name):
    """The address `name` resolves to inside `c`, or None."""
    r = c.exec_run(["getent", "hosts", name])
    if r.exit_code != 0:
        return None
    return r.output.decode().split()[0]


def up():
    front = network("frontend", "10.61.0.0/24")
    back = network("backend", "10.62.0.0/24", internal=True)
    assert back.attrs["Internal"] is True, back.attrs
    web = service("web", (front, None))
    api = service("api", (front, "10.61.0.10"), [(back, "10.62.0.10")])
    db = service("db", (back, "10.62.0.20"))

    nets = api.attrs["NetworkSettings"]["Networks"]
    assert sorted(nets) == ["shop_backend", "shop_frontend"], nets
    assert nets["shop_frontend"]["IPAddress"] == "10.61.0.10", nets
    assert nets["shop_backend"]["IPAddress"] == "10.62.0.10", nets
    assert "api" in nets["shop_backend"]["Aliases"], nets
    assert db.attrs["NetworkSettings"]["Networks"]["shop_backend"]["IPAddress"] == "10.62.0.20"

    # A service's name and its container's name resolve on the networks they share, to the
    # address on that network; nothing resolves across a network not shared.
    web_ip = web.attrs["NetworkSettings"]["Networks"]["shop_frontend"]["IPAddress"]
    assert lookup(web, "api") == "10.61.0.10"
    assert lookup(web, "shop-api-1") == "10.61.0.10"
    assert lookup(web, "db") is None
    assert lookup(web, "shop-db-1") is None
    assert lookup(api, "db") == "10.62.0.20"
    assert lookup(api, "web") == web_ip
    assert lookup(db, "api") == "10.62.0.10"
    assert lookup(db, "web") is None

    mine = client.containers.list(filters={"label": f"com.docker.compose.project={PROJECT}"})
    assert sorted(c.name for c in mine) == ["shop-api-1", "shop-db-1", "shop-web-1"], mine
    dbs = client.containers.list(filters={"label": "com.docker.compose.service=db"})
    assert [c.name for c in dbs] == ["shop-db-1"], dbs
    mine = client.networks.list(filters={"label": f"com.docker.compose.project={PROJECT}"})
    assert sorted(n.name for n in mine) == ["shop_backend", "shop_frontend"], mine


def down():
    """Compose's down: the project's containers, then its networks, found by label."""
    project = f"com.docker.compose.project={PROJECT}"
    found = client.containers.list(all=True, filters={"label": project})
    assert len(found) == 3, found
    for c in found:
        c.stop(timeout=1)
        c.remove()
    found = client.networks.list(filters={"label": project})
    assert len(found) == 2, found
    for n in found:
        n.remove()
    assert client.containers.list(all=True, filters={"label": project}) == []
    assert client.networks.list(filters={"label": project}) == []


{"up": up, "down": down}[sys.argv[1]]()
print("ok")

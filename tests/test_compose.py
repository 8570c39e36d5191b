"""docker-compose.yml, read as data (no Docker needed): images pinned, dependencies that
exist, and the `sharded-eu` profile wired as docs/SHARDING.md describes it — a config
server replica set, two shard replica sets, a mongos over them, a one-shot init that names
exactly those, and a gateway whose EU URI is the mongos with no replica set in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"
PROFILE = "sharded-eu"
KEYFILE = "/keys/cluster.key"

Service = dict[str, Any]


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    # SafeLoader resolves the file's anchors and `<<` merge keys as compose does.
    parsed = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, Service] = parsed["services"]
    return found


def _profiled(services: dict[str, Service]) -> dict[str, Service]:
    return {n: s for n, s in services.items() if PROFILE in s.get("profiles", [])}


def _arg(service: Service, flag: str) -> str:
    command: list[str] = service["command"]
    return command[command.index(flag) + 1]


def _with_flag(services: dict[str, Service], flag: str) -> dict[str, Service]:
    return {n: s for n, s in _profiled(services).items() if flag in s.get("command", [])}


def _eu_uri(gateway: Service) -> tuple[str, dict[str, list[str]]]:
    """The hosts and options of the EU URI (its password is a `${…:?message}` that no URL
    parser reads as one)."""
    after_user = gateway["environment"]["ENCLAVE_EU__MONGODB_URI"].rsplit("@", 1)[1]
    hosts, _, path = after_user.partition("/")
    return hosts, parse_qs(path.partition("?")[2])


def test_every_image_is_pinned_to_a_version(services: dict[str, Service]) -> None:
    loose = []
    for name, service in services.items():
        if "build" in service:  # built from this repository, tagged by the build
            continue
        image: str = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if not tag or tag == "latest" or not tag[0].isdigit():
            loose.append(f"{name}: {image}")
    assert loose == []


def test_dependencies_exist_and_stay_inside_their_profile(services: dict[str, Service]) -> None:
    wrong = []
    for name, service in services.items():
        mine = set(service.get("profiles", []))
        for dep in service.get("depends_on", {}):
            if dep not in services:
                wrong.append(f"{name} -> {dep}: no such service")
            elif not set(services[dep].get("profiles", [])) <= mine:
                wrong.append(f"{name} -> {dep}: only in profiles {services[dep]['profiles']}")
    assert wrong == []


def test_the_default_services_are_in_no_profile(services: dict[str, Service]) -> None:
    for name in ("mongo-eu", "mongo-us", "redis", "gateway"):
        assert "profiles" not in services[name], name
    host, query = _eu_uri(services["gateway"])
    assert (host, query["replicaSet"]) == ("mongo-eu:27017", ["rs-eu"])


def test_the_sharded_profile_has_a_config_server_two_shards_and_a_mongos(
    services: dict[str, Service],
) -> None:
    config = _with_flag(services, "--configsvr")
    shards = _with_flag(services, "--shardsvr")
    profiled = _profiled(services)
    routers = {n: s for n, s in profiled.items() if s.get("command", [""])[0] == "mongos"}
    assert len(config) == 1
    assert len(shards) == 2
    assert len(routers) == 1
    [(config_name, config_service)] = config.items()
    config_set = f"{_arg(config_service, '--replSet')}/{config_name}:27017"
    [router] = routers.values()
    assert _arg(router, "--configdb") == config_set
    shard_sets = {f"{_arg(s, '--replSet')}/{n}:27017" for n, s in shards.items()}
    assert len({s.split("/")[0] for s in shard_sets | {config_set}}) == 3  # distinct sets

    init = services["mongo-eu-sharded-init"]
    assert init["restart"] == "no"
    assert init["environment"]["SHARDED_CONFIG"] == config_set
    assert set(init["environment"]["SHARDED_SHARDS"].split(",")) == shard_sets
    assert init["environment"]["SHARDED_MONGOS"] == f"{next(iter(routers))}:27017"
    assert set(init["depends_on"]) >= {config_name, *shards, *routers}


def test_the_cluster_members_share_one_keyfile(services: dict[str, Service]) -> None:
    members = {n: s for n, s in _profiled(services).items() if "--keyFile" in s.get("command", [])}
    assert len(members) == 4  # config server, two shards, mongos
    volumes = set()
    for name, service in members.items():
        assert _arg(service, "--keyFile") == KEYFILE, name
        [mount] = [v for v in service["volumes"] if v.split(":")[1] == "/keys"]
        assert mount.endswith(":ro"), name
        volumes.add(mount.split(":")[0])
    assert len(volumes) == 1


def test_the_sharded_members_have_healthchecks(services: dict[str, Service]) -> None:
    long_running = [n for n, s in _profiled(services).items() if s["restart"] != "no"]
    assert sorted(n for n in long_running if "healthcheck" not in services[n]) == []
    assert len(long_running) == 5  # config server, two shards, mongos, gateway


def test_the_sharded_gateway_talks_to_mongos_without_a_replica_set(
    services: dict[str, Service],
) -> None:
    gateway = services["gateway-sharded-eu"]
    host, query = _eu_uri(gateway)
    assert host == "mongo-eu-mongos:27017"
    # A replicaSet or directConnection in a mongos URI breaks server selection or failover.
    assert not {"replicaSet", "directConnection"} & set(query)
    assert "mongo-eu" not in gateway["depends_on"]
    assert gateway["depends_on"]["mongo-eu-sharded-init"] == {
        "condition": "service_completed_successfully"
    }
    # The rest is the default gateway's (the US region, Redis, keys).
    default = services["gateway"]
    same = {k: v for k, v in default["environment"].items() if k != "ENCLAVE_EU__MONGODB_URI"}
    assert {k: gateway["environment"][k] for k in same} == same
    assert gateway["secrets"] == default["secrets"]

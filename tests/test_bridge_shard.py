"""Several bridges for one farm (``shard`` in bridge.yaml): the ownership hash, the config, and
three real instances on one mosquitto sharing a simulated fleet of twelve miners."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bridge_support import (
    Collector,
    MosquittoBroker,
    address_block,
    collector,
    discovery_arrived,
    drop_connection,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
    short_timeouts_fixture,  # noqa: F401  (the `short_timeouts` fixture)
)

from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.app import Bridge
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import EventBus
from asic_bridge.bridge.registry import DeviceRecord, Registry
from asic_bridge.bridge.shard import Shard, answered_here, owner, shard_key
from asic_bridge.bridge.topics import Topics, mac_id
from asic_bridge.errors import ConfigError
from asic_bridge.network import Host
from asic_bridge.sim import SimMiner, list_kinds
from asic_bridge.sim.fleet import start_fleet, stop_fleet

BASE = "asic_bridge"
HA = "homeassistant"


# ============================================================================ the hash
def _macs(n: int, seed: int = 18) -> list[str]:
    rng = random.Random(seed)
    return [":".join(f"{rng.randrange(256):02x}" for _ in range(6)) for _ in range(n)]


def test_ownership_is_stable_and_ignores_how_the_mac_is_written() -> None:
    # fixed figures: a change of the hash (it must never change: every miner would move)
    # shows here, not in a farm
    assert [owner(shard_key(m, "10.0.0.1"), 3) for m in _macs(8)] == [
        owner(shard_key(m.upper().replace(":", "-"), "10.9.9.9"), 3) for m in _macs(8)
    ]
    assert shard_key("AA:BB:CC:DD:EE:FF", "10.0.0.1") == "aabbccddeeff"
    assert shard_key(None, "10.0.0.7") == "10.0.0.7"  # no MAC: the IP decides
    shards = [Shard(i, 3) for i in range(3)]
    for mac in _macs(200):
        assert sum(s.owns(mac, "10.0.0.1") for s in shards) == 1
    assert Shard(0, 1).owns("aa:bb:cc:dd:ee:ff", "10.0.0.1")


def test_ownership_is_balanced() -> None:
    n = 3000
    for count in (2, 3, 4, 7):
        spread = Counter(owner(shard_key(m, ""), count) for m in _macs(n))
        assert set(spread) == set(range(count))
        for share in spread.values():  # within 15 % of an even split
            assert abs(share - n / count) < 0.15 * n / count, (count, spread)


def test_growing_from_three_to_four_moves_only_a_quarter_and_only_to_the_new_one() -> None:
    macs = _macs(4000)
    before = {m: owner(shard_key(m, ""), 3) for m in macs}
    after = {m: owner(shard_key(m, ""), 4) for m in macs}
    moved = [m for m in macs if before[m] != after[m]]
    assert all(after[m] == 3 for m in moved)  # none moves between the instances that stay
    assert 0.20 < len(moved) / len(macs) < 0.30  # ~1/4, a modulo hash would move ~3/4


async def test_a_restart_with_another_count_forgets_the_miners_that_moved(
    tmp_path: Path,
) -> None:
    macs = _macs(40)
    registry = Registry(tmp_path)
    for mac in macs:
        registry.add(DeviceRecord(id=mac_id(mac), mac=mac, ip="10.0.0.1"))
    await registry.persist()
    config = parse_config({"state_dir": str(tmp_path), "shard": {"index": 3, "count": 4}})
    adoption = Adoption(config, Registry(tmp_path), EventBus())
    adoption.load()
    kept = {mac_id(m) for m in macs if owner(shard_key(m, ""), 4) == 3}
    assert kept and len(kept) < len(macs)
    assert set(adoption.devices) == set(adoption.registry.devices) == kept


def test_each_command_is_answered_by_one_instance_only() -> None:
    topics = Topics(BASE, instance="shard-1")
    mine = {"aabbccddeeff"}

    def here(topic: str, payload: bytes = b"", index: int = 1) -> bool:
        incoming = topics.classify(f"{BASE}/{topic}")
        assert incoming is not None, topic
        return answered_here(incoming, payload, mine, index)

    assert here("aabbccddeeff/set") and here("aabbccddeeff/set/power_limit")
    assert here("aabbccddeeff/get")
    assert not here("0123456789ab/set") and not here("0123456789ab/get")  # another's
    assert here("bridge/shard-1/request/scan") and here("bridge/shard-1/request/restart")
    assert here("bridge/request/device/rename", b'{"from": "aabbccddeeff", "to": "x"}')
    assert here("bridge/request/poll", b'{"id": "aabbccddeeff"}')
    assert not here("bridge/request/poll", b'{"id": "0123456789ab"}')
    assert not here("bridge/request/poll", b'{"id": ["aabbccddeeff"]}')  # a list: per instance
    assert not here("bridge/request/poll", b"{not json")
    assert not here("bridge/request/scan", b"{}")  # about an instance: its own topic
    assert not here("bridge/request/device/rename", b'{"id": "aabbccddeeff"}')  # rename: from
    assert here("fleet/all/set", b"{}", index=0) and not here("fleet/all/set", b"{}", index=1)


# ============================================================================ the config
def _config(shard: Any, **more: Any) -> Any:
    return parse_config({"shard": shard, **more})


def test_shard_config_names_the_instance() -> None:
    assert _config({"index": 2, "count": 3}).shard.instance == "shard-2"
    assert _config({"index": 0, "count": 3, "name": "hall_b"}).shard.instance == "hall_b"
    unsharded = parse_config({})
    assert (unsharded.shard.index, unsharded.shard.count, unsharded.shard.instance) == (0, 1, None)
    assert list(unsharded.fleet.groups) == ["all"]
    # count 1: today's topics exactly, whatever the name
    assert _config({"index": 0, "count": 1, "name": "x"}).shard.instance is None


@pytest.mark.parametrize(
    ("shard", "words"),
    [
        ({"index": 3, "count": 3}, "index 3 must be below count 3"),
        ({"index": -1, "count": 3}, "greater than or equal to 0"),
        ({"index": 0, "count": 0}, "greater than or equal to 1"),
        ({"index": "1", "count": 3}, "valid integer"),
        ({"index": 1.0, "count": 3}, "valid integer"),
        ({"index": 0, "count": True}, "valid integer"),
        ({"index": 0, "count": 2, "name": "request"}, "not one of"),
        ({"index": 0, "count": 2, "name": "a/b"}, "letters, digits"),
        ({"index": 0, "count": 2, "size": 2}, "size"),
    ],
)
def test_bad_shard_config_is_refused_clearly(shard: Any, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(shard)
    assert "shard" in str(caught.value)
    assert words in str(caught.value)


def test_fleet_groups_are_refused_when_sharded() -> None:
    assert _config({"index": 0, "count": 2}).fleet.groups == {}  # the default group goes
    with pytest.raises(ConfigError, match=r"fleet.groups cannot be used with shard.count > 1"):
        _config({"index": 0, "count": 2}, fleet={"groups": {"all": {}}})


def test_topics_unsharded_are_todays_and_sharded_are_per_instance() -> None:
    plain, mine = Topics(BASE), Topics(BASE, instance="shard-1")
    assert plain.bridge_state == f"{BASE}/bridge/state"
    assert plain.bridge_response("scan") == f"{BASE}/bridge/response/scan"
    assert plain.classify(f"{BASE}/bridge/request/scan").kind == "bridge_request"  # type: ignore[union-attr]
    assert plain.classify(f"{BASE}/bridge/shard-1/request/scan") is None
    assert mine.bridge_state == f"{BASE}/bridge/shard-1/state"
    assert mine.bridge_devices == f"{BASE}/bridge/shard-1/devices"
    assert mine.bridge_response("scan") == f"{BASE}/bridge/shard-1/response/scan"
    own = mine.classify(f"{BASE}/bridge/shard-1/request/device/rename")
    assert own is not None and (own.kind, own.name) == ("bridge_request", "device/rename")
    shared = mine.classify(f"{BASE}/bridge/request/device/rename")
    assert shared is not None and (shared.kind, shared.name) == ("shared_request", "device/rename")
    assert mine.classify(f"{BASE}/bridge/shard-2/request/scan") is None  # another's
    assert f"{BASE}/bridge/shard-1/request/+/+" in mine.subscriptions()
    assert not any("shard" in s for s in plain.subscriptions())


# ============================================================================ three instances
COUNT = 3
KINDS = [k for k, *_ in list_kinds()]
FAMILIES = [
    k for k in ("whatsminer_m60", "avalon_nano3", "antminer_s19jpro", "cgminer") if k in KINDS
]


@dataclass
class Farm:
    bridges: list[Bridge]
    sims: dict[str, SimMiner]  # miner id (its MAC) -> simulator
    mqtt: Collector

    def owner_of(self, miner_id: str) -> int:
        (index,) = [i for i, b in enumerate(self.bridges) if miner_id in b.slots]
        return index

    def miner_of(self, config: dict[str, Any]) -> str | None:
        """The miner a discovery config is for (None: an instance's own entity)."""
        ident = config["device"]["identifiers"][0]
        uids = {f"asic_bridge_{d.record.uid}": i for b in self.bridges for i, d in b.slots.items()}
        return uids.get(ident)

    def state_topic(self, index: int) -> str:
        return f"{BASE}/bridge/shard-{index}/state"


@contextlib.asynccontextmanager
async def farm(broker: MosquittoBroker, tmp_path: Path) -> AsyncIterator[Farm]:
    addr = address_block()
    specs = [f"{FAMILIES[i % len(FAMILIES)]}@{addr(i + 1)}" for i in range(12)]
    sims = await start_fleet(specs)
    hosts = [Host(sim.address, None) for sim in sims]
    bridges = [
        Bridge(
            parse_config(
                {
                    "mqtt": {"url": broker.url, "client_id": f"shard_test_{i}"},
                    "miners": {"poll_interval": 1, "scan_interval": 0, "offline_after": 2},
                    "state_dir": str(tmp_path / f"state{i}"),
                    "shard": {"index": i, "count": COUNT},
                }
            )
        )
        for i in range(COUNT)
    ]
    for bridge in bridges:
        bridge.adoption.extra_hosts.extend(hosts)
    async with collector(broker, (f"{BASE}/#", f"{HA}/#")) as mqtt:
        try:
            for bridge in bridges:
                await bridge.start()
            for bridge in bridges:
                await asyncio.wait_for(bridge.ready.wait(), 30)
            by_ip = {sim.address: sim for sim in sims}
            adopted = [d.record for b in bridges for d in b.slots.values()]
            result = Farm(bridges, {r.id: by_ip[r.ip] for r in adopted}, mqtt)
            assert sorted(r.ip for r in adopted) == sorted(by_ip), "each miner adopted once"
            for miner_id in result.sims:
                await mqtt.wait_topic(
                    f"{BASE}/{miner_id}/availability", lambda m: m.text == "online", within=15
                )
            await discovery_arrived(mqtt, bridges)
            yield result
        finally:
            for bridge in bridges:
                bridge.stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bridge.shutdown(), 20)
            await stop_fleet(sims)


def _retained(mqtt: Collector, upto: int | None = None) -> dict[str, bytes]:
    """What the broker holds now (as far as the collector saw, up to message ``upto``)."""
    last: dict[str, bytes] = {}
    for message in mqtt.messages[:upto]:
        last[message.topic] = message.payload
    return {t: p for t, p in last.items() if p}


@pytest.mark.usefixtures("short_timeouts")
@pytest.mark.skipif(len(FAMILIES) < 2, reason="the simulator kinds are missing")
async def test_three_instances_share_one_farm(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    async with farm(mosquitto, tmp_path) as f:
        mqtt = f.mqtt
        # every miner owned exactly once, by the instance the hash names
        owned = Counter(i for b in f.bridges for i in b.slots)
        assert owned == Counter(set(f.sims)), owned
        for miner_id in f.sims:
            record = f.bridges[f.owner_of(miner_id)].slots[miner_id].record
            assert f.owner_of(miner_id) == owner(shard_key(record.mac, record.ip), COUNT)
        # the cgminer simulator reports no MAC: those miners are owned by their IP
        assert any(b.slots[m].record.mac is None for b in f.bridges for m in b.slots) == (
            "cgminer" in FAMILIES
        )
        # each instance's own state and device list, with its miners only
        for index, bridge in enumerate(f.bridges):
            devices = json.loads(_retained(mqtt)[f"{BASE}/bridge/shard-{index}/devices"])
            assert {d["id"] for d in devices} == set(bridge.slots)
            assert _retained(mqtt)[f.state_topic(index)] == b"online"
        assert f"{BASE}/bridge/state" not in _retained(mqtt)

        # every discovery entity announced once, by its owner (only its state in availability)
        by_device: dict[str, set[str]] = defaultdict(set)
        unique_ids: Counter[str] = Counter()
        for message in mqtt.messages:
            if not (message.topic.startswith(f"{HA}/") and message.payload):
                continue
            config = message.json()
            miner = f.miner_of(config)
            if miner is not None:
                bridge_states = {a["topic"] for a in config["availability"]} - {
                    f"{BASE}/{miner}/availability"
                }
                assert bridge_states == {f.state_topic(f.owner_of(miner))}, message.topic
                by_device[miner].add(message.topic.split("/")[-2])
        for topic, payload in _retained(mqtt).items():
            if topic.startswith(f"{HA}/"):
                unique_ids[json.loads(payload)["unique_id"]] += 1
        assert max(unique_ids.values()) == 1
        assert set(by_device) == set(f.sims)
        # the same entities for every miner of a kind, whoever owns it
        for kind in FAMILIES:
            keys = [by_device[m] for m, s in f.sims.items() if s.kind == kind]
            assert all(k == keys[0] for k in keys), kind
        connection = [t for t in _retained(mqtt) if t.endswith("/connection_state/config")]
        assert len(connection) == COUNT

        # a command to any miner: answered once, by its owner; non-owners stay silent
        mark = mqtt.mark()
        for miner_id in f.sims:
            await mqtt.publish(f"{BASE}/{miner_id}/get", "")
        for miner_id in f.sims:
            await mqtt.wait_topic(f"{BASE}/{miner_id}/response", since=mark, within=10)
        # a shared request about one miner: its owner answers on the shared response topic
        some = sorted(f.sims)[0]
        await mqtt.publish(f"{BASE}/bridge/request/poll", {"id": some})
        poll = await mqtt.wait_topic(f"{BASE}/bridge/response/poll", since=mark, within=10)
        assert poll.json()["data"] == {some: True}
        # barrier: each instance answers its own request after what was published before
        for index in range(COUNT):
            await mqtt.publish(f"{BASE}/bridge/shard-{index}/request/health_check", {})
        for index in range(COUNT):
            await mqtt.wait_topic(
                f"{BASE}/bridge/shard-{index}/response/health_check", since=mark, within=10
            )
        await asyncio.sleep(0.5)  # a second answer, were there one, is on its way by now
        answers = Counter(m.topic for m in mqtt.messages[mark:] if m.topic.endswith("/response"))
        assert answers == Counter({f"{BASE}/{m}/response": 1 for m in f.sims})
        assert len(mqtt.on(f"{BASE}/bridge/response/poll", mark)) == 1
        # a fleet target is refused once, clearly
        await mqtt.publish(f"{BASE}/fleet/all/set", {"target_w": 1000})
        fleet = await mqtt.wait_topic(f"{BASE}/fleet/all/response", since=mark)
        assert "shard.count > 1" in fleet.json()["error"]

        # one instance lost (its will): only its miners become unavailable in HA
        lost = max(range(COUNT), key=lambda i: len(f.bridges[i].slots))
        theirs = set(f.bridges[lost].slots)
        mark = mqtt.mark()
        client = f.bridges[lost].mqtt.client
        assert client is not None
        drop_connection(client)
        will = await mqtt.wait_topic(
            f.state_topic(lost), lambda m: m.text == "offline", since=mark, within=10
        )
        held = _retained(mqtt, will.index + 1)
        unavailable = set()
        for topic, payload in held.items():
            if not topic.startswith(f"{HA}/"):
                continue
            config = json.loads(payload)
            miner = f.miner_of(config)
            if miner is None:
                continue
            if any(held.get(a["topic"]) != b"online" for a in config["availability"]):
                unavailable.add(miner)
        assert unavailable == theirs
        assert theirs  # the instance with the most miners owns some

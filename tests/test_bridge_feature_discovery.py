"""Discovery: nothing before the first poll, configs on new keys, stale ones cleared, the
bridge device on announce, everything withdrawn on remove."""

from __future__ import annotations

from pathlib import Path

from bridge_fakes import RecordingPublisher, device

from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.entities import bridge_discovery
from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerAdopted,
    MinerRemoved,
    StateKeysChanged,
)
from asic_bridge.bridge.features.discovery import Discovery
from asic_bridge.bridge.registry import Registry
from asic_bridge.bridge.topics import Topics

T = Topics("base", "ha")


def _feature(tmp_path: Path, **mqtt: object) -> tuple[EventBus, RecordingPublisher, Adoption]:
    config = parse_config(
        {"mqtt": {"url": "mqtt://127.0.0.1:1", **mqtt}, "state_dir": str(tmp_path)}
    )
    bus, pub = EventBus(), RecordingPublisher()
    adoption = Adoption(config, Registry(tmp_path), bus)
    Discovery(bus, pub, T, config, adoption)
    return bus, pub, adoption


async def test_announced_after_the_first_keys_and_stale_configs_cleared(tmp_path: Path) -> None:
    bus, pub, adoption = _feature(tmp_path)
    miner = device("m1", make="AntMiner", model="S19")
    adoption.devices["m1"] = miner
    await bus.emit(MinerAdopted(miner, found=True))
    assert pub.messages == []  # nothing read yet: HA is told nothing
    miner.record.reported = ["hashrate", "power"]
    await bus.emit(StateKeysChanged(miner))
    first = {m.topic for m in pub.messages if m.payload != ""}
    assert first and all(t.startswith("ha/") for t in first)
    assert sorted(first) == miner.record.discovery_topics
    pub.clear()
    await bus.emit(StateKeysChanged(miner))
    assert pub.messages == []  # unchanged configs are not published again
    miner.record.reported = ["hashrate"]
    await bus.emit(StateKeysChanged(miner))
    cleared = {m.topic for m in pub.messages if m.payload == ""}
    assert cleared and cleared < first
    assert set(miner.record.discovery_topics) == first - cleared


async def test_announce_publishes_the_bridge_device_and_every_miner(tmp_path: Path) -> None:
    bus, pub, adoption = _feature(tmp_path)
    miner = device("m1", reported=["hashrate"])
    adoption.devices["m1"] = miner
    await bus.emit(Announce())
    topics = pub.topics()
    assert set(bridge_discovery(T)) <= topics
    assert set(miner.record.discovery_topics) <= topics
    pub.clear()
    await bus.emit(Announce())  # forced: HA may have lost them
    assert set(miner.record.discovery_topics) <= pub.topics()


async def test_remove_withdraws_every_config(tmp_path: Path) -> None:
    bus, pub, adoption = _feature(tmp_path)
    miner = device("m1", reported=["hashrate", "power"])
    adoption.devices["m1"] = miner
    await bus.emit(StateKeysChanged(miner))
    announced = set(miner.record.discovery_topics)
    pub.clear()
    await bus.emit(MinerRemoved(miner))
    assert {m.topic for m in pub.messages if m.payload == ""} == announced


async def test_discovery_off_publishes_nothing(tmp_path: Path) -> None:
    bus, pub, adoption = _feature(tmp_path, discovery=False)
    miner = device("m1", reported=["hashrate"])
    adoption.devices["m1"] = miner
    await bus.emit(Announce())
    await bus.emit(StateKeysChanged(miner))
    assert pub.messages == []

"""The state feature: what one successful poll publishes, per-field topics, energy from the
saved total, new keys announced, the real state back after a failed command, clearing."""

from __future__ import annotations

from pathlib import Path

from bridge_fakes import RecordingPublisher, device

from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import (
    Announce,
    CommandDone,
    EventBus,
    MinerRemoved,
    MinerRenamed,
    PollSucceeded,
    StateKeysChanged,
)
from asic_bridge.bridge.features.state import StateFeature
from asic_bridge.bridge.registry import Registry
from asic_bridge.bridge.topics import Topics
from asic_bridge.data import MinerData

T = Topics("base")


def _feature(tmp_path: Path, **mqtt: object) -> tuple[EventBus, RecordingPublisher, StateFeature]:
    config = parse_config(
        {"mqtt": {"url": "mqtt://127.0.0.1:1", **mqtt}, "state_dir": str(tmp_path)}
    )
    bus, pub = EventBus(), RecordingPublisher()
    feature = StateFeature(bus, pub, T, config, Registry(tmp_path))
    return bus, pub, feature


async def test_a_poll_publishes_the_state_and_learns_the_record(tmp_path: Path) -> None:
    bus, pub, feature = _feature(tmp_path)
    keys: list[str] = []

    async def changed(event: StateKeysChanged) -> None:
        keys.append(event.device.id)

    bus.on(StateKeysChanged, changed)
    miner = device("m1")
    data = MinerData("10.0.0.1", hashrate=100.0, wattage=3000, hostname="rig-7", uptime=50)
    await bus.emit(PollSucceeded(miner, data, now=1000.0))
    state = pub.last("base/m1").json()
    assert state["hashrate"] == 100.0 and state["power"] == 3000
    assert pub.last("base/m1").retain
    assert miner.record.hostname == "rig-7" and miner.record.last_seen == 1000.0
    assert set(miner.record.reported) == set(state)
    assert keys == ["m1"]  # the first keys are news for discovery
    assert feature.last_state("m1") == state
    await bus.emit(PollSucceeded(miner, data, now=1005.0))
    assert keys == ["m1"]  # the same keys again: no re-announcement
    assert "base/m1/hashrate" not in pub.topics()  # per-field topics are off by default


async def test_energy_published_is_the_saved_total(tmp_path: Path) -> None:
    bus, pub, feature = _feature(tmp_path)
    miner = device("m1")
    feature.registry.add(miner.record)
    for second in (0.0, 1.0, 2.0):
        await bus.emit(PollSucceeded(miner, MinerData("x", wattage=3600, hashrate=1.0), second))
    assert miner.record.energy_kwh > 0  # integrated in memory ...
    published = pub.last("base/m1").json().get("energy", 0.0)
    assert published == feature.registry.saved_energy("m1")  # ... but never ahead of the disk


async def test_per_field_topics_and_clearing(tmp_path: Path) -> None:
    bus, pub, _ = _feature(tmp_path, per_field_topics=True)
    miner = device("m1")
    await bus.emit(PollSucceeded(miner, MinerData("x", hashrate=5.0, is_mining=True), 1.0))
    assert pub.last("base/m1/hashrate").payload == "5.0"
    assert pub.last("base/m1/mining").payload == "true"
    pub.clear()
    await bus.emit(MinerRemoved(miner))
    cleared = {m.topic for m in pub.messages if m.payload == ""}
    assert {"base/m1", "base/m1/hashrate", "base/m1/mining"} <= cleared


async def test_failed_command_and_announce_republish_the_last_state(tmp_path: Path) -> None:
    bus, pub, _ = _feature(tmp_path)
    miner = device("m1")
    await bus.emit(CommandDone(miner, ok=False))
    assert pub.messages == []  # nothing read yet: nothing to correct
    await bus.emit(PollSucceeded(miner, MinerData("x", hashrate=5.0), 1.0))
    pub.clear()
    await bus.emit(CommandDone(miner, ok=True))
    assert pub.messages == []  # the next poll shows what changed
    await bus.emit(CommandDone(miner, ok=False))
    await bus.emit(Announce())
    assert [m.topic for m in pub.messages] == ["base/m1", "base/m1"]


async def test_rename_moves_the_state(tmp_path: Path) -> None:
    bus, pub, feature = _feature(tmp_path)
    miner = device("m1")
    await bus.emit(PollSucceeded(miner, MinerData("x", hashrate=5.0), 1.0))
    pub.clear()
    miner.record.id = "garage"
    await bus.emit(MinerRenamed(miner, old_id="m1"))
    assert (pub.messages[0].topic, pub.messages[0].payload) == ("base/m1", "")
    assert pub.last("base/garage").json()["hashrate"] == 5.0
    assert feature.last_state("m1") == {}

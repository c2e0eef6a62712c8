"""The bridge's own topics: state/info/devices on announce, events for what happens to
miners, one coalesced device list for a whole scan, the devices and info requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bridge_fakes import RecordingPublisher, device

from asic_bridge import __version__
from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerAdopted,
    MinerMoved,
    MinerOffline,
    MinerOnline,
    MinerRemoved,
    ScanFinished,
)
from asic_bridge.bridge.features import bridge as bridge_feature
from asic_bridge.bridge.features.bridge import BridgeTopics
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.registry import Registry
from asic_bridge.bridge.topics import Topics

T = Topics("base")


def _feature(tmp_path: Path) -> tuple[EventBus, RecordingPublisher, Adoption, BridgeTopics]:
    config = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1"}, "state_dir": str(tmp_path)})
    bus, pub = EventBus(), RecordingPublisher()
    adoption = Adoption(config, Registry(tmp_path), bus)
    feature = BridgeTopics(bus, pub, T, config, adoption, lambda: {"broker": "external"})
    return bus, pub, adoption, feature


async def test_announce_says_online_info_and_devices(tmp_path: Path) -> None:
    bus, pub, adoption, _ = _feature(tmp_path)
    adoption.devices["m1"] = device("m1")
    await bus.emit(Announce())
    assert [m.topic for m in pub.messages] == [
        "base/bridge/state",
        "base/bridge/info",
        "base/bridge/devices",
    ]
    assert pub.last("base/bridge/state").payload == "online"
    info = pub.last("base/bridge/info").json()
    assert info["version"] == __version__ and info["miner_count"] == 1
    assert info["broker"] == "external"
    assert info["shard"] == {"index": 0, "count": 1, "name": None}
    assert [d["id"] for d in pub.last("base/bridge/devices").json()] == ["m1"]
    assert all(m.retain for m in pub.messages)


async def test_a_sharded_info_names_its_instance(tmp_path: Path) -> None:
    """Sharded, bridge/info says which instance it is: the HA integration's key for it."""
    config = parse_config(
        {
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
            "state_dir": str(tmp_path),
            "shard": {"index": 1, "count": 3, "name": "hall-b"},
        }
    )
    topics = Topics("base", instance=config.shard.instance)
    adoption = Adoption(config, Registry(tmp_path), EventBus())
    pub = RecordingPublisher()
    await BridgeTopics(EventBus(), pub, topics, config, adoption, dict).publish_info()
    info = pub.last("base/bridge/hall-b/info").json()
    assert info["shard"] == {"index": 1, "count": 3, "name": "hall-b"}


async def test_events_for_what_happens_to_miners(tmp_path: Path) -> None:
    bus, pub, _adoption, feature = _feature(tmp_path)
    miner = device("m1", make="AntMiner")
    await bus.emit(MinerAdopted(miner, found=True))
    await bus.emit(MinerAdopted(miner, found=False))  # a rescan: no event
    await bus.emit(MinerOnline(miner, back=False))  # first answer since start: no event
    await bus.emit(MinerOffline(miner, was_online=True))
    await bus.emit(MinerOnline(miner, back=True))
    await bus.emit(MinerOffline(device("m2"), was_online=False))  # never seen: no event
    miner.record.ip = "10.0.0.9"
    await bus.emit(MinerMoved(miner, old_ip="10.0.0.1"))
    await bus.emit(MinerRemoved(miner))
    events = [m.json() for m in pub.on("base/bridge/event")]
    assert [e["type"] for e in events] == [
        "miner_found",
        "miner_lost",
        "miner_online",
        "ip_changed",
        "miner_removed",
    ]
    assert events[0]["data"]["make"] == "AntMiner"
    assert events[3]["data"] == {"id": "m1", "old_ip": "10.0.0.1", "new_ip": "10.0.0.9"}
    assert not any(m.retain for m in pub.on("base/bridge/event"))
    await feature.close()


async def test_a_scan_publishes_one_device_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge_feature, "DEVICES_COALESCE", 0.01)
    bus, pub, adoption, feature = _feature(tmp_path)
    for n in range(20):
        adoption.devices[f"m{n}"] = miner = device(f"m{n}")
        await bus.emit(MinerAdopted(miner, found=False))
    await asyncio.sleep(0.1)
    assert len(pub.on("base/bridge/devices")) == 1
    await bus.emit(ScanFinished(20))  # unchanged: not published again
    assert len(pub.on("base/bridge/devices")) == 1
    assert pub.last("base/bridge/info").json()["miner_count"] == 20
    await feature.close()


async def test_devices_and_info_requests(tmp_path: Path) -> None:
    _bus, pub, adoption, feature = _feature(tmp_path)
    requests = BridgeRequests(pub, T)
    feature.register(requests)
    adoption.devices["m1"] = device("m1")
    assert [d["id"] for d in await requests.handlers["devices"]({})] == ["m1"]
    assert (await requests.handlers["info"]({}))["miner_count"] == 1

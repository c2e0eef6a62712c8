"""Discovery: nothing before the first poll, configs on new keys, stale ones cleared, the
bridge device on announce, everything withdrawn on remove; the events only queue a miner
(its poll is not held up), each queued miner is announced once with its latest configs, in
the order queued, and a removal drops a queued announcement."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from bridge_fakes import RecordingPublisher, device

from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.entities import DiscoveryTemplates, bridge_discovery, discovery_messages
from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerAdopted,
    MinerRemoved,
    StateKeysChanged,
)
from asic_bridge.bridge.features.discovery import Discovery
from asic_bridge.bridge.registry import DeviceRecord, Registry
from asic_bridge.bridge.topics import Topics
from asic_bridge.drivers.base import Capability

T = Topics("base", "ha")


class GatedPublisher(RecordingPublisher):
    """Holds every batch (a miner's configs) until ``gate`` opens, as a slow broker would."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.batches: list[list[str]] = []
        self.taken: list[str] = []  # the miner id of each batch, as it reached the broker

    async def publish_many(self, messages: dict[str, Any], *, retain: bool = False) -> None:
        self.taken.append(next(iter(messages)).split("/")[2])
        await self.gate.wait()
        self.batches.append(list(messages))
        await super().publish_many(messages, retain=retain)


def _with(
    tmp_path: Path, pub: RecordingPublisher, **mqtt: object
) -> tuple[EventBus, Adoption, Discovery]:
    config = parse_config(
        {"mqtt": {"url": "mqtt://127.0.0.1:1", **mqtt}, "state_dir": str(tmp_path)}
    )
    bus = EventBus()
    adoption = Adoption(config, Registry(tmp_path), bus)
    return bus, adoption, Discovery(bus, pub, T, config, adoption)


def _feature(tmp_path: Path, **mqtt: object) -> tuple[EventBus, RecordingPublisher, Adoption]:
    """The feature whose every event is followed by the queue's work (``bus.emit``)."""
    pub = RecordingPublisher()
    bus, adoption, discovery = _with(tmp_path, pub, **mqtt)
    emit = bus.emit

    async def emit_and_drain(event: object) -> None:
        await emit(event)
        await discovery.drained()

    bus.emit = emit_and_drain  # type: ignore[method-assign]
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


def _miners(adoption: Adoption, n: int) -> list[Any]:
    miners = []
    for i in range(n):
        miner = device(f"m{i}", mac=f"02:00:00:00:00:{i:02x}", reported=["hashrate", "power"])
        adoption.devices[miner.id] = miner
        miners.append(miner)
    return miners


async def test_a_poll_only_queues_its_miner_and_the_queue_goes_in_order(tmp_path: Path) -> None:
    """The poll that first read a miner emits StateKeysChanged and publishes its state after
    it: the event must return while the configs still wait for the broker."""
    pub = GatedPublisher()
    bus, adoption, discovery = _with(tmp_path, pub)
    miners = _miners(adoption, 9)
    for miner in miners:
        await asyncio.wait_for(bus.emit(StateKeysChanged(miner)), 5)
    await asyncio.sleep(0)  # the workers take their first miners
    assert pub.messages == []  # nothing got past the gate: yet every event returned
    pub.gate.set()
    await discovery.drained()
    assert pub.taken == [m.id for m in miners]  # FIFO (the ids are in the topics)
    assert all(m.record.discovery_topics for m in miners)


async def test_a_miner_queued_again_is_announced_once_with_its_latest_configs(
    tmp_path: Path,
) -> None:
    pub = GatedPublisher()
    bus, adoption, discovery = _with(tmp_path, pub)
    busy = _miners(adoption, 4)  # one per worker, held at the gate
    for miner in busy:
        await bus.emit(StateKeysChanged(miner))
    await asyncio.sleep(0)
    late = device("late", mac="02:00:00:00:01:00", reported=["hashrate"])
    adoption.devices[late.id] = late
    await bus.emit(StateKeysChanged(late))
    late.record.reported = ["hashrate", "power"]  # a second poll reported more
    await bus.emit(StateKeysChanged(late))
    await bus.emit(Announce())  # HA's birth meanwhile: everything, once each
    await bus.emit(StateKeysChanged(late))
    pub.gate.set()
    await discovery.drained()
    late_batches = [b for b in pub.batches if b[0].split("/")[2] == "late"]
    assert len(late_batches) == 1  # queued four times, announced once
    power = [t for t in late_batches[0] if "power" in t]
    assert power  # with what it reported last
    announced = [t for m in pub.messages if m.payload != "" for t in [m.topic]]
    assert len(announced) == len(set(announced)) + sum(
        len(m.record.discovery_topics) for m in busy
    )  # the busy ones again (forced, they were in flight at the birth), nothing else twice


async def test_birth_does_not_wait_and_announces_every_miner(tmp_path: Path) -> None:
    pub = GatedPublisher()
    bus, adoption, discovery = _with(tmp_path, pub)
    miners = _miners(adoption, 12)
    await asyncio.wait_for(bus.emit(Announce()), 5)  # returns with the broker held
    assert set(bridge_discovery(T)) <= pub.topics()  # the bridge device's few at once
    pub.gate.set()
    await discovery.drained()
    for miner in miners:
        assert miner.record.discovery_topics
        assert set(miner.record.discovery_topics) <= pub.topics()


async def test_removal_drops_a_queued_announcement(tmp_path: Path) -> None:
    pub = GatedPublisher()
    bus, adoption, discovery = _with(tmp_path, pub)
    busy = _miners(adoption, 4)
    for miner in busy:
        await bus.emit(StateKeysChanged(miner))
    await asyncio.sleep(0)
    gone = device("gone", mac="02:00:00:00:02:00", reported=["hashrate"])
    adoption.devices[gone.id] = gone
    await bus.emit(StateKeysChanged(gone))
    del adoption.devices[gone.id]  # as Adoption.remove does before MinerRemoved
    pub.gate.set()
    await bus.emit(MinerRemoved(gone))
    await discovery.drained()
    assert not [m for m in pub.messages if "/gone/" in m.topic and m.payload != ""]
    assert gone.record.discovery_topics == []


ALL_KEYS = [
    "hashrate", "expected_hashrate", "power", "power_limit", "efficiency", "temperature",
    "board_0_hashrate", "board_0_temperature", "board_1_hashrate", "board_2_chips",
    "fan_0", "fan_1", "fan_3", "uptime", "pool", "errors", "mining", "fault_light", "mode",
    "preset", "fan_mode", "energy", "problem",
]  # fmt: skip


def _kinds() -> list[DeviceRecord]:
    """Records as different as the configs can make them, each shape twice or more."""
    full = [c.value for c in Capability]
    base: dict[str, Any] = {"make": "AntMiner", "model": "S19j Pro", "firmware": "stock"}
    # one shape, two miners: a serial number JSON must escape, a name outside ASCII
    whatsminer: dict[str, Any] = {
        "make": "WhatsMiner",
        "model": "M30S",
        "capabilities": full,
        "modes": ["low", "normal", "high"],
        "presets": ["eco", "turbo"],
        "fan_modes": ["auto", "manual"],
        "power_min": 1000,
        "power_max": 3600,
        "expected_hashboards": 3,
        "expected_fans": 2,
        "hashrate_unit": "GH/s",
    }
    records = [
        DeviceRecord(id="a1", mac="02:00:00:00:00:01", ip="10.0.0.1", **base),
        DeviceRecord(id="a2", mac="02:00:00:00:00:02", ip="10.0.0.22", fw_ver="1.2", **base),
        DeviceRecord(
            id="w1",
            mac="02:00:00:00:00:03",
            ip="10.0.1.3",
            serial_number='S/N "7"\\',
            **whatsminer,
        ),
        DeviceRecord(
            id="w2",
            mac="02:00:00:00:00:04",
            ip="10.0.1.4",
            serial_number="plain",
            friendly_name="Garage S19 ünd <\u2603> \U0001f600",
            **whatsminer,
        ),
        DeviceRecord(id="ip_10_0_2_5", mac=None, ip="10.0.2.5", ports={"http": 8080}),
        DeviceRecord(id="ip_10_0_2_6", mac=None, ip="10.0.2.6", ports={"http": 8080}),
        DeviceRecord(id="n1", mac="02:00:00:00:00:07", ip="10.0.3.7", model="", make=None),
        DeviceRecord(id="n2", mac="02:00:00:00:00:08", ip="10.0.3.8", model="", make=None),
        DeviceRecord(id="r1", mac="02:00:00:00:00:09", ip="10.0.4.9", uid="old_id", **base),
    ]
    w1 = records[2]
    # one shape field different each: each is a template of its own, not w1's
    variants = [
        {"power_max": 3300},
        {"presets": ["eco"]},
        {"hashrate_unit": "TH/s"},
        {"ports": {"http": 81}},
        {"expected_fans": 4},
        {"modes": ["normal"]},
    ]
    return records + [replace(w1, id=f"v{n}", **v) for n, v in enumerate(variants)]


def test_template_built_configs_are_the_builders_bytes() -> None:
    """DiscoveryTemplates reuses one miner's encoded configs for the next of the same shape:
    every topic and byte must be what building and json.dumps-ing them gives."""
    templates = DiscoveryTemplates(T)
    for device_mode in (False, True):
        for reported in (set(ALL_KEYS), {"hashrate", "power"}, set(ALL_KEYS[:9])):
            for record in _kinds():
                built = discovery_messages(record, T, device_mode=device_mode, reported=reported)
                expected = {
                    t: json.dumps(p, separators=(",", ":"), sort_keys=True)
                    for t, p in built.items()
                }
                got = templates.texts(record, device_mode=device_mode, reported=reported)
                assert got == expected, (record.id, device_mode, sorted(reported))
    assert len(templates._shapes) < 3 * 2 * len(_kinds())  # shapes were shared


def test_a_value_holding_the_slot_mark_is_built_directly() -> None:
    record = DeviceRecord(id="x", mac=None, ip="10.0.0.9", friendly_name="a\ue0000\ue001b")
    expected = {
        t: json.dumps(p, separators=(",", ":"), sort_keys=True)
        for t, p in discovery_messages(record, T, reported={"hashrate"}).items()
    }
    assert DiscoveryTemplates(T).texts(record, reported={"hashrate"}) == expected

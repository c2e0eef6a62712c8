"""Home Assistant MQTT discovery: the bridge device and every miner's entities.

The configs come from bridge.entities; this feature decides when they are published (after
a connect or HA's birth, on adoption, when a miner reports a new key) and clears the ones a
miner no longer has.  A miner nothing was read from yet is not announced: its first poll
announces what it really reports.
"""

from __future__ import annotations

import json

from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.config import BridgeConfig
from asic_bridge.bridge.entities import bridge_controls, bridge_discovery, discovery_messages
from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerAdopted,
    MinerRemoved,
    MinerRenamed,
    RecordChanged,
    StateKeysChanged,
)
from asic_bridge.bridge.mqtt import Publisher
from asic_bridge.bridge.topics import Topics


class Discovery:
    def __init__(
        self,
        bus: EventBus,
        publisher: Publisher,
        topics: Topics,
        config: BridgeConfig,
        adoption: Adoption,
    ):
        self.publisher = publisher
        self.topics = topics
        self.config = config
        self.adoption = adoption
        #: retained discovery configs published, by topic (compact JSON)
        self.published: dict[str, str] = {}
        bus.on(Announce, self._announce_all)
        bus.on(MinerAdopted, self._adopted)
        bus.on(StateKeysChanged, self._keys_changed)
        bus.on(RecordChanged, self._record_changed)
        bus.on(MinerRemoved, self._removed)
        bus.on(MinerRenamed, self._renamed)

    async def _announce_all(self, event: Announce) -> None:
        if not self.config.mqtt.discovery:
            return
        bridge = {**bridge_discovery(self.topics), **bridge_controls(self.topics)}
        for topic, payload in bridge.items():
            await self.publisher.publish(topic, payload, retain=True)
        for device in list(self.adoption.devices.values()):
            await self.announce(device, force=True)

    async def _adopted(self, event: MinerAdopted) -> None:
        await self.announce(event.device)

    async def _keys_changed(self, event: StateKeysChanged) -> None:
        await self.announce(event.device)

    async def _record_changed(self, event: RecordChanged) -> None:
        await self.announce(event.device)

    async def announce(self, device: Device, force: bool = False) -> None:
        """Publish this miner's discovery configs; clear the ones it no longer has."""
        record = device.record
        if not self.config.mqtt.discovery or not record.reported:
            # Nothing read yet: the first poll announces what the miner really reports (the
            # model's every possible sensor would show in HA, then be deleted again).
            return
        messages = discovery_messages(
            record,
            self.topics,
            device_mode=self.config.mqtt.discovery_mode == "device",
            reported=set(record.reported),
        )
        wanted = {
            t: json.dumps(p, separators=(",", ":"), sort_keys=True) for t, p in messages.items()
        }
        stale = [t for t in record.discovery_topics if t not in wanted]
        changed = {t: text for t, text in wanted.items() if force or self.published.get(t) != text}
        # All at once: one after the other, each QoS 1 config waited for its PUBACK, and a
        # miner has ~30 of them (start-up of 500 miners took ~40 s).  Different topics, so
        # their order does not matter.
        await self.publisher.publish_many({**dict.fromkeys(stale, ""), **changed}, retain=True)
        for topic in stale:
            self.published.pop(topic, None)
        self.published.update(changed)
        if sorted(wanted) != sorted(record.discovery_topics):
            record.discovery_topics = sorted(wanted)
            self.adoption.registry.mark_dirty()

    async def withdraw(self, device: Device) -> None:
        """Clear every discovery config of this miner (HA deletes its entities)."""
        topics = device.record.discovery_topics
        await self.publisher.publish_many(dict.fromkeys(topics, ""), retain=True)
        for topic in topics:
            self.published.pop(topic, None)
        device.record.discovery_topics = []

    async def _removed(self, event: MinerRemoved) -> None:
        await self.withdraw(event.device)

    async def _renamed(self, event: MinerRenamed) -> None:
        """The configs stay on their topics with their unique ids (the record's ``uid``), so
        HA keeps the entities and shows the new name; ``homeassistant_rename`` withdraws
        them first, so HA creates them again with entity ids from the new name."""
        if event.homeassistant_rename:
            await self.withdraw(event.device)
        await self.announce(event.device, force=True)

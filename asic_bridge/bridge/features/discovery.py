"""Home Assistant MQTT discovery: the bridge device and every miner's entities.

The configs come from bridge.entities; this feature decides when they are published (after
a connect or HA's birth, on adoption, when a miner reports a new key) and clears the ones a
miner no longer has.  A miner nothing was read from yet is not announced: its first poll
announces what it really reports.

A miner's first announcement and the re-announce after a connect or HA's birth are only
queued; a few workers announce the queued miners.  A miner has ~38 retained QoS 1 configs,
each waited for its PUBACK: announced in the poll that first read it, they held its state
(and the poll's concurrency slot) back, and 5,000 miners took 99 s to publish their first
states.  Queued, the state goes out at once and the configs follow; HA reads the retained
state when it discovers the entity, so the order is harmless there.  A change to a miner
already announced is not queued: it goes out before the state that needs it (see
``_changed``).  A miner is queued once however often it is asked for (HA's birth while the
fleet starts): its worker builds its configs as they are then.
"""

from __future__ import annotations

import asyncio
import logging

from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.config import BridgeConfig
from asic_bridge.bridge.entities import DiscoveryTemplates, bridge_controls, bridge_discovery
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

log = logging.getLogger("asic_bridge.bridge")

#: miners announced at once: enough to keep the window of unacknowledged publishes
#: (mqtt.PUBLISH_WINDOW) full across one miner's batch ending and the next one's start
WORKERS = 4


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
        self.templates = DiscoveryTemplates(topics)
        #: miners waiting to be announced, in order; the value: every config again (force)
        self._queue: dict[Device, bool] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0
        #: held while a miner's configs are published or cleared: never two at once for one
        self._locks: dict[Device, asyncio.Lock] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False
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
            self.enqueue(device, force=True)

    async def _adopted(self, event: MinerAdopted) -> None:
        self.enqueue(event.device)

    async def _keys_changed(self, event: StateKeysChanged) -> None:
        await self._changed(event.device)

    async def _record_changed(self, event: RecordChanged) -> None:
        await self._changed(event.device)

    async def _changed(self, device: Device) -> None:
        """A miner's first announcement is queued (its entities do not exist in HA yet, so
        the state may come first); a change to one already announced goes out before the
        poll publishes the state that needs it: a select whose new option the state names
        must have it first, or HA rejects the value."""
        if device.record.discovery_topics and device not in self._queue:
            await self.announce(device)
        else:
            self.enqueue(device)

    # ------------------------------------------------------------------ the queue
    def enqueue(self, device: Device, force: bool = False) -> None:
        """Announce this miner soon (see the module docstring); ``force``: every config
        again, changed or not (HA may have lost them)."""
        if self._closed or not self.config.mqtt.discovery or not device.record.reported:
            return  # nothing to announce yet (see announce); nothing queued either
        self._queue[device] = self._queue.get(device, False) or force
        self._idle.clear()
        self._wake.set()
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"discovery {n}") for n in range(WORKERS)
            ]

    async def drained(self) -> None:
        """Until every queued miner was announced (tests, and a clean stop)."""
        await self._idle.wait()

    async def close(self) -> None:
        self._closed = True
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def _work(self) -> None:
        while True:
            if not self._queue:
                if not self._busy:
                    self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            device = next(iter(self._queue))
            force = self._queue.pop(device)
            self._busy += 1
            try:
                await self.announce(device, force)
            except Exception:  # one miner's bug must not end its worker
                log.exception("announcing %s failed", device.id)
            finally:
                self._busy -= 1

    def _lock(self, device: Device) -> asyncio.Lock:
        lock = self._locks.get(device)
        if lock is None:
            lock = self._locks[device] = asyncio.Lock()
        return lock

    # ------------------------------------------------------------------ publishing
    async def announce(self, device: Device, force: bool = False) -> None:
        """Publish this miner's discovery configs now; clear the ones it no longer has."""
        force = self._queue.pop(device, False) or force  # a queued one: done here
        async with self._lock(device):
            await self._announce(device, force)

    async def _announce(self, device: Device, force: bool) -> None:
        record = device.record
        if self.adoption.devices.get(device.id) is not device:
            return  # removed while it waited (its configs were withdrawn)
        if not self.config.mqtt.discovery or not record.reported:
            # Nothing read yet: the first poll announces what the miner really reports (the
            # model's every possible sensor would show in HA, then be deleted again).
            return
        wanted = self.templates.texts(
            record,
            device_mode=self.config.mqtt.discovery_mode == "device",
            reported=set(record.reported),
        )
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
        """Clear every discovery config of this miner (HA deletes its entities); a queued
        announcement of it is dropped, one being published goes out first."""
        self._queue.pop(device, None)
        async with self._lock(device):
            topics = device.record.discovery_topics
            await self.publisher.publish_many(dict.fromkeys(topics, ""), retain=True)
            for topic in topics:
                self.published.pop(topic, None)
            device.record.discovery_topics = []

    async def _removed(self, event: MinerRemoved) -> None:
        await self.withdraw(event.device)
        self._locks.pop(event.device, None)

    async def _renamed(self, event: MinerRenamed) -> None:
        """The configs stay on their topics with their unique ids (the record's ``uid``), so
        HA keeps the entities and shows the new name; ``homeassistant_rename`` withdraws
        them first, so HA creates them again with entity ids from the new name."""
        if event.homeassistant_rename:
            await self.withdraw(event.device)
        await self.announce(event.device, force=True)

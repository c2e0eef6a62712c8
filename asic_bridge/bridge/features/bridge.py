"""The bridge's own topics: ``bridge/state``, ``bridge/info``, ``bridge/devices``,
``bridge/event``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from asic_bridge import __version__
from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.config import BridgeConfig
from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerAdopted,
    MinerMoved,
    MinerOffline,
    MinerOnline,
    MinerRemoved,
    MinerRenamed,
    RecordChanged,
    ScanFinished,
)
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.mqtt import Publisher
from asic_bridge.bridge.topics import Topics

#: How long adoptions are collected before bridge/devices is published.
DEVICES_COALESCE = 0.5


class BridgeTopics:
    def __init__(
        self,
        bus: EventBus,
        publisher: Publisher,
        topics: Topics,
        config: BridgeConfig,
        adoption: Adoption,
        info_extra: Callable[[], dict[str, Any]],
    ):
        self.publisher = publisher
        self.topics = topics
        self.config = config
        self.adoption = adoption
        #: what the other parts add to bridge/info (protocol, broker, options)
        self.info_extra = info_extra
        self.started_at = time.time()
        self._devices_task: asyncio.Task[None] | None = None
        self._devices_published: bytes | None = None
        self._devices_dirty = False
        bus.on(Announce, self._announce)
        bus.on(MinerAdopted, self._adopted)
        bus.on(MinerMoved, self._moved)
        bus.on(MinerOnline, self._online)
        bus.on(MinerOffline, self._offline)
        bus.on(MinerRemoved, self._removed)
        bus.on(MinerRenamed, self._renamed)
        bus.on(ScanFinished, self._scanned)
        bus.on(RecordChanged, self._record_changed)

    def info(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "started_at": self.started_at,
            "base_topic": self.topics.base,
            "discovery_prefix": self.topics.discovery_prefix,
            "miner_count": len(self.adoption.devices),
            "config": self.config.summary(),
            # which of several bridges on this base topic this is (the HA integration's key)
            "shard": {
                "index": self.config.shard.index,
                "count": self.config.shard.count,
                "name": self.config.shard.instance,
            },
            **self.info_extra(),
        }

    async def publish_info(self) -> None:
        await self.publisher.publish(self.topics.bridge_info, self.info(), retain=True)

    async def publish_devices(self, force: bool = False) -> None:
        """The retained device list; skipped when nothing in it changed (unless ``force``)."""
        devices = orjson.dumps([d.record.public() for d in self.adoption.devices.values()])
        if devices == self._devices_published and not force:
            return
        self._devices_published = devices
        await self.publisher.publish(self.topics.bridge_devices, devices, retain=True)

    def devices_changed(self) -> None:
        """Publish the device list shortly: the miners a scan adopts share one message.

        Publishing it per adopted miner made a scan quadratic (a 500-miner scan wrote 500
        lists of up to 500 devices).
        """
        self._devices_dirty = True
        if self._devices_task is None or self._devices_task.done():
            self._devices_task = asyncio.create_task(self._publish_devices_soon(), name="devices")

    async def _publish_devices_soon(self) -> None:
        while self._devices_dirty:  # a change while publishing is published after it
            self._devices_dirty = False
            await asyncio.sleep(DEVICES_COALESCE)
            await self.adoption.registry.persist()  # the list never names a miner not on disk
            await self.publish_devices()

    async def event(self, kind: str, **data: Any) -> None:
        await self.publisher.publish(self.topics.bridge_event, {"type": kind, "data": data})

    async def event_of(self, kind: str, data: dict[str, Any]) -> None:
        """``event`` for parts that hold the data as a dict (the watchdog)."""
        await self.event(kind, **data)

    async def close(self) -> None:
        if self._devices_task is not None:
            self._devices_task.cancel()
            await asyncio.gather(self._devices_task, return_exceptions=True)

    # ------------------------------------------------------------------ events
    async def _announce(self, event: Announce) -> None:
        await self.publisher.publish(self.topics.bridge_state, "online", retain=True)
        await self.publish_info()
        await self.adoption.registry.persist()  # no device listed that is not on disk
        await self.publish_devices(force=True)

    async def _adopted(self, event: MinerAdopted) -> None:
        if event.found:
            record, miner = event.device.record, event.device.miner
            await self.event(
                "miner_found",
                id=record.id,
                ip=record.ip,
                mac=record.mac,
                make=record.make,
                model=miner.model if miner is not None else record.model,
            )
        self.devices_changed()

    async def _moved(self, event: MinerMoved) -> None:
        record = event.device.record
        await self.event("ip_changed", id=record.id, old_ip=event.old_ip, new_ip=record.ip)

    async def _online(self, event: MinerOnline) -> None:
        if event.back:
            await self.event("miner_online", id=event.device.id, ip=event.device.record.ip)

    async def _offline(self, event: MinerOffline) -> None:
        if event.was_online:
            await self.event("miner_lost", id=event.device.id, ip=event.device.record.ip)

    async def _removed(self, event: MinerRemoved) -> None:
        await self.publish_devices()
        await self.event("miner_removed", id=event.device.id)

    async def _renamed(self, event: MinerRenamed) -> None:
        await self.publish_devices()
        await self.event("miner_renamed", id=event.device.id, old_id=event.old_id)

    async def _record_changed(self, event: RecordChanged) -> None:
        self.devices_changed()

    async def _scanned(self, event: ScanFinished) -> None:
        await self.adoption.registry.persist()  # the scan's adoptions on disk before listed
        await self.publish_devices()  # the scan's adoptions, now complete (if any changed)
        await self.publish_info()

    # ------------------------------------------------------------------ requests
    def register(self, requests: BridgeRequests) -> None:
        requests.register("devices", self._devices_request)
        requests.register("info", self._info_request)

    async def _devices_request(self, args: dict[str, Any]) -> Any:
        return [d.record.public() for d in self.adoption.devices.values()]

    async def _info_request(self, args: dict[str, Any]) -> Any:
        return {"version": __version__, "miner_count": len(self.adoption.devices)}

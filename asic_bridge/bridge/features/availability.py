"""``<b>/<id>/availability``: retained ``online``/``offline`` as the poller decides."""

from __future__ import annotations

from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerOffline,
    MinerOnline,
    MinerRemoved,
    MinerRenamed,
)
from asic_bridge.bridge.mqtt import Publisher
from asic_bridge.bridge.topics import Topics


class Availability:
    def __init__(self, bus: EventBus, publisher: Publisher, topics: Topics):
        self.publisher = publisher
        self.topics = topics
        #: the last availability published per miner id
        self.online: dict[str, bool] = {}
        bus.on(Announce, self._announce)
        bus.on(MinerOnline, self._online)
        bus.on(MinerOffline, self._offline)
        bus.on(MinerRemoved, self._removed)
        bus.on(MinerRenamed, self._renamed)

    async def _publish(self, miner_id: str) -> None:
        payload = "online" if self.online[miner_id] else "offline"
        await self.publisher.publish(self.topics.availability(miner_id), payload, retain=True)

    async def _announce(self, event: Announce) -> None:
        for miner_id in list(self.online):
            await self._publish(miner_id)

    async def _online(self, event: MinerOnline) -> None:
        self.online[event.device.id] = True
        await self._publish(event.device.id)

    async def _offline(self, event: MinerOffline) -> None:
        self.online[event.device.id] = False
        await self._publish(event.device.id)

    async def _removed(self, event: MinerRemoved) -> None:
        self.online.pop(event.device.id, None)
        await self.publisher.publish(self.topics.availability(event.device.id), "", retain=True)

    async def _renamed(self, event: MinerRenamed) -> None:
        await self.publisher.publish(self.topics.availability(event.old_id), "", retain=True)
        if event.old_id in self.online:
            self.online[event.device.id] = self.online.pop(event.old_id)
            await self._publish(event.device.id)

"""Doubles for the bridge's feature tests: a recording publisher and a fake device.

The features publish through two methods (``publish``, ``respond``); recording them lets
each feature be tested without a broker.  The end-to-end tests (test_bridge_mqtt.py) run
the same features against real brokers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge_support import address_block

from asic_bridge import factory, settings
from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import EventBus
from asic_bridge.bridge.mqtt import Request
from asic_bridge.bridge.registry import DeviceRecord, Registry
from asic_bridge.bridge.topics import Incoming
from asic_bridge.sim import SimMiner, load_kinds


@dataclass
class Published:
    topic: str
    payload: Any
    retain: bool
    qos: int | None

    @property
    def text(self) -> str:
        payload = self.payload
        if isinstance(payload, bytes):
            return payload.decode()
        if isinstance(payload, (dict, list)):
            return json.dumps(payload)
        return str(payload)

    def json(self) -> Any:
        return json.loads(self.text)


class RecordingPublisher:
    """Remembers every publish in order; ``respond`` records on the default topic."""

    def __init__(self) -> None:
        self.messages: list[Published] = []

    async def publish(
        self,
        topic: str,
        payload: Any,
        *,
        retain: bool = False,
        qos: int | None = None,
        properties: Any = None,
    ) -> None:
        self.messages.append(Published(topic, payload, retain, qos))

    async def publish_many(self, messages: dict[str, Any], *, retain: bool = False) -> None:
        for topic, payload in messages.items():
            await self.publish(topic, payload, retain=retain)

    async def respond(self, default_topic: str, body: dict[str, Any], request: Request) -> None:
        await self.publish(request.reply_to or default_topic, body)

    def on(self, topic: str) -> list[Published]:
        return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Published:
        found = self.on(topic)
        assert found, f"nothing published on {topic}; topics: {sorted(self.topics())}"
        return found[-1]

    def topics(self) -> set[str]:
        return {m.topic for m in self.messages}

    def clear(self) -> None:
        self.messages.clear()


def device(miner_id: str = "m1", **record: Any) -> Device:
    fields: dict[str, Any] = {"mac": "02:00:00:00:00:01", "ip": "10.0.0.1", **record}
    return Device(DeviceRecord(id=miner_id, **fields))


def request(
    kind: str, payload: bytes = b"", target: str | None = None, name: str | None = None
) -> Request:
    return Request(Incoming(kind, target=target, name=name), payload)


@contextlib.asynccontextmanager
async def adopted_sim(
    tmp_path: Path, kind: str = "avalon_nano3", **config: Any
) -> AsyncIterator[tuple[Adoption, EventBus, Device, SimMiner]]:
    """A real simulated miner, scanned and adopted (registry in ``tmp_path``)."""
    settings.update("api_function_timeout", 2.0)
    factory.cache.clear()
    sim = load_kinds()[kind](address_block()(1))
    await sim.start()
    try:
        bridge_config = parse_config(
            {
                "mqtt": {"url": "mqtt://127.0.0.1:1"},
                "miners": {"hosts": [{"ip": sim.address, "ports": sim.ports}], **config},
                "state_dir": str(tmp_path),
            }
        )
        bus = EventBus()
        adoption = Adoption(bridge_config, Registry(tmp_path), bus)
        assert await adoption.scan() == 1
        await adoption.announced()
        (adopted,) = adoption.devices.values()
        yield adoption, bus, adopted, sim
        await adoption.close()
    finally:
        await sim.stop()

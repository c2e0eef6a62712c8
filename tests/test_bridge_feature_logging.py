"""bridge/logging: the bridge's records at or above the level, as {level, message}; nothing
from the MQTT session's own loggers, nothing logged while publishing (no loop)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bridge_fakes import RecordingPublisher

from asic_bridge.bridge.features.logging import MqttLogging
from asic_bridge.bridge.topics import Topics


class LoggingPublisher(RecordingPublisher):
    """Logs on every publish, as a failing publish would."""

    async def publish(self, topic: str, payload: Any, **kwargs: Any) -> None:
        logging.getLogger("asic_bridge.bridge").warning("while publishing")
        await super().publish(topic, payload, **kwargs)


async def test_records_at_or_above_the_level_are_published() -> None:
    pub = LoggingPublisher()
    handler = MqttLogging(pub, Topics("base"), "warning")
    log = logging.getLogger("asic_bridge.bridge.test")
    log.setLevel(logging.DEBUG)
    handler.start()
    try:
        log.info("not at this level")
        log.warning("miner %s lost", "m1")
        logging.getLogger("asic_bridge.mqtt").error("session noise")
        logging.getLogger("other").error("not ours")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("with a traceback")
        await asyncio.sleep(0.05)
        handler.set_level("info")
        log.info("now it is")
        await asyncio.sleep(0.05)
    finally:
        await handler.stop()
    bodies = [m.payload for m in pub.on("base/bridge/logging")]
    assert bodies == [
        {"level": "warning", "message": "miner m1 lost"},
        {"level": "error", "message": "with a traceback"},
        {"level": "info", "message": "now it is"},
    ]
    assert handler.level_name == "info"
    log.warning("after stop")
    await asyncio.sleep(0.01)
    assert len(pub.on("base/bridge/logging")) == 3

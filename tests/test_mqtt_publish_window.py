"""A burst of QoS 1 publishes (discovery for thousands of miners) keeps few unacknowledged.

aiomqtt scans all its pending calls on every publish, so thousands awaiting their PUBACK
at once cost quadratic CPU (bench/bridge_5k.py found it at 500 miners).  Against a real
mosquitto: every message of the burst arrives, and no more than PUBLISH_WINDOW aiomqtt
publishes are ever in progress at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiomqtt
from bridge_support import MosquittoBroker, mosquitto_fixture  # noqa: F401  (the fixture)

from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import EventBus
from asic_bridge.bridge.mqtt import PUBLISH_WINDOW, MqttSession
from asic_bridge.bridge.topics import Topics

BURST = 300


async def test_a_qos1_burst_is_published_whole_through_a_small_window(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    config = parse_config(
        {
            "mqtt": {"url": mosquitto.url, "protocol": "3.1.1", "client_id": "window_test"},
            "miners": {"scan_interval": 0},
            "state_dir": str(tmp_path),
        }
    )
    session = MqttSession(config, Topics(), EventBus())
    stop = asyncio.Event()
    runner = asyncio.create_task(session.run(stop))
    try:
        async with asyncio.timeout(10):
            await session.connected.wait()
        client = session.client
        assert client is not None
        in_progress = most = 0
        real_publish = client.publish

        async def counting_publish(*args: Any, **kwargs: Any) -> None:
            nonlocal in_progress, most
            in_progress += 1
            most = max(most, in_progress)
            try:
                await real_publish(*args, **kwargs)
            finally:
                in_progress -= 1

        client.publish = counting_publish  # type: ignore[method-assign]
        await asyncio.gather(
            *(session.publish(f"burst/{i}", {"n": i}, retain=True, qos=1) for i in range(BURST))
        )
        assert 1 < most <= PUBLISH_WINDOW

        seen: set[str] = set()
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as reader:
            await reader.subscribe("burst/#")
            async with asyncio.timeout(10):
                async for message in reader.messages:
                    seen.add(message.topic.value)
                    if len(seen) == BURST:
                        break
        assert seen == {f"burst/{i}" for i in range(BURST)}
    finally:
        stop.set()
        await session.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

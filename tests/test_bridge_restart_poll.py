"""Issue #19 item 8: a BOSminer (legacy Braiins OS) applies a power target by rewriting its
config and restarting its backend, so the poll forced right after the command finds the RPC
closed.  Those failures are ours, not the miner's: two commands within a poll interval must
not mark it offline.  A miner that really stops answering still goes offline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bridge_support import (
    MOSQUITTO,
    MosquittoBroker,
    address_block,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
)

from asic_bridge import factory, settings
from asic_bridge.bridge.app import Bridge
from asic_bridge.bridge.config import parse_config
from asic_bridge.sim import load_kinds

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


async def test_backend_restart_after_a_command_is_not_offline(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    settings.update("api_function_timeout", 1.0)
    settings.update("factory_get_timeout", 1.0)
    factory.cache.clear()
    sim = load_kinds()["braiins_s9"](address_block()(1))
    sim.restart_downtime = 2.5  # a real bosminer takes seconds to come back
    await sim.start()
    config = parse_config(
        {
            "mqtt": {"url": mosquitto.url},
            "miners": {
                "hosts": [{"ip": sim.address, "ports": sim.ports, "friendly_name": "s9"}],
                "poll_interval": 1,
                "scan_interval": 0,
                "offline_after": 2,
                "command_settle": 8,  # > two restarts; keeps the offline check short
            },
            "state_dir": str(tmp_path / "state"),
        }
    )
    bridge = Bridge(config)
    try:
        async with collector(mosquitto, ("asic_bridge/s9/#",)) as mqtt:
            await bridge.start()
            await asyncio.wait_for(bridge.ready.wait(), 20)
            await mqtt.wait_topic("asic_bridge/s9/availability", lambda m: m.text == "online")
            low, high = bridge.slots["s9"].record.power_min, bridge.slots["s9"].record.power_max
            assert low is not None and high is not None
            mark = mqtt.mark()
            for n, watts in enumerate((low + 100, low + 200)):
                await mqtt.publish(
                    "asic_bridge/s9/set", {"power_limit": watts, "transaction": f"p{n}"}
                )
                reply = await mqtt.wait_topic(
                    "asic_bridge/s9/response",
                    lambda m, n=n: m.json()["transaction"] == f"p{n}",
                    within=20,
                    since=mark,
                )
                assert reply.json()["status"] == "ok", reply.json()
            # the backend comes back; the miner publishes numbers again
            await mqtt.wait_topic(
                "asic_bridge/s9",
                lambda m: m.json().get("power_limit") == low + 200,
                within=20,
                since=mark,
            )
            offline = [
                m for m in mqtt.on("asic_bridge/s9/availability", mark) if m.text != "online"
            ]
            assert not offline, "restarting on our request was taken for offline"

            # offline still means offline: a miner that stops answering goes offline
            await sim.stop()
            await mqtt.wait_topic(
                "asic_bridge/s9/availability", lambda m: m.text == "offline", within=60, since=mark
            )
    finally:
        bridge.stop()
        await asyncio.wait_for(bridge.shutdown(), 20)
        await sim.stop()
        factory.cache.clear()

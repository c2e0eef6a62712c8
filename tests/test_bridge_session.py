"""Issue #19 items 5 and 6: commands published while the bridge reconnects are queued in
its persistent session and run (or answered ``expired`` when older than
``mqtt.command_expiry``), and a command published with the retain flag is refused."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bridge_support import (
    MOSQUITTO,
    Collector,
    MosquittoBroker,
    collector,
    drop_connection,
    free_port,
)

from asic_bridge import factory, settings
from asic_bridge.bridge.app import Bridge
from asic_bridge.bridge.config import parse_config
from asic_bridge.sim import SimMiner, load_kinds

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
KIND = "antminer_s19jpro"


class PersistentMosquitto(MosquittoBroker):
    """mosquitto with persistence on, as a production broker runs."""

    def __init__(self, port: int, workdir: Path):
        super().__init__(port, workdir)
        # Run as root, mosquitto writes as its own user, which cannot enter pytest's 0700
        # tmp_path: the store lives in a world-writable directory of its own.
        store = Path(tempfile.mkdtemp(prefix=f"mosquitto-{port}-"))
        store.chmod(0o777)
        self.store = store
        text = self.conf.read_text().replace("persistence false", "persistence true")
        self.conf.write_text(text + f"persistence_location {store}/\n")


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, protocol: str, **mqtt: Any
) -> AsyncIterator[tuple[Bridge, PersistentMosquitto, SimMiner]]:
    settings.update("api_function_timeout", 2.0)
    factory.cache.clear()
    broker = PersistentMosquitto(free_port(), tmp_path)
    await broker.start()
    sim = load_kinds()[KIND]("127.15.0.1")
    await sim.start()
    config = parse_config(
        {
            "mqtt": {"url": broker.url, "protocol": protocol, "client_id": "session", **mqtt},
            "miners": {
                "hosts": [{"ip": sim.address, "ports": sim.ports, "friendly_name": "m1"}],
                "poll_interval": 1,
                "scan_interval": 0,
            },
            "state_dir": str(tmp_path / "state"),
        }
    )
    bridge = Bridge(config)
    try:
        await bridge.start()
        await asyncio.wait_for(bridge.ready.wait(), 20)
        yield bridge, broker, sim
    finally:
        bridge.stop()
        await asyncio.wait_for(bridge.shutdown(), 20)
        await sim.stop()
        await broker.stop()
        shutil.rmtree(broker.store, ignore_errors=True)
        factory.cache.clear()


async def _reply(mqtt: Collector, transaction: str, within: float = 20) -> dict[str, Any]:
    message = await mqtt.wait_topic(
        "asic_bridge/m1/response", lambda m: m.json()["transaction"] == transaction, within
    )
    body: dict[str, Any] = message.json()
    return body


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_commands_published_during_a_broker_restart_are_run(
    tmp_path: Path, protocol: str
) -> None:
    async with running(tmp_path, protocol) as (bridge, broker, sim):
        for n in range(3):
            await broker.stop()
            await broker.start()
            # published at once, while the bridge still waits out its reconnect backoff
            async with collector(broker, ("asic_bridge/m1/response",)) as mqtt:
                assert not bridge.mqtt.connected.is_set()
                light = n % 2 == 0
                await mqtt.publish(
                    "asic_bridge/m1/set", {"fault_light": light, "transaction": f"q{n}"}
                )
                assert (await _reply(mqtt, f"q{n}"))["status"] == "ok"
            assert sim.state.fault_light is light


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_command_queued_longer_than_command_expiry_is_answered_expired(
    tmp_path: Path, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the longest reconnect backoff (1.5 s): longer than command_expiry
    monkeypatch.setattr("asic_bridge.bridge.mqtt.random.random", lambda: 1.0)
    async with running(tmp_path, protocol, command_expiry=1) as (bridge, broker, sim):
        async with collector(broker, ("asic_bridge/m1/response",)) as mqtt:
            assert bridge.mqtt.client is not None
            drop_connection(bridge.mqtt.client)
            await mqtt.publish("asic_bridge/m1/set", {"fault_light": True, "transaction": "old"})
            answer = await _reply(mqtt, "old")
        assert answer["status"] == "expired"
        assert "command_expiry" in answer["error"]
        assert sim.state.fault_light is False


async def test_retained_command_is_refused_with_a_reason(tmp_path: Path) -> None:
    async with running(tmp_path, "5") as (_bridge, broker, sim):
        async with collector(broker, ("asic_bridge/m1/response",)) as mqtt:
            await mqtt.publish(
                "asic_bridge/m1/set", {"fault_light": True, "transaction": "r1"}, retain=True
            )
            answer = await _reply(mqtt, "r1")
            # a fresh command still runs: the retained one was not
            await mqtt.publish("asic_bridge/m1/set", {"mining": True, "transaction": "r2"})
            assert (await _reply(mqtt, "r2"))["status"] == "ok"
        assert answer["status"] == "error" and "retained" in answer["error"]
        assert sim.state.fault_light is False


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_commands_published_while_the_bridge_reconnects_are_run(
    tmp_path: Path, protocol: str
) -> None:
    async with running(tmp_path, protocol) as (bridge, broker, sim):
        async with collector(broker, ("asic_bridge/m1/response",)) as mqtt:
            assert bridge.mqtt.client is not None
            drop_connection(bridge.mqtt.client)  # the bridge's TCP connection breaks
            await mqtt.publish("asic_bridge/m1/set", {"fault_light": True, "transaction": "d1"})
            assert (await _reply(mqtt, "d1"))["status"] == "ok"
        assert sim.state.fault_light is True

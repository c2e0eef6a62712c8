"""Issue #19 item 1 through the bridge: passwords from bridge.yaml (per host, per make)
reach identification, so miners are adopted under their MAC and controlled over MQTT; a
wrong password is answered with a clear error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from bridge_support import (
    MosquittoBroker,
    address_block,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
)

from asic_bridge import factory, settings
from asic_bridge.bridge.app import Bridge
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.topics import mac_id
from asic_bridge.sim import SimMiner, load_kinds

GOOD = "farm-Pw-1"
WRONG = "not-the-pw"


async def _sim(kind: str, address: str, password: str) -> SimMiner:
    sim = load_kinds()[kind](address)
    for attr in ("web_password", "password"):
        if isinstance(getattr(sim, attr, None), str):
            setattr(sim, attr, password)
    await sim.start()
    return sim


async def test_configured_passwords_reach_identification_and_controls(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings.update("api_function_timeout", 2.0)
    settings.update("factory_get_timeout", 2.0)
    factory.cache.clear()
    addr = address_block()
    by_host = await _sim("antminer_s19jpro", addr(1), GOOD)
    by_make = await _sim("whatsminer_m30s", addr(2), GOOD)
    wrong = await _sim("antminer_s21", addr(3), GOOD)
    sims = [by_host, by_make, wrong]
    config = parse_config(
        {
            "mqtt": {"url": mosquitto.url, "protocol": "3.1.1"},
            "miners": {
                "hosts": [
                    {"ip": by_host.address, "ports": by_host.ports, "password": GOOD},
                    {"ip": by_make.address, "ports": by_make.ports},
                    {"ip": wrong.address, "ports": wrong.ports, "password": WRONG},
                ],
                "poll_interval": 1,
                "scan_interval": 0,
            },
            "credentials": {"whatsminer": {"password": GOOD}},
            "state_dir": str(tmp_path / "state"),
        }
    )
    bridge = Bridge(config)
    try:
        async with collector(mosquitto, ("asic_bridge/#",)) as mqtt:
            await bridge.start()
            await asyncio.wait_for(bridge.ready.wait(), 20)
            ids = {s.record.ip: s.record.id for s in bridge.slots.values()}
            assert ids[by_host.address] == mac_id(by_host.state.mac)
            assert ids[by_make.address] == mac_id(by_make.state.mac)
            # the wrong password costs the MAC, and the log says why
            assert ids[wrong.address] == "ip_" + wrong.address.replace(".", "_")
            assert "refused the login" in caplog.text and WRONG not in caplog.text

            async def command(miner_id: str, payload: dict[str, Any]) -> dict[str, Any]:
                mark = mqtt.mark()
                await mqtt.publish(f"asic_bridge/{miner_id}/set", payload)
                reply = await mqtt.wait_topic(
                    f"asic_bridge/{miner_id}/response", within=15, since=mark
                )
                body: dict[str, Any] = reply.json()
                return body

            assert (await command(ids[by_host.address], {"fault_light": True}))["status"] == "ok"
            assert by_host.state.fault_light is True
            answer = await command(ids[by_make.address], {"fault_light": True})
            assert answer["status"] == "ok", answer
            assert by_make.state.fault_light is True
            refused = await command(ids[wrong.address], {"fault_light": True})
            assert refused["status"] == "error"
            assert "credentials rejected" in refused["error"]
            assert WRONG not in refused["error"]
            assert wrong.state.fault_light is False
            for message in mqtt.messages:
                assert GOOD.encode() not in message.payload
                assert WRONG.encode() not in message.payload
    finally:
        bridge.stop()
        await asyncio.wait_for(bridge.shutdown(), 20)
        for sim in sims:
            await sim.stop()
        factory.cache.clear()

"""Issue #12 through the bridge: the Home Assistant "Preset" select offers the firmware's own
list (VNish presets, LuxOS profiles), its state is always one of them, and ``preset``
commands are checked against that list before any control call.  Firmwares without named
presets get no select and a clear refusal.

Real parts: mosquitto, the bridge, simulated miners on 127.x.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bridge_support import (
    Collector,
    MosquittoBroker,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
    sim_bridge,
)
from test_presets import firmware_active, firmware_list

from asic_bridge.bridge.commands import RequestError, parse_set, parse_set_field
from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.sim.luxos import LuxOSSim

KINDS = ["vnish_s19jpro", "luxos_s19jpro", "braiins_s19", "epic_s19jpro"]
HA = "homeassistant"


async def command(mqtt: Collector, miner_id: str, topic: str, payload: Any) -> dict[str, Any]:
    since = mqtt.mark()
    await mqtt.publish(f"asic_bridge/{miner_id}/{topic}", payload)
    answer = await mqtt.wait_topic(f"asic_bridge/{miner_id}/response", within=30, since=since)
    result: dict[str, Any] = answer.json()
    return result


async def test_preset_select_is_the_firmwares_list_and_commands_use_it(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with (
        collector(mosquitto, ("asic_bridge/#", f"{HA}/#")) as mqtt,
        sim_bridge(mosquitto, tmp_path / "state", KINDS) as bridge,
    ):
        slots = {s.record.ip: s for s in bridge.slots.values()}
        for s in bridge.sims:
            s.state.jitter = 0.0
            miner_id = slots[s.address].record.id
            options = firmware_list(s)
            # announced after the first poll; the mining switch is on every one of them
            await mqtt.wait_topic(f"{HA}/switch/{miner_id}/mining/config", within=15)
            select_topic = f"{HA}/select/{miner_id}/preset/config"
            if options is None:
                assert mqtt.last(select_topic) is None, s.address
                answer = await command(mqtt, miner_id, "set", {"preset": "default"})
                assert answer["status"] == "error"
                assert "not supported" in answer["error"]
                continue
            select = (await mqtt.wait_topic(select_topic, within=10)).json()
            assert select["options"] == options
            assert select["command_topic"] == f"asic_bridge/{miner_id}/set/preset"
            state = await mqtt.wait_topic(
                f"asic_bridge/{miner_id}", lambda m: "preset" in m.json(), within=15
            )
            assert state.json()["preset"] == firmware_active(s)
            assert state.json()["preset"] in options
            devices = await mqtt.wait_topic(
                "asic_bridge/bridge/devices",
                lambda m, i=miner_id: any(d["id"] == i for d in m.json()),
                within=10,
            )
            listed = next(d for d in devices.json() if d["id"] == miner_id)
            assert listed["presets"] == options and "presets" in listed["capabilities"]

            # a name outside the list: refused, naming the options; nothing written
            before = firmware_active(s)
            answer = await command(mqtt, miner_id, "set", {"preset": "turbo"})
            assert answer["status"] == "error", answer
            assert all(name in answer["error"] for name in options)
            assert firmware_active(s) == before

            # every way of naming one: set/preset plain, set JSON; read back in the state
            first, second = [n for n in options if n != before][:2]
            answer = await command(mqtt, miner_id, "set/preset", first)
            assert answer["status"] == "ok", answer
            assert answer["applied"] == {"preset": first}
            assert firmware_active(s) == first
            answer = await command(mqtt, miner_id, "set", {"preset": second})
            assert answer["status"] == "ok", answer
            assert firmware_active(s) == second
            since = mqtt.mark()
            await mqtt.wait_topic(
                f"asic_bridge/{miner_id}",
                lambda m, name=second: m.json().get("preset") == name,
                within=15,
                since=since,
            )


async def test_a_profile_added_on_the_miner_joins_the_options(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """The state never names a preset outside the select: a new LuxOS profile that becomes
    active makes the bridge re-read the list and re-announce the select with it."""
    async with (
        collector(mosquitto, ("asic_bridge/#", f"{HA}/#")) as mqtt,
        sim_bridge(mosquitto, tmp_path / "state", ["luxos_s19jpro"]) as bridge,
    ):
        (slot,) = bridge.slots.values()
        (s,) = bridge.sims
        assert isinstance(s, LuxOSSim)
        miner_id = slot.record.id
        topic = f"{HA}/select/{miner_id}/preset/config"
        await mqtt.wait_topic(topic, within=15)
        new = s.profiles[0].__class__(**{**vars(s.profiles[0]), "name": "quiet"})
        s.profiles.append(new)
        s.apply_profile("quiet")  # set on the miner's own UI
        since = mqtt.mark()
        await mqtt.publish(f"asic_bridge/{miner_id}/get", "")
        select = await mqtt.wait_topic(
            topic, lambda m: "quiet" in m.json()["options"], within=15, since=since
        )
        state = await mqtt.wait_topic(
            f"asic_bridge/{miner_id}",
            lambda m: m.json().get("preset") == "quiet",
            within=15,
            since=since,
        )
        assert state.index > select.index  # announced before the state names it


def test_preset_command_values_are_checked_against_the_record() -> None:
    record = DeviceRecord(
        id="m", mac=None, ip="127.0.0.1", capabilities=["presets"], presets=["disabled", "3000"]
    )
    assert parse_set(b'{"preset": 3000}', record).actions[0].value == "3000"  # VNish: watts
    assert parse_set_field("preset", b"disabled", record).actions[0].value == "disabled"
    for bad in (b'{"preset": true}', b'{"preset": "3001"}', b'{"preset": null}'):
        with pytest.raises(RequestError, match="one of disabled, 3000"):
            parse_set(bad, record)
    record.presets = []
    with pytest.raises(RequestError, match="not known yet"):
        parse_set(b'{"preset": "3000"}', record)
    record.capabilities = []
    with pytest.raises(RequestError, match="not supported"):
        parse_set(b'{"preset": "3000"}', record)

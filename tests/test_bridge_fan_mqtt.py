"""Fan control end to end (issue #16 item 5): a fan command over MQTT reaches a simulated
ePIC and a simulated BitAxe (ESP-Miner), the read-back shows in the miner's state, Home
Assistant is offered a "Fan mode" select and a "Manual fan speed" number, and a malformed
payload is answered with an error and writes nothing.

Real parts: mosquitto, the bridge, simulated miners on 127.x.  What a miner did is read
from the simulator, never from the bridge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge_support import (
    MosquittoBroker,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
    sim_bridge,
)
from test_bridge_presets import command

from asic_bridge.sim.epic import EpicSim
from asic_bridge.sim.espminer import ESPMinerSim

HA = "homeassistant"


def fans_of(sim: Any) -> Any:
    """The simulated firmware's own fan setting."""
    if isinstance(sim, EpicSim):
        return dict(sim.fan_mode)
    assert isinstance(sim, ESPMinerSim)
    return (sim.autofan, sim.manual_fan)


async def test_fan_commands_reach_the_miner_and_the_read_back_shows_in_state(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with (
        collector(mosquitto, ("asic_bridge/#", f"{HA}/#")) as mqtt,
        sim_bridge(mosquitto, tmp_path / "state", ["epic_s19jpro", "bitaxe_gamma"]) as bridge,
    ):
        slots = {s.record.ip: s for s in bridge.slots.values()}
        for s in bridge.sims:
            s.state.jitter = 0.0
            miner_id = slots[s.address].record.id
            state_topic = f"asic_bridge/{miner_id}"

            select = await mqtt.wait_topic(f"{HA}/select/{miner_id}/fan_mode/config", within=15)
            assert select.json()["options"] == ["auto", "manual"], s.address  # no immersion
            number = (await mqtt.wait_topic(f"{HA}/number/{miner_id}/fan_speed/config")).json()
            assert (number["min"], number["max"]) == (0, 100)
            assert number["command_topic"] == f"{state_topic}/set/fan_speed"
            devices = await mqtt.wait_topic(
                "asic_bridge/bridge/devices",
                lambda m, i=miner_id: any(d["id"] == i for d in m.json()),
                within=10,
            )
            listed = next(d for d in devices.json() if d["id"] == miner_id)
            assert listed["fan_modes"] == ["auto", "manual"]
            assert "fan_control" in listed["capabilities"]
            state = await mqtt.wait_topic(
                state_topic, lambda m: m.json().get("fan_mode") == "auto", within=15
            )
            assert isinstance(state.json().get("fan_percent"), int), state.json()
            await mqtt.wait_topic(f"{HA}/sensor/{miner_id}/fan_percent/config", within=15)

            # manual at 45 %: written on the miner, confirmed, and shown in the state
            answer = await command(
                mqtt, miner_id, "set", {"fan_mode": "manual", "fan_speed": 45, "transaction": 1}
            )
            assert answer["status"] == "ok", answer
            assert answer["applied"] == {"fan_mode": "manual", "fan_speed": 45}
            assert fans_of(s) in ({"Manual": 45}, (0, 45)), fans_of(s)
            since = mqtt.mark()
            await mqtt.wait_topic(
                state_topic,
                lambda m: (m.json().get("fan_mode"), m.json().get("fan_percent")) == ("manual", 45),
                within=15,
                since=since,
            )

            # a malformed speed: answered with the reason, nothing written (the state feature
            # republishes on the refusal: test_bridge_feature_state)
            before = fans_of(s)
            answer = await command(mqtt, miner_id, "set/fan_speed", "loud")
            assert answer["status"] == "error" and "0-100" in answer["error"], answer
            assert answer["applied"] == {}
            answer = await command(mqtt, miner_id, "set", b'{"fan_mode": "manual", "fan_speed"')
            assert answer["status"] == "error" and "not valid JSON" in answer["error"], answer
            answer = await command(mqtt, miner_id, "set", {"fan_mode": "immersion"})
            assert answer["status"] == "error" and "one of auto, manual" in answer["error"]
            assert fans_of(s) == before

            # back to auto, by the plain per-field topic
            answer = await command(mqtt, miner_id, "set/fan_mode", "auto")
            assert answer["status"] == "ok" and answer["applied"] == {"fan_mode": "auto"}
            assert fans_of(s) != before
            since = mqtt.mark()
            await mqtt.wait_topic(
                state_topic, lambda m: m.json().get("fan_mode") == "auto", within=15, since=since
            )

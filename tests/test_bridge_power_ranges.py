"""Issue #12 item 2 through the bridge, one kind per family with a power limit: the same
range everywhere.

* The Home Assistant number's min/max in the discovery payload are the firmware's range
  (BOS+ GetConstraints, VNish presets, LuxOS profiles, ePIC's Power tuner), or the
  catalog's where the firmware reports none - marked ``catalog`` on ``bridge/devices``.
* A value outside is refused before any control call, the range and its source in the
  message; a value inside is accepted and read back in the state.
* With no range known (Auradine AT2860, not in the catalog) the miner decides: the number
  spans what the bridge passes on, and the miner's refusal comes back as it answered.
* A clamp (a Whatsminer sim keeps at most its hardware's watts) shows the real bound: the
  number is re-announced with it.

Real parts: mosquitto, the bridge, simulated miners on 127.14.x.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge_support import (
    Collector,
    MosquittoBroker,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
    quick_restarts,
    sim_bridge,
)
from test_bridge_presets import command

from asic_bridge.bridge.commands import MAX_WATTS
from asic_bridge.sim.braiins import BOSerSim
from asic_bridge.sim.epic import EpicSim
from asic_bridge.sim.luxos import LuxOSSim
from asic_bridge.sim.vnish import VNishSim

KINDS = [
    "braiins_s19",
    "braiins_s9",
    "epic_s19jpro",
    "luxos_s19jpro",
    "marafw_s19xp",
    "vnish_s19jpro",
    "whatsminer_m50",
    "whatsminer_m60",
    "auradine_at2860",
]
HA = "homeassistant"


def firmware_range(s: Any) -> tuple[int, int] | None:
    """The range the simulated firmware itself publishes, or None where it publishes none."""
    if isinstance(s, BOSerSim):
        low, high = s.hardware.power_range  # GetConstraints
        return round(low), round(high)
    if isinstance(s, VNishSim):
        watts = [p["watts"] for p in s.presets]
        return min(watts), max(watts)
    if isinstance(s, LuxOSSim):
        watts = [p.watts for p in s.profiles]
        return min(watts), max(watts)
    if isinstance(s, EpicSim):
        low, high = s.power_range  # the Power tuner's min/max in capabilities
        return round(low), round(high)
    return None


def exact_value(s: Any, low: int, high: int) -> int:
    """A value inside the range the firmware can run exactly (a preset's watts where it
    tunes by presets)."""
    if isinstance(s, VNishSim):
        return sorted(p["watts"] for p in s.presets)[1]
    if isinstance(s, LuxOSSim):
        return sorted(p.watts for p in s.profiles)[3]
    return (low + high) // 200 * 100


async def number_config(mqtt: Collector, miner_id: str, since: int = 0) -> dict[str, Any]:
    message = await mqtt.wait_topic(
        f"{HA}/number/{miner_id}/power_limit/config", within=15, since=since
    )
    config: dict[str, Any] = message.json()
    return config


async def test_one_range_in_discovery_devices_and_commands(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with (
        collector(mosquitto, ("asic_bridge/#", f"{HA}/#")) as mqtt,
        sim_bridge(mosquitto, tmp_path / "state", KINDS) as bridge,
    ):
        slots = {s.record.ip: s for s in bridge.slots.values()}
        for s in bridge.sims:
            quick_restarts(s)
        for s in bridge.sims:
            record = slots[s.address].record
            miner_id = record.id
            number = await number_config(mqtt, miner_id)
            devices = await mqtt.wait_topic(
                "asic_bridge/bridge/devices",
                lambda m, i=miner_id: any(d["id"] == i for d in m.json()),
                within=10,
            )
            listed = next(d for d in devices.json() if d["id"] == miner_id)
            published = firmware_range(s)
            info = bridge.slots[miner_id].miner.model_info  # type: ignore[union-attr]
            if published is not None:
                low, high = published
                assert listed["power_limit_range_source"] == "firmware", s.kind
            elif info is not None and info.power_min and info.power_max:
                # the catalog's guess, marked as such
                low, high = max(100, int(info.power_min * 0.5)), int(info.power_max * 1.2)
                assert listed["power_limit_range_source"] == "catalog", s.kind
            else:
                assert listed["power_limit_range_source"] == "unknown", s.kind
                assert listed["power_limit_range"] is None
                assert (number["min"], number["max"]) == (1, MAX_WATTS)
                # the miner decides, and its answer comes back as it gave it
                answer = await command(mqtt, miner_id, "set/power_limit", "1000")
                assert answer["status"] == "error", answer
                assert "range 1500-4500 W" in answer["error"], answer  # the miner's words
                continue
            assert (number["min"], number["max"]) == (low, high), s.kind
            assert listed["power_limit_range"] == [low, high], s.kind

            before = s.state.power_limit
            for outside in (low - 1, high + 1):
                answer = await command(mqtt, miner_id, "set/power_limit", str(outside))
                assert answer["status"] == "error", (s.kind, answer)
                assert f"{low}-{high} W" in answer["error"], answer
                assert listed["power_limit_range_source"] in answer["error"], answer
            assert s.state.power_limit == before, s.kind  # no control call reached it

            inside = exact_value(s, low, high)
            answer = await command(mqtt, miner_id, "set", {"power_limit": inside})
            assert answer["status"] == "ok", (s.kind, answer)
            since = mqtt.mark()
            await mqtt.wait_topic(
                f"asic_bridge/{miner_id}",
                lambda m, w=inside: m.json().get("power_limit") == w,
                within=30,
                since=since,
            )


async def test_a_clamp_re_announces_the_number_with_the_bound_it_showed(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with (
        collector(mosquitto, ("asic_bridge/#", f"{HA}/#")) as mqtt,
        sim_bridge(mosquitto, tmp_path / "state", ["whatsminer_m50"]) as bridge,
    ):
        ((miner_id, slot),) = bridge.slots.items()
        (s,) = bridge.sims
        s.state.jitter = 0.0
        guess = await number_config(mqtt, miner_id)
        ceiling = round(s.hardware.power_range[1])  # what the simulated miner really keeps
        assert slot.record.power_range_source == "catalog" and guess["max"] > ceiling
        since = mqtt.mark()
        answer = await command(mqtt, miner_id, "set/power_limit", str(guess["max"]))
        assert answer["status"] == "error", answer
        assert answer["reported"] == {"power_limit": ceiling}, answer
        assert answer["power_limit_range"] == [guess["min"], ceiling], answer
        number = await number_config(mqtt, miner_id, since=since)
        assert number["max"] == ceiling and number["min"] == guess["min"]
        devices = await mqtt.wait_topic(
            "asic_bridge/bridge/devices",
            lambda m: any(d["power_limit_range"] == [guess["min"], ceiling] for d in m.json()),
            within=10,
            since=since,
        )
        assert devices.json()[0]["power_limit_range_source"] == "firmware"
        # and the learned bound is the one commands are checked against now
        answer = await command(mqtt, miner_id, "set/power_limit", str(ceiling + 1))
        assert answer["status"] == "error" and f"-{ceiling} W" in answer["error"], answer


async def test_a_fleet_plan_clamped_by_a_miner_is_made_again_and_re_announced(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """The fleet planner uses the record's range; the bound a clamp shows replaces the
    catalog's guess in the plan and in the HA number, and the miner gets what it keeps."""
    async with (
        collector(mosquitto, ("asic_bridge/#", f"{HA}/#")) as mqtt,
        sim_bridge(mosquitto, tmp_path / "state", ["whatsminer_m50"]) as bridge,
    ):
        ((miner_id, slot),) = bridge.slots.items()
        (s,) = bridge.sims
        quick_restarts(s)
        guess = await number_config(mqtt, miner_id)
        await mqtt.wait_topic(f"asic_bridge/{miner_id}", lambda m: "efficiency" in m.json())
        ceiling = round(s.hardware.power_range[1])
        since = mqtt.mark()
        await mqtt.publish("asic_bridge/fleet/all/set", {"target_w": guess["max"]})
        answer = await mqtt.wait_topic("asic_bridge/fleet/all/response", within=30, since=since)
        body = answer.json()
        # clamped at the firmware's real ceiling: the group planned again with it
        assert body["status"] == "ok", body
        assert body["data"]["miners"][miner_id]["planned"]["power_limit"] == ceiling, body
        assert body["data"]["miners"][miner_id]["range"][1] == ceiling, body
        assert (slot.record.power_max, slot.record.power_range_source) == (ceiling, "firmware")
        number = await number_config(mqtt, miner_id, since=since)
        assert number["max"] == ceiling
        assert s.state.power_limit == ceiling

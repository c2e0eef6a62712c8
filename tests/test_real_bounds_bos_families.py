"""Issue #12 through the bridge for BOS+, VNish, LuxOS and ePIC: the Home Assistant power
number's bounds are the firmware's own range, and the mode select offers the mode the
miner reports (ePIC's running tuner, LuxOS's profile, VNish's preset were not options)."""

from __future__ import annotations

from pathlib import Path

from bridge_support import (
    MosquittoBroker,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
    sim_bridge,
)

from asic_bridge.sim.braiins import BOSerSim
from asic_bridge.sim.luxos import LuxOSSim
from asic_bridge.sim.vnish import VNishSim

KINDS = ["braiins_s19", "vnish_s19jpro", "luxos_s19jpro", "epic_s19jpro"]
HA = "homeassistant"


async def test_number_bounds_and_mode_options_are_the_firmwares(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with (
        collector(mosquitto, ("asic_bridge/#", f"{HA}/#")) as mqtt,
        sim_bridge(mosquitto, tmp_path / "state", KINDS) as bridge,
    ):
        slots = {s.record.ip: s for s in bridge.slots.values()}
        expected: dict[str, tuple[int, int] | None] = {}
        for sim in bridge.sims:
            if isinstance(sim, BOSerSim):
                low, high = sim.hardware.power_range  # GetConstraints: 1200-3600 W
                expected[sim.address] = (round(low), round(high))
            elif isinstance(sim, VNishSim):
                watts = [p["watts"] for p in sim.presets]  # the preset list
                expected[sim.address] = (min(watts), max(watts))
            elif isinstance(sim, LuxOSSim):
                watts = [p.watts for p in sim.profiles]  # the profile list
                expected[sim.address] = (min(watts), max(watts))
            else:
                expected[sim.address] = None  # ePIC's tuner range, checked by its own test
        for ip, bounds in expected.items():
            miner_id = slots[ip].record.id
            if bounds is not None:
                number = await mqtt.wait_topic(
                    f"{HA}/number/{miner_id}/power_limit/config", within=10
                )
                assert (number.json()["min"], number.json()["max"]) == bounds, ip
                assert slots[ip].record.power_range_source == "firmware"
            if not slots[ip].record.modes:
                continue  # BOS+: no mode select (the power target is the control)
            select = await mqtt.wait_topic(f"{HA}/select/{miner_id}/mode/config", within=10)
            options = select.json()["options"]
            state = await mqtt.wait_topic(
                f"asic_bridge/{miner_id}", lambda m: "mode" in m.json(), within=10
            )
            assert state.json()["mode"] in options, (ip, state.json()["mode"], options)

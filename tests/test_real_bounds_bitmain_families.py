"""Issue #12 through the bridge for the Bitmain-derived families: the mode the miner reports
is one of the select's options (MaraFW tuning to a power target read back as power_tuning,
which was not one), and the power number of the one family with a power limit (MaraFW) has
the catalog's bounds, marked as such: no MaraFW capture publishes the firmware's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bridge_support import (
    MosquittoBroker,
    Received,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
    sim_bridge,
)

from asic_bridge.sim.marafw import MaraS19XPSim

KINDS = ["marafw_s19xp", "antminer_s19jpro", "hiveon_s19jpro", "antminer_s23hyd"]
HA = "homeassistant"


async def test_mode_options_and_power_bounds(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    async with (
        collector(mosquitto, ("asic_bridge/#", f"{HA}/#")) as mqtt,
        sim_bridge(mosquitto, tmp_path / "state", KINDS) as bridge,
    ):
        mara = next(s for s in bridge.sims if isinstance(s, MaraS19XPSim))
        # the miner tunes to a power target, as after a power-limit write
        mara.config["mode"] = {
            "work-mode-selector": "Auto",
            "concorde": {"mode-select": "PowerTarget", "power-target": 3000},
        }
        slots = {s.record.ip: s for s in bridge.slots.values()}
        for sim in bridge.sims:
            record = slots[sim.address].record
            if not record.modes:
                continue
            select = await mqtt.wait_topic(f"{HA}/select/{record.id}/mode/config", within=10)
            options = select.json()["options"]
            wanted = "power_tuning" if sim is mara else "normal"
            assert wanted in options, (sim.kind, options)
            state = await mqtt.wait_topic(
                f"asic_bridge/{record.id}", reports_mode(wanted), within=15
            )
            assert state.json()["mode"] == wanted
        record = slots[mara.address].record
        number = await mqtt.wait_topic(f"{HA}/number/{record.id}/power_limit/config", within=10)
        driver = slots[mara.address].miner
        assert driver is not None
        bounds = driver.power_range()
        assert (number.json()["min"], number.json()["max"]) == (bounds.low, bounds.high)
        assert record.power_range_source == "catalog"
        for sim in bridge.sims:  # stock, Hiveon, S23: no power limit, no number
            if sim is not mara:
                rid = slots[sim.address].record.id
                assert mqtt.last(f"{HA}/number/{rid}/power_limit/config") is None


def reports_mode(mode: str) -> Callable[[Received], bool]:
    return lambda message: message.json().get("mode") == mode

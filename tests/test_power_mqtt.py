"""A fleet target held end to end: the bridge, real mosquitto, seven simulated miners of six
families (BOS+ gRPC, Whatsminer API 2 and 3, ePIC, MaraFW, Avalon, stock Antminer).

After a target is set the fleet is brought under it; limits raised on two miners straight on
their simulators, sleepers resumed and a miner going offline and coming back at its full
limit are all undone without a new command; release gives each miner back its own limit and
mining state; the group's Home Assistant entities are in discovery.  Waits are bounded for
liveness only (nothing asserts how fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge_support import (
    MosquittoBroker,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
    quick_restarts,
)
from test_bridge_mqtt import HA, Rig, bridge_rig

KINDS = [
    "braiins_s19",
    "whatsminer_m50",
    "whatsminer_m60",
    "epic_s19jpro",
    "marafw_s19xp",
    "avalon_1246",
    "antminer_s19jpro",
]
GROUP = {"min_change_interval": 3, "replan_interval": 1, "deadband_w": 50}
SETTLE = 90.0  # a bound for liveness: many polls and holds, on a loaded machine


def drawn(rig: Rig) -> float:
    return sum(s.state.read().wattage for s in rig.sims.values())


async def fleet_state(rig: Rig, check: Any, since: int) -> dict[str, Any]:
    """The first ``fleet/all`` state from ``since`` on for which ``check(state)`` holds."""
    try:
        message = await rig.mqtt.wait_topic(
            rig.t("fleet", "all"), lambda m: check(m.json()), within=SETTLE, since=since
        )
    except AssertionError:
        last = rig.mqtt.on(rig.t("fleet", "all"))[-1].json()
        raise AssertionError(f"drawn {drawn(rig)}: {last}") from None
    state: dict[str, Any] = message.json()
    return state


async def test_a_fleet_target_is_held_over_mqtt(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    async with bridge_rig(
        mosquitto, tmp_path, KINDS, fleet={"groups": {"all": GROUP}}, ready_within=40
    ) as rig:
        by_kind = {s.kind: i for i, s in rig.sims.items()}
        for s in rig.sims.values():
            quick_restarts(s)
        await fleet_state(
            rig, lambda s: len(s["miners"]) == len(KINDS) and not s["offline"], since=0
        )
        own = {i: (s.state.mining, s.state.effective_power_limit) for i, s in rig.sims.items()}
        no_limit = {i for i, s in rig.sims.items() if s.state.power_limit is None}
        target = int(drawn(rig) * 0.55)

        # the group's Home Assistant device, via the bridge
        node = "asic_bridge_asic_bridge_fleet_all"
        for component, key in [
            ("number", "target"),
            ("select", "mode"),
            ("sensor", "measured_power"),
            ("sensor", "planned_power"),
            ("sensor", "status"),
            ("binary_sensor", "problem"),
        ]:
            config = (await rig.mqtt.wait_topic(f"{HA}/{component}/{node}/{key}/config")).json()
            assert config["device"]["via_device"] == "asic_bridge_asic_bridge", config
            assert config["state_topic"] == rig.t("fleet", "all")

        mark = rig.mqtt.mark()
        await rig.mqtt.publish(rig.t("fleet", "all", "set"), {"target_w": target, "transaction": 1})
        reply = await rig.mqtt.wait_topic(rig.t("fleet", "all", "response"), since=mark, within=30)
        assert reply.json()["status"] in ("ok", "pending") and reply.json()["transaction"] == 1
        await fleet_state(rig, lambda s: s["status"] == "holding" and drawn(rig) <= target, mark)

        # behind the bridge's back: two limits raised on the miners, the sleepers resumed
        rig.sims[by_kind["whatsminer_m60"]].state.set_power_limit(5000)
        rig.sims[by_kind["braiins_s19"]].state.set_power_limit(5000)
        for s in rig.sims.values():
            if not s.state.mining:
                s.state.set_mining(True)
        assert drawn(rig) > target
        mark = rig.mqtt.mark()
        held = await fleet_state(
            rig, lambda s: s["status"] == "holding" and drawn(rig) <= target, mark
        )
        assert held["target_w"] == target and held["failed"] == {}, held

        # a miner drops off the network and comes back at its own full limit, mining
        m50 = rig.sims[by_kind["whatsminer_m50"]]
        m50_id = by_kind["whatsminer_m50"]
        await m50.set_mode("offline")
        mark = rig.mqtt.mark()
        await fleet_state(rig, lambda s: s["offline"] == [m50_id], mark)
        m50.state.set_power_limit(3600)
        m50.state.set_mining(True)
        await m50.set_mode("normal")
        mark = rig.mqtt.mark()
        await fleet_state(
            rig,
            lambda s: not s["offline"] and s["status"] == "holding" and drawn(rig) <= target,
            mark,
        )

        # release: each miner back to its own limit and mining state
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(rig.t("fleet", "all", "set"), {"target_w": None})
        released = await fleet_state(
            rig, lambda s: s["status"] == "released" and not s["remembered"], mark
        )
        assert released["mode"] == "off"
        for miner_id, s in rig.sims.items():
            mining, limit = own[miner_id]
            assert s.state.mining == mining, s.kind
            # a miner with no limit of its own may get the top of its range instead
            top = released["miners"][miner_id]["range"]
            allowed: set[float] = {limit, top[1]} if miner_id in no_limit and top else {limit}
            if miner_id == m50_id:
                allowed.add(3600)  # the limit its owner set on it while it was away
            assert s.state.effective_power_limit in allowed, (s.kind, allowed)

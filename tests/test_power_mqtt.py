"""A fleet target held end to end: the bridge, real mosquitto, seven simulated miners of six
families (BOS+ gRPC, Whatsminer API 2 and 3, ePIC, MaraFW, Avalon, stock Antminer).

After a target is set the fleet is brought under it; limits raised on two miners straight on
their simulators, sleepers resumed and a miner going offline and coming back at its full
limit are all undone without a new command; release gives each miner back its own limit and
mining state; the group's Home Assistant entities are in discovery.  Waits are bounded for
liveness only (nothing asserts how fast).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
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


async def fleet_state(rig: Rig, check: Any, since: int, group: str = "all") -> dict[str, Any]:
    """The first ``fleet/all`` state from ``since`` on for which ``check(state)`` holds."""
    try:
        message = await rig.mqtt.wait_topic(
            rig.t("fleet", group), lambda m: check(m.json()), within=SETTLE, since=since
        )
    except AssertionError:
        last = rig.mqtt.on(rig.t("fleet", group))[-1].json()
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
        start = await fleet_state(
            rig, lambda s: len(s["miners"]) == len(KINDS) and not s["offline"], since=0
        )
        own = {i: (s.state.mining, s.state.effective_power_limit) for i, s in rig.sims.items()}
        # no limit of its own, in the simulator or as the firmware reports it (an ePIC on a
        # hash-rate tuner has a power level in the simulator but reports no power limit)
        no_limit = {i for i, s in rig.sims.items() if s.state.power_limit is None}
        no_limit |= {i for i, m in start["miners"].items() if m["power_limit"] is None}
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


FEED_KINDS = ["braiins_s19", "whatsminer_m60", "avalon_1246"]
PRICE_TOPIC, EXPORT_TOPIC = "test_feeds/price_eur_kwh", "test_feeds/available_w"


async def command(rig: Rig, payload: dict[str, Any]) -> dict[str, Any]:
    mark = rig.mqtt.mark()
    await rig.mqtt.publish(rig.t("fleet", "all", "set"), payload)
    reply = await rig.mqtt.wait_topic(rig.t("fleet", "all", "response"), since=mark, within=30)
    answer: dict[str, Any] = reply.json()
    return answer


async def test_inputs_are_read_set_at_runtime_and_shown(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """A surplus signal on a meter's topic and its staleness fallback, a price section set
    at runtime with readings on the group's topic and on the configured feed, a schedule set
    at runtime: each decides the target, and fleet/<group> shows it."""
    group = {
        **GROUP,
        "surplus": {"topic": EXPORT_TOPIC, "signal": "available", "stale_after": 4},
        "price": {"topic": PRICE_TOPIC, "max_price": 0.3},
    }
    async with bridge_rig(
        mosquitto, tmp_path, FEED_KINDS, fleet={"groups": {"all": group}}, ready_within=40
    ) as rig:
        await fleet_state(rig, lambda s: len(s["miners"]) == 3 and not s["offline"], since=0)
        full = drawn(rig)

        # solar surplus: the watts available, read from the meter's own topic (every second,
        # as a meter publishes)
        available = int(full * 0.6)
        answer = await command(rig, {"mode": "surplus"})
        assert answer["data"]["mode"] == "surplus", answer

        async def meter() -> None:
            while True:
                await rig.mqtt.publish(EXPORT_TOPIC, str(available))
                await asyncio.sleep(1)

        mark = rig.mqtt.mark()
        task = asyncio.create_task(meter())
        try:
            state = await fleet_state(
                rig,
                lambda s: s["target_w"] == available and s["status"] == "holding",
                mark,
            )
        finally:
            task.cancel()
        assert state["target_source"] == f"surplus {available} W"
        assert state["inputs"]["surplus"]["topic"] == EXPORT_TOPIC
        assert state["surplus"]["value"] == available and drawn(rig) <= available
        # the meter goes quiet: after stale_after the default fallback sleeps the miners
        mark = rig.mqtt.mark()
        state = await fleet_state(rig, lambda s: s["target_w"] == 0, mark)
        assert "surplus is stale" in state["target_source"], state

        # a price section set at runtime (the configured topic kept), a reading on the
        # group's own price topic, then one on the configured feed
        band = int(full * 0.5)
        price = {"bands": [{"up_to": 0.1}, {"up_to": 0.2, "target_w": band}], "fallback": "hold"}
        answer = await command(rig, {"mode": "price", "price": price})
        assert answer["status"] != "error", answer
        assert answer["data"]["inputs"]["price"]["topic"] == PRICE_TOPIC
        assert answer["data"]["inputs"]["price"]["bands"][1] == {"up_to": 0.2, "target_w": band}
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(rig.t("fleet", "all", "price"), "0.15")
        state = await fleet_state(
            rig, lambda s: s["target_w"] == band and s["status"] == "holding", mark
        )
        assert state["price"]["value"] == 0.15 and drawn(rig) <= band
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(PRICE_TOPIC, "0.35")
        state = await fleet_state(rig, lambda s: s["target_w"] == 0, mark)
        assert state["target_source"] == "price 0.35"

        # a new feed topic cannot be subscribed to at runtime: refused, nothing changed
        answer = await command(rig, {"surplus": {"topic": "test_feeds/elsewhere"}})
        assert answer["status"] == "error" and "bridge.yaml" in answer["error"], answer
        assert answer["data"]["inputs"]["surplus"]["topic"] == EXPORT_TOPIC

        # a schedule set at runtime, with a window around now (UTC)
        now = datetime.now(UTC)
        window = {
            "start": (now - timedelta(hours=1)).strftime("%H:%M"),
            "end": (now + timedelta(hours=1)).strftime("%H:%M"),
            "target_w": band,
        }
        schedule = {"timezone": "UTC", "windows": [window], "outside": "release"}
        answer = await command(rig, {"mode": "schedule", "schedule": schedule})
        assert answer["status"] != "error", answer
        assert answer["data"]["inputs"]["schedule"]["windows"][0]["target_w"] == band
        mark = rig.mqtt.mark()
        state = await fleet_state(
            rig, lambda s: s["target_w"] == band and s["status"] == "holding", mark
        )
        assert state["mode"] == "schedule" and state["target_source"].endswith(f"{band} W")

        answer = await command(rig, {"target_w": None})
        assert answer["data"]["mode"] == "off"

"""The bridge for real: in-process ``Bridge`` + simulated miners + a real broker + a client.

Every test runs against amqtt, the broker the bridge embeds (MQTT 3.1.1), and mosquitto
(MQTT 5, which the bridge negotiates there); broker crashes use each as a separate process.
Simulated miners listen on 127.14.X.Y, a distinct /24 per test.  Controls are checked on the
simulator itself (its state and its request counters), never on the bridge's own word.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bridge_support import (
    AmqttBroker,
    Broker,
    Collector,
    MosquittoBroker,
    address_block,
    broker_fixture,  # noqa: F401  (the `broker` fixture)
    collector,
    discovery_arrived,
    drop_connection,
    free_port,
    killable_broker_fixture,  # noqa: F401  (the `killable_broker` fixture)
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
    short_timeouts_fixture,  # noqa: F401  (the `short_timeouts` fixture)
)

from asic_bridge import __version__
from asic_bridge.bridge.app import Bridge
from asic_bridge.bridge.config import BridgeConfig, parse_config
from asic_bridge.bridge.registry import Registry
from asic_bridge.bridge.topics import mac_id
from asic_bridge.sim import SimMiner, list_kinds

SECRET = "s3cret-Broker-PW"
BASE = "asic_bridge"
HA = "homeassistant"

logging.getLogger("aiomqtt").setLevel(logging.ERROR)
logging.getLogger("asic_bridge.mqtt").setLevel(logging.ERROR)


# ============================================================================ kinds
def _pick(prefix: str, preferred: tuple[str, ...]) -> str | None:
    kinds = [k for k, *_ in list_kinds()]
    for kind in preferred:
        if kind in kinds:
            return kind
    return next((k for k in kinds if k.startswith(prefix)), None)


# One kind per firmware family (the most capable model first: power limit, modes, stop).
WHATSMINER = _pick("whatsminer", ("whatsminer_m60", "whatsminer_m50", "whatsminer_m30s"))
AVALON = _pick("avalon", ("avalon_nano3", "avalon_1246", "avalon_1566"))
ANTMINER = _pick("antminer", ("antminer_s19jpro", "antminer_s21", "antminer_l7"))
CGMINER = _pick("cgminer", ("cgminer",))
FAMILY_KINDS = [k for k in (WHATSMINER, AVALON, ANTMINER, CGMINER) if k]
# a kind that reports power and can be stopped, for single-miner scenarios
SOLO = AVALON or WHATSMINER or ANTMINER or CGMINER
# a kind drawing kilowatts, so the energy counter moves within a second
HEAVY = WHATSMINER or ANTMINER or AVALON or CGMINER

pytestmark = pytest.mark.skipif(not FAMILY_KINDS, reason="no simulator kinds available yet")


@pytest.fixture(autouse=True)
def _short_timeouts(short_timeouts: None) -> None:
    """Every test here runs with bridge_support's short timeouts."""


# ============================================================================ the rig
def make_config(broker: Broker, specs: list[str], state_dir: Path, **sections: Any) -> BridgeConfig:
    raw: dict[str, Any] = {
        "mqtt": {
            "url": f"mqtt://tester:{SECRET}@{broker.host}:{broker.port}",
            "client_id": "asic_bridge_under_test",
            # amqtt speaks only 3.1.1 and never answers an MQTT 5 CONNECT, so "auto" would
            # wait out a 10 s connect timeout first (test_protocol_auto_falls_back_to_mqtt_311)
            "protocol": "auto" if broker.supports_v5 else "3.1.1",
        },
        "miners": {"poll_interval": 1, "scan_interval": 0, "offline_after": 2},
        # a secret the bridge holds but must never publish (no firmware named "luxos" here)
        "credentials": {"luxos": {"username": "root", "password": "cred-" + SECRET}},
        "simulator": {"miners": specs},
        "state_dir": str(state_dir),
    }
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(raw.get(section), dict):
            raw[section] = {**raw[section], **values}
        else:
            raw[section] = values
    return parse_config(raw)


def counts(sim: SimMiner) -> Counter[str]:
    """Every request the simulator has seen, by server and command/path."""
    result: Counter[str] = Counter()
    for name, server in sim.counters.items():
        for key, value in server.by_key.items():
            result[f"{name}:{key}"] += value
    return result


@dataclass
class ControlWatch:
    """Requests other than the ones polling makes: the control calls a miner received."""

    sim: SimMiner
    read_keys: set[str] = field(default_factory=set)

    def learn(self) -> None:
        self.read_keys |= set(counts(self.sim))

    def controls(self) -> Counter[str]:
        return Counter({k: v for k, v in counts(self.sim).items() if k not in self.read_keys})


@dataclass
class Rig:
    bridge: Bridge
    mqtt: Collector
    broker: Broker
    sims: dict[str, SimMiner]  # miner id -> its simulator
    watches: dict[str, ControlWatch] = field(default_factory=dict)
    stopped: bool = False

    def t(self, *parts: str) -> str:
        return "/".join((BASE, *parts))

    def caps(self, miner_id: str) -> set[str]:
        return set(self.bridge.slots[miner_id].record.capabilities)

    def with_capability(self, capability: str) -> str | None:
        """The first miner (in FAMILY_KINDS order) that has ``capability``."""
        order = {k: i for i, k in enumerate(FAMILY_KINDS)}
        ids = sorted(self.sims, key=lambda i: order.get(self.sims[i].kind, 99))
        return next((i for i in ids if capability in self.caps(i)), None)

    def without_capability(self, capability: str) -> str | None:
        return next((i for i in self.sims if capability not in self.caps(i)), None)

    async def command(
        self,
        miner_id: str,
        payload: Any,
        field_name: str | None = None,
        within: float = 8.0,
    ) -> dict[str, Any]:
        """Publish a command and return the response it produced."""
        mark = self.mqtt.mark()
        topic = self.t(miner_id, "set", field_name) if field_name else self.t(miner_id, "set")
        await self.mqtt.publish(topic, payload)
        response = await self.mqtt.wait_topic(
            self.t(miner_id, "response"), within=within, since=mark
        )
        body: dict[str, Any] = response.json()
        return body

    async def request(self, op: str, payload: Any = b"", within: float = 10.0) -> dict[str, Any]:
        mark = self.mqtt.mark()
        await self.mqtt.publish(self.t("bridge", "request", op), payload)
        response = await self.mqtt.wait_topic(
            self.t("bridge", "response", op), within=within, since=mark
        )
        body: dict[str, Any] = response.json()
        return body

    async def state(
        self, miner_id: str, check: Callable[[dict[str, Any]], bool], since: int, within: float = 6
    ) -> dict[str, Any]:
        message = await self.mqtt.wait_topic(
            self.t(miner_id), lambda m: check(m.json()), within=within, since=since
        )
        body: dict[str, Any] = message.json()
        return body

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.bridge.stop()
            await asyncio.wait_for(self.bridge.shutdown(), 20)

    def assert_no_secrets(self) -> None:
        for message in self.mqtt.messages:
            assert SECRET not in message.topic
            assert SECRET.encode() not in message.payload, message.topic


def _has_numbers(state: dict[str, Any]) -> bool:
    return isinstance(state.get("hashrate"), (int, float)) and state["hashrate"] > 0


@contextlib.asynccontextmanager
async def bridge_rig(
    broker: Broker,
    tmp_path: Path,
    kinds: list[str],
    *,
    addr: Callable[[int], str] | None = None,
    state_dir: Path | None = None,
    v5: bool = False,
    ready_within: float = 20,
    **sections: Any,
) -> AsyncIterator[Rig]:
    """A running bridge on ``broker`` serving one simulated miner per kind, with a collector
    that subscribed before the bridge started.  Waits until every miner published numbers
    and the collector has every discovery config announced for it (they follow the first
    state: see features/discovery.py)."""
    addr = addr or address_block()
    specs = [f"{kind}@{addr(i + 1)}" for i, kind in enumerate(kinds)]
    config = make_config(broker, specs, state_dir or tmp_path / "state", **sections)
    async with collector(broker, (f"{BASE}/#", f"{HA}/#", "replies/#"), v5=v5) as mqtt:
        bridge = Bridge(config)
        rig = Rig(bridge, mqtt, broker, {})
        try:
            await bridge.start()
            await asyncio.wait_for(bridge.ready.wait(), ready_within)
            for sim in bridge.sims:
                slot = next(s for s in bridge.slots.values() if s.record.ip == sim.address)
                rig.sims[slot.record.id] = sim
            assert len(rig.sims) == len(kinds), f"found {list(rig.sims)} for {specs}"
            for miner_id in rig.sims:
                await rig.state(miner_id, _has_numbers, since=0, within=10)
                await mqtt.wait_topic(rig.t(miner_id, "availability"), lambda m: m.text == "online")
            await discovery_arrived(mqtt, [bridge])
            yield rig
            rig.assert_no_secrets()
        finally:
            await rig.stop()


async def warm_up(rig: Rig, miner_ids: list[str], polls: int = 2) -> None:
    """Let ``polls`` more polls of each miner happen, then learn which requests polling makes."""

    async def one(miner_id: str) -> None:
        mark = rig.mqtt.mark()
        for _ in range(polls):
            message = await rig.mqtt.wait_topic(rig.t(miner_id), within=6, since=mark)
            mark = message.index + 1

    await asyncio.gather(*(one(miner_id) for miner_id in miner_ids))
    for miner_id in miner_ids:
        rig.watches.setdefault(miner_id, ControlWatch(rig.sims[miner_id])).learn()


# ============================================================================ tests
async def test_bridge_announces_itself_and_every_miner(broker: Broker, tmp_path: Path) -> None:
    async with bridge_rig(broker, tmp_path, FAMILY_KINDS) as rig:
        ids = set(rig.sims)
        await rig.mqtt.wait_topic(rig.t("bridge", "state"), lambda m: m.text == "online")
        if broker.kind == "mosquitto":  # amqtt delivers at the subscription's QoS instead
            # QoS as delivered live to a QoS 1 subscriber: polled state at mqtt.state_qos (0
            # by default, like zigbee2mqtt), bridge messages at mqtt.qos (1)
            info = await rig.mqtt.wait_topic(rig.t("bridge", "info"), lambda m: not m.retain)
            assert info.qos == 1
            some_id = next(iter(ids))
            state = await rig.mqtt.wait_topic(rig.t(some_id), lambda m: not m.retain)
            assert state.qos == 0

        # the device list is published once for the miners a scan adopts together
        await rig.mqtt.wait_topic(
            rig.t("bridge", "devices"), lambda m: {d["id"] for d in m.json()} == ids
        )
        lists = [m for m in rig.mqtt.messages if m.topic == rig.t("bridge", "devices")]
        assert len(lists) < len(ids)
        # a late subscriber gets everything retained
        async with collector(broker, (f"{BASE}/#", f"{HA}/#"), identifier="late") as late:
            state = await late.wait_topic(rig.t("bridge", "state"))
            assert (state.text, state.retain) == ("online", True)

            info = await late.wait_topic(rig.t("bridge", "info"), lambda m: m.retain)
            body = info.json()
            assert body["version"] == __version__
            assert body["miner_count"] == len(ids)
            assert body["mqtt_protocol"] == ("5" if broker.supports_v5 else "3.1.1")
            assert body["config"]["mqtt"]["url"] == f"mqtt://tester:***@127.0.0.1:{broker.port}"
            assert body["config"]["simulated_miners"] == len(ids)

            devices_msg = await late.wait_topic(
                rig.t("bridge", "devices"), lambda m: {d["id"] for d in m.json()} == ids
            )
            assert devices_msg.retain
            for device in devices_msg.json():
                sim = rig.sims[device["id"]]
                assert device["ip"] == sim.address
                assert device["make"] and device["model"]
                assert isinstance(device["capabilities"], list)
                if device["mac"]:  # default id = the MAC as 12 lowercase hex digits
                    assert device["mac"] == sim.state.mac
                    assert device["id"] == mac_id(sim.state.mac)
                else:
                    assert device["id"] == "ip_" + sim.address.replace(".", "_")
                assert "password" not in json.dumps(device).lower()

            for miner_id, sim in rig.sims.items():
                state_msg = await late.wait_topic(rig.t(miner_id), lambda m: m.retain)
                values = state_msg.json()
                assert _has_numbers(values), values
                assert values["ip"] == sim.address
                assert isinstance(values["energy"], (int, float))
                assert values["mining"] is True
                assert all(v is not None for v in values.values())
                avail = await late.wait_topic(rig.t(miner_id, "availability"))
                assert (avail.text, avail.retain) == ("online", True)

                config_msg = await late.wait_topic(
                    f"{HA}/sensor/{miner_id}/hashrate/config", lambda m: m.retain
                )
                config = config_msg.json()
                assert config["unique_id"] == f"asic_bridge_{miner_id}_hashrate"
                assert config["state_topic"] == rig.t(miner_id)
                assert config["availability"] == [
                    {"topic": rig.t("bridge", "state")},
                    {"topic": rig.t(miner_id, "availability")},
                ]
                assert config["availability_mode"] == "all"
                assert config["default_entity_id"] == f"sensor.{config['object_id']}"
                assert config["device"]["identifiers"] == [f"asic_bridge_{miner_id}"]
                assert config["device"]["manufacturer"]
                assert config["origin"]["name"] == "asic_bridge"
                if "power" in values:
                    power = await late.wait_topic(f"{HA}/sensor/{miner_id}/power/config")
                    assert power.json()["unit_of_measurement"] == "W"

            await late.wait_topic(
                f"{HA}/binary_sensor/asic_bridge_{BASE}/connection_state/config", lambda m: m.retain
            )
            await asyncio.sleep(0.3)  # the retained burst is complete
            # controls exactly where the firmware supports them
            for miner_id in ids:
                caps = rig.caps(miner_id)
                switch = late.last(f"{HA}/switch/{miner_id}/mining/config")
                assert (switch is not None) == ("stop_mining" in caps), (miner_id, caps)
                number = late.last(f"{HA}/number/{miner_id}/power_limit/config")
                assert (number is not None) == ("power_limit" in caps), (miner_id, caps)
                if number is not None:
                    low = rig.bridge.slots[miner_id].record.power_min
                    high = rig.bridge.slots[miner_id].record.power_max
                    assert (number.json()["min"], number.json()["max"]) == (low, high)
                light = late.last(f"{HA}/switch/{miner_id}/fault_light/config")
                assert (light is not None) == ("fault_light" in caps)

        # clean shutdown: retained "offline", not left "online"
        mark = rig.mqtt.mark()
        await rig.stop()
        await rig.mqtt.wait_topic(
            rig.t("bridge", "state"), lambda m: m.text == "offline", since=mark
        )
        async with collector(broker, (f"{BASE}/bridge/state",), identifier="after") as after:
            message = await after.wait_topic(rig.t("bridge", "state"))
            assert (message.text, message.retain) == ("offline", True)


async def test_every_simulated_kind_is_discovered_and_polled(
    broker: Broker, tmp_path: Path
) -> None:
    """Every simulator kind there is, through identification, discovery and polling."""
    kinds = [k for k, *_ in list_kinds()]
    async with bridge_rig(broker, tmp_path, kinds, ready_within=30) as rig:
        assert len(rig.sims) == len(kinds)
        devices = rig.mqtt.last(rig.t("bridge", "devices"))
        assert devices is not None
        by_id = {d["id"]: d for d in devices.json()}
        for miner_id, sim in rig.sims.items():
            device = by_id[miner_id]
            assert device["ip"] == sim.address, (sim.kind, device)
            assert device["make"] and device["make"] != "Unknown", (sim.kind, device)
            config = rig.mqtt.last(f"{HA}/sensor/{miner_id}/hashrate/config")
            assert config is not None and config.payload, sim.kind
            assert config.json()["device"]["identifiers"] == [f"asic_bridge_{miner_id}"]
            assert config.json()["unit_of_measurement"] == device["hashrate_unit"]
            state = rig.mqtt.last(rig.t(miner_id))
            assert state is not None and _has_numbers(state.json()), sim.kind


async def test_commands_change_the_miner(broker: Broker, tmp_path: Path) -> None:
    async with bridge_rig(broker, tmp_path, FAMILY_KINDS) as rig:
        stopper = rig.with_capability("stop_mining")
        assert stopper is not None, "the fleet has a kind that can stop mining"
        await warm_up(rig, list(rig.sims))
        sim = rig.sims[stopper]
        watch = rig.watches[stopper]

        # {"mining": false} -> the simulator stops -> the state says so
        mark = rig.mqtt.mark()
        before = watch.controls()
        response = await rig.command(stopper, {"mining": False, "transaction": "tx-1"})
        assert response["status"] == "ok", response
        assert response["transaction"] == "tx-1"
        assert response["command"] == "mining"
        assert not sim.state.hashing
        assert watch.controls() != before  # the control call really reached the miner
        await rig.state(stopper, lambda s: s.get("mining") is False, since=mark)

        # the same transaction again: answered from memory, not executed
        before = watch.controls()
        again = await rig.command(stopper, {"mining": False, "transaction": "tx-1"})
        assert again["transaction"] == "tx-1" and again["duplicate"] is True
        assert again["status"] == "ok"
        assert watch.controls() == before

        # plain value on set/<field>, HA's ON/OFF
        mark = rig.mqtt.mark()
        response = await rig.command(stopper, "ON", field_name="mining")
        assert response["status"] == "ok" and response["transaction"] is None, response
        assert sim.state.hashing
        await rig.state(stopper, lambda s: s.get("mining") is True and s["hashrate"] > 0, mark)

        # what one execution costs the miner in requests (after any one-time token fetch) ...
        before = watch.controls()
        await rig.command(stopper, {"mining": False, "transaction": "tx-2"})
        single = watch.controls() - before
        assert single
        await rig.command(stopper, "ON", field_name="mining")
        # ... and a duplicate arriving while the first is still running (QoS 1 redelivery)
        before = watch.controls()
        mark = rig.mqtt.mark()
        payload = json.dumps({"mining": False, "transaction": "tx-3"})
        await asyncio.gather(
            rig.mqtt.publish(rig.t(stopper, "set"), payload),
            rig.mqtt.publish(rig.t(stopper, "set"), payload),
        )

        def replies() -> list[dict[str, Any]]:
            return [r.json() for r in rig.mqtt.on(rig.t(stopper, "response"), mark)]

        await rig.mqtt.wait_for(lambda _: len(replies()) == 2, within=8, since=mark)
        await asyncio.sleep(0.3)  # (a third reply would be a bug too)
        got = replies()
        assert len(got) == 2 and all(r["transaction"] == "tx-3" for r in got), got
        assert [r.get("duplicate", False) for r in got].count(True) == 1, got
        assert all(r["status"] == "ok" for r in got), got
        assert watch.controls() - before == single, "the duplicate was executed as well"
        assert not sim.state.hashing
        await rig.command(stopper, {"mining": True})

        # fault light (switch and identify button)
        lit = rig.with_capability("fault_light")
        if lit is not None:
            light_sim = rig.sims[lit]
            mark = rig.mqtt.mark()
            response = await rig.command(lit, "ON", field_name="fault_light")
            assert response["status"] == "ok", response
            assert light_sim.state.fault_light is True
            await rig.state(lit, lambda s: s.get("fault_light") is True, since=mark)
            response = await rig.command(lit, {"fault_light": False, "transaction": 5})
            assert (response["status"], response["transaction"]) == ("ok", 5)
            assert light_sim.state.fault_light is False
            response = await rig.command(lit, "identify", field_name="action")
            assert response["status"] == "ok" and light_sim.state.fault_light is True
            await rig.command(lit, "OFF", field_name="fault_light")

        # get: a poll right now
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(rig.t(stopper, "get"), "")
        response_msg = await rig.mqtt.wait_topic(rig.t(stopper, "response"), since=mark)
        assert response_msg.json()["status"] == "ok"
        await rig.mqtt.wait_topic(rig.t(stopper), since=response_msg.index, within=3)

        # unknown miner
        response = await rig.command("nosuchminer", {"mining": False, "transaction": "u"})
        assert response["status"] == "error" and "unknown miner" in response["error"]


async def test_power_limit_command(broker: Broker, tmp_path: Path) -> None:
    async with bridge_rig(broker, tmp_path, FAMILY_KINDS) as rig:
        limited = rig.with_capability("power_limit")
        assert limited is not None, "the fleet has a kind that supports a power limit"
        sim = rig.sims[limited]
        record = rig.bridge.slots[limited].record
        assert record.power_min is not None and record.power_max is not None
        # a value both the driver's range and the hardware accept
        hw_low, hw_high = sim.state.hardware.power_range
        low, high = max(record.power_min, hw_low), min(record.power_max, hw_high)
        target = int((low + high) / 2)
        mark = rig.mqtt.mark()
        response = await rig.command(limited, str(target), field_name="power_limit")
        assert response["status"] == "ok" and response["command"] == "power_limit", response
        assert sim.state.power_limit == target
        await rig.state(limited, lambda s: s.get("power_limit") == target, since=mark)
        response = await rig.command(limited, {"power_limit": low, "transaction": "pl"})
        assert (response["status"], response["transaction"]) == ("ok", "pl")
        assert sim.state.power_limit == low
        # out of range: refused, the limit stays
        response = await rig.command(limited, {"power_limit": record.power_max + 1})
        assert response["status"] == "error" and "outside" in response["error"]
        assert sim.state.power_limit == low


async def test_discovery_waits_for_the_first_poll(broker: Broker, tmp_path: Path) -> None:
    """A new miner is announced with what its first poll read, not with every sensor its
    model could have (then cleared): HA would show, then delete, an energy sensor for a
    miner without power readings and board sensors it does not report."""
    async with bridge_rig(broker, tmp_path, FAMILY_KINDS) as rig:
        await asyncio.sleep(0.3)
        for miner_id in rig.sims:
            configs = [
                m
                for m in rig.mqtt.messages
                if m.topic.startswith(f"{HA}/") and f"/{miner_id}/" in m.topic
            ]
            assert configs, miner_id
            assert [m.topic for m in configs if not m.payload] == [], "announced, then cleared"
            first_state = rig.mqtt.on(rig.t(miner_id))[0]
            reported = set(first_state.json())
            for message in configs:
                key = message.json().get("value_template", "").partition("value_json.")[2]
                key = key.split()[0].split(".")[0].strip("}") if key else ""
                if message.topic.split("/")[1] == "sensor" and key:
                    assert key in reported, f"{message.topic} announced, {key} never read"


async def test_refused_write_republishes_the_real_state(broker: Broker, tmp_path: Path) -> None:
    """A UI that showed a refused write (an HA entity, a dashboard) gets the real state back at
    once after the error response, not at the next poll (30 s away here)."""
    async with bridge_rig(broker, tmp_path, [SOLO], miners={"poll_interval": 30}) as rig:
        (miner_id,) = rig.sims
        await asyncio.sleep(0.3)  # the start-up burst is over
        mark = rig.mqtt.mark()
        response = await rig.command(miner_id, "maybe", field_name="fault_light")
        assert response["status"] == "error", response
        state = await rig.mqtt.wait_topic(rig.t(miner_id), since=mark, within=5)
        answered = rig.mqtt.on(rig.t(miner_id, "response"), mark)[0]
        assert rig.mqtt.messages.index(state) > rig.mqtt.messages.index(answered)
        assert state.json()["ip"] == rig.sims[miner_id].address


async def test_mode_command(broker: Broker, tmp_path: Path) -> None:
    async with bridge_rig(broker, tmp_path, FAMILY_KINDS) as rig:
        moded = next((i for i in rig.sims if rig.bridge.slots[i].record.modes), None)
        assert moded is not None, "the fleet has a kind that offers mining modes"
        sim = rig.sims[moded]
        modes = rig.bridge.slots[moded].record.modes
        select = rig.mqtt.last(f"{HA}/select/{moded}/mode/config")
        assert select is not None and select.json()["options"] == modes
        mode = "low" if "low" in modes else modes[0]
        mark = rig.mqtt.mark()
        response = await rig.command(moded, {"mode": mode, "transaction": "m1"})
        assert response["status"] == "ok", response
        assert sim.state.work_mode == mode
        await rig.state(moded, lambda s: s.get("mode") == mode, since=mark)
        mark = rig.mqtt.mark()
        response = await rig.command(moded, "normal", field_name="mode")
        assert response["status"] == "ok", response
        assert sim.state.work_mode == "normal"
        await rig.state(moded, lambda s: s.get("mode") == "normal", since=mark)


async def test_unknown_outcome_is_reported_and_not_retried(broker: Broker, tmp_path: Path) -> None:
    async with bridge_rig(broker, tmp_path, [SOLO]) as rig:
        (miner_id,) = rig.sims
        assert "fault_light" in rig.caps(miner_id), f"{SOLO} has a fault light"
        await warm_up(rig, [miner_id], polls=1)
        sim, watch = rig.sims[miner_id], rig.watches[miner_id]
        await sim.set_mode("hang")  # reads the request, acts on nothing, never answers
        response = await rig.command(miner_id, {"fault_light": True, "transaction": "h1"})
        assert response["status"] == "unknown", response
        assert response["transaction"] == "h1" and "unknown" in response["error"]
        assert sim.state.fault_light is False
        sent = watch.controls()
        assert sum(sent.values()) == 1, sent  # the write reached the miner once
        await asyncio.sleep(1.5)
        assert watch.controls() == sent  # and was not retried
        await sim.set_mode("normal")
        response = await rig.command(miner_id, {"fault_light": True})
        assert response["status"] == "ok" and sim.state.fault_light is True


async def test_bad_commands_get_errors_and_make_no_control_call(
    broker: Broker, tmp_path: Path
) -> None:
    async with bridge_rig(broker, tmp_path, FAMILY_KINDS) as rig:
        target = rig.with_capability("stop_mining") or next(iter(rig.sims))
        await warm_up(rig, list(rig.sims))
        sim = rig.sims[target]
        record = rig.bridge.slots[target].record
        too_high = (record.power_max or 10_000) + 1000
        bad: list[tuple[str | None, bytes, str]] = [
            (None, b"not json", "not valid JSON"),
            (None, b"", "not valid JSON"),
            (None, b"[1, 2]", "JSON object"),
            (None, b'"mining"', "JSON object"),
            (None, b"{}", "nothing to set"),
            (None, b'{"colour": "red"}', "unknown field"),
            (None, b'{"mining": false, "colour": "red"}', "unknown field"),  # half-valid
            (None, b'{"mining": "maybe", "transaction": "bad-7"}', "true/false"),
            (None, b'{"power_limit": 1e999}', ""),
            (None, b'{"power_limit": NaN}', ""),
            (None, f'{{"power_limit": {too_high}}}'.encode(), ""),
            (None, b'{"mode": "turbo"}', ""),
            (None, b'{"action": "selfdestruct"}', "action must be one of"),
            (None, b"[" * 2000 + b"]" * 2000, "not valid JSON"),
            (None, b'{"mining": "' + b"x" * 5000 + b'"}', "too large"),
            (None, b'{"mining": "\xff\xfe"}', "not UTF-8"),
            ("mining", b"perhaps", "true/false"),
            ("mining", b'{"on": true}', "one plain value"),
            ("power_limit", b"lots", ""),
            ("power_limit", b"inf", ""),
            ("power_limit", b"-1", ""),
            ("volume", b"11", "unknown field"),
            ("fault_light", b"\xc3\x28", "not UTF-8"),
        ]
        state_before = (
            sim.state.hashing,
            sim.state.fault_light,
            sim.state.power_limit,
            sim.state.work_mode,
        )
        controls_before = rig.watches[target].controls()
        for field_name, payload, reason in bad:
            response = await rig.command(target, payload, field_name=field_name)
            assert response["status"] == "error", (payload[:60], response)
            assert reason in response["error"], (payload[:60], response)
            assert response["transaction"] == ("bad-7" if b"bad-7" in payload else None)
        # an unsupported control is refused before any call
        unsupported = rig.without_capability("stop_mining")
        if unsupported is not None:
            before = counts(rig.sims[unsupported])
            response = await rig.command(unsupported, {"mining": False, "transaction": "u1"})
            assert response["status"] == "error" and "not supported" in response["error"]
            assert response["transaction"] == "u1"
            assert rig.sims[unsupported].state.hashing
            after = counts(rig.sims[unsupported])
            # only polling traffic, if anything
            assert set(after - before) <= set(before)
        # fleet and bridge requests with bad payloads also get answers
        fleet_bad = [b"x", b"[]", b'{"target_w": -1}', b'{"target_w": 1e999}', b'{"target_w": NaN}']
        fleet_bad += [b'{"target_w": "all"}', b"[" * 2000]
        fleet_mark = rig.mqtt.mark()
        for payload in fleet_bad:
            await rig.mqtt.publish(rig.t("fleet", "all", "set"), payload)
        await rig.mqtt.publish(rig.t("fleet", "nogroup", "set"), b'{"target_w": 1}')
        await rig.mqtt.wait_for(
            lambda m: (
                len(rig.mqtt.on(rig.t("fleet", "all", "response"), fleet_mark)) >= len(fleet_bad)
                and rig.mqtt.on(rig.t("fleet", "nogroup", "response"), fleet_mark)
            ),
            within=10,
            since=fleet_mark,
            what="fleet error responses",
        )
        fleet_responses = [
            m.json() for m in rig.mqtt.on(rig.t("fleet", "all", "response"), fleet_mark)
        ]
        assert all(r["status"] == "error" for r in fleet_responses), fleet_responses
        # no plan was made: the group's state (published each poll interval) stays untargeted
        states = [m.json() for m in rig.mqtt.on(rig.t("fleet", "all"), fleet_mark)]
        assert all((s["mode"], s["target_w"], s["remembered"]) == ("off", None, []) for s in states)
        for op, payload in (("poll", b"[" * 2000), ("poll", b"{bad"), ("poll", b"[1]")):
            response = await rig.request(op, payload)
            assert response["status"] == "error", response

        # the miners saw no control request at all, and nothing changed
        assert rig.watches[target].controls() == controls_before
        for miner_id, watch in rig.watches.items():
            assert not watch.controls(), (miner_id, watch.controls())
        assert state_before == (
            sim.state.hashing,
            sim.state.fault_light,
            sim.state.power_limit,
            sim.state.work_mode,
        )
        # and the bridge still works
        if "fault_light" in rig.caps(target):
            response = await rig.command(target, {"fault_light": True})
            assert response["status"] == "ok" and sim.state.fault_light


async def test_bridge_requests_and_fleet_target(broker: Broker, tmp_path: Path) -> None:
    async with bridge_rig(broker, tmp_path, FAMILY_KINDS) as rig:
        ids = set(rig.sims)
        response = await rig.request("poll", {"transaction": "p1"})
        assert (response["status"], response["transaction"]) == ("ok", "p1")
        assert response["data"] == dict.fromkeys(ids, True)
        one = next(iter(ids))
        response = await rig.request("poll", {"id": one})
        assert response["data"] == {one: True}
        response = await rig.request("poll", {"id": "ghost"})
        assert response["status"] == "error" and "ghost" in response["error"]
        response = await rig.request("scan", "")
        assert response["status"] == "ok" and response["data"]["found"] == len(ids)
        assert set(rig.bridge.slots) == ids  # a rescan adds no duplicates
        response = await rig.request("devices", "{}")
        assert {d["id"] for d in response["data"]} == ids
        response = await rig.request("selfdestruct", {"transaction": 9})
        assert response["status"] == "error" and response["transaction"] == 9

        # a fleet target of 1 W: every miner that can stop sleeps; the others run
        stoppable = {i for i in ids if "stop_mining" in rig.caps(i)}
        assert stoppable, "the simulated fleet has kinds that can stop mining"
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(rig.t("fleet", "all", "set"), {"target_w": 1, "transaction": "f1"})
        reply = await rig.mqtt.wait_topic(rig.t("fleet", "all", "response"), since=mark, within=15)
        body = reply.json()
        # every write was applied, but 1 W cannot be met: partial, with the reason
        assert body["status"] == "partial" and body["transaction"] == "f1", body
        assert "the lowest this group can draw is" in body["error"], body
        miners = body["data"]["miners"]
        assert set(miners) == ids
        for miner_id in ids:
            assert miners[miner_id]["planned"]["mining"] is (miner_id not in stoppable)
            assert rig.sims[miner_id].state.hashing is (miner_id not in stoppable)
        # honest: sleeping miners still draw something, so 1 W cannot be met
        assert body["data"]["status"] == "cannot_meet" and body["data"]["reason"], body
        changed = set(body["data"]["remembered"])  # the miners written to
        assert stoppable <= changed
        fleet_state = await rig.mqtt.wait_topic(rig.t("fleet", "all"), since=mark)
        assert fleet_state.json()["target_w"] == 1

        # a new target right away is held: each miner waits min_change_interval (60 s)
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(rig.t("fleet", "all", "set"), {"target_w": 1_000_000})
        reply = await rig.mqtt.wait_topic(rig.t("fleet", "all", "response"), since=mark, within=15)
        body = reply.json()
        assert body["status"] == "ok", body  # a cap the sleeping fleet is under: met
        assert sorted(body["data"]["held"]) == sorted(changed)
        assert not any(rig.sims[i].state.hashing for i in stoppable)  # nothing was changed

        # an emergency target is applied at once: everyone mines again, at their maximum
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(
            rig.t("fleet", "all", "set"), {"target_w": 1_000_000, "emergency": True}
        )
        reply = await rig.mqtt.wait_topic(rig.t("fleet", "all", "response"), since=mark, within=15)
        body = reply.json()
        assert body["status"] == "ok", body
        assert body["data"]["held"] == {}
        for miner_id in ids:
            planned = body["data"]["miners"][miner_id]["planned"]
            assert planned["mining"] is True
            assert rig.sims[miner_id].state.hashing
            if body["data"]["miners"][miner_id]["range"] is not None and "power_limit" in rig.caps(
                miner_id
            ):
                assert planned["power_limit"] == rig.bridge.slots[miner_id].record.power_max
        async with collector(broker, (rig.t("fleet", "#"),), identifier="fleet-late") as late:
            retained = await late.wait_topic(rig.t("fleet", "all"), lambda m: m.retain)
            assert retained.json()["target_w"] == 1_000_000


async def test_home_assistant_birth_triggers_reannounce(broker: Broker, tmp_path: Path) -> None:
    async with bridge_rig(broker, tmp_path, [SOLO]) as rig:
        (miner_id,) = rig.sims
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(f"{HA}/status", "online")
        config = await rig.mqtt.wait_topic(
            f"{HA}/sensor/{miner_id}/hashrate/config", since=mark, within=6
        )
        assert config.json()["unique_id"] == f"asic_bridge_{miner_id}_hashrate"
        # availability and state again too; retained, so not necessarily after the configs
        # (they are queued behind the states since features/discovery.py's queue): HA reads
        # a discovered entity's retained state when it subscribes to it
        avail = await rig.mqtt.wait_topic(rig.t(miner_id, "availability"), since=mark, within=3)
        assert avail.text == "online"
        await rig.mqtt.wait_topic(rig.t("bridge", "state"), since=mark, within=3)


async def test_miner_offline_then_back_then_moves(broker: Broker, tmp_path: Path) -> None:
    addr = address_block()
    async with bridge_rig(
        broker, tmp_path, [SOLO], addr=addr, miners={"scan": [f"{addr(1)[:-2]}.1-2"]}
    ) as rig:
        ((miner_id, sim),) = rig.sims.items()
        availability = rig.t(miner_id, "availability")

        # the miner stops answering: offline, and no state at all (certainly no zeros)
        mark = rig.mqtt.mark()
        await sim.set_mode("offline")
        await rig.mqtt.wait_topic(availability, lambda m: m.text == "offline", since=mark, within=8)
        event = await rig.mqtt.wait_topic(
            rig.t("bridge", "event"), lambda m: m.json()["type"] == "miner_lost", since=mark
        )
        assert event.json()["data"]["id"] == miner_id
        quiet = rig.mqtt.mark()
        await asyncio.sleep(2.2)  # two more poll intervals
        assert not rig.mqtt.on(rig.t(miner_id), quiet), "state published for an offline miner"
        for message in rig.mqtt.on(rig.t(miner_id), mark):  # anything in flight at the switch
            assert _has_numbers(message.json())

        # it comes back
        mark = rig.mqtt.mark()
        await sim.set_mode("normal")
        await rig.mqtt.wait_topic(availability, lambda m: m.text == "online", since=mark, within=8)
        await rig.state(miner_id, _has_numbers, since=mark)
        await rig.mqtt.wait_topic(
            rig.t("bridge", "event"), lambda m: m.json()["type"] == "miner_online", since=mark
        )

        # new DHCP lease: the miner drops off, reappears elsewhere; a scan follows it, same id
        mark = rig.mqtt.mark()
        await sim.move_to(addr(2))
        await rig.mqtt.wait_topic(availability, lambda m: m.text == "offline", since=mark, within=8)
        response = await rig.request("scan")
        assert response["status"] == "ok" and response["data"]["found"] == 1
        event = await rig.mqtt.wait_topic(
            rig.t("bridge", "event"), lambda m: m.json()["type"] == "ip_changed", since=mark
        )
        assert event.json()["data"] == {"id": miner_id, "old_ip": addr(1), "new_ip": addr(2)}
        await rig.state(miner_id, lambda s: s.get("ip") == addr(2) and _has_numbers(s), mark)
        await rig.mqtt.wait_topic(availability, lambda m: m.text == "online", since=mark)
        devices = rig.mqtt.last(rig.t("bridge", "devices"))
        assert devices is not None
        assert [(d["id"], d["ip"]) for d in devices.json()] == [(miner_id, addr(2))]
        assert list(rig.bridge.slots) == [miner_id]
        for message in rig.mqtt.on(rig.t("bridge", "event"), mark):
            assert message.json()["type"] != "miner_found"
        config = rig.mqtt.last(f"{HA}/sensor/{miner_id}/hashrate/config")
        assert config is not None and config.payload  # the same entities, not re-created


async def test_dropped_connection_sends_will_then_reconnects(
    broker: Broker, tmp_path: Path
) -> None:
    # per-field topics: dozens of publishes per poll, so the drop surely catches some in flight
    async with bridge_rig(broker, tmp_path, [SOLO], mqtt={"per_field_topics": True}) as rig:
        (miner_id,) = rig.sims
        await rig.mqtt.wait_topic(rig.t(miner_id, "hashrate"))
        mark = rig.mqtt.mark()
        assert rig.bridge.mqtt.client is not None
        drop_connection(rig.bridge.mqtt.client)
        will = await rig.mqtt.wait_topic(
            rig.t("bridge", "state"), lambda m: m.text == "offline", since=mark, within=5
        )
        back = await rig.mqtt.wait_topic(
            rig.t("bridge", "state"), lambda m: m.text == "online", since=will.index, within=10
        )
        # re-announced and republished after the reconnect
        await rig.mqtt.wait_topic(f"{HA}/sensor/{miner_id}/hashrate/config", since=back.index)
        await rig.state(miner_id, _has_numbers, since=back.index)
        # and commands work again at once (nothing stuck on a publish of the dead connection)
        if "fault_light" in rig.caps(miner_id):
            response = await rig.command(miner_id, {"fault_light": True}, within=3)
            assert response["status"] == "ok"
        response = await rig.request("poll", within=3)
        assert response["data"] == {miner_id: True}
        async with collector(broker, (rig.t("bridge", "state"),), identifier="check") as late:
            state = await late.wait_topic(rig.t("bridge", "state"))
            assert (state.text, state.retain) == ("online", True)


async def test_broker_restart(killable_broker: Broker, tmp_path: Path) -> None:
    broker = killable_broker
    async with contextlib.AsyncExitStack() as stack:
        rig = await stack.enter_async_context(bridge_rig(broker, tmp_path, [SOLO]))
        (miner_id,) = rig.sims
        await warm_up(rig, [miner_id], polls=1)
        watch = rig.watches[miner_id]
        light = "fault_light" in rig.caps(miner_id)
        if light:
            response = await rig.command(miner_id, {"fault_light": True, "transaction": "r1"})
            assert response["status"] == "ok"
        controls = watch.controls()

        await broker.kill()  # SIGKILL: no clean goodbye to anyone
        await asyncio.sleep(0.5)
        await broker.start()  # same port, empty (no persistence)

        async with collector(broker, (f"{BASE}/#", f"{HA}/#"), identifier="after") as after:
            state = await after.wait_topic(
                rig.t("bridge", "state"), lambda m: m.text == "online", within=15
            )
            await after.wait_topic(f"{HA}/sensor/{miner_id}/hashrate/config", within=5)
            await after.wait_topic(rig.t(miner_id, "availability"), lambda m: m.text == "online")
            values = (await after.wait_topic(rig.t(miner_id), within=5)).json()
            assert _has_numbers(values)
            assert state.text == "online"
            # nothing was acted on twice: no control request since the one command
            await asyncio.sleep(0.5)
            assert watch.controls() == controls
            if light:
                assert rig.sims[miner_id].state.fault_light is True
                mark = after.mark()
                await after.publish(rig.t(miner_id, "set"), {"fault_light": False})
                reply = await after.wait_topic(rig.t(miner_id, "response"), since=mark)
                assert reply.json()["status"] == "ok"
                assert rig.sims[miner_id].state.fault_light is False


async def test_restart_keeps_registry_energy_and_ignores_retained_commands(
    broker: Broker, tmp_path: Path
) -> None:
    addr = address_block()
    state_dir = tmp_path / "state"
    kinds = [HEAVY, *(k for k in FAMILY_KINDS if k != HEAVY)]  # HEAVY is 127.14.X.1
    # the published energy is the saved one: save every second so it moves within seconds
    async with bridge_rig(
        broker, tmp_path, kinds, addr=addr, state_dir=state_dir, state_save_interval=1
    ) as rig:
        heavy = next(i for i, sim in rig.sims.items() if sim.address == addr(1))
        ids = set(rig.sims)
        first = await rig.state(heavy, lambda s: s["energy"] > 0, since=0, within=8)
        energy = first["energy"]
        mac = rig.bridge.slots[heavy].record.mac
        await warm_up(rig, list(ids), polls=1)
        # sensors for values a miner never reports are withdrawn after its first poll
        withdrawn = {m.topic for m in rig.mqtt.messages if m.topic.startswith(HA) and not m.payload}

    registry = Registry(state_dir)
    registry.load()
    assert set(registry.devices) == ids
    record = registry.devices[heavy]
    assert (record.ip, record.mac) == (addr(1), mac)
    assert record.energy_kwh >= energy - 0.00005 > 0  # (published values are rounded)
    assert record.discovery_topics

    # a retained command left on the broker while the bridge is away
    async with collector(broker, (), identifier="stale") as client:
        await client.publish(
            f"{BASE}/{heavy}/set", {"mining": False, "transaction": "stale"}, retain=True
        )

    async with bridge_rig(broker, tmp_path, kinds, addr=addr, state_dir=state_dir) as rig:
        assert set(rig.sims) == ids  # the same ids, from the registry
        sim = rig.sims[heavy]
        values = await rig.state(heavy, _has_numbers, since=0)
        assert values["energy"] >= energy  # continues, never restarts from 0
        await warm_up(rig, list(ids), polls=1)
        assert sim.state.hashing, "a retained command was executed"
        responses = [m.json() for m in rig.mqtt.on(rig.t(heavy, "response"))]
        # never run; amqtt also queues a plain copy in the bridge's persistent session,
        # which is delivered at start-up and answered "expired" (not run either)
        assert not [
            r for r in responses if r["transaction"] == "stale" and r["status"] != "expired"
        ]
        # the retained command really was delivered to the bridge's subscription
        assert any(m.retain for m in rig.mqtt.on(rig.t(heavy, "set")))
        await rig.mqtt.publish(rig.t(heavy, "set"), b"", retain=True)  # clean up
        # a restart does not make Home Assistant re-create and delete those sensors again
        flicker = {m.topic for m in rig.mqtt.messages if m.topic in withdrawn and m.payload}
        assert not flicker, sorted(flicker)


async def test_protocol_auto_falls_back_to_mqtt_311(tmp_path: Path) -> None:
    """``protocol: auto`` on a 3.1.1-only broker that never answers an MQTT 5 CONNECT (amqtt):
    the bridge must still connect (after the MQTT 5 attempt times out)."""
    amqtt_broker = AmqttBroker(free_port())
    await amqtt_broker.start()
    try:
        async with bridge_rig(
            amqtt_broker, tmp_path, [SOLO], mqtt={"protocol": "auto"}, ready_within=30
        ) as rig:
            info = rig.mqtt.last(rig.t("bridge", "info"))
            assert info is not None and info.json()["mqtt_protocol"] == "3.1.1"
            (miner_id,) = rig.sims
            response = await rig.request("poll", {"id": miner_id})
            assert response["data"] == {miner_id: True}
    finally:
        await amqtt_broker.stop()


async def test_mqtt5_response_topic_and_correlation(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    async with bridge_rig(mosquitto, tmp_path, [SOLO], v5=True) as rig:
        (miner_id,) = rig.sims
        info = rig.mqtt.last(rig.t("bridge", "info"))
        assert info is not None and info.json()["mqtt_protocol"] == "5"

        def props(topic: str, correlation: bytes) -> Properties:
            p = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            p.ResponseTopic = topic
            p.CorrelationData = correlation
            return p

        mark = rig.mqtt.mark()
        command = {"fault_light": True} if "fault_light" in rig.caps(miner_id) else {"x": 1}
        await rig.mqtt.publish(
            rig.t(miner_id, "set"), command, properties=props("replies/cmd", b"\x00corr-1")
        )
        reply = await rig.mqtt.wait_topic("replies/cmd", since=mark)
        assert reply.properties.CorrelationData == b"\x00corr-1"
        assert reply.json()["status"] == ("ok" if "fault_light" in command else "error")

        await rig.mqtt.publish(
            rig.t("bridge", "request", "poll"), "{}", properties=props("replies/poll", b"c2")
        )
        reply = await rig.mqtt.wait_topic("replies/poll", since=mark)
        assert reply.properties.CorrelationData == b"c2"
        assert reply.json()["data"] == {miner_id: True}
        # the replies went only where they were asked to go
        assert not rig.mqtt.on(rig.t(miner_id, "response"), mark)
        assert not rig.mqtt.on(rig.t("bridge", "response", "poll"), mark)


async def test_embedded_broker(tmp_path: Path) -> None:
    """``mqtt.url: embedded``: the bridge runs its own broker (mosquitto where installed;
    both modes: tests/test_embedded_broker.py)."""
    port = free_port()
    addr = address_block()
    config = parse_config(
        {
            "mqtt": {"url": "embedded", "embedded": {"bind": "127.0.0.1", "port": port}},
            "miners": {"poll_interval": 1, "scan_interval": 0},
            "simulator": {"miners": [f"{SOLO}@{addr(1)}"]},
            "state_dir": str(tmp_path / "state"),
        }
    )
    bridge = Bridge(config)
    await bridge.start()
    stopped = False
    try:
        async with collector(Broker(port)) as mqtt:
            online = await mqtt.wait_topic(f"{BASE}/bridge/state", within=10)
            assert online.text == "online"
            await asyncio.wait_for(bridge.ready.wait(), 10)
            (miner_id,) = bridge.slots
            state = await mqtt.wait_topic(f"{BASE}/{miner_id}", lambda m: _has_numbers(m.json()))
            assert state.json()["ip"] == addr(1)
            mark = mqtt.mark()
            bridge.stop()
            stopped = True
            await asyncio.wait_for(bridge.shutdown(), 20)
            await mqtt.wait_topic(f"{BASE}/bridge/state", lambda m: m.text == "offline", since=mark)
    finally:
        if not stopped:
            bridge.stop()
            await asyncio.wait_for(bridge.shutdown(), 20)


async def test_qos0_publishes_of_a_turn_go_straight_to_the_socket_in_order(
    broker: Broker, tmp_path: Path
) -> None:
    """A turn's QoS 0 publishes leave in one send at its end, past paho's queue; a packet
    paho queues in the same turn (a QoS 1 retained clear of the same topic) still goes
    after them, so the broker keeps the later of the two."""
    from asic_bridge.bridge.events import EventBus
    from asic_bridge.bridge.mqtt import MqttSession
    from asic_bridge.bridge.topics import Topics

    mqtt_config = {"url": broker.url, "protocol": "3.1.1"}  # amqtt's; the framing is tested above
    config = parse_config({"mqtt": mqtt_config, "state_dir": str(tmp_path)})
    session = MqttSession(config, Topics(BASE), EventBus())
    stop = asyncio.Event()
    running = asyncio.create_task(session.run(stop))
    try:
        await asyncio.wait_for(session.connected.wait(), 10)
        writer, client = session._qos0, session.client
        assert writer is not None and client is not None
        paho = client._client
        async with collector(broker, ("d/#",)) as mqtt:
            await session.publish("d/a", "1", retain=True, qos=0)
            await session.publish("d/b", "2", retain=True, qos=0)
            assert writer.kept is not None and not paho._out_packet  # kept, not queued
            await asyncio.sleep(0)
            assert writer.kept is None and not paho._out_packet  # sent at the turn's end
            await session.publish("d/a", "old", retain=True, qos=0)
            paho.publish("d/a", "", qos=1, retain=True)  # paho's own packet, same turn
            await mqtt.wait_topic("d/a", lambda m: m.payload == b"", within=10)
            got = [(m.topic, m.payload) for m in mqtt.messages]
        assert got == [("d/a", b"1"), ("d/b", b"2"), ("d/a", b"old"), ("d/a", b"")]
        async with collector(broker, ("d/#",)) as later:  # what the broker kept
            await later.wait_topic("d/b", within=10)
            await asyncio.sleep(0.3)
            kept = {m.topic: m.payload for m in later.messages}
        assert kept == {"d/b": b"2"}  # d/a was cleared after its QoS 0 "old"
    finally:
        stop.set()
        await session.close()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_qos0_publishes_arrive_whole_in_order_and_retained(
    broker: Broker, tmp_path: Path, protocol: str
) -> None:
    """The QoS 0 path past aiomqtt (every poll's state): framed by us, coalesced into one
    write, between QoS 1 publishes, payloads of every length class of MQTT's size field."""
    from asic_bridge.bridge.events import EventBus
    from asic_bridge.bridge.mqtt import MqttSession
    from asic_bridge.bridge.topics import Topics

    if protocol == "5" and isinstance(broker, AmqttBroker):
        pytest.skip("amqtt speaks MQTT 3.1.1 only")
    mqtt_config = {"url": broker.url, "protocol": protocol}
    config = parse_config({"mqtt": mqtt_config, "state_dir": str(tmp_path)})
    session = MqttSession(config, Topics(BASE), EventBus())
    stop = asyncio.Event()
    running = asyncio.create_task(session.run(stop))
    sizes = [0, 1, 100, 200, 20_000, 70_000, 2_100_000]
    try:
        await asyncio.wait_for(session.connected.wait(), 10)
        assert session._qos0 is not None  # the fast path is the one under test
        async with collector(broker, ("q/#",)) as mqtt:
            for round_ in range(2):
                for n, size in enumerate(sizes):
                    body = bytes([65 + n]) * size
                    await session.publish(f"q/{round_}/{n}", body, retain=n % 2 == 0, qos=0)
                await session.publish(f"q/{round_}/ack", {"round": round_}, qos=1)
                await session.publish(f"q/{round_}/text", "plain", qos=0)
                await session.publish(f"q/{round_}/number", 42.5, qos=0)
            await mqtt.wait_topic("q/1/number", within=10)
            got = [(m.topic, m.payload, m.retain) for m in mqtt.messages]
        expected = []
        for round_ in range(2):
            expected += [
                (f"q/{round_}/{n}", bytes([65 + n]) * s, False) for n, s in enumerate(sizes)
            ]
            expected += [(f"q/{round_}/ack", b'{"round":' + str(round_).encode() + b"}", False)]
            expected += [
                (f"q/{round_}/text", b"plain", False),
                (f"q/{round_}/number", b"42.5", False),
            ]
        assert got == expected  # live messages carry no retain flag to a subscriber
        async with collector(broker, ("q/1/+",)) as later:  # what the broker kept
            await later.wait_topic("q/1/6", within=10)
            await asyncio.sleep(0.3)
            kept = {m.topic: (len(m.payload), m.retain) for m in later.messages}
        # retained (even n) with a payload; q/1/0 was an empty retained one: nothing kept
        assert kept == {"q/1/2": (100, True), "q/1/4": (20_000, True), "q/1/6": (2_100_000, True)}
        with pytest.raises(ValueError):
            await session.publish("q/+/bad", "x", qos=0)
    finally:
        stop.set()
        await session.close()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

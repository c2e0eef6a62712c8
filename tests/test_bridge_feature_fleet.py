"""The fleet feature on a real simulated miner: a target is held (a miner resumed behind the
bridge's back is put back to sleep once it may change), a recent change is held unless it is
an emergency, release restores, bad requests and readings change nothing, the state is
retained and republished with the group's HA entities, and the settings survive a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from bridge_fakes import RecordingPublisher, adopted_sim, device, request

from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import Announce, EventBus, PollSucceeded
from asic_bridge.bridge.features.commands import Commands
from asic_bridge.bridge.features.fleet import COALESCE_S, MAX_CYCLE_GAP_S, Fleet, cycle_delay
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.topics import Topics
from asic_bridge.data.miner_data import MinerData

T = Topics("base")
HOLD = 3600.0


class Clock:
    now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


def fleet_of(
    adoption: Adoption, bus: EventBus, tmp_path: Path
) -> tuple[Fleet, RecordingPublisher, Clock, Pollers]:
    """The feature with one group of every miner, a recording publisher and a fake clock."""
    config = parse_config(
        {
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
            "fleet": {"groups": {"all": {"min_change_interval": HOLD}}},
            "state_dir": str(tmp_path),
        }
    )
    pub, clock = RecordingPublisher(), Clock()
    pollers = Pollers(bus, adoption.connect, 60, 3, 4)
    commands = Commands(bus, pub, T, adoption, pollers, 300)
    return Fleet(bus, pub, T, config, adoption, commands, clock), pub, clock, pollers


async def test_target_held_emergency_release_and_refusals(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        fleet, pub, clock, pollers = fleet_of(adoption, bus, tmp_path)
        poller = pollers.get(device)
        assert await poller.poll()  # PollSucceeded: the miner joins the group, observed
        assert sim.state.hashing
        assert fleet.controllers["all"].members[device.id].online

        await fleet._request(request("fleet_set", b'{"target_w": 20, "transaction": "f"}', "all"))
        answer = pub.last("base/fleet/all/response").json()
        assert answer["status"] == "ok" and answer["transaction"] == "f", answer
        assert answer["data"]["miners"][device.id]["planned"]["mining"] is False
        assert answer["data"]["remembered"] == [device.id]
        assert not sim.state.hashing
        assert pub.last("base/fleet/all").retain
        assert pub.last("base/fleet/all").json()["target_w"] == 20

        # resumed on the miner itself: seen at the next poll, held until it may change ...
        sim.state.set_mining(True)
        clock.now += 10
        assert await poller.poll()
        state = (await fleet.cycle("all")).state
        assert sim.state.hashing and state["status"] == "converging", state
        assert state["held"] == {device.id: clock.now - 10 + HOLD}
        # ... a command says so (pending, not ok) unless it is an emergency
        await fleet._request(request("fleet_set", b'{"target_w": 20}', "all"))
        answer = pub.last("base/fleet/all/response").json()
        assert answer["status"] == "pending" and device.id in answer["data"]["held"], answer
        assert sim.state.hashing
        await fleet._request(request("fleet_set", b'{"emergency": true}', "all"))
        assert pub.last("base/fleet/all/response").json()["status"] == "ok"
        assert not sim.state.hashing
        # resumed again: put back to sleep once it may change; the target is held
        sim.state.set_mining(True)
        clock.now += 10
        assert await poller.poll()
        assert (await fleet.cycle("all")).state["held"]
        assert sim.state.hashing
        clock.now += HOLD
        state = (await fleet.cycle("all")).state
        assert not sim.state.hashing and state["status"] in ("holding", "converging"), state

        before = fleet.controllers["all"].config
        for payload, error in [
            (b'{"target_w": -5}', "target_w"),
            (b'{"target_w": "lots"}', "target_w"),
            (b"not json", "JSON"),
            (b'{"target_w": 5, "emergency": "yes"}', "emergency"),
            (b'{"mode": "price"}', "price"),  # a mode without its input
        ]:
            await fleet._request(request("fleet_set", payload, "all"))
            refused = pub.last("base/fleet/all/response").json()
            assert refused["status"] == "error" and error in refused["error"], refused
            assert fleet.controllers["all"].config == before  # nothing changed
        await fleet._request(request("fleet_set", b'{"target_w": 5}', "nowhere"))
        assert "nowhere" in pub.last("base/fleet/nowhere/response").json()["error"]

        # readings: a plain number is taken, anything else ignored
        await fleet._reading(request("fleet_reading", b"0.31", "all", "price"))
        await fleet._reading(request("fleet_reading", b"cheap", "all", "price"))
        price = fleet.controllers["all"].price
        assert price is not None and price.value == 0.31

        # release: back to the miner's own setting (it was mining), nothing left remembered
        await fleet._request(request("fleet_set", b'{"target_w": null}', "all"))
        clock.now += HOLD
        state = (await fleet.cycle("all")).state
        assert state["status"] == "released" and state["remembered"] == [], state
        assert sim.state.hashing and state["mode"] == "off"

        pub.clear()
        await bus.emit(Announce())
        assert pub.last("base/fleet/all").json()["status"] == "released"
        node = "asic_bridge_base_fleet_all"
        for topic in [
            f"homeassistant/number/{node}/target/config",
            f"homeassistant/select/{node}/mode/config",
            f"homeassistant/sensor/{node}/measured_power/config",
            f"homeassistant/sensor/{node}/planned_power/config",
            f"homeassistant/sensor/{node}/status/config",
            f"homeassistant/binary_sensor/{node}/problem/config",
        ]:
            entity = pub.last(topic).json()
            assert entity["device"]["identifiers"] == [node], topic
            assert entity["device"]["via_device"] == "asic_bridge_base"
            assert entity["state_topic"] == "base/fleet/all"
        number = pub.last(f"homeassistant/number/{node}/target/config").json()
        assert number["command_topic"] == "base/fleet/all/set"


async def test_settings_and_remembered_miners_survive_a_restart(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        raw = {
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
            "fleet": {"groups": {"all": {"min_change_interval": HOLD}}},
            "state_dir": str(tmp_path),
        }
        pub = RecordingPublisher()
        pollers = Pollers(bus, adoption.connect, 60, 3, 4)
        commands = Commands(bus, pub, T, adoption, pollers, 300)
        fleet = Fleet(bus, pub, T, parse_config(raw), adoption, commands, Clock())
        assert await pollers.get(device).poll()
        await fleet._request(request("fleet_set", b'{"target_w": 1, "deadband_w": 77}', "all"))
        assert not sim.state.hashing
        saved = json.loads((tmp_path / "power.json").read_text())
        assert saved["groups"]["all"]["remembered"][device.id]["mining"] is True

        again = Fleet(bus, pub, T, parse_config(raw), adoption, commands, Clock())
        ctrl = again.controllers["all"]
        assert (ctrl.config.mode, ctrl.config.target_w, ctrl.config.deadband_w) == ("target", 1, 77)
        assert device.id in ctrl.remembered

        # bridge.yaml's group changed since: its settings win, the remembered miner stays
        raw["fleet"]["groups"]["all"]["deadband_w"] = 5
        edited = Fleet(bus, pub, T, parse_config(raw), adoption, commands, Clock())
        ctrl = edited.controllers["all"]
        assert (ctrl.config.mode, ctrl.config.deadband_w) == ("off", 5)
        assert device.id in ctrl.remembered


async def test_a_poll_wakes_the_group_only_for_a_change(tmp_path: Path) -> None:
    """A cycle builds the whole group's state: a poll whose readings change nothing the plan
    acts on must not wake it (it did every poll, which made a poll cost O(fleet)); a miner
    joining or resumed behind the bridge's back still does, at once."""
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        fleet, _, clock, pollers = fleet_of(adoption, bus, tmp_path)
        kick = fleet.kicks["all"]
        poller = pollers.get(device)
        assert await poller.poll()
        assert kick.is_set()  # joined: planned at once
        await fleet.cycle("all")
        for _ in range(3):
            kick.clear()
            clock.now += 10
            assert await poller.poll()
            assert not kick.is_set()  # the same miner, the same setting: nothing to act on
        await fleet._request(request("fleet_set", b'{"target_w": 20}', "all"))
        assert not sim.state.hashing
        kick.clear()
        sim.state.set_mining(True)  # resumed on the miner itself
        clock.now += 10
        assert await poller.poll()
        assert kick.is_set()


def test_a_large_group_s_kicked_cycles_are_spaced_by_its_size() -> None:
    """While 5,000 miners start, every adoption and first poll kicks the group, and each
    cycle is O(members): a small group still cycles right after the polls of one tick, a
    large one only once the gap for its size has passed since its last cycle, never later
    than MAX_CYCLE_GAP_S."""
    assert cycle_delay(3, float("inf")) == COALESCE_S
    assert cycle_delay(3, 0.0) == COALESCE_S  # 6 ms of gap: the tick's coalescing wins
    assert cycle_delay(1000, 0.5) == 1.5  # 2 s for 1,000 members, 0.5 s of it gone
    assert cycle_delay(1000, 3.0) == COALESCE_S
    assert cycle_delay(5000, 0.0) == MAX_CYCLE_GAP_S
    assert cycle_delay(50_000, 1.0) == MAX_CYCLE_GAP_S - 1.0


async def test_a_polls_efficiency_is_taken_until_known_and_never_without_power(
    tmp_path: Path,
) -> None:
    """The J/TH a member is ranked by is fixed at its first poll with a power reading (the
    poll only computes it while a group needs it); a miner reporting no power has none."""
    config = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1"}, "state_dir": str(tmp_path)})
    fleet = Fleet(EventBus(), RecordingPublisher(), T, config, cast(Any, None), cast(Any, None))
    ctrl = fleet.controllers["all"]  # the default group: every miner
    measured, stock = device("measured"), device("stock")
    for watts in (3000, 3300):
        for dev, power in ((measured, watts), (stock, None)):
            data = MinerData(ip=dev.record.ip, hashrate=100.0, wattage=power, is_mining=True)
            await fleet._polled(PollSucceeded(dev, data, 0.0))
    assert ctrl.members["measured"].efficiency == 30.0  # the first one, kept
    assert not ctrl.needs_efficiency("measured")
    assert ctrl.members["stock"].efficiency is None and ctrl.needs_efficiency("stock")
    assert not ctrl.needs_efficiency("not a member")

"""The power controller against real simulated miners over their real protocols (no MQTT).

Eight miners: BOS+ (gRPC), Whatsminer API 2 and 3, ePIC, MaraFW with power targets; an
Avalon and a stock Antminer (which reports no power) that can only stop; a Hiveon S9 that
can do neither.  The controller's clock is a fake one moved
one poll interval per cycle, so holds and cadence are exact; the sims answer at once (no ramp).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest

from asic_bridge import cli, sim
from asic_bridge.bridge.power import Outcome, PowerController, Write, run_cycle
from asic_bridge.bridge.power_inputs import GroupConfig
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import AsicBridgeError
from asic_bridge.factory import get_miner

KINDS = [
    "braiins_s19",
    "whatsminer_m50",
    "whatsminer_m60",
    "epic_s19jpro",
    "marafw_s19xp",
    "avalon_1246",
    "antminer_s19jpro",
    "hiveon_s9",
]
POLL = 10.0
INTERVAL = 30.0


class Clock:
    now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


class Fleet:
    """Real drivers talking to real simulated miners, and a controller over them."""

    def __init__(self, sims: list[sim.SimMiner], miners: dict[str, BaseMiner]) -> None:
        self.sims = {s.kind: s for s in sims}
        self.miners = miners
        self.clock = Clock()
        self.ctrl = PowerController(
            "farm", GroupConfig(min_change_interval=INTERVAL, deadband_w=50), self.clock
        )
        self.writes: dict[str, list[float]] = {}

    async def join_all(self) -> None:
        for kind, miner in self.miners.items():
            await self.join(kind, miner)

    async def join(self, kind: str, miner: BaseMiner) -> None:
        """A member, as its device record has it: the firmware's range where known, else
        the catalog's."""
        can_limit = miner.supports(Capability.POWER_LIMIT)
        bounds = await miner.get_power_range() if can_limit else miner.power_range()
        data = await miner.get_data(include=["wattage", "hashrate"])
        self.ctrl.join(
            kind,
            power_min=bounds.low,
            power_max=bounds.high,
            range_source=bounds.source,
            can_limit=can_limit,
            can_stop=miner.supports(Capability.STOP_MINING),
            efficiency=data.efficiency_fract,
        )

    async def cli(self, kind: str, *words: str) -> None:
        """``asic-bridge control <host> ...``: the owner changing a miner behind our back."""
        s = self.sims[kind]
        host = s.address + ":" + ",".join(f"{k}={v}" for k, v in s.ports.items())
        args = cli.build_parser().parse_args(["control", host, *words])
        assert await cli._dispatch(args) == 0, (kind, words)

    async def writer(self, write: Write) -> Outcome:
        miner = self.miners[write.id]
        self.writes.setdefault(write.id, []).append(self.clock.now)
        try:
            if write.power_limit is not None:
                await miner.set_power_limit(write.power_limit)
            if write.mining is not None:
                await (miner.resume_mining() if write.mining else miner.stop_mining())
        except AsicBridgeError as exc:
            # as the bridge does: a clamped write taught the miner's range
            bounds = miner.power_range()
            learned = (bounds.low, bounds.high) if bounds.source == "firmware" else None
            return Outcome(False, str(exc), learned_range=learned)
        data = await miner.get_data(include=["wattage_limit"])
        return Outcome(True, power_limit=data.wattage_limit)

    async def poll(self) -> None:
        for kind, miner in self.miners.items():
            data = await miner.get_data(include=["wattage", "wattage_limit", "is_mining"])
            if "wattage" in data.field_errors:
                self.ctrl.offline(kind)
                continue
            self.ctrl.observe(
                kind,
                measured_w=data.wattage,
                power_limit=data.wattage_limit,
                mining=data.is_mining,
            )

    async def cycle(self) -> dict[str, object]:
        self.clock.now += POLL
        await self.poll()
        result = await run_cycle(self.ctrl, self.writer)
        return result.state

    def drawn(self) -> float:
        return sum(s.state.read().wattage for s in self.sims.values())


def assert_not_flapped(fleet: Fleet) -> None:
    """No miner written to more often than min_change_interval (no emergency here)."""
    for times in fleet.writes.values():
        assert all(b - a >= INTERVAL for a, b in itertools.pairwise(times)), fleet.writes


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    sims = await sim.start_fleet([f"{k}@127.42.0.{i + 2}" for i, k in enumerate(KINDS)])
    miners: dict[str, BaseMiner] = {}
    farm: Fleet | None = None
    try:
        for s in sims:
            s.state.jitter = 0
            miner = await get_miner(s.address, ports=dict(s.ports))
            assert miner is not None, s.kind
            miners[s.kind] = miner
        farm = Fleet(sims, miners)
        await farm.join_all()
        yield farm
    finally:
        for miner in miners.values():
            with contextlib.suppress(Exception):
                await miner.aclose()
        joined = [s for s in farm.sims.values() if s not in sims] if farm else []
        await sim.stop_fleet([*sims, *joined])  # with those a test added


async def test_a_real_fleet_is_held_under_its_target_through_disturbances(fleet: Fleet) -> None:
    full = fleet.drawn()
    await fleet.miners["epic_s19jpro"].set_power_limit(2900)  # its owner's own limit
    await fleet.poll()
    own = {k: (s.state.mining, s.state.effective_power_limit) for k, s in fleet.sims.items()}
    # no limit of its own, in the simulator or as the firmware reports it
    no_limit = {k for k, s in fleet.sims.items() if s.state.power_limit is None}
    no_limit |= {k for k, m in fleet.ctrl.members.items() if m.power_limit is None}
    target = int(full * 0.55)
    fleet.ctrl.command({"target_w": target})
    await fleet.cycle()
    state = await fleet.cycle()
    assert fleet.drawn() <= target and state["status"] == "holding", state["reason"]
    assert state["failed"] == {}
    assert state["uncontrollable"] == ["hiveon_s9"]

    # behind the bridge's back, through the CLI: the limits of two miners raised to the top
    # of their range, the sleepers resumed
    for kind in ("whatsminer_m60", "braiins_s19"):
        await fleet.cli(kind, "power-limit", str(fleet.ctrl.members[kind].power_max))
    for kind, s in fleet.sims.items():
        if not s.state.mining:
            await fleet.cli(kind, "resume")
    assert fleet.drawn() > target
    for _ in range(int((INTERVAL + 2 * POLL) / POLL)):
        state = await fleet.cycle()
    assert fleet.drawn() <= target, state
    assert_not_flapped(fleet)

    # a miner drops off the network and comes back at its own full limit
    m50 = fleet.sims["whatsminer_m50"]
    await m50.set_mode("offline")
    state = await fleet.cycle()
    assert state["offline"] == ["whatsminer_m50"]
    m50.state.set_power_limit(3600)
    m50.state.set_mining(True)
    await m50.set_mode("normal")
    for _ in range(int((INTERVAL + 2 * POLL) / POLL)):
        state = await fleet.cycle()
    assert fleet.drawn() <= target and state["offline"] == [], state
    assert_not_flapped(fleet)

    # a new miner of another family joins the group at full power
    (vnish,) = await sim.start_fleet(["vnish_s19jpro@127.42.0.20"])
    fleet.sims["vnish_s19jpro"] = vnish  # the fixture stops it
    vnish.state.jitter = 0
    miner = await get_miner(vnish.address, ports=dict(vnish.ports))
    assert miner is not None
    fleet.miners["vnish_s19jpro"] = miner
    own["vnish_s19jpro"] = (vnish.state.mining, vnish.state.effective_power_limit)
    assert fleet.drawn() > target
    await fleet.join("vnish_s19jpro", miner)
    await fleet.poll()
    if None in (vnish.state.power_limit, fleet.ctrl.members["vnish_s19jpro"].power_limit):
        no_limit.add("vnish_s19jpro")
    for _ in range(int((INTERVAL + 2 * POLL) / POLL)):
        state = await fleet.cycle()
    assert fleet.drawn() <= target and state["status"] == "holding", state
    assert "vnish_s19jpro" in state["miners"]  # type: ignore[operator]
    assert_not_flapped(fleet)

    # release: each miner back to its own limit and mining state
    fleet.ctrl.command({"target_w": None})
    for _ in range(int((INTERVAL + 2 * POLL) / POLL)):
        state = await fleet.cycle()
    assert state["status"] == "released", state["reason"]
    for kind, s in fleet.sims.items():
        mining, limit = own[kind]
        assert s.state.mining == mining, kind
        # a miner with no limit of its own may get the top of its range instead
        top = fleet.ctrl.members[kind].power_max if kind in no_limit else None
        assert s.state.effective_power_limit in (limit, top), kind
    assert state["remembered"] == []

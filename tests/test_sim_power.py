"""Simulated power that behaves like a miner's: it ramps to a new limit, a rebooted box comes
back at its own stored limit, and the limit can be changed from outside the bridge (the CLI,
over each firmware's real protocol)."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from asic_bridge import cli, sim
from asic_bridge.drivers.base import Capability
from asic_bridge.factory import get_miner
from asic_bridge.sim.state import IDLE_FRACTION, Hardware, MinerState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _state(clock: Clock, ramp: float) -> MinerState:
    hw = Hardware(nominal_power=3000, min_power=1000, max_power=3600)
    return MinerState("M", "X", "F", hw, ip="127.0.0.9", jitter=0, clock=clock, power_ramp=ramp)


def test_power_ramps_linearly_to_a_new_limit() -> None:
    clock = Clock()
    st = _state(clock, ramp=4.0)
    assert st.read().wattage == 3000
    st.set_power_limit(2000)
    assert st.read().power_limit == 2000  # the setting is at once, the power is not
    assert st.read().wattage == 3000
    clock.now += 1
    assert st.read().wattage == 2750
    clock.now += 2
    assert st.read().wattage == 2250
    st.set_power_limit(3000)  # a change mid-ramp starts from what is drawn now
    assert st.read().wattage == 2250
    clock.now += 2
    assert st.read().wattage == 2625
    clock.now += 10
    assert st.read().wattage == 3000


def test_without_a_ramp_power_follows_at_once() -> None:
    clock = Clock()
    st = _state(clock, ramp=0.0)
    st.set_power_limit(1500)
    assert st.read().wattage == 1500
    st.set_mining(False)
    assert st.read().wattage == pytest.approx(3000 * IDLE_FRACTION)


def test_stop_and_resume_ramp_too() -> None:
    clock = Clock()
    st = _state(clock, ramp=2.0)
    st.set_mining(False)
    clock.now += 1
    assert st.read().wattage == pytest.approx((3000 + 3000 * IDLE_FRACTION) / 2)
    clock.now += 1
    assert st.read().wattage == pytest.approx(3000 * IDLE_FRACTION)


def test_reboot_comes_back_at_the_stored_limit_from_idle() -> None:
    clock = Clock()
    st = _state(clock, ramp=4.0)
    st.set_power_limit(1800)
    clock.now += 10
    assert st.read().wattage == 1800
    st.reboot()
    idle = 3000 * IDLE_FRACTION
    assert st.read().power_limit == 1800 and st.read().wattage == pytest.approx(idle)
    clock.now += 2
    assert st.read().wattage == pytest.approx(idle + (1800 - idle) / 2)
    clock.now += 2
    assert st.read().wattage == 1800 and st.read().uptime == 2 + 2


async def test_start_fleet_sets_the_ramp_and_rejects_absurd_values() -> None:
    with pytest.raises(ValueError, match="power_ramp"):
        await sim.start_fleet(["cgminer@127.41.0.2"], power_ramp=-1)
    sims = await sim.start_fleet(["cgminer@127.41.0.2"], power_ramp=3.0)
    try:
        assert sims[0].state.power_ramp == 3.0
    finally:
        await sim.stop_fleet(sims)


def test_simulate_refuses_a_bad_ramp() -> None:
    assert cli.main(["simulate", "--miner", "cgminer@127.41.0.3", "--power-ramp", "-2"]) == 2


def _control(host: str, watts: int) -> argparse.Namespace:
    return cli.build_parser().parse_args(["control", host, "power-limit", str(watts)])


KINDS = sorted(sim.load_kinds())


@pytest.mark.parametrize("kind", KINDS)
async def test_cli_power_limit_reaches_every_simulated_family(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`asic-bridge control IP power-limit W` changes a simulated miner behind the bridge's
    back through its firmware's own protocol; a family without power targets says so."""
    # an address per kind: identification is cached per host
    (miner_sim,) = await sim.start_fleet([f"{kind}@127.41.1.{KINDS.index(kind) + 2}"])
    try:
        host = miner_sim.address + ":" + ",".join(f"{k}={v}" for k, v in miner_sim.ports.items())
        miner = await get_miner(miner_sim.address, ports=dict(miner_sim.ports))
        assert miner is not None
        low, high = miner_sim.state.hardware.power_range
        if not miner.supports(Capability.POWER_LIMIT):
            with pytest.raises(cli.CLIError, match="not supported"):
                await cli._dispatch(_control(host, int(low)))
            assert miner_sim.state.power_limit is None
            return
        bounds = await miner.get_power_range()  # the firmware's own where it tells
        if bounds.source != "unknown":
            low, high = max(low, bounds.low), min(high, bounds.high)
        watts = int(low + (high - low) * 0.4)
        before = miner_sim.state.effective_power_limit
        assert await cli._dispatch(_control(host, watts)) == 0
        assert capsys.readouterr().out.strip().endswith("power-limit ok")
        applied = miner_sim.state.power_limit
        # preset firmwares (VNish presets, LuxOS profiles) take the nearest step
        assert applied is not None and applied != before
        assert applied == pytest.approx(watts, rel=0.1)
        for _ in range(100):  # BOSminer on an S9 restarts after its config is written
            data = await miner.get_data(include=["wattage_limit"])
            if "wattage_limit" not in data.field_errors:
                break
            await asyncio.sleep(0.1)
        assert data.wattage_limit == pytest.approx(applied, abs=1), data.field_errors
        await miner.aclose()
    finally:
        await sim.stop_fleet([miner_sim])

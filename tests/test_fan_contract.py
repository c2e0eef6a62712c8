"""Issue #16 item 5, the library half: fan control keeps its promise over every simulator kind.

* FAN_CONTROL: each mode of ``fan_modes()`` set with ``set_fan_mode`` reads back as that mode
  (``get_config``) and shows in ``MinerData.fan_mode`` / ``fan_percent`` (a manual speed is
  the duty the miner reports); a mode the firmware lacks is an UnsupportedError and a bad
  speed a ConfigError, with nothing sent (the simulated miner's fan settings unchanged).
* Without the capability ``fan_modes()`` is empty and ``set_fan_mode`` an UnsupportedError.

Real sockets to each simulated kind on 127.63.x.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import pytest
from bridge_support import sim_miner

from asic_bridge import sim
from asic_bridge.config import (
    FAN_MODES,
    FanModeImmersion,
    FanModeManual,
    FanModeNormal,
    check_fan_mode,
    describe_fan_mode,
    fan_mode_shown,
    with_live_minimums,
)
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability, UnknownMiner
from asic_bridge.errors import ConfigError, UnsupportedError

KINDS = [row[0] for row in sim.list_kinds()]
_hosts = itertools.count(1)

FAN_READ = ["fan_mode", "fan_percent", "config"]


def running(kind: str) -> contextlib.AbstractAsyncContextManager[tuple[Any, BaseMiner]]:
    n = next(_hosts)
    return sim_miner(kind, f"127.63.{n // 250}.{n % 250 + 1}")


async def fan_read(miner: BaseMiner) -> MinerData:
    """The fan fields once the miner answers again (legacy BOSminer restarts its backend to
    apply a file)."""
    for _ in range(100):
        data = await miner.get_data(include=FAN_READ)
        if not {"fan_mode", "fan_percent"} & set(data.field_errors):
            return data
        await asyncio.sleep(0.05)
    raise AssertionError(data.field_errors)


def sample(mode: str, speed: int = 55) -> FanModeNormal | FanModeManual | FanModeImmersion:
    if mode == "manual":
        return FanModeManual(speed=speed)
    return FanModeImmersion() if mode == "immersion" else FanModeNormal()


@pytest.mark.parametrize("kind", KINDS)
async def test_each_fan_mode_reads_back(kind: str) -> None:
    async with running(kind) as (_, miner):
        modes = miner.fan_modes()
        if not miner.supports(Capability.FAN_CONTROL):
            assert modes == (), kind
            with pytest.raises(UnsupportedError):  # no fan select: and no silent write
                await miner.set_fan_mode(FanModeManual(speed=50))
            return
        assert modes and set(modes) <= set(FAN_MODES), (kind, modes)
        # every mode, then manual at a second speed, then back to the first mode
        order = [*modes, *(["manual"] if "manual" in modes else []), modes[0]]
        for step, mode in enumerate(order):
            wanted = sample(mode, speed=40 if step >= len(modes) else 70)
            await miner.set_fan_mode(wanted)
            config = await miner.get_config()
            assert describe_fan_mode(config.fan_mode) == describe_fan_mode(wanted), kind
            data = await fan_read(miner)
            assert data.fan_mode == mode, (kind, data.fan_mode, data.field_errors)
            if isinstance(wanted, FanModeManual):
                assert data.fan_percent == wanted.speed, (kind, data.fan_percent)
            if data.fan_percent is not None:
                assert 0 <= data.fan_percent <= 100, (kind, data.fan_percent)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_mode_the_firmware_lacks_or_a_bad_speed_sends_nothing(kind: str) -> None:
    async with running(kind) as (_, miner):
        if not miner.supports(Capability.FAN_CONTROL):
            return  # covered above
        before = await miner.get_config()
        for missing in (m for m in FAN_MODES if m not in miner.fan_modes()):
            with pytest.raises(UnsupportedError) as info:
                await miner.set_fan_mode(sample(missing))
            assert missing in str(info.value), kind
        bad_speed = FanModeManual.model_construct(mode="manual", speed=150, minimum_fans=1)
        for bad in (bad_speed, {"mode": "manual", "speed": -1}, {"mode": "turbo"}, "manual"):
            with pytest.raises(ConfigError):
                await miner.set_fan_mode(bad)  # type: ignore[arg-type]
        assert (await miner.get_config()).fan_mode == before.fan_mode, kind


def test_check_fan_mode_takes_models_and_dicts_and_refuses_the_rest() -> None:
    assert check_fan_mode({"mode": "manual", "speed": 30}) == FanModeManual(speed=30)
    assert check_fan_mode(FanModeImmersion()) == FanModeImmersion()
    with pytest.raises(ConfigError, match=r"speed.*less than or equal to 100"):
        check_fan_mode(FanModeManual.model_construct(mode="manual", speed=101, minimum_fans=1))
    with pytest.raises(ConfigError, match="speed"):
        check_fan_mode({"mode": "manual", "speed": "fast"})
    with pytest.raises(ConfigError, match="turbo"):
        check_fan_mode({"mode": "turbo"})
    with pytest.raises(ConfigError, match="int"):
        check_fan_mode(55)
    with pytest.raises(ConfigError, match="speed must be a whole number"):
        check_fan_mode({"mode": "manual", "speed": True})  # not speed 1
    assert check_fan_mode({"mode": "manual", "speed": "40"}) == FanModeManual(speed=40)


def test_describe_fan_mode_compares_mode_and_manual_speed_only() -> None:
    assert describe_fan_mode(FanModeManual(speed=60)) == "manual 60%"
    assert describe_fan_mode(FanModeNormal(minimum_speed=20)) == "normal"
    assert describe_fan_mode(FanModeImmersion()) == "immersion"
    assert describe_fan_mode(None) is None


async def test_without_the_capability_nothing_is_offered() -> None:
    miner = UnknownMiner("127.0.0.1")
    assert miner.fan_modes() == ()
    with pytest.raises(UnsupportedError, match="set_fan_mode"):
        await miner.set_fan_mode(FanModeNormal())


def test_fan_fields_travel_in_records_csv_and_sums() -> None:
    a = MinerData("10.0.0.1", fan_mode="manual", fan_percent=40)
    b = MinerData("10.0.0.2", fan_mode="manual", fan_percent=60)
    c = MinerData("10.0.0.3", fan_mode="normal")
    header = MinerData.csv_header().split(",")
    assert "fan_mode" in header and "fan_percent" in header
    assert (a + b).fan_mode == "manual" and (a + c).fan_mode is None  # text: kept if agreed
    assert ((a + b) / 2).fan_percent == 50
    assert ((a + c) / 2).fan_percent == 40  # averaged over the records that reported it


def test_a_minimum_not_given_is_kept_from_the_miner_and_compared_only_if_reported() -> None:
    live = FanModeNormal(minimum_fans=2, minimum_speed=25)
    kept = with_live_minimums(check_fan_mode({"mode": "normal"}), live)
    assert (kept.minimum_fans, kept.minimum_speed) == (2, 25)  # type: ignore[union-attr]
    asked = with_live_minimums(FanModeNormal(minimum_speed=10), live)
    assert (asked.minimum_fans, asked.minimum_speed) == (2, 10)  # type: ignore[union-attr]
    manual = with_live_minimums(FanModeManual(speed=50), live)
    assert manual == FanModeManual(speed=50, minimum_fans=2)  # a manual mode has no speed floor
    assert with_live_minimums(FanModeImmersion(), live) == FanModeImmersion()
    # a read-back that reports the minimum must show it; one that does not cannot refute it
    wanted = FanModeNormal(minimum_speed=10)
    assert fan_mode_shown(wanted, FanModeNormal(minimum_speed=25)) == (
        "normal minimum_speed=10",
        "normal minimum_speed=25",
    )
    assert fan_mode_shown(wanted, FanModeNormal()) == ("normal", "normal")

"""Issue #12 item 3, the library side: firmwares with named presets (VNish presets, LuxOS
profiles) list them as the firmware does, report the active one, and switch with
``set_preset`` confirmed by reading back; a name outside the list is refused before any
write; other firmwares say clearly that they have none.

Over real sockets to the simulators (127.61.x).  ePIC's ``Tune Presets`` are unnamed
clock/voltage points and BOS+ tunes to a number (power or hashrate target), so neither has
named presets: both raise UnsupportedError.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asic_bridge import sim
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import ConfigError, NotAppliedError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.luxos import LuxOSSim  # VNish's dropped preset: tests/test_real_vnish.py
from asic_bridge.sim.vnish import VNishSim

_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def running(kind: str) -> AsyncIterator[tuple[Any, BaseMiner]]:
    s = sim.create(f"{kind}@127.61.1.{next(_hosts)}")
    s.state.jitter = 0.0
    await s.start()
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert miner is not None, kind
        yield s, miner
        await miner.aclose()
    finally:
        await s.stop()


def firmware_list(s: Any) -> list[str] | None:
    """The preset names the simulated firmware serves, in its order; None: it has none."""
    if isinstance(s, VNishSim):
        return ["disabled", *(str(p["watts"]) for p in s.presets)]
    if isinstance(s, LuxOSSim):
        return [p.name for p in s.profiles]
    return None


def firmware_active(s: Any) -> str:
    if isinstance(s, VNishSim):
        return str(s.settings["miner"]["overclock"]["preset"])
    assert isinstance(s, LuxOSSim)
    return s.profile


@pytest.mark.parametrize("kind", ["vnish_s19jpro", "luxos_s19jpro"])
async def test_presets_are_the_firmwares_and_set_preset_reads_back(kind: str) -> None:
    async with running(kind) as (s, miner):
        assert miner.supports(Capability.PRESETS)
        presets = await miner.get_presets()
        assert [p.name for p in presets] == firmware_list(s)
        rated = [p for p in presets if p.power is not None]
        assert len(rated) >= len(presets) - 1  # only VNish's "disabled" has no rating
        assert all(p.hashrate for p in rated)
        active = await miner.get_active_preset()
        assert active == firmware_active(s)
        assert (await miner.get_data(include=["active_preset"])).active_preset == active
        # every preset of the list is accepted and read back, then the first one again
        others = [p.name for p in presets if p.name != active][:3]
        for name in [*others, active]:
            assert name is not None
            assert await miner.set_preset(name) is True
            assert firmware_active(s) == name
            assert await miner.get_active_preset() == name


@pytest.mark.parametrize("kind", ["vnish_s19jpro", "luxos_s19jpro"])
async def test_a_name_outside_the_list_is_refused_before_any_write(kind: str) -> None:
    async with running(kind) as (s, miner):
        before = firmware_active(s)
        options = firmware_list(s)
        assert options is not None
        for bad in ("turbo", "", 3000, None):
            with pytest.raises(ConfigError) as info:
                await miner.set_preset(bad)  # type: ignore[arg-type]
            if bad == "turbo":
                for name in options:
                    assert name in str(info.value)
        assert firmware_active(s) == before


async def test_luxos_profile_not_running_after_profileset_is_not_applied() -> None:
    async with running("luxos_s19jpro") as (s, miner):
        assert isinstance(s, LuxOSSim)
        target = s.profiles[0].name
        # the answer names the profile, but the config read back shows another one
        s.apply_profile = lambda name: None  # type: ignore[method-assign]
        with pytest.raises(NotAppliedError) as info:
            await miner.set_preset(target)
        assert info.value.applied == "default"


@pytest.mark.parametrize("kind", ["epic_s19jpro", "braiins_s19", "antminer_s19jpro"])
async def test_firmwares_without_named_presets_say_so(kind: str) -> None:
    async with running(kind) as (_, miner):
        assert not miner.supports(Capability.PRESETS)
        with pytest.raises(UnsupportedError):
            await miner.get_presets()
        with pytest.raises(UnsupportedError):
            await miner.set_preset("default")
        with pytest.raises(UnsupportedError):
            await miner.get_active_preset()


def test_active_preset_is_text_in_fleet_sums_and_csv() -> None:
    """A preset name is not a number: a fleet sum keeps it only where every miner agrees."""
    a, b = MinerData("10.0.0.1", active_preset="2400"), MinerData("10.0.0.2", active_preset="2400")
    assert sum([a, b], start=MinerData("")).active_preset == "2400"
    c = MinerData("10.0.0.3", active_preset="3000", hashrate=1.0)
    total = sum([a, c], start=MinerData(""))
    assert total.active_preset is None and (total / 2).active_preset is None
    header, row = a.as_csv(header=True).splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=False))["active_preset"] == "2400"

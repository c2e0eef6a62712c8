"""pyasic (written against real Whatsminers) reads our simulated Whatsminers like we do.

pyasic runs in its own venv as a subprocess (tests/reference/pyasic_probe.py); the package
never imports it.  Where pyasic cannot read a field from the simulator the simulator is wrong;
the few fields skipped below are documented pyasic defects.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from reference.compare import (
    differences,
    frozen_clock,
    pyasic_available,
    run_pyasic,
)

from asic_bridge.factory import get_miner
from asic_bridge.sim import SimMiner, create

pytestmark = pytest.mark.skipif(
    not pyasic_available(), reason="pyasic venv (.venvs/pyasic) missing"
)

_hosts = itertools.count(1)

KINDS = ("whatsminer_m30s", "whatsminer_m50", "whatsminer_m60")

# BTMinerV3 in pyasic 0.79 (miners/backends/btminer.py), all in the known v3 gaps (pyasic.md §9.3):
V3_SKIPS = frozenset(
    {
        # _get_pools reads msg.pools from the "get.miner.status summary" reply; the firmware
        # puts pools only in the "pools" reply, so pyasic always reports no pools.
        "pools.count",
        # _get_hashboards reports chip-temp-min as the board temperature and leaves chip_temp
        # empty; we report the board temperature and the average chip temperature.
        *(f"hashboards[{i}].temp" for i in range(3)),
        *(f"hashboards[{i}].chip_temp" for i in range(3)),
    }
)
# BTMinerV2._get_hashboards rounds chip temperatures to whole degrees (round(...)); the
# firmware reports hundredths, which we keep.
V2_SKIPS = frozenset(f"hashboards[{i}].chip_temp" for i in range(3))


def _address() -> str:
    return f"127.12.200.{next(_hosts)}"


@pytest.fixture
async def fleet() -> AsyncIterator[list[SimMiner]]:
    sims = []
    for kind in KINDS:
        sim = create(f"{kind}@{_address()}")
        sim.state.jitter = 0.0
        # freeze time, so both readers see the same uptime and share counters
        sim.state.clock = frozen_clock(sim.state.boot_at + 900)
        sims.append(sim)
        await sim.start()
    yield sims
    for sim in sims:
        await sim.stop()


async def _ours(sim: SimMiner) -> Any:
    miner = await get_miner(sim.address, use_cache=False)
    assert miner is not None
    try:
        return await miner.get_data()
    finally:
        await miner.aclose()


async def _compare(sims: list[SimMiner]) -> dict[str, list[str]]:
    theirs = await asyncio.to_thread(run_pyasic, [s.address for s in sims])
    report = {}
    for sim in sims:
        ref = theirs[sim.address]
        assert ref["found"], f"pyasic did not find {sim.kind}: {ref}"
        assert ref["error"] is None, ref["error"]
        ours = await _ours(sim)
        assert ours.field_errors == {}
        skip = V3_SKIPS if sim.kind == "whatsminer_m60" else V2_SKIPS
        report[sim.kind] = differences(ours, ref, skip=skip)
    return report


async def test_pyasic_reads_the_same(fleet: list[SimMiner]) -> None:
    report = await _compare(fleet)
    assert report == {kind: [] for kind in KINDS}


async def test_pyasic_identifies_the_same_classes(fleet: list[SimMiner]) -> None:
    theirs = await asyncio.to_thread(run_pyasic, [s.address for s in fleet], data=False)
    classes = {sim.kind: theirs[sim.address]["cls"] for sim in fleet}
    # the M60 is picked as API v3 by its firmware date (> 2024.11), the others as v2
    assert classes == {
        "whatsminer_m30s": "BTMinerM30SPlusVE40",
        "whatsminer_m50": "BTMinerM50VH50",
        "whatsminer_m60": "BTMinerM60VK10",
    }


async def test_pyasic_agrees_after_controls(fleet: list[SimMiner]) -> None:
    """Fault light on, a power limit and a stopped miner read the same by both."""
    m30s, m50, m60 = fleet
    for sim in fleet:
        sim.state.fault_light = True
        sim.led.auto = False  # type: ignore[attr-defined]
    m50.state.set_power_limit(2900)
    m60.state.set_power_limit(3000)
    m30s.state.set_mining(False)
    report = await _compare(fleet)
    assert report == {kind: [] for kind in KINDS}
    theirs = await asyncio.to_thread(run_pyasic, [m30s.address, m50.address])
    assert theirs[m30s.address]["is_mining"] is False
    assert theirs[m50.address]["wattage"] == 2900
    assert theirs[m50.address]["wattage_limit"] == 2900


async def test_pyasic_reads_the_api14_build_the_same() -> None:
    """API 1.4.0 (whatsminer_m30s:20210322.22.REL, shaped by the real capture).

    pyasic treats any ``btmineroff`` value as "ask devdetails; mining unless it fails".  No
    capture shows a stopped 1.4 unit's devdetails, so the simulator keeps answering it and
    pyasic reads a stopped miner as mining; we read ``btmineroff: "true"`` as stopped (what
    the key says, and what asic-rs's maintainers confirmed on an API 1.4 unit, PR #187)."""
    sim = create(f"whatsminer_m30s:20210322.22.REL@{_address()}")
    sim.state.jitter = 0.0
    sim.state.clock = frozen_clock(sim.state.boot_at + 900)
    await sim.start()
    try:
        for mining in (True, False):
            sim.state.set_mining(mining)
            ref = (await asyncio.to_thread(run_pyasic, [sim.address]))[sim.address]
            assert ref["found"] and ref["error"] is None, ref
            ours = await _ours(sim)
            assert ours.field_errors == {} and ours.is_mining is mining
            assert ref["is_mining"] is True  # pyasic: devdetails answered -> mining
            skip = V2_SKIPS if mining else V2_SKIPS | {"is_mining"}
            assert differences(ours, ref, skip=skip) == []
    finally:
        await sim.stop()

"""pyasic (in its own venv) reads our simulated IceRiver KS3M / KS5L like asic_bridge does.

Same make/model/firmware, MAC, hashrate, fans, boards, pools and mining state; every field
pyasic gets wrong is skipped by name with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reference.compare import (
    BackgroundLoop,
    differences,
    frozen_clock,
    pyasic_available,
    run_pyasic,
)

from asic_bridge import sim
from asic_bridge.data import MinerData
from asic_bridge.factory import get_miner

KINDS = ("iceriver_ks3m", "iceriver_ks5l")
ADDRESSES = {kind: f"127.24.15.{i}" for i, kind in enumerate(KINDS, start=1)}

# Each board reports an inlet (``intmp``) and an outlet (``outtmp``) sensor.  pyasic rounds them
# and calls the inlet the board temperature and the outlet a chip temperature; asic_bridge
# reports them as inlet_temp/outlet_temp, with the outlet (the hotter side) as the board
# temperature, and no chip temperature (the firmware has none).
#
# Firmware 3.2.x (the real KS5L capture) sends the pool numbers as floats (accepted 7225.0,
# connect 1.0 / -1.0): pyasic's PoolMetrics refuses them and its whole get_data fails with
# "Failed to call pools".  asic_bridge reads them; the comparison therefore runs pyasic once in
# full (to assert that failure) and once without its pools parser, and pools are not compared.
SKIP = frozenset(
    f"hashboards[{slot}].{key}" for slot in range(3) for key in ("temp", "chip_temp")
) | {"pools.count"}


async def _ours(address: str) -> MinerData:
    miner = await get_miner(address, use_cache=False)
    assert miner is not None, address
    try:
        return await miner.get_data()
    finally:
        await miner.aclose()


@pytest.fixture(scope="module")
def readings() -> Iterator[dict[str, tuple[MinerData, dict[str, Any]]]]:
    if not pyasic_available():
        pytest.skip("pyasic venv (.venvs/pyasic) is missing")
    runner = BackgroundLoop()
    sims = runner.run(sim.start_fleet([f"{kind}@{ADDRESSES[kind]}" for kind in KINDS]))
    try:
        for s in sims:
            s.state.jitter = 0.0
            s.state.clock = frozen_clock(s.state.clock() + 600.0)  # both see the same board
        full = run_pyasic(list(ADDRESSES.values()), timeout=3.0)
        theirs = run_pyasic(list(ADDRESSES.values()), timeout=3.0, exclude=("pools",))
        ours = {kind: runner.run(_ours(ADDRESSES[kind])) for kind in KINDS}
        for kind in KINDS:
            theirs[ADDRESSES[kind]]["full_error"] = full[ADDRESSES[kind]]["error"]
        yield {kind: (ours[kind], theirs[ADDRESSES[kind]]) for kind in KINDS}
    finally:
        runner.run(sim.stop_fleet(sims))
        runner.close()


@pytest.mark.parametrize("kind", KINDS)
def test_pyasic_fails_on_the_float_pool_numbers_we_read(
    kind: str, readings: dict[str, tuple[MinerData, dict[str, Any]]]
) -> None:
    ours, theirs = readings[kind]
    assert "pools" in str(theirs["full_error"])  # pyasic: the whole reading is lost
    assert ours.pools and ours.pools[0].active is True  # connect 1.0
    assert [p.active for p in ours.pools[1:]] == [False] * (len(ours.pools) - 1)  # -1.0


@pytest.mark.parametrize("kind", KINDS)
def test_pyasic_identifies_the_same_miner(
    kind: str, readings: dict[str, tuple[MinerData, dict[str, Any]]]
) -> None:
    ours, theirs = readings[kind]
    assert theirs["found"] and theirs["error"] is None, theirs
    assert (theirs["make"], theirs["model"], theirs["firmware"]) == (
        ours.make,
        ours.model,
        ours.firmware,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_pyasic_reads_the_same_values(
    kind: str, readings: dict[str, tuple[MinerData, dict[str, Any]]]
) -> None:
    ours, theirs = readings[kind]
    assert ours.field_errors == {}
    for name in ("hashrate", "hashboards", "fans", "mac", "is_mining", "hostname"):
        assert theirs.get(name) not in (None, []), (kind, name)
    assert theirs["fault_light"] is False
    assert differences(ours, theirs, rel=0.01, skip=SKIP) == []
    for mine, ref in zip(ours.hashboards, theirs["hashboards"], strict=True):
        assert mine.inlet_temp is not None and ref["temp"] == round(mine.inlet_temp)
        assert mine.outlet_temp is not None and ref["chip_temp"] == round(mine.outlet_temp)

"""pyasic (in its own venv) reads our simulated VNish miner the way asic_bridge does.

Every field pyasic demonstrably gets wrong is skipped by name, with the reason beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reference.compare import BackgroundLoop, differences, pyasic_available, run_pyasic

from asic_bridge import sim
from asic_bridge.data import MinerData
from asic_bridge.factory import get_miner

KIND = "vnish_s19jpro"
ADDRESS = "127.22.9.2"

# pyasic's BMMiner._get_hashboards (which VNish inherits) reads ``temp<N>`` as the chip and
# ``temp2_<N>`` as the board temperature; BMMiner's stats put the board (PCB) sensor in
# temp<N> and the hottest chip in temp2_<N> (see also the generic cgminer comparison), so
# pyasic reports chips cooler than their board.
SKIPS = frozenset(f"hashboards[{slot}].{key}" for slot in range(3) for key in ("temp", "chip_temp"))
# Real VNish 1.2.x summaries have no ``system`` section (tests/fixtures/real/vnish): pyasic,
# given the summary, looks for the hostname only there and finds none; we read /info.
# pyasic reads ``power_usage`` as watts; from 1.2.6 it is the efficiency in J/TH (the
# firmware's API document), the watts being ``power_consumption``.  Both asserted below.
PYASIC_WRONG = frozenset({"hostname", "wattage", "efficiency", "efficiency_fract"})


async def _ours(address: str) -> MinerData:
    miner = await get_miner(address, use_cache=False)
    assert miner is not None
    try:
        return await miner.get_data()
    finally:
        await miner.aclose()


@pytest.fixture(scope="module")
def reading() -> Iterator[tuple[MinerData, dict[str, Any]]]:
    if not pyasic_available():
        pytest.skip("pyasic venv (.venvs/pyasic) is missing")
    runner = BackgroundLoop()
    sims = runner.run(sim.start_fleet([f"{KIND}@{ADDRESS}"]))
    try:
        for s in sims:
            s.state.jitter = 0.0
            moment = s.state.clock() + 600.0
            s.state.clock = lambda moment=moment: moment  # type: ignore[misc]
        theirs = run_pyasic([ADDRESS], timeout=3.0)[ADDRESS]
        yield runner.run(_ours(ADDRESS)), theirs
    finally:
        runner.run(sim.stop_fleet(sims))
        runner.close()


def test_pyasic_identifies_the_same_miner(reading: tuple[MinerData, dict[str, Any]]) -> None:
    ours, theirs = reading
    assert theirs["found"] and theirs["error"] is None, theirs
    assert theirs["cls"] == "VNishS19jPro"
    assert (theirs["make"], theirs["model"], theirs["firmware"]) == (
        ours.make,
        ours.model,
        ours.firmware,
    )


def test_pyasic_reads_the_same_values(reading: tuple[MinerData, dict[str, Any]]) -> None:
    ours, theirs = reading
    assert ours.field_errors == {}
    for name in ("hashrate", "expected_hashrate", "fans", "hashboards", "pools", "wattage"):
        assert theirs.get(name) not in (None, []), name
    assert theirs["wattage_limit"] == ours.wattage_limit  # presets disabled: None on both
    assert (theirs["mac"].lower(), theirs["fw_ver"]) == (ours.mac, ours.fw_ver)
    assert differences(ours, theirs, rel=0.01, skip=SKIPS | PYASIC_WRONG) == []


def test_pyasic_misreads_real_vnish_126(reading: tuple[MinerData, dict[str, Any]]) -> None:
    ours, theirs = reading
    assert ours.hostname and theirs["hostname"] is None
    assert ours.wattage is not None and ours.hashrate is not None
    efficiency = ours.wattage / float(ours.hashrate)
    assert theirs["wattage"] == pytest.approx(efficiency, abs=1.0)  # J/TH taken as watts
    assert abs(theirs["wattage"] - ours.wattage) > 1000


def test_skips_hide_only_pyasic_defects(reading: tuple[MinerData, dict[str, Any]]) -> None:
    ours, theirs = reading
    for mine, ref in zip(ours.hashboards, theirs["hashboards"], strict=True):
        assert mine.temp is not None and mine.chip_temp is not None
        assert (ref["temp"], ref["chip_temp"]) == (round(mine.chip_temp), round(mine.temp))

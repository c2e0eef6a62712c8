"""pyasic (in its own venv) reads our simulated Avalons and CGMiner like asic_bridge does.

pyasic was written against real hardware: when it identifies the same make/model/firmware and
reads the same values from a simulator, the simulator is faithful and the driver agrees with
the reference.  Every field pyasic is known to get wrong is skipped by name, with the reason.
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

KINDS = ("avalon_1246", "avalon_1566", "avalon_nano3", "avalon_q", "cgminer")
ADDRESSES = {kind: f"127.13.3.{i}" for i, kind in enumerate(KINDS, start=1)}


# pyasic's AvalonMiner._get_hashboards copies MTmax (the hottest chip of a board) into both
# HashBoard.temp and HashBoard.chip_temp, and MTavg into inlet_temp.  asic_bridge reports MTavg,
# the board's mean chip temperature, as the board temperature and MTmax as the chip temperature.
AVALON_SKIP = frozenset(f"hashboards[{slot}].temp" for slot in range(3))

# pyasic's BMMiner._get_hashboards swaps the two sensors: it reads ``temp<N>`` (the board/PCB
# sensor on an S9) as chip_temp and ``temp2_<N>`` (the chip sensor) as the board temp, so it
# reports chips cooler than the board they sit on.
BMMINER_SKIP = frozenset(
    f"hashboards[{slot}].{key}" for slot in range(3) for key in ("temp", "chip_temp")
)

# The real builds of the A1246 (21072802) and the Avalon Q (25052801) send no WALLPOWER
# (tests/fixtures/real/avalon); pyasic reads wattage only from WALLPOWER and gets None, we
# read the wall watts from PS's 7th value.
A1246_SKIP = AVALON_SKIP | {"wattage"}

SKIPS = {
    "avalon_1246": A1246_SKIP,
    "avalon_1566": AVALON_SKIP,
    "avalon_nano3": frozenset(),  # one board: pyasic falls back to TAvg/TMax, as we do
    # Q build 25052801: no WALLPOWER (above); no Led[] (its light is a night lamp), which
    # pyasic reports as False and we as unknown; Fan1..Fan4 all reported, pyasic keeps the
    # first two (its model's fan count).  Each asserted in the test below.
    "avalon_q": frozenset({"wattage", "fault_light", "fans"}),
    "cgminer": BMMINER_SKIP,
}


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
            # Exact figures and a stopped clock: both readers see the very same miner.
            s.state.jitter = 0.0
            s.state.clock = frozen_clock(s.state.clock() + 600.0)
        theirs = run_pyasic(list(ADDRESSES.values()), timeout=3.0)
        ours = {kind: runner.run(_ours(ADDRESSES[kind])) for kind in KINDS}
        yield {kind: (ours[kind], theirs[ADDRESSES[kind]]) for kind in KINDS}
    finally:
        runner.run(sim.stop_fleet(sims))
        runner.close()


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
    # Both sides must really have read the fields (None == None proves nothing).
    for name in ("hashrate", "expected_hashrate", "fans", "hashboards", "pools", "is_mining"):
        assert theirs.get(name) not in (None, []), (kind, name)
    if kind.startswith("avalon"):
        assert theirs["mac"], kind
        assert theirs["wattage"] or "wattage" in SKIPS[kind], kind
    assert differences(ours, theirs, rel=0.01, skip=SKIPS[kind]) == []


def test_skipped_fields_differ_only_as_documented(
    readings: dict[str, tuple[MinerData, dict[str, Any]]],
) -> None:
    """The skips hide exactly pyasic's known mix-ups, nothing else."""
    ours, theirs = readings["avalon_1566"]
    for mine, ref in zip(ours.hashboards, theirs["hashboards"], strict=True):
        assert ref["temp"] == ref["chip_temp"] == mine.chip_temp  # pyasic: MTmax twice
        assert mine.temp is not None and mine.chip_temp is not None
        assert mine.temp < mine.chip_temp
    ours, theirs = readings["cgminer"]
    for mine, ref in zip(ours.hashboards, theirs["hashboards"], strict=True):
        assert (ref["temp"], ref["chip_temp"]) == (mine.chip_temp, mine.temp)  # swapped


def test_pyasic_misses_the_wattage_of_a_build_without_wallpower(
    readings: dict[str, tuple[MinerData, dict[str, Any]]],
) -> None:
    """Real firmware is the truth: PS's 7th value is the wall power when WALLPOWER is absent."""
    for kind in ("avalon_1246", "avalon_q"):
        ours, theirs = readings[kind]
        assert theirs["wattage"] is None, kind
        assert ours.wattage is not None and ours.wattage > 0, kind
    ours, theirs = readings["avalon_q"]
    assert (ours.fault_light, theirs["fault_light"]) == (None, False)  # no Led[] to read
    assert len(ours.fans) == 4 and len(theirs["fans"]) == 2  # Fan1..Fan4 in the estats
    assert [f.speed for f in ours.fans[:2]] == theirs["fans"]

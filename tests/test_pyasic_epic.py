"""pyasic (in its own venv) reads our simulated ePIC miner the way asic_bridge does.

Every field pyasic demonstrably gets wrong is skipped by name, with the reason beside it,
and a separate test pins down how its value relates to ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reference.compare import BackgroundLoop, differences, pyasic_available, run_pyasic

from asic_bridge import sim
from asic_bridge.data import MinerData
from asic_bridge.factory import get_miner

KIND = "epic_s19jpro"
ADDRESS = "127.25.1.1"

SKIPS = frozenset(
    {
        # pyasic makes one Fan per key of "Fans Rpm": the 12 connectors, empty ones (null)
        # included, in the JSON's text order ("Fans Speed 1", "Fans Speed 10", ...).
        "fans",
        # pyasic lists only the connected pool (Stratum), not the backups in StratumConfigs.
        "pools.count",
        # pyasic truncates the board temperature with int(); ePIC reports 1/16 °C steps.
        *(f"hashboards[{slot}].temp" for slot in range(3)),
    }
)


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
    assert theirs["cls"] == "ePICS19jPro"
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
    assert (theirs["mac"].lower(), theirs["fw_ver"], theirs["uptime"]) == (
        ours.mac,
        ours.fw_ver,
        ours.uptime,
    )
    assert [b["serial_number"] for b in theirs["hashboards"]] == [
        b.serial_number for b in ours.hashboards
    ]
    assert theirs["errors"] == [] and ours.errors == []
    assert differences(ours, theirs, rel=0.01, skip=SKIPS) == []


def test_skips_hide_only_pyasic_defects(reading: tuple[MinerData, dict[str, Any]]) -> None:
    ours, theirs = reading
    assert [s for s in theirs["fans"] if s is not None] == [f.speed for f in ours.fans]
    assert len(theirs["fans"]) == 12  # every connector, empty ones as None
    for mine, ref in zip(ours.hashboards, theirs["hashboards"], strict=True):
        assert mine.temp is not None and ref["temp"] == int(mine.temp)
    (connected,) = theirs["pools"]
    assert len(ours.pools) == 2 and ours.pools[0].active and not ours.pools[1].active
    for key in ("url", "user", "accepted", "rejected", "active", "alive"):
        assert connected[key] == getattr(ours.pools[0], key), key

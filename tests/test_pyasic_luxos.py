"""pyasic (in its own venv) reads our simulated LuxOS miner the way asic_bridge does.

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

KIND = "luxos_s19jpro"
ADDRESS = "127.22.9.1"

SKIPS = frozenset(
    {
        # pyasic's LUXMiner._get_mac has `return None` before its parsing code (dead code),
        # so it never reports the MAC that `config` carries in MACAddr.
        "mac",
        # pyasic has no hostname source for LuxOS; `config` carries Hostname.
        "hostname",
        # pyasic says the light is on whenever RedLed != "off"; LuxOS reports "auto" (the
        # firmware's own status indication) by default, and only "blink"/"on" is the locate
        # light that fault_light_on sets.
        "fault_light",
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
    assert theirs["cls"] == "LUXMinerS19jPro"
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
    assert theirs["wattage_limit"] == ours.wattage_limit
    assert differences(ours, theirs, rel=0.01, skip=SKIPS) == []


def test_skips_hide_only_pyasic_defects(reading: tuple[MinerData, dict[str, Any]]) -> None:
    ours, theirs = reading
    assert theirs["mac"] is None and theirs["hostname"] is None
    assert ours.mac and ours.hostname
    assert theirs["fault_light"] is True and ours.fault_light is False  # RedLed "auto"

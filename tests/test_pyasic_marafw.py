"""pyasic (in its own venv) reads the simulated MaraFW S19 XP the way asic_bridge does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reference.compare import BackgroundLoop, differences, pyasic_available, run_pyasic

from asic_bridge import sim
from asic_bridge.data import MinerData
from asic_bridge.factory import get_miner

ADDRESS = "127.23.10.1"

# pyasic 0.79's MaraMiner._get_wattage (like _is_mining and _get_uptime) has a bare
# ``return None`` before its parsing code, so it never reports the power that ``brief``
# carries in ``power_consumption_estimated``.
SKIP = frozenset({"wattage"})


async def _ours(address: str) -> MinerData:
    miner = await get_miner(address, use_cache=False)
    assert miner is not None
    try:
        return await miner.get_data()
    finally:
        await miner.aclose()


@pytest.fixture(scope="module")
def readings() -> Iterator[tuple[MinerData, dict[str, Any]]]:
    if not pyasic_available():
        pytest.skip("pyasic venv (.venvs/pyasic) is missing")
    runner = BackgroundLoop()
    sims = runner.run(sim.start_fleet([f"marafw_s19xp@{ADDRESS}"]))
    try:
        moment = sims[0].state.clock() + 600.0
        sims[0].state.jitter = 0.0
        sims[0].state.clock = lambda: moment
        theirs = run_pyasic([ADDRESS], timeout=3.0)[ADDRESS]
        yield runner.run(_ours(ADDRESS)), theirs
    finally:
        runner.run(sim.stop_fleet(sims))
        runner.close()


def test_pyasic_identifies_the_same_miner(readings: tuple[MinerData, dict[str, Any]]) -> None:
    ours, theirs = readings
    assert theirs["found"] and theirs["error"] is None, theirs
    assert theirs["cls"] == "MaraS19XP"
    assert (theirs["make"], theirs["model"], theirs["firmware"]) == (
        ours.make,
        ours.model,
        ours.firmware,
    )


def test_pyasic_reads_the_same_values(readings: tuple[MinerData, dict[str, Any]]) -> None:
    ours, theirs = readings
    assert ours.field_errors == {}
    for name in ("hashrate", "expected_hashrate", "fans", "hashboards", "pools", "mac"):
        assert theirs.get(name) not in (None, []), name
    assert differences(ours, theirs, rel=0.01, skip=SKIP) == []
    assert theirs["wattage"] is None and ours.wattage  # the skipped field, as documented

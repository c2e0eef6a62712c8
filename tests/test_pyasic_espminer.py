"""pyasic (in its own venv) reads our simulated BitAxe / LuckyMiner boards like asic_bridge does.

Same make/model/firmware, MAC, hostname, hashrate, expected hashrate, wattage, fans, board and
mining state; every field pyasic cannot read is skipped by name with the reason.
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

KINDS = (
    "bitaxe_gamma",  # 2.15.0
    "bitaxe_gamma:2.12.2",
    "bitaxe_gamma:2.7.0",
    "bitaxe_supra",  # 2.4.5
    "bitaxe_supra:2.4.2",
    "luckyminer_lv08",
)
ADDRESSES = {kind: f"127.24.11.{i}" for i, kind in enumerate(KINDS, start=1)}

# pyasic's ESPMiner has no pools parser (its DataLocations never name "pools"), so it always
# reports an empty pool list; asic_bridge reads the primary and fallback stratum settings.
SKIP = frozenset({"pools.count"})


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
        theirs = run_pyasic(list(ADDRESSES.values()), timeout=3.0)
        ours = {kind: runner.run(_ours(ADDRESSES[kind])) for kind in KINDS}
        yield {kind: (ours[kind], theirs[ADDRESSES[kind]]) for kind in KINDS}
    finally:
        runner.run(sim.stop_fleet(sims))
        runner.close()


@pytest.mark.parametrize("kind", KINDS)
def test_pyasic_identifies_the_same_board(
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
    for name in ("hashrate", "expected_hashrate", "fans", "hashboards", "wattage", "mac"):
        assert theirs.get(name) not in (None, []), (kind, name)
    assert theirs["pools"] == [] and len(ours.pools) == 2  # the documented skip, nothing more
    assert differences(ours, theirs, rel=0.01, skip=SKIP) == []

"""pyasic (in its own venv) reads our simulated Braiins OS miners like asic_bridge does.

Legacy BOSminer is read by pyasic's BOSMiner class over RPC, LuCI and SSH; BOS+ by its BOSer
class over RPC and the gRPC API.  Same make/model/firmware and the same values means the
simulators are faithful and the drivers agree with the reference.
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

KINDS = ("braiins_s9", "braiins_s19", "braiins_bmm101")
ADDRESSES = {kind: f"127.21.3.{i}" for i, kind in enumerate(KINDS, start=1)}
CLASSES = {"braiins_s9": "BOSMinerS9", "braiins_s19": "BOSMinerS19jPro",
           "braiins_bmm101": "BraiinsBMM101"}  # fmt: skip


# pyasic cuts board temperatures to whole degrees: BOSMiner._get_hashboards rounds the RPC
# ``temps`` values (round(81.875) = 82) and BOSer._get_hashboards truncates the gRPC ones
# (int(60.9) = 60).  The firmware reports fractions (1/16 degC); asic_bridge keeps them.
TEMP_SKIP = frozenset(
    f"hashboards[{slot}].{key}" for slot in range(3) for key in ("temp", "chip_temp")
)


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
    assert theirs["cls"] == CLASSES[kind]  # legacy -> BOSMiner backend, BOS+ -> BOSer
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
    for name in ("hashrate", "expected_hashrate", "fans", "hashboards", "pools", "mac",
                 "hostname", "wattage", "is_mining"):  # fmt: skip
        assert theirs.get(name) not in (None, []), (kind, name)
    assert theirs["wattage_limit"] == ours.wattage_limit
    assert theirs["fw_ver"] == ours.fw_ver and theirs["api_ver"] == ours.api_ver
    if kind != "braiins_s9":
        assert theirs["serial_number"] == ours.serial_number
    assert differences(ours, theirs, rel=0.01, skip=TEMP_SKIP) == []


def test_skipped_fields_differ_only_by_rounding(
    readings: dict[str, tuple[MinerData, dict[str, Any]]],
) -> None:
    for kind in KINDS:
        ours, theirs = readings[kind]
        for mine, ref in zip(ours.hashboards, theirs["hashboards"], strict=True):
            for key in ("temp", "chip_temp"):
                value = getattr(mine, key)
                assert value is not None and abs(value - ref[key]) < 1.0, (kind, key)

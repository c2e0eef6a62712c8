"""pyasic (in its own venv) reads the simulated Hammer D10 and VolcMiner D1 like we do.

Two pyasic defects shape this test:

* pyasic decides Hammer vs VolcMiner, and reads the model, with the *Hammer* web password
  (``root``) but VolcMiner's default is ``ltc@dog``: on a VolcMiner with its default password
  pyasic finds only "Hammer, model unknown".  The VolcMiner here therefore uses ``root`` (a
  box whose owner set that), which pyasic reads; it still looks the model up with
  ``ltc@dog``, fails, and falls back to its generic class: no model, no model facts (boards,
  fans, expected rate) and hash rates in H/s.
* pyasic's dict decoding keeps only the last of the four repeated ``tempN`` keys (a chip
  sensor) and reports it as the board temperature too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reference.compare import BackgroundLoop, differences, pyasic_available, run_pyasic

from asic_bridge import sim
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.factory import get_miner
from asic_bridge.sim.hammer import BlackMinerSim

ADDRESSES = {"hammer_d10": "127.23.10.41", "volcminer_d1": "127.23.10.42"}
VOLC_PASSWORD = "root"

# pyasic's BlackMiner: board temp = the last repeated tempN value, which is a chip sensor.
TEMP_SKIP = frozenset(f"hashboards[{slot}].temp" for slot in range(3))
SKIPS = {
    # pyasic's D10 spec says 2 fans; the D10's stats report fan_num 4 with four spinning.
    "hammer_d10": TEMP_SKIP | {"fans"},
    # pyasic cannot name the VolcMiner model (see the module docstring): no boards, no fans,
    # no expected rate, and its hash rate is in H/s (checked by hand below).
    "volcminer_d1": frozenset(
        {"model", "hashrate", "expected_hashrate", "fans", "hashboards.count"}
    ),
}


async def _ours(address: str, credentials: Credentials | None) -> MinerData:
    miner = await get_miner(address, use_cache=False, credentials=credentials)
    assert miner is not None
    try:
        return await miner.get_data()
    finally:
        await miner.aclose()


@pytest.fixture(scope="module")
def readings() -> Iterator[dict[str, tuple[MinerData, dict[str, Any]]]]:
    if not pyasic_available():
        pytest.skip("pyasic venv (.venvs/pyasic) is missing")
    runner = BackgroundLoop()
    sims = runner.run(sim.start_fleet([f"{k}@{a}" for k, a in ADDRESSES.items()]))
    try:
        for s in sims:
            moment = s.state.clock() + 600.0
            s.state.jitter = 0.0
            s.state.clock = lambda moment=moment: moment  # type: ignore[misc]
            if s.kind == "volcminer_d1":
                assert isinstance(s, BlackMinerSim)
                s.web_password = VOLC_PASSWORD
        theirs = run_pyasic(list(ADDRESSES.values()), timeout=3.0)
        creds = {"volcminer_d1": Credentials(password=VOLC_PASSWORD)}
        yield {
            kind: (runner.run(_ours(address, creds.get(kind))), theirs[address])
            for kind, address in ADDRESSES.items()
        }
    finally:
        runner.run(sim.stop_fleet(sims))
        runner.close()


@pytest.mark.parametrize("kind", list(ADDRESSES))
def test_pyasic_identifies_the_same_miner(
    kind: str, readings: dict[str, tuple[MinerData, dict[str, Any]]]
) -> None:
    ours, theirs = readings[kind]
    assert theirs["found"] and theirs["error"] is None, theirs
    assert (theirs["make"], theirs["firmware"]) == (ours.make, ours.firmware)
    if kind == "hammer_d10":
        assert theirs["model"] == ours.model == "D10"
    else:
        assert ours.model == "D1" and theirs["model"] is None  # pyasic's password mix-up


@pytest.mark.parametrize("kind", list(ADDRESSES))
def test_pyasic_reads_the_same_values(
    kind: str, readings: dict[str, tuple[MinerData, dict[str, Any]]]
) -> None:
    ours, theirs = readings[kind]
    assert ours.field_errors == {}
    for name in ("hashrate", "pools", "mac", "hostname", "fw_ver"):
        assert theirs.get(name) not in (None, []), name
    assert theirs["fw_ver"] == ours.fw_ver and theirs["api_ver"] == ours.api_ver
    assert differences(ours, theirs, rel=0.01, skip=SKIPS[kind]) == []


def test_skipped_fields_differ_only_as_documented(
    readings: dict[str, tuple[MinerData, dict[str, Any]]],
) -> None:
    ours, theirs = readings["hammer_d10"]
    for mine, ref in zip(ours.hashboards, theirs["hashboards"], strict=True):
        assert ref["temp"] == ref["chip_temp"] == mine.chip_temp  # the last tempN, twice
        assert mine.temp is not None and mine.chip_temp is not None
        assert mine.temp < mine.chip_temp
    assert theirs["fans"] == [f.speed for f in ours.fans][:2]
    ours, theirs = readings["volcminer_d1"]
    assert ours.hashrate is not None
    assert theirs["hashrate"] == pytest.approx(ours.hashrate * 1e9, rel=0.01)  # H/s vs GH/s

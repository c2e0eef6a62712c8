"""Generic CGMiner/BMMiner parsers on real stock Antminer RPC captures (bare API, no web UI).

``bmminer-2.0.0-2019-07-31``: an S9 whose ``stats`` lacks the comma between its two STATS
objects (kept as raw text, read through the RPC client's repair) and whose chain 7 chip
sensor reads -83 degC; ``cgminer-4.9.0-2019-12-13``: a T15.  Expected values by hand.
"""

from __future__ import annotations

from typing import Any

import pytest
from real_captures import assert_same_shape, load
from sim_answers import rpc_answer, serving

from asic_bridge import catalog
from asic_bridge.drivers import cgminer as cg
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.transport.rpc import parse_rpc_payload

S9 = "bmminer-2.0.0-2019-07-31"
T15 = "cgminer-4.9.0-2019-12-13"


def ctx(model: str | None) -> ParseContext:
    info = catalog.lookup(model) if model else None
    return ParseContext("SHA256", info, Identity(ip="x", make="AntMiner", firmware="Stock"))


def rpc(version: str, command: str) -> Any:
    """A capture as the RPC client reads it: raw ``.txt`` bytes go through the repairs."""
    try:
        return load("cgminer", version, f"{command}.json")
    except FileNotFoundError:
        return parse_rpc_payload(load("cgminer", version, f"{command}.txt").encode())


def test_s9_stats_with_missing_comma_is_read() -> None:
    raw = load("cgminer", S9, "stats.txt")
    assert "}{" in raw  # the firmware's own defect: no comma between the STATS objects
    stats = rpc(S9, "stats")
    c = ctx("Antminer S9")
    boards = cg.parse_cgminer_hashboards(c, stats, {})
    assert boards is not None
    # chains 6-8: chain_rate "4618.85"/"4624.55"/"4640.41" GH/s -> TH/s, 63 chips each
    assert [b.hashrate for b in boards] == pytest.approx([4.61885, 4.62455, 4.64041])
    assert [b.chips for b in boards] == [63, 63, 63]
    # temp6 75, temp7 0 (no sensor), temp8 73
    assert [b.temp for b in boards] == [75, None, 73]
    # temp2_6 62, temp2_7 -83: a broken chip sensor, not a reading; temp2_8 62
    assert [b.chip_temp for b in boards] == [62, None, 62]
    # total_rateideal 13862.52 GH/s
    assert cg.parse_cgminer_expected_hashrate(c, stats) == pytest.approx(13.86252)
    fans = cg.parse_cgminer_fans(c, stats)
    assert fans is not None and [f.speed for f in fans] == [3720, 2400]  # fan5, fan6


def test_s9_version_names_the_model_on_its_first_line() -> None:
    version = rpc(S9, "version")
    entry = version["VERSION"][0]
    assert entry["Type"] == "Antminer S9\nV1.3.58"  # as the firmware sends it
    assert cg.model_name(entry["Type"]) == "Antminer S9"
    info = catalog.lookup(cg.model_name(entry["Type"]))
    assert info is not None and info.model == "S9"  # the whole string found no model
    assert cg.program_of(entry) == ("BMMiner", "2.0.0")
    c = ctx("Antminer S9")
    assert cg.parse_cgminer_fw_ver(c, version) == "Wed Jul 31 16:18:27 CST 2019"
    assert cg.parse_api_ver(c, version) == "3.1"


def test_s9_pools() -> None:
    pools = cg.parse_pools(ctx("Antminer S9"), rpc(S9, "pools"))
    assert pools[0].url == "stratum+tcp://ss.antpool.com:3333"
    assert (pools[0].accepted, pools[0].rejected, pools[0].active) == (22673, 8, True)


def test_t15_cgminer_4_9() -> None:
    c = ctx(None)  # the T15 is not in the catalog: counts come from the payload
    stats = rpc(T15, "stats")
    boards = cg.parse_cgminer_hashboards(c, stats, {})
    assert boards is not None
    # chain_rate1..3 "8048.19"/"6574.89"/"6992.69" GH/s, chain_acn 60 each
    assert [b.hashrate for b in boards] == pytest.approx([8.04819, 6.57489, 6.99269])
    assert [b.chips for b in boards] == [60, 60, 60]
    assert [(b.temp, b.chip_temp) for b in boards] == [(40, 29), (35, 29), (39, 28)]
    assert cg.parse_cgminer_expected_hashrate(c, stats) == pytest.approx(21.0)  # 21000.0 GH
    fans = cg.parse_cgminer_fans(c, stats)
    assert fans is not None and [f.speed for f in fans] == [2880, 2880]  # fan1, fan2
    version = rpc(T15, "version")
    assert cg.program_of(version["VERSION"][0]) == ("CGMiner", "4.9.0")
    pools = cg.parse_pools(c, rpc(T15, "pools"))
    assert (pools[0].accepted, pools[0].alive) == (777, True)


# ----------------------------------------------------------------------------- simulator shapes
@pytest.mark.parametrize("command", ["version", "stats", "pools"])
async def test_simulator_has_the_s9_capture_shape(command: str) -> None:
    async with serving("cgminer") as miner:  # the generic kind serves this build's keys
        answer = await rpc_answer(miner, command)
    # VER: a build number only this S9 build adds; the generic kind leaves it out because
    # every CGMiner-based kind (LuxOS, Braiins...) inherits its version answer.
    assert_same_shape(rpc(S9, command), answer, ignore=["$.VERSION[].VER"])

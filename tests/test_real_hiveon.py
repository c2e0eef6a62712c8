"""Hiveon parsers on real captures (tests/fixtures/real/hiveon/, sources.yaml).

``2.0.0-rwglr-2019-11-20``: an S9 on Hiveon, RPC ``version`` and ``stats`` (raw text: the
missing comma between the STATS objects); ``4.11.1-rwglr-2024-04-19``: an S19j Pro's
``version`` (pyasic issue #243).  Expected values are derived by hand.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from real_captures import assert_same_shape, load
from sim_answers import our_reading, rpc_answer, serving

from asic_bridge.catalog import lookup
from asic_bridge.drivers import antminer as am
from asic_bridge.drivers import hiveon as hv
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.transport.rpc import parse_rpc_payload

S9 = "2.0.0-rwglr-2019-11-20"


def ctx(model: str) -> ParseContext:
    return ParseContext(
        "SHA256", lookup(model, make="AntMiner"), Identity(ip="x", make="AntMiner", firmware="Hive")
    )


def s9_stats() -> Any:
    return parse_rpc_payload(load("hiveon", S9, "stats.txt").encode())


def test_s9_identity() -> None:
    entry = load("hiveon", S9, "version.json")["VERSION"][0]
    assert hv.MARKER in entry["Type"].upper()  # "Antminer S9 Hiveon"
    assert hv.model_from_type(entry["Type"])[0] == "S9"
    assert entry["BMMiner"] == "2.0.0 rwglr"


def test_s9_boards_fans_rates() -> None:
    c, stats = ctx("S9"), s9_stats()
    boards = hv.parse_hashboards_x9(c, stats)
    # S9 layout (chains 6-8, not the T9's 2,9,10...): chain_rate "3911.64"/"3913.70"/"3956.05"
    assert [b.hashrate for b in boards] == pytest.approx([3.91164, 3.9137, 3.95605])
    assert [b.chips for b in boards] == [63, 63, 63]
    assert [(b.temp, b.chip_temp) for b in boards] == [(59, 74), (50, 65), (57, 72)]
    assert am.parse_expected_hashrate(c, stats) == pytest.approx(11.8503)  # 11850.30 GH
    assert am.parse_uptime(c, stats) == 69  # Elapsed
    assert [f.speed for f in am.parse_fans(c, stats)] == [3840, 4920]  # fan5, fan6
    assert hv.parse_env_temp_x9(c, stats) is None  # temp3_N all 0


def test_s9_chain_power_not_in_watts_is_not_read() -> None:
    """``chain_power`` "34.65 (AB)" (chain_powerN 11.55) while hashing 11.8 TH/s: not watts.
    We used to publish 35 W for a ~1200 W machine."""
    stats = s9_stats()
    assert stats["STATS"][1]["chain_power"] == "34.65 (AB)"
    assert hv.parse_wattage(ctx("S9"), stats) is None


def test_s19jpro_2024_version() -> None:
    version = load("hiveon", "4.11.1-rwglr-2024-04-19", "version.json")
    entry = version["VERSION"][0]
    # "Antminer S19JPRO Hiveon": the marker cut off, then the stock normalisation
    model, info = hv.model_from_type(entry["Type"])
    assert model == "S19j Pro" and info is not None
    c = ctx("S19j Pro")
    assert am.parse_fw_ver(c, version) == "Fri Apr 19 10:58:21 UTC 2024"
    assert am.parse_api_ver(c, version) == "3.1"


def test_s19x88_2025_stats_power_and_voltages() -> None:
    stats = load("hiveon", "4.11.1-rwglr-2025-04-10", "stats.json")
    model, info = hv.model_from_type(stats["STATS"][0]["Type"])  # "Antminer S19x88 Hiveon"
    assert model == "S19 No PIC" and info is not None and info.chips_per_board == 88
    c = ctx("S19 No PIC")
    assert hv.parse_wattage(c, stats) == 1345  # total_power, in watts on this build
    boards = hv.parse_hashboards(c, stats)
    # chain_rate1..3 are numbers here (2264.99 ...), chain_voltageN 14.2 V
    assert [b.hashrate for b in boards] == pytest.approx([2.26499, 1.78121, 2.7048])
    assert [b.voltage for b in boards] == [14.2, 14.2, 14.2]
    assert [(b.temp, b.chip_temp) for b in boards] == [(50, 61), (46, 56), (48, 56)]
    assert [f.speed for f in am.parse_fans(c, stats)] == [3090, 3000, 3000, 3090]


# ----------------------------------------------------------------------------- simulator shapes
@pytest.mark.parametrize("command", ["version", "stats"])
async def test_s9_simulator_has_the_capture_shape(command: str) -> None:
    capture = load("hiveon", S9, "version.json") if command == "version" else s9_stats()
    async with serving(f"hiveon_s9:{S9}") as miner:
        assert_same_shape(capture, await rpc_answer(miner, command))


async def test_s19jpro_simulator_has_the_2025_stats_shape() -> None:
    version = "4.11.1-rwglr-2025-04-10"
    async with serving(f"hiveon_s19jpro:{version}") as miner:
        stats = await rpc_answer(miner, "stats")
        answer = await rpc_answer(miner, "version")
    assert_same_shape(load("hiveon", version, "stats.json"), stats)
    # the version answer of the 2024 build (pyasic #243) has the same keys as this build's
    assert_same_shape(load("hiveon", "4.11.1-rwglr-2024-04-19", "version.json"), answer)


async def test_s9_simulator_stats_lacks_the_comma_like_the_build() -> None:
    async with serving("hiveon_s9") as miner:
        reader, writer = await asyncio.open_connection(miner.address, miner.ports["rpc"])
        writer.write(b'{"command":"stats"}')
        raw = await reader.read()
        writer.close()
    assert b'"}{"STATS":0' in raw  # the build's defect, on the wire
    assert parse_rpc_payload(raw)["STATS"][1]["STATS"] == 0  # and the client repairs it


async def test_s9_simulator_is_read_end_to_end() -> None:
    async with serving("hiveon_s9") as miner:
        ours, data = await our_reading(miner)
    assert isinstance(ours, hv.HiveonOld) and ours.model == "S9"
    assert [b.chips for b in data.hashboards] == [63, 63, 63]
    assert data.wattage is None  # "34.65 (AB)" is not watts
    assert data.field_errors == {}


# ----------------------------------------------------------------------------- fan control
def test_fan_percent_is_the_2025_fan_pwm() -> None:
    c, stats = ctx("S19"), load("hiveon", "4.11.1-rwglr-2025-04-10", "stats.json")
    assert hv.parse_fan_percent(c, stats) == 28  # fan_pwm 28 (fans at 3000-3090 RPM)
    entry = dict(stats["STATS"][1])
    for bad in (-1, 101, "x", None):
        broken = {**stats, "STATS": [stats["STATS"][0], dict(entry, fan_pwm=bad)]}
        assert hv.parse_fan_percent(c, broken) is None
    with pytest.raises(ValueError):
        hv.parse_fan_percent(c, {"STATS": "garbage"})


async def test_fan_writes_are_read_back() -> None:
    async with serving("hiveon_s19jpro") as s:
        ours, _ = await our_reading(s)
        assert ours.fan_modes() == ("normal", "manual")
        await ours.set_fan_mode({"mode": "manual", "speed": 70})
        data = await ours.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent) == ("manual", 70)  # fan_pwm follows
        await ours.set_fan_mode({"mode": "normal"})
        assert (await ours.get_data(include=["fan_mode"])).fan_mode == "normal"
        await ours.aclose()

"""Innosilicon parsers on a real A9 ZMaster (innominer a9-1.1.0, Equihash); values by hand."""

from __future__ import annotations

from typing import Any

import pytest
from real_captures import assert_same_shape, load, rpc_answers

from asic_bridge import catalog
from asic_bridge.credentials import Credentials
from asic_bridge.drivers import Evidence
from asic_bridge.drivers import innosilicon as inno
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.drivers.cgminer import parse_pools, parse_uptime

A9 = "a9-1.1.0"


def cap(name: str) -> Any:
    return load("innosilicon", A9, name)


def ctx() -> ParseContext:
    info = catalog.lookup("A9", make="Innosilicon")
    assert info is not None and info.algo == "Equihash"
    return ParseContext(info.algo, info, Identity(ip="", make="Innosilicon", firmware="Stock"))


def test_a9_hashrate_is_sol_per_second_under_mhs_keys() -> None:
    summary = cap("summary.json")
    # "MHS 1m" 51451.63 is Sol/s (an A9 makes ~50 kSol/s): 51.45 kSol/s, not 51 GSol/s
    assert inno.parse_hashrate(ctx(), summary) == pytest.approx(51.45163)
    assert inno.parse_is_mining(ctx(), summary) is True
    assert parse_uptime(ctx(), summary) == 48768  # Elapsed


def test_a9_chains_without_a_made_up_rate() -> None:
    boards = inno.parse_hashboards(ctx(), cap("stats.json"))
    assert [b.slot for b in boards] == [0, 1, 2]  # Chain ID 0..2 (HLT0..2)
    # per-chain "MHS av" (995328, 982368, 995328) does not add up to the 51451 Sol/s total:
    # no unit fits, so no board rate is reported
    assert [b.hashrate for b in boards] == [None, None, None]
    assert [(b.temp, b.chip_temp, b.chips) for b in boards] == [
        (62.0, 71.0, 12),  # Temp, Temp max, Num active chips
        (64.0, 72.0, 12),
        (60.0, 67.0, 12),
    ]
    assert [b.voltage for b in boards] == [0.863, 0.864, 0.867]  # Voltage Avg mV
    assert all(b.active and not b.missing for b in boards)


def test_a9_pools() -> None:
    pools = parse_pools(ctx(), cap("pools.json"))
    assert [p.url for p in pools][:2] == [
        "stratum+tcp://americas.equihash.mining-dutch.nl:6663",
        "stratum+tcp://solo-zen.2miners.com:7070",
    ]
    assert (pools[0].accepted, pools[0].rejected, pools[0].active) == (5128, 26, True)


async def test_a9_is_identified_by_its_build_name_without_the_web_ui() -> None:
    # The web API refuses (nothing listens on 127.173.0.1:9): the model comes from the build
    # name every reply carries ("innominer a9-1.1.0"), so the Sol/s unit is still known.
    evidence = Evidence(ip="127.173.0.1", ports={"http": 9}, rpc_version=cap("summary.json"))
    miner = await inno._build(evidence, Credentials())
    assert miner is not None
    try:
        assert (miner.identity.model, miner.identity.algo) == ("A9", "Equihash")
    finally:
        await miner.aclose()


@pytest.mark.parametrize(
    ("command", "name"), [("summary", "summary.json"), ("pools", "pools.json")]
)
async def test_simulator_rpc_in_the_innominer_shape(command: str, name: str) -> None:
    # No T3H+ answer is published; the T3H+ kind sends the key set of the same innominer
    # 1.1.x RPC as the A9 capture (stats differ by algorithm: chain fields, per-chip keys).
    (answer,) = await rpc_answers("innosilicon_t3hplus@127.173.1.1", command)
    assert_same_shape(cap(name), answer)


def test_a9_fan_percent_is_the_fan_duty() -> None:
    assert inno.parse_fan_percent(ctx(), cap("stats.json")) == 35  # "Fan duty": 35 x3
    for bad in ("x", 130, -2, None):
        broken = {"STATS": [{"Chain ID": 0, "Fan duty": bad}]}
        assert inno.parse_fan_percent(ctx(), broken) is None
    with pytest.raises(ValueError):
        inno.parse_fan_percent(ctx(), ["garbage"])
    assert inno.InnosiliconMiner("127.0.0.1").fan_modes() == ()  # no fan write documented

"""The generic CGMiner / BMMiner / BFGMiner family: parsers, and the driver against the
``cgminer`` simulator (an S9 on BMMiner, RPC only) over real sockets (127.13.2.x)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asic_bridge import catalog, settings
from asic_bridge.config import MinerConfig, MiningModeLow, Pool, PoolConfig
from asic_bridge.credentials import DEFAULT_CREDENTIALS
from asic_bridge.data import MinerData
from asic_bridge.drivers import Evidence
from asic_bridge.drivers import cgminer as cg
from asic_bridge.drivers.base import Capability, Identity, ParseContext
from asic_bridge.errors import ConfigError, UnsupportedError
from asic_bridge.factory import probe
from asic_bridge.sim.cgminer import CGMinerSim

S9 = catalog.lookup("Antminer S9")


def ctx(info: catalog.ModelInfo | None = S9) -> ParseContext:
    return ParseContext("SHA256", info, Identity(ip="10.0.0.9", make="AntMiner", firmware="Stock"))


def summary(**item: Any) -> dict[str, Any]:
    return {"STATUS": [{"STATUS": "S", "Code": 11}], "SUMMARY": [item], "id": 1}


# --------------------------------------------------------------------------- parsers
@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"GHS 5s": "13530.69", "GHS av": 13500.0}, 13.53069),  # BMMiner: a string, GH/s
        ({"MHS 5s": 13_530_690.0}, 13.53069),  # cgminer: MH/s
        ({"MHS 20s": 1500.5, "MHS av": 1400.0}, 0.0015005),  # BFGMiner
        ({"KHS 5s": 2_000_000_000}, 2.0),
        ({"GHS 5s": "n/a", "GHS av": 13500}, 13.5),  # unreadable window: next one
        ({"MHS 30s": 82_238_725.37, "MHS av": 81_332_660.35}, 82.23872537),  # Avalon
        ({"GHS 5s": "0.00"}, 0.0),
        ({"Elapsed": 10}, None),
    ],
)
def test_summary_hashrate_units(item: dict[str, Any], expected: float | None) -> None:
    value = cg.parse_summary_hashrate(ctx(), summary(**item))
    assert value == (pytest.approx(expected) if expected is not None else None)


def test_summary_shape_errors() -> None:
    with pytest.raises(ValueError):
        cg.parse_summary_hashrate(ctx(), {"STATUS": [{"STATUS": "S"}]})
    with pytest.raises(ValueError):
        cg.parse_uptime(ctx(), "garbage")
    assert cg.parse_uptime(ctx(), summary(Elapsed=81249)) == 81249
    assert cg.parse_uptime(ctx(), summary(Elapsed=-5)) is None
    assert cg.parse_is_mining(ctx(), summary(**{"GHS 5s": "0.00"})) is False


def s9_stats(dead: int | None = None) -> dict[str, Any]:
    chain: dict[str, Any] = {"STATS": 1, "ID": "BC50", "Elapsed": 100, "fan_num": 2}
    for slot in range(1, 17):
        alive = slot in (6, 7, 8) and slot != dead
        chain[f"chain_acn{slot}"] = 63 if alive else 0
        chain[f"chain_acs{slot}"] = " oooooooo" if alive else ""
        chain[f"chain_rate{slot}"] = "4500.12" if alive else ""
        chain[f"temp{slot}"] = 61 if alive else 0
        chain[f"temp2_{slot}"] = 76 if alive else 0
    for fan in range(1, 9):
        chain[f"fan{fan}"] = {5: 5400, 6: 5460}.get(fan, 0)
    chain["total_rateideal"] = 13500.0
    chain["rate_unit"] = "GH"
    return {"STATS": [{"BMMiner": "2.0.0", "Type": "Antminer S9"}, chain]}


def test_bmminer_boards_fans_expected() -> None:
    boards = cg.parse_cgminer_hashboards(ctx(), s9_stats(), {})
    assert boards is not None and [b.slot for b in boards] == [0, 1, 2]
    assert [b.hashrate for b in boards] == [pytest.approx(4.50012)] * 3
    assert [(b.temp, b.chip_temp, b.chips) for b in boards] == [(61.0, 76.0, 63)] * 3
    fans = cg.parse_cgminer_fans(ctx(), s9_stats())
    assert [f.speed for f in fans or []] == [5400, 5460]
    assert cg.parse_cgminer_expected_hashrate(ctx(), s9_stats()) == pytest.approx(13.5)


def test_bmminer_dead_board_is_reported_missing() -> None:
    boards = cg.parse_cgminer_hashboards(ctx(), s9_stats(dead=8), {})
    assert boards is not None and len(boards) == 3
    assert boards[2].missing and boards[2].hashrate is None and boards[2].chips == 0
    assert not boards[0].missing


def test_devs_are_boards_when_stats_has_no_chains() -> None:
    devs = {
        "DEVS": [
            {
                "ASC": 0,
                "Name": "BTB",
                "ID": 0,
                "Enabled": "Y",
                "Status": "Alive",
                "Temperature": 55.5,
                "MHS 5s": 1_000_000.0,
            },
            {
                "ASC": 1,
                "Name": "BTB",
                "ID": 1,
                "Enabled": "Y",
                "Status": "Sick",
                "Temperature": -273.0,
                "MHS 5s": 0.0,
            },
        ]
    }
    boards = cg.parse_cgminer_hashboards(ctx(None), {"STATS": [{"ID": "BTB0"}]}, devs)
    assert boards is not None
    assert [(b.hashrate, b.temp, b.active) for b in boards] == [
        (1.0, 55.5, True),
        (0.0, None, False),
    ]
    errors = cg.parse_cgminer_errors(ctx(None), devs)
    assert [e.error_message for e in errors] == ["BTB1 is Sick"]
    assert cg.parse_cgminer_hashboards(ctx(None), {"STATS": []}, {}) is None
    assert cg.parse_cgminer_fans(ctx(None), {"STATS": [{"ID": "x"}]}) is None


def test_pools_and_config() -> None:
    payload = {
        "POOLS": [
            {
                "POOL": 0,
                "URL": "stratum+tcp://a:3333",
                "Status": "Dead",
                "Priority": 1,
                "Accepted": "12",
                "Rejected": 1,
                "User": "w.1",
                "Stratum Active": False,
            },
            {
                "POOL": 1,
                "URL": "stratum+tcp://b:3333",
                "Status": "Alive",
                "Priority": 0,
                "Accepted": 5,
                "User": "w.2",
                "Stratum Active": True,
                "Get Failures": 2,
            },
            "junk",
        ]
    }
    metrics = cg.parse_pools(ctx(), payload)
    assert [(p.index, p.accepted, p.alive, p.active) for p in metrics] == [
        (0, 12, False, False),
        (1, 5, True, True),
    ]
    config = cg.parse_cgminer_config(ctx(), payload)
    assert config.pools is not None
    assert [p.url for p in config.pools.first_group] == [
        "stratum+tcp://b:3333",
        "stratum+tcp://a:3333",
    ]
    with pytest.raises(ValueError):
        cg.parse_pools(ctx(), None)


@pytest.mark.parametrize("value", ["a,b", "x|y", 'q"', "line\nbreak", "nul\x00"])
def test_pool_values_that_would_change_the_command_are_refused(value: str) -> None:
    with pytest.raises(ConfigError):
        cg.validate_pool_field("user", value)
    assert cg.validate_pool_field("user", "acct.worker_1") == "acct.worker_1"


@pytest.mark.parametrize(
    ("version", "matches"),
    [
        ({"VERSION": [{"BMMiner": "2.0.0", "API": "3.1"}]}, True),
        ({"VERSION": [{"CGMiner": "4.12.0", "API": "3.7"}]}, True),
        ({"STATUS": [{"STATUS": "S", "Description": "bfgminer 5.5.0"}], "VERSION": [{}]}, True),
        ({"STATUS": [{"STATUS": "S", "Description": "btminer"}], "VERSION": [{"x": 1}]}, False),
        (None, False),
    ],
)
def test_family_evidence(version: dict[str, Any] | None, matches: bool) -> None:
    assert cg._matches(Evidence(ip="10.0.0.9", rpc_version=version)) is matches


def test_firmware_version_preference() -> None:
    assert cg.parse_cgminer_fw_ver(ctx(), {"VERSION": [{"CGMiner": "4.12.0"}]}) == "4.12.0"
    bm = {"VERSION": [{"BMMiner": "2.0.0", "Miner": "16.8.1.3", "CompileTime": "Sat Mar 16"}]}
    assert cg.parse_cgminer_fw_ver(ctx(), bm) == "Sat Mar 16"
    assert cg.parse_api_ver(ctx(), {"VERSION": [{"API": "3.1"}]}) == "3.1"


# --------------------------------------------------------------------------- over sockets
_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def running(cls: type[CGMinerSim] = CGMinerSim) -> AsyncIterator[CGMinerSim]:
    miner = cls(f"127.13.2.{next(_hosts)}")
    miner.state.jitter = 0.0
    miner.restart_downtime = 0.2
    await miner.start()
    try:
        yield miner
    finally:
        await miner.stop()


async def settled(miner: cg.CGMiner) -> MinerData:
    """The first complete reading once the restarted backend answers again."""
    data = await miner.get_data()
    for _ in range(60):
        if not data.field_errors:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


async def build(s: CGMinerSim) -> cg.CGMiner:
    """Identify through this family (whatever families are tried before it)."""
    evidence = await probe(s.address, {}, per_probe=2.0)
    assert cg._matches(evidence)
    miner = await cg.FAMILIES[0].build(evidence, DEFAULT_CREDENTIALS)
    assert isinstance(miner, cg.CGMiner)
    return miner


async def test_identify_and_read_the_s9() -> None:
    async with running() as s:
        miner = await build(s)
        assert (miner.identity.make, miner.model, miner.identity.firmware) == (
            "AntMiner",
            "S9",
            "Stock",
        )
        assert miner.capabilities == {
            Capability.GET_CONFIG,
            Capability.RESTART_BACKEND,
            Capability.SEND_CONFIG,
        }
        s.reset_counters()
        data = await miner.get_data()
        assert s.counters["rpc"].connections == 1
        assert data.field_errors == {}
        assert (data.make, data.model, data.firmware) == ("AntMiner", "S9", "Stock")
        assert data.hashrate == pytest.approx(13.5, rel=1e-3)
        assert data.expected_hashrate == pytest.approx(13.5, rel=1e-3)
        assert [b.chips for b in data.hashboards] == [63, 63, 63]
        assert len(data.fans) == 2 and all(f.speed for f in data.fans)
        assert data.fw_ver == s.compile_time and data.api_ver == "3.1"
        assert data.is_mining is True
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.total_chips == data.expected_chips == 189


async def test_restart_backend_resets_elapsed() -> None:
    async with running() as s:
        miner = await build(s)
        started = s.state.backend_started_at
        assert await miner.restart_backend() is True
        await asyncio.sleep(0.05)
        data = await settled(miner)
        assert data.field_errors == {}
        assert s.state.backend_started_at > started


async def test_unsupported_controls_raise_clearly() -> None:
    async with running() as s:
        miner = await build(s)
        for call in (miner.fault_light_on, miner.reboot, miner.stop_mining, miner.resume_mining):
            with pytest.raises(UnsupportedError):
                await call()
        with pytest.raises(UnsupportedError):
            await miner.set_power_limit(1200)
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))


def pool(name: str) -> Pool:
    return Pool(url=f"stratum+tcp://{name}.example:3333", user=f"acct.{name}", password="x")


async def test_pool_config_round_trip() -> None:
    async with running() as s:
        miner = await build(s)
        live = await miner.get_config()
        assert live.pools is not None
        kept = live.pools.first_group[0]
        await miner.send_config(MinerConfig(pools=PoolConfig.simple([pool("new"), kept])))
        after = await miner.get_config()
        assert after.pools is not None
        assert [(p.url, p.user) for p in after.pools.first_group] == [
            ("stratum+tcp://new.example:3333", "acct.new"),
            (kept.url, kept.user),
        ]
        data = await miner.get_data(include=["pools"])
        assert data.pools[[p.url for p in data.pools].index(pool("new").url)].active
        # the same config again changes nothing
        s.reset_counters()
        await miner.send_config(MinerConfig(pools=after.pools))
        assert s.counters["rpc"].by_key["addpool"] == 0
        assert s.counters["rpc"].by_key["removepool"] == 0


async def test_bad_pool_value_sends_nothing() -> None:
    async with running() as s:
        miner = await build(s)
        bad = Pool(url="stratum+tcp://x:1", user="a,b")
        with pytest.raises(ConfigError):
            await miner.send_config(MinerConfig(pools=PoolConfig.simple([bad])))
        assert s.counters["rpc"].by_key["addpool"] == 0


class ReadOnlyAPI(CGMinerSim):
    """A BMMiner whose api-allow grants no write access."""

    def cmd_privileged(self, parameter: str | None) -> dict[str, Any]:
        return self.err(45, "Access denied to 'privileged' command")


async def test_read_only_api_offers_no_writes() -> None:
    async with running(ReadOnlyAPI) as s:
        miner = await build(s)
        assert miner.capabilities == {Capability.GET_CONFIG}
        with pytest.raises(UnsupportedError):
            await miner.restart_backend()
        assert (await miner.get_config()).pools is not None


@pytest.mark.parametrize("mode", ["hang", "garbage", "reset", "offline"])
async def test_misbehaving_cgminer_is_bounded(mode: str) -> None:
    async with running() as s:
        miner = await build(s)
        settings.update("api_function_timeout", 0.5)
        await s.set_mode(mode)  # type: ignore[arg-type]
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data()
        assert {"hashrate", "hashboards", "pools", "uptime"} <= set(data.field_errors)
        assert data.api_ver == "3.1"  # learned at identification
        await s.set_mode("normal")
        assert (await miner.get_data()).field_errors == {}

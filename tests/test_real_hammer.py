"""Hammer D10 (blackMiner firmware, ccminer 2.3.3, built 2023-05-28) against real answers.

The ``stats`` capture repeats each ``tempN`` key four times in one object; it is kept as raw
text and decoded as the driver decodes the wire.  The shape tests start the simulated
firmware on 127.134.1.x and compare each answer with its capture.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from real_captures import assert_same_shape, load, parse_context

from asic_bridge import sim
from asic_bridge.config import MinerConfig, Pool, PoolConfig
from asic_bridge.drivers import hammer
from asic_bridge.drivers.antminer import decode_miner_conf, parse_api_ver, parse_fw_ver, parse_mac
from asic_bridge.drivers.base import ParseContext
from asic_bridge.errors import ConfigError, NotAppliedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.http_server import HttpReply, Request, json_reply

FAMILY = "hammer"
VERSION = "2023-05-28"


def stats() -> dict[str, Any]:
    text = load(FAMILY, VERSION, "stats.txt")
    return hammer.loads_keeping_duplicates(text.encode())


def ctx() -> ParseContext:
    return parse_context("Hammer", "D10", "Scrypt")


def test_repeated_temperature_keys_are_all_kept() -> None:
    body = stats()["STATS"][1]
    assert body["temp1"] == [21, 42, 21, 45]  # four "temp1" keys on the wire, in order
    assert body["temp4"] == [0, 0, 0, 0]


def test_2023_05_28_reads() -> None:
    c = ctx()
    summary = load(FAMILY, VERSION, "summary.json")
    assert hammer.parse_hashrate(c, summary) == pytest.approx(4.8850813)  # "4885.0813" MH/s
    raw = stats()
    assert hammer.parse_uptime(c, raw) == 119161  # Elapsed
    # fan_num 4 -> fan1..fan4
    assert [f.speed for f in hammer.parse_fans(c, raw)] == [4650, 4500, 3870, 3930]
    boards = hammer.parse_hashboards(c, raw)
    assert len(boards) == 3  # chain_acn4 0, chain_acs4 "", chain_rate4 "": no fourth board
    assert [b.hashrate for b in boards] == pytest.approx([1.5782742, 1.5943646, 1.5138498])
    assert [b.chips for b in boards] == [108, 108, 108]
    # tempN = [pcb, chip, pcb, chip]: board = mean of the PCB sensors, chip = the hotter chip
    assert [(b.temp, b.chip_temp) for b in boards] == [(21, 45), (22, 42), (19, 40)]
    # no total_rateideal in this build: the catalog's nominal 5.0 GH/s
    assert hammer.parse_expected_hashrate(c, raw) == pytest.approx(5.0)
    version = load(FAMILY, VERSION, "version.json")
    assert parse_fw_ver(c, version) == "2023-05-28 17-20-35 CST"
    assert parse_api_ver(c, version) == "3.1"
    assert parse_mac(c, load(FAMILY, VERSION, "get_system_info.json")) == "00:00:5e:00:53:12"
    config: MinerConfig = decode_miner_conf(load(FAMILY, VERSION, "get_miner_conf.json"))
    assert config.pools is not None
    assert [p.url for p in config.pools.first_group] == [
        "stratum+tcp://stratum.pool.io:3333",
        "stratum+tcp://stratum.pool.io:3334",
        "stratum+tcp://stratum.pool.io:3335",
    ]


_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[hammer.HammerMiner]:
    """The simulated build on its own address, and our driver identified on it."""
    s = sim.create(f"hammer_d10:{VERSION}@127.134.1.{next(_hosts)}")
    await s.start()
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, hammer.HammerMiner)
        yield miner
        await miner.aclose()
    finally:
        await s.stop()


@pytest.mark.parametrize("command", ["version", "summary", "stats"])
async def test_rpc_answers_like_the_capture(command: str) -> None:
    async with served() as miner:
        answer = await miner._rpc_one(command, 3.0)
    name = "stats.txt" if command == "stats" else f"{command}.json"
    capture = stats() if command == "stats" else load(FAMILY, VERSION, name)
    assert_same_shape(capture, answer)


@pytest.mark.parametrize("page", ["get_system_info", "get_miner_conf"])
async def test_cgi_answers_like_the_capture(page: str) -> None:
    async with served() as miner:
        answer = await miner._web_source(page)
    assert_same_shape(load(FAMILY, VERSION, f"{page}.json"), answer)


async def test_the_simulator_repeats_the_key_on_the_wire_as_the_firmware_does() -> None:
    """Decoded, an array and a repeated key look alike; the raw bytes must repeat the key."""
    async with served() as miner:
        raw = await miner.rpc.send_raw(b'{"command":"stats"}', command="stats", timeout=3.0)
        batched = await miner.rpc.send_raw(
            b'{"command":"summary+stats"}', command="summary+stats", timeout=3.0
        )
    captured = load(FAMILY, VERSION, "stats.txt")
    for n in (1, 2, 3, 4):
        key = f'"temp{n}":'
        assert captured.count(key) == 4  # the firmware: four times, one number each
        for answer in (raw.decode(), batched.decode()):
            assert answer.count(key) == 4, (n, answer[:200])
            assert f"{key}[" not in answer


async def test_pools_the_firmware_acknowledges_but_keeps_are_not_an_ok() -> None:
    s = sim.create(f"hammer_d10:{VERSION}@127.134.2.1")
    await s.start()
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, hammer.HammerMiner)
        before = [(p.url, p.user) for p in s.state.pools]
        pools = PoolConfig.simple([Pool(url="stratum+tcp://ltc.example:3333", user="me.d10")])
        await miner.send_config(MinerConfig(pools=pools))  # applied: read back, no error
        assert [p.url for p in s.state.pools] == ["stratum+tcp://ltc.example:3333"]

        async def acknowledge_only(request: Request) -> HttpReply:
            return json_reply({"stats": "success", "code": "M000", "msg": "OK!"})

        s.servers["http"].route("*", "/cgi-bin/set_miner_conf.cgi", acknowledge_only)
        other = PoolConfig.simple([Pool(url="stratum+tcp://other.example:1", user="me.x")])
        with pytest.raises(NotAppliedError) as caught:
            await miner.send_config(MinerConfig(pools=other))
        assert caught.value.applied == [("stratum+tcp://ltc.example:3333", "me.d10")]
        assert before != caught.value.applied  # the first write did land
        await miner.aclose()
    finally:
        await s.stop()


# ----------------------------------------------------------------------------- fan control
def test_fan_mode_from_the_2023_config() -> None:
    from asic_bridge.drivers.antminer import parse_fan_mode, parse_fan_percent

    conf = load(FAMILY, VERSION, "get_miner_conf.json")
    # "bitmain-fan-ctrl": false, "bitmain-fan-pwm": "100" (unused in auto)
    assert parse_fan_mode(ctx(), conf) == "normal"
    assert parse_fan_percent(ctx(), conf) is None
    manual = dict(conf, **{"bitmain-fan-ctrl": True, "bitmain-fan-pwm": "75"})
    assert (parse_fan_mode(ctx(), manual), parse_fan_percent(ctx(), manual)) == ("manual", 75)


async def test_fan_writes_are_read_back() -> None:
    async with served() as miner:
        assert miner.fan_modes() == ("normal", "manual")
        await miner.set_fan_mode({"mode": "manual", "speed": 50})
        data = await miner.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent) == ("manual", 50)
        await miner.set_fan_mode({"mode": "normal"})
        assert (await miner.get_data(include=["fan_mode"])).fan_mode == "normal"
        with pytest.raises(ConfigError, match="1-100"):
            await miner.set_fan_mode({"mode": "manual", "speed": 0})

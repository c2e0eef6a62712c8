"""ESP-Miner (AxeOS) against real firmware: captures of 2.4.2, 2.7.0, 2.12.2 and 2.15.0.

Parser tests derive every expected value by hand from the raw payload (the reason beside it);
shape tests start each simulated version on 127.131.1.x and compare its answer with the
capture; write tests check that each version is written with its own keys and read back.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from real_captures import assert_same_shape, load

from asic_bridge import sim
from asic_bridge.config import (
    FanModeManual,
    FanModeNormal,
    MinerConfig,
    Pool,
    PoolConfig,
    TemperatureConfig,
)
from asic_bridge.drivers import espminer as esp
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError, NotAppliedError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.espminer import ESPMinerSim
from asic_bridge.sim.http_server import HttpReply, Request, json_reply
from asic_bridge.transport.http import HTTPClient

FAMILY = "espminer"


def ctx(asic_count: int | None = None) -> ParseContext:
    ident = Identity(ip="127.0.0.1", make="BitAxe", firmware="Stock", algo="SHA256")
    if asic_count is not None:
        ident.extra["asic_count"] = asic_count
    return ParseContext("SHA256", None, ident)


def info(version: str) -> dict[str, Any]:
    data: dict[str, Any] = load(FAMILY, version, "system_info.json")
    return data


# ----------------------------------------------------------------------------- parsers
def test_2_4_2_reads() -> None:
    raw, c = info("2.4.2"), ctx()
    assert esp.parse_info_hashrate(c, raw) == pytest.approx(0.571283, rel=1e-5)  # 571.28 GH/s
    # no expectedHashrate before 2.8: 1276 small cores x 1 chip x 490 MHz = 625240 MH/s
    assert esp.parse_expected_hashrate(c, raw) == pytest.approx(0.62524)
    assert esp.parse_wattage(c, raw) == 14  # power 13.78 W
    [board] = esp.parse_hashboards(c, raw)
    assert (board.temp, board.chip_temp) == (47, 53.25)  # vrTemp, temp
    assert board.chips == 1  # asicCount is in info on 2.4
    assert board.voltage == pytest.approx(5.148)  # 5148.4375 mV
    assert [f.speed for f in esp.parse_fans(c, raw) or []] == [3918]
    assert esp.parse_uptime(c, raw) == 52873
    assert esp.parse_is_mining(c, raw) is True  # no miningPaused: hashRate > 0
    primary, fallback = esp.parse_pools(c, raw)
    assert primary.url == "stratum+tcp://public-pool.io:21496"  # stratumURL + stratumPort
    assert (primary.accepted, primary.rejected, primary.active) == (3121, 2, True)
    assert fallback.url == "stratum+tcp://solo.ckpool.org:3333" and not fallback.active
    assert esp.parse_mac(c, raw) == "00:00:5e:00:53:24"
    assert esp.parse_api_ver(c, raw) is None  # axeOSVersion arrived in 2.9
    config = esp.parse_config(c, raw)
    assert config.fan_mode == FanModeNormal(minimum_speed=0)  # autofanspeed 1, no minimum
    assert config.temperature is None  # no temptarget before 2.7


def test_2_4_5_reads() -> None:
    raw, c = info("2.4.5"), ctx()
    assert esp.parse_info_hashrate(c, raw) == pytest.approx(1.0)  # hashRate 1000 GH/s
    assert esp.parse_expected_hashrate(c, raw) == pytest.approx(0.62524)  # 1276 x 1 x 490 MH/s
    assert esp.parse_wattage(c, raw) == 3  # 2.65 W
    [board] = esp.parse_hashboards(c, raw)
    assert (board.temp, board.chip_temp) == (None, 27)  # vrTemp 0: no regulator sensor
    assert board.voltage == pytest.approx(5.175)  # 5175 mV
    assert esp.version_tuple(raw["version"]) == (2, 4, 5)  # "v2.4.5-3-gb5d1e36-dirty"
    primary, fallback = esp.parse_pools(c, raw)
    assert primary.url == "stratum+tcp://btc.example.pool:3333" and primary.user == "asic-rs.test"
    assert (primary.accepted, primary.active, primary.alive) == (0, True, True)
    assert fallback.url == "stratum+tcp://btc2.example.pool:3333"
    assert esp.parse_config(c, raw).fan_mode == FanModeNormal(minimum_speed=0)


def test_2_7_0_reads() -> None:
    raw, c = info("2.7.0"), ctx()
    assert esp.parse_info_hashrate(c, raw) == pytest.approx(1.670698, rel=1e-5)
    # 2040 small cores x 1 chip x 850 MHz = 1734000 MH/s (no expectedHashrate yet)
    assert esp.parse_expected_hashrate(c, raw) == pytest.approx(1.734)
    assert esp.parse_wattage(c, raw) == 28  # 28.35 W
    [board] = esp.parse_hashboards(c, raw)
    assert (board.temp, board.chip_temp, board.chips) == (63, 59.875, 1)
    assert esp.parse_pools(c, raw) == []  # the author blanked the stratum URLs
    assert esp.parse_mac(c, raw) is None  # macAddr "" (blanked)
    config = esp.parse_config(c, raw)
    assert config.temperature is not None and config.temperature.target == 60  # temptarget
    assert config.fan_mode == FanModeNormal(minimum_speed=0)  # no minFanSpeed before 2.10


def test_2_12_2_reads() -> None:
    raw = info("2.12.2")
    c = ctx(asic_count=1)  # no asicCount in info from 2.9 on: identification reads /asic
    assert esp.parse_info_hashrate(c, raw) == pytest.approx(1.263579, rel=1e-5)
    assert esp.parse_expected_hashrate(c, raw) == pytest.approx(1.275)  # 1275 GH/s
    assert esp.parse_wattage(c, raw) == 22  # 22.21 W
    [board] = esp.parse_hashboards(c, raw)
    assert (board.temp, board.chip_temp, board.chips) == (75, 59.875, 1)
    assert [f.speed for f in esp.parse_fans(c, raw) or []] == [3859]  # fan2rpm 0: one fan
    two = dict(raw, fan2rpm=3702)  # a board with a second fan reports it there
    assert [f.speed for f in esp.parse_fans(c, two) or []] == [3859, 3702]
    primary, fallback = esp.parse_pools(c, raw)
    assert primary.url == "stratum+tcp://public-pool.io:21496"
    assert primary.user == "bc1qsyz6ehyjqzfs478un8vyks9l3mfwn26alqh6fs.bitaxe"
    assert (primary.accepted, primary.rejected) == (19, 0)
    assert fallback.url == "stratum+tcp://solo.ckpool.org:3333"
    assert esp.parse_api_ver(c, raw) == "v2.12.2"
    config = esp.parse_config(c, raw)
    assert config.fan_mode == FanModeNormal(minimum_speed=25)  # minFanSpeed 25
    # in manual mode the setting is manualFanSpeed (55), not the current duty fanspeed (35.4)
    manual = esp.parse_config(c, dict(raw, autofanspeed=0))
    assert manual.fan_mode == FanModeManual(speed=55)


def test_2_15_0_reads() -> None:
    raw, c = info("2.15.0"), ctx(asic_count=1)
    assert esp.parse_info_hashrate(c, raw) == pytest.approx(1.102472, rel=1e-5)
    assert esp.parse_expected_hashrate(c, raw) == pytest.approx(1.071)  # 1071.0 GH/s
    assert esp.parse_wattage(c, raw) == 18  # 17.95 W
    [board] = esp.parse_hashboards(c, raw)
    assert (board.temp, board.chip_temp) == (61.5, 58.625)
    assert esp.parse_is_mining(c, raw) is True  # miningPaused false
    # a paused board still averages a hashrate for a while: miningPaused is the truth
    assert esp.parse_is_mining(c, dict(raw, miningPaused=True)) is False
    primary, fallback = esp.parse_pools(c, raw)  # the legacy flat keys are still reported
    assert primary.url == "stratum+tcp://public-pool.io:21496"
    assert (primary.accepted, primary.rejected) == (5834, 4)
    assert fallback.url == "stratum+tcp://solo.ckpool.org:3333"
    assert esp.parse_errors(c, raw) == []  # no power_fault/hardware_fault key: no fault
    faulted = dict(raw, hardware_fault="ASIC not responding")
    assert [e.error_message for e in esp.parse_errors(c, faulted)] == [
        "hardware fault: ASIC not responding"
    ]
    config = esp.parse_config(c, raw)
    assert config.fan_mode == FanModeNormal(minimum_speed=25)
    assert config.temperature is not None and config.temperature.target == 60


# ----------------------------------------------------------------------------- shapes
_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def running(spec: str) -> AsyncIterator[ESPMinerSim]:
    kind, _, version = spec.partition(":")
    name = f"{kind}:{version}" if version else kind
    s = sim.create(f"{name}@127.131.1.{next(_hosts)}")
    assert isinstance(s, ESPMinerSim)
    s.state.jitter = 0.0
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def fetch(s: ESPMinerSim, path: str) -> Any:
    client = HTTPClient(s.address, s.ports["http"])
    try:
        result = await client.get(path)
        assert result.status == 200, (path, result.status)
        return result.json()
    finally:
        await client.aclose()


def numbers_as_one_type(value: Any) -> Any:
    """cJSON has one number type and prints an integral value without a fraction, so int
    versus float on ESP-Miner depends on the value of the moment, not on the field."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: numbers_as_one_type(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_as_one_type(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("spec", "version", "page"),
    [
        ("bitaxe_supra:2.4.2", "2.4.2", "system_info.json"),
        ("bitaxe_supra:2.4.5", "2.4.5", "system_info.json"),
        ("bitaxe_gamma:2.7.0", "2.7.0", "system_info.json"),
        ("bitaxe_gamma:2.12.2", "2.12.2", "system_info.json"),
        ("bitaxe_gamma:2.15.0", "2.15.0", "system_info.json"),
        ("bitaxe_gamma:2.15.0", "2.15.0", "system_asic.json"),
    ],
)
async def test_simulator_answers_like_the_capture(spec: str, version: str, page: str) -> None:
    path = "/api/system/" + page.removeprefix("system_").removesuffix(".json")
    async with running(spec) as s:
        answer = await fetch(s, path)
    assert_same_shape(numbers_as_one_type(load(FAMILY, version, page)), numbers_as_one_type(answer))


async def test_2_4_has_no_asic_endpoint_and_2_15_has_no_asic_count_in_info() -> None:
    async with running("bitaxe_supra:2.4.2") as s:
        client = HTTPClient(s.address, s.ports["http"])
        assert (await client.get("/api/system/asic")).status == 404
        await client.aclose()
    async with running("bitaxe_gamma:2.15.0") as s:
        assert "asicCount" not in await fetch(s, "/api/system/info")
        miner = await get_miner(s.address, use_cache=False)
        assert miner is not None
        [board] = (await miner.get_data(include=["hashboards"])).hashboards
        assert board.chips == 1  # learnt from /api/system/asic at identification
        await miner.aclose()


# ----------------------------------------------------------------------------- writes
POOLS = PoolConfig.simple(
    [
        Pool(url="stratum+tcp://a.example:4444", user="me.a", password="pa"),
        Pool(url="stratum+tcp://b.example:5555", user="me.b", password="pb"),
    ]
)


@pytest.mark.parametrize("spec", ["bitaxe_supra:2.4.2", "bitaxe_gamma:2.12.2", "bitaxe_gamma"])
async def test_writes_use_the_versions_keys_and_are_read_back(spec: str) -> None:
    async with running(spec) as s:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, esp.ESPMiner)
        await miner.send_config(MinerConfig(fan_mode=FanModeManual(speed=40)))
        assert s.manual_fan == 40 and s.autofan == 0
        await miner.send_config(MinerConfig(pools=POOLS))
        assert [(p.url, p.user, p.password) for p in s.state.pools] == [
            ("stratum+tcp://a.example:4444", "me.a", "pa"),
            ("stratum+tcp://b.example:5555", "me.b", "pb"),
        ]
        config = await miner.get_config()
        assert config.fan_mode == FanModeManual(speed=40)
        assert config.pools is not None
        assert [p.url for p in config.pools.first_group] == [p.url for p in POOLS.first_group]
        if s.fw >= (2, 7):
            await miner.send_config(MinerConfig(temperature=TemperatureConfig(target=55)))
            assert s.temptarget == 55
        else:
            with pytest.raises(UnsupportedError):
                await miner.send_config(MinerConfig(temperature=TemperatureConfig(target=55)))
        await miner.aclose()


@pytest.mark.parametrize(
    ("spec", "claimed", "config"),
    [
        # flat stratum keys on 2.15: answered 200, pools unchanged
        ("bitaxe_gamma:2.15.0", "v2.14.2", MinerConfig(pools=POOLS)),
        # fanspeed on 2.12: no longer a setting, ignored
        ("bitaxe_gamma:2.12.2", "v2.10.1", MinerConfig(fan_mode=FanModeManual(speed=40))),
    ],
)
async def test_a_write_the_firmware_ignores_is_not_an_ok(
    spec: str, claimed: str, config: MinerConfig
) -> None:
    async with running(spec) as s:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, esp.ESPMiner)
        before = [(p.url, p.user) for p in s.state.pools], s.manual_fan
        miner.identity.fw_ver = claimed  # write with an older version's keys
        with pytest.raises(NotAppliedError) as caught:
            await miner.send_config(config)
        assert s.counters["http"].by_key["PATCH /api/system"] == 1  # it was sent, and ignored
        # (autofanspeed 0 is applied on 2.12, the speed is not: the board runs at its old
        # manualFanSpeed, which is what the error's read-back shows)
        assert ([(p.url, p.user) for p in s.state.pools], s.manual_fan) == before
        assert caught.value.applied is not None
        await miner.aclose()


async def test_out_of_range_settings_are_refused_before_any_call() -> None:
    async with running("bitaxe_gamma:2.15.0") as s:
        miner = await get_miner(s.address, use_cache=False)
        assert miner is not None
        with pytest.raises(ConfigError, match="35-66"):
            await miner.send_config(MinerConfig(temperature=TemperatureConfig(target=70)))
        with pytest.raises(ConfigError, match="0-99"):
            await miner.send_config(MinerConfig(fan_mode=FanModeNormal(minimum_speed=100)))
        assert s.counters["http"].by_key["PATCH /api/system"] == 0
        await miner.send_config(MinerConfig(temperature=TemperatureConfig(target=66)))
        assert s.temptarget == 66  # the top of the range is accepted
        await miner.aclose()


async def test_a_pause_the_board_ignores_is_not_an_ok() -> None:
    async with running("bitaxe_gamma:2.15.0") as s:
        miner = await get_miner(s.address, use_cache=False)
        assert miner is not None
        assert await miner.stop_mining() is True  # miningPaused true read back
        assert await miner.resume_mining() is True

        async def answer_only(request: Request) -> HttpReply:
            return json_reply({"message": "Mining paused"})

        s.servers["http"].route("POST", "/api/system/pause", answer_only)
        with pytest.raises(NotAppliedError) as caught:
            await miner.stop_mining()
        assert (caught.value.wanted, caught.value.applied) == (False, True)
        assert s.state.mining is True
        await miner.aclose()


def test_2_15_keeps_the_stored_password_of_an_unchanged_pool() -> None:
    live = esp.parse_config(ctx(), info("2.15.0"))  # passwords never shown: "x"
    assert live.pools is not None
    primary = live.pools.first_group[0]
    new = PoolConfig.simple([primary, Pool(url="stratum+tcp://b.example:5555", user="me.b")])
    body = esp.encode_config(MinerConfig(pools=new), live, (2, 15, 0))
    assert [row["stratumPassword"] for row in body["pools"]] == ["*****", "x"]
    assert (body["primaryPoolIndex"], body["secondaryPoolIndex"]) == (0, 1)


# ----------------------------------------------------------------------------- fan control
@pytest.mark.parametrize(
    ("version", "percent"),
    [
        ("2.4.2", 37),  # fanspeed 37
        ("2.4.5", 35),  # fanspeed 35
        ("2.7.0", 29),  # fanspeed 29
        ("2.12.2", 35),  # fanspeed 35.3848763: the duty, not manualFanSpeed 55
        ("2.15.0", 41),  # fanspeed 41.25
    ],
)
def test_fan_mode_and_duty_from_each_capture(version: str, percent: int) -> None:
    raw = info(version)
    assert esp.parse_fan_mode(ctx(), raw) == "normal"  # every capture: autofanspeed 1
    assert esp.parse_fan_percent(ctx(), raw) == percent
    assert esp.parse_fan_mode(ctx(), dict(raw, autofanspeed=0)) == "manual"


def test_fan_garbage_is_no_reading() -> None:
    raw = info("2.15.0")
    for bad in (2, "auto", None, True):
        assert esp.parse_fan_mode(ctx(), dict(raw, autofanspeed=bad)) is None
    for bad in (-1, 100.6, "fast", float("nan"), None):
        assert esp.parse_fan_percent(ctx(), dict(raw, fanspeed=bad)) is None


@pytest.mark.parametrize("spec", ["bitaxe_supra:2.4.2", "bitaxe_gamma:2.12.2", "bitaxe_gamma"])
async def test_set_fan_mode_is_read_back_and_keeps_the_minimum(spec: str) -> None:
    async with running(spec) as s:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, esp.ESPMiner)
        assert miner.fan_modes() == ("normal", "manual")
        await miner.set_fan_mode(FanModeManual(speed=62))
        assert (s.autofan, s.manual_fan) == (0, 62)
        data = await miner.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent) == ("manual", 62)
        minimum = s.min_fan
        await miner.set_fan_mode({"mode": "normal"})  # auto, the board's minimum kept
        assert (s.autofan, s.min_fan) == (1, minimum)
        assert (await miner.get_data(include=["fan_mode"])).fan_mode == "normal"
        with pytest.raises(UnsupportedError, match="immersion"):
            await miner.set_fan_mode({"mode": "immersion"})
        await miner.aclose()


async def test_a_fan_speed_the_board_ignores_is_not_an_ok() -> None:
    async with running("bitaxe_gamma:2.12.2") as s:
        miner = await get_miner(s.address, use_cache=False)
        assert miner is not None
        miner.identity.fw_ver = "v2.10.1"  # writes fanspeed, which 2.12 no longer takes
        with pytest.raises(NotAppliedError):
            await miner.set_fan_mode(FanModeManual(speed=33))
        assert s.manual_fan != 33
        await miner.aclose()

"""Pure parsers and the PATCH codec of the ESP-Miner (AxeOS) driver, on captured-style info."""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.config import FanModeManual, MinerConfig, MiningModeLow, Pool, PoolConfig
from asic_bridge.drivers import espminer as esp
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError, UnsupportedError

GAMMA = catalog.lookup("BM1370", make="BitAxe")


def ctx(asic_count: int | None = None) -> ParseContext:
    ident = Identity(ip="10.0.0.5", make="BitAxe", firmware="Stock")
    if asic_count is not None:
        ident.extra["asic_count"] = asic_count
    return ParseContext("SHA256", GAMMA, ident)


def info(**override: Any) -> dict[str, Any]:
    """An ESP-Miner 2.x ``/api/system/info`` answer (the firmware's keys and units)."""
    data: dict[str, Any] = {
        "power": 17.4296875,
        "voltage": 5131.25,
        "current": 3406.25,
        "temp": 58.5,
        "vrTemp": 52,
        "hashRate": 1083.9112,
        "expectedHashrate": 1071,
        "smallCoreCount": 2040,
        "asicCount": 1,
        "frequency": 525,
        "macAddr": "AA:BB:CC:11:22:33",
        "hostname": "bitaxe",
        "sharesAccepted": 4512,
        "sharesRejected": 3,
        "uptimeSeconds": 86400,
        "ASICModel": "BM1370",
        "stratumURL": "public-pool.io",
        "stratumPort": 21496,
        "stratumUser": "bc1qexample.gamma",
        "fallbackStratumURL": "solo.ckpool.org",
        "fallbackStratumPort": 3333,
        "fallbackStratumUser": "bc1qexample.gamma",
        "isUsingFallbackStratum": 0,
        "version": "v2.14.0",
        "axeOSVersion": "v2.14.0",
        "autofanspeed": 0,
        "fanspeed": 75,
        "temptarget": 62,
        "fanrpm": 4123,
        "overheat_mode": 0,
        "power_fault": "",
    }
    data.update(override)
    return data


def test_a_complete_reading() -> None:
    c, raw = ctx(), info()
    assert esp.parse_info_hashrate(c, raw) == pytest.approx(1.0839112)
    assert esp.parse_expected_hashrate(c, raw) == pytest.approx(1.071)
    assert esp.parse_wattage(c, raw) == 17
    assert esp.parse_mac(c, raw) == "aa:bb:cc:11:22:33"
    assert esp.parse_hostname(c, raw) == "bitaxe"
    assert esp.parse_fw_ver(c, raw) == "v2.14.0"
    assert [f.speed for f in esp.parse_fans(c, raw) or []] == [4123]
    [board] = esp.parse_hashboards(c, raw)
    assert (board.temp, board.chip_temp, board.chips, board.voltage) == (52, 58.5, 1, 5.131)
    assert esp.parse_uptime(c, raw) == 86400
    assert esp.parse_is_mining(c, raw) is True
    primary, fallback = esp.parse_pools(c, raw)
    assert primary.url == "stratum+tcp://public-pool.io:21496" and primary.active
    assert (primary.accepted, primary.rejected) == (4512, 3)
    assert fallback.url == "stratum+tcp://solo.ckpool.org:3333" and fallback.active is False
    assert fallback.accepted is None
    assert esp.parse_errors(c, raw) == []


def test_expected_hashrate_from_cores_and_a_chip_count_learned_once() -> None:
    raw = info(expectedHashrate=None, asicCount=None)
    del raw["expectedHashrate"], raw["asicCount"]
    assert esp.parse_expected_hashrate(ctx(), raw) is None
    assert esp.parse_expected_hashrate(ctx(asic_count=1), raw) == pytest.approx(1.071)


def test_fallback_pool_in_use_gets_the_shares() -> None:
    primary, fallback = esp.parse_pools(ctx(), info(isUsingFallbackStratum=1))
    assert not primary.active and fallback.active and fallback.accepted == 4512


def test_garbage_values_stay_in_their_field() -> None:
    c = ctx()
    raw = info(hashRate="n/a", fanrpm=None, macAddr="00:00:00:00:00:00", power=[1])
    assert esp.parse_info_hashrate(c, raw) is None
    assert esp.parse_fans(c, raw) is None
    assert esp.parse_mac(c, raw) is None
    assert esp.parse_wattage(c, raw) is None
    assert esp.parse_hostname(c, raw) == "bitaxe"
    with pytest.raises(ValueError):
        esp.parse_hashboards(c, ["not", "an", "object"])


def test_errors_from_power_fault_and_overheat() -> None:
    errors = esp.parse_errors(ctx(), info(power_fault="VIN undervoltage", overheat_mode=1))
    assert [e.error_message for e in errors] == [
        "power fault: VIN undervoltage",
        "overheat protection is active",
    ]


def test_config_and_patch_codec_send_only_what_changes() -> None:
    live = esp.parse_config(ctx(), info())
    assert live.fan_mode == FanModeManual(speed=75)
    assert live.temperature is not None and live.temperature.target == 62
    new_pools = PoolConfig.simple(
        [Pool(url="stratum+tcp://pool.example:4444", user="me.gamma", password="pw")]
    )
    v214 = (2, 14, 0)  # the version of this answer: flat pool keys, manualFanSpeed
    body = esp.encode_config(MinerConfig(pools=new_pools).merged_over(live), live, v214)
    assert body == {
        "stratumURL": "pool.example",
        "stratumPort": 4444,
        "stratumUser": "me.gamma",
        "stratumPassword": "pw",
    }
    manual = MinerConfig(fan_mode=FanModeManual(speed=40)).merged_over(live)
    assert esp.encode_config(manual, live, v214) == {"autofanspeed": 0, "manualFanSpeed": 40}
    # up to 2.10 the manual speed was written as fanspeed (2.11 made it manualFanSpeed)
    assert esp.encode_config(manual, live, (2, 10, 1)) == {"autofanspeed": 0, "fanspeed": 40}
    assert esp.encode_config(live, live) == {}


def test_codec_refuses_what_the_firmware_cannot_do() -> None:
    live = esp.parse_config(ctx(), info())
    with pytest.raises(UnsupportedError):
        esp.encode_config(MinerConfig(mining_mode=MiningModeLow()).merged_over(live), live)
    three = PoolConfig.simple([Pool(url=f"stratum+tcp://p{i}.example:1") for i in range(3)])
    with pytest.raises(ConfigError):
        esp.encode_config(MinerConfig(pools=three).merged_over(live), live)
    no_port = PoolConfig.simple([Pool(url="stratum+tcp://p.example")])
    with pytest.raises(ConfigError):
        esp.encode_config(MinerConfig(pools=no_port).merged_over(live), live)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("v2.14.0", (2, 14, 0)), ("2.4.2-dirty", (2, 4, 2)), ("v2.10", (2, 10)), ("dev", None)],
)
def test_version_tuple(text: str, expected: tuple[int, ...] | None) -> None:
    assert esp.version_tuple(text) == expected

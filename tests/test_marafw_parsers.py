"""MaraFW parsers and config codec on captured-style payloads (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge.catalog import lookup
from asic_bridge.config import (
    FanModeImmersion,
    FanModeManual,
    FanModeNormal,
    MinerConfig,
    MiningModeHigh,
    MiningModeManual,
    MiningModeNormal,
    MiningModePowerTune,
    MiningModeSleep,
    Pool,
    PoolConfig,
)
from asic_bridge.drivers import marafw
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError, UnsupportedError

INFO = lookup("S19 XP")
CTX = ParseContext("SHA256", INFO, Identity(ip="x", make="AntMiner", firmware="MaraFW"))

BRIEF = {
    "hashrate_realtime": 139.4,
    "hashrate_average": 140.0,
    "hashrate_ideal": 140000.0,
    "power_consumption_estimated": 3012.6,
    "status": "Mining",
    "elapsed": 4242,
}
HASHBOARDS = {
    "hashboards": [
        {
            "index": i,
            "hashrate_average": 46500.0,
            "asic_num": 110,
            "temperature_pcb": [57, 57, 63, 63],
            "temperature_chip": [73, 73, 77, 77],
            "serial_number": f"SN{i}",
        }
        for i in range(3)
    ]
}
POOLS = [
    {"index": 0, "url": "stratum+tcp://a:3333", "user": "w", "status": "Dead", "priority": 0},
    {
        "index": 1,
        "url": "stratum+tcp://b:3333",
        "user": "w",
        "status": "Alive",
        "priority": 1,
        "accepted": 10,
        "rejected": 1,
        "stale": 2,
        "discarded": 30,
    },
    {"index": 2, "url": "stratum+tcp://c:3333", "user": "w", "status": "Alive", "priority": 2},
]
CONFIG: dict[str, Any] = {
    "general-config": {"environment-profile": "AirCooling", "miner-name": "m1"},
    "advance-config": {"override-fan-control": False, "fan-fixed-percent": 100, "extra": 1},
    "mode": {
        "work-mode-selector": "Auto",
        "concorde": {"mode-select": "PowerTarget", "power-target": 2800, "vendor": "keep"},
    },
    "pools": [{"url": "stratum+tcp://a:3333", "user": "w", "pass": "p"}],
    "vendor-key": {"x": 1},
}


def test_brief_fields_and_units() -> None:
    assert marafw.parse_hashrate(CTX, BRIEF) == pytest.approx(139.4)
    assert marafw.parse_expected_hashrate(CTX, BRIEF) == pytest.approx(140.0)  # GH/s -> TH/s
    assert marafw.parse_wattage(CTX, BRIEF) == 3013
    assert marafw.parse_uptime(CTX, BRIEF) == 4242
    assert marafw.parse_is_mining(CTX, BRIEF) is True
    assert marafw.parse_is_mining(CTX, {**BRIEF, "status": "Sleeping"}) is False


def test_garbage_in_one_key_stays_in_that_field() -> None:
    brief = {**BRIEF, "hashrate_realtime": "n/a", "power_consumption_estimated": None}
    assert marafw.parse_hashrate(CTX, brief) is None
    assert marafw.parse_wattage(CTX, brief) is None
    assert marafw.parse_uptime(CTX, brief) == 4242
    assert marafw.parse_is_mining(CTX, {}) is None
    with pytest.raises(ValueError):
        marafw.parse_hashrate(CTX, ["not", "an", "object"])


def test_hashboards() -> None:
    boards = marafw.parse_hashboards(CTX, HASHBOARDS)
    assert [b.slot for b in boards] == [0, 1, 2]
    assert boards[0].hashrate == pytest.approx(46.5)
    assert (boards[0].temp, boards[0].chip_temp, boards[0].chips) == (60.0, 75.0, 110)
    assert boards[0].serial_number == "SN0" and not boards[0].missing


def test_missing_board_is_reported_missing() -> None:
    boards = marafw.parse_hashboards(CTX, {"hashboards": HASHBOARDS["hashboards"][:2]})
    assert len(boards) == 3 and boards[2].missing and boards[2].hashrate is None
    garbled = {"hashboards": [{"index": 0, "hashrate_average": "x", "temperature_pcb": "?"}]}
    board = marafw.parse_hashboards(CTX, garbled)[0]
    assert board.hashrate is None and board.temp is None and board.missing
    with pytest.raises(ValueError):
        marafw.parse_hashboards(CTX, {"boards": []})


def test_fans_light_and_limit() -> None:
    fans = {"fans": [{"current_speed": 5400}, {"current_speed": "5520"}, "junk"]}
    assert [f.speed for f in marafw.parse_fans(CTX, fans)] == [5400, 5520]
    assert marafw.parse_fault_light(CTX, {"blinking": True}) is True
    assert marafw.parse_fault_light(CTX, {"blinking": "yes"}) is None
    assert marafw.parse_wattage_limit(CTX, CONFIG) == 2800
    stock = {**CONFIG, "mode": {"work-mode-selector": "Stock"}}
    assert marafw.parse_wattage_limit(CTX, stock) is None


def test_pools_active_is_best_alive() -> None:
    pools = marafw.parse_pools(CTX, POOLS)
    assert [p.active for p in pools] == [False, True, False]
    assert [p.alive for p in pools] == [False, True, True]
    assert (pools[1].accepted, pools[1].rejected, pools[1].get_failures) == (10, 1, 2)
    assert pools[1].remote_failures == 30
    with pytest.raises(ValueError):
        marafw.parse_pools(CTX, "nope")


def test_decode_config() -> None:
    config = marafw.decode_mara_config(CONFIG)
    assert config.mining_mode == MiningModePowerTune(power=2800)
    assert config.fan_mode == FanModeNormal()
    assert config.pools is not None and config.pools.first_group[0].password == "p"
    manual = {**CONFIG, "advance-config": {"override-fan-control": True, "fan-fixed-percent": 60}}
    assert marafw.decode_mara_config(manual).fan_mode == FanModeManual(speed=60)
    oil = {**CONFIG, "general-config": {"environment-profile": "OilImmersionCooling"}}
    assert marafw.decode_mara_config(oil).fan_mode == FanModeImmersion()
    assert marafw.decode_mara_config({"mode": {"work-mode-selector": "Sleep"}}).mining_mode == (
        MiningModeSleep()
    )
    fixed = {"mode": {"work-mode-selector": "Fixed", "fixed": {"frequency": "500", "voltage": 13}}}
    assert marafw.decode_mara_config(fixed).mining_mode == MiningModeManual(
        global_freq=500, global_volt=13
    )
    assert marafw.decode_mara_config({"mode": {"work-mode-selector": "??"}}).mining_mode is None


def test_encode_keeps_every_vendor_key() -> None:
    body = marafw.encode_mara_config(
        MinerConfig(mining_mode=MiningModePowerTune(power=2500)), CONFIG
    )
    assert body["mode"]["concorde"] == {
        "mode-select": "PowerTarget",
        "power-target": 2500,
        "vendor": "keep",
    }
    assert body["pools"] == CONFIG["pools"] and body["vendor-key"] == {"x": 1}
    assert body["advance-config"]["extra"] == 1
    assert CONFIG["mode"]["concorde"]["power-target"] == 2800  # live untouched
    body = marafw.encode_mara_config(
        MinerConfig(
            pools=PoolConfig.simple([Pool(url="stratum+tcp://n:1", user="u", password="x")]),
            fan_mode=FanModeManual(speed=70),
            mining_mode=MiningModeNormal(),
        ),
        CONFIG,
    )
    assert body["pools"] == [{"url": "stratum+tcp://n:1", "user": "u", "pass": "x"}]
    assert body["advance-config"]["override-fan-control"] is True
    assert body["advance-config"]["fan-fixed-percent"] == 70
    assert body["mode"]["work-mode-selector"] == "Stock"
    assert body["mode"]["concorde"]["power-target"] == 2800  # target kept for later


def test_encode_refuses_what_the_firmware_lacks() -> None:
    with pytest.raises(UnsupportedError):
        marafw.encode_mara_config(MinerConfig(mining_mode=MiningModeHigh()), CONFIG)
    with pytest.raises(ConfigError):
        marafw.encode_mara_config(MinerConfig(mining_mode=MiningModePowerTune()), CONFIG)
    four = PoolConfig.simple([Pool(url=f"stratum+tcp://p{i}:1") for i in range(4)])
    with pytest.raises(ConfigError):
        marafw.encode_mara_config(MinerConfig(pools=four), CONFIG)

"""Elphapex parsers and config codec on captured-style DG1+ payloads (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge.catalog import lookup
from asic_bridge.config import (
    FanModeImmersion,
    FanModeManual,
    FanModeNormal,
    MinerConfig,
    MiningModeNormal,
    MiningModeSleep,
    Pool,
    PoolConfig,
)
from asic_bridge.drivers import elphapex
from asic_bridge.drivers.antminer import parse_errors
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError

INFO = lookup("DG1+", make="Elphapex")
CTX = ParseContext("Scrypt", INFO, Identity(ip="x", make="Elphapex", firmware="Stock"))

SUMMARY = {
    "STATUS": {"STATUS": "S", "api_version": "1.0.0", "Msg": "summary"},
    "SUMMARY": [
        {
            "rate_unit": "MH/s",
            "elapsed": 357357,
            "rate_5s": 14920.94,
            "rate_ideal": 14229,
            "status": [
                {"status": "s", "type": "rate", "msg": "", "code": 0},
                {"status": "e", "type": "fans", "msg": "fan 2 lost", "code": 7},
            ],
        }
    ],
}
CHAIN = {
    "index": 0,
    "sn": "13HYSN0",
    "temp_chip": ["47125", "50500", "", ""],
    "temp_pcb": [47, 46, 67, 66],
    "rate_real": 3553.5,
    "asic_num": 204,
}
STATS = {
    "STATUS": {"STATUS": "S"},
    "STATS": [
        {
            "rate_unit": "MH/s",
            "chain": [CHAIN, {**CHAIN, "index": 1}, {**CHAIN, "index": 2}, {**CHAIN, "index": 3}],
            "fan": ["5340", "5400", "5400", "5400"],
        }
    ],
}
CONF: dict[str, Any] = {
    "pools": [
        {"url": "stratum+tcp://ltc.example:3333", "pass": "123", "user": "w.1"},
        {"url": "", "pass": "", "user": ""},
    ],
    "fc-voltage": "1470",
    "fc-fan-ctrl": False,
    "fc-freq-level": "100",
    "fc-fan-pwm": "80",
    "algo": "ltc",
    "fc-work-mode": 0,
    "fc-freq": "1850",
}


def test_summary_fields() -> None:
    assert elphapex.parse_hashrate(CTX, SUMMARY) == pytest.approx(14.92094)  # MH/s -> GH/s
    assert elphapex.parse_expected_hashrate(CTX, SUMMARY) == pytest.approx(14.229)
    assert elphapex.parse_uptime(CTX, SUMMARY) == 357357
    assert elphapex.parse_api_ver(CTX, SUMMARY) == "1.0.0"
    errors = parse_errors(CTX, SUMMARY)
    assert [(e.error_code, e.error_message) for e in errors] == [(7, "fan 2 lost")]
    assert elphapex.parse_fw_ver(CTX, {"system_filesystem_version": "DG1+_SW_V1.0.2"}) == "1.0.2"


def test_hashboards_and_fans() -> None:
    boards = elphapex.parse_hashboards(CTX, STATS)
    assert len(boards) == 4
    first = boards[0]
    assert first.hashrate == pytest.approx(3.5535)
    assert first.temp == pytest.approx(56.5)  # mean of the PCB sensors
    assert first.chip_temp == pytest.approx(48.8125)  # milli-degC strings, blanks skipped
    assert (first.chips, first.serial_number, first.missing) == (204, "13HYSN0", False)
    assert [f.speed for f in elphapex.parse_fans(CTX, STATS)] == [5340, 5400, 5400, 5400]


def test_garbage_is_isolated() -> None:
    odd = {"STATS": [{"chain": [{**CHAIN, "temp_chip": "bad", "rate_real": None}]}]}
    boards = elphapex.parse_hashboards(CTX, odd)
    assert boards[0].chip_temp is None and boards[0].hashrate is None and boards[0].chips == 204
    assert len(boards) == 4 and boards[3].missing
    with pytest.raises(ValueError):
        elphapex.parse_fans(CTX, {"STATS": [{}]})
    with pytest.raises(ValueError):
        elphapex.parse_hashrate(CTX, {"SUMMARY": []})
    assert elphapex.parse_api_ver(CTX, {"STATUS": "S"}) is None


def test_pools() -> None:
    pools = {
        "POOLS": [
            {"index": 0, "url": "stratum+tcp://a:1", "user": "u", "status": "Unreachable",
             "priority": 0, "accepted": 5, "rejected": 1, "stale": 0},
            {"index": 1, "url": "stratum+tcp://b:1", "user": "u", "status": "Alive",
             "priority": 1, "accepted": 9, "rejected": 2, "stale": 1},
        ]
    }  # fmt: skip
    parsed = elphapex.parse_pools(CTX, pools)
    assert [(p.active, p.alive) for p in parsed] == [(False, False), (True, True)]
    assert parsed[1].get_failures == 1


def test_config_codec_keeps_fc_keys() -> None:
    config = elphapex.decode_elphapex_conf(CONF)
    assert config.mining_mode == MiningModeNormal() and config.fan_mode == FanModeNormal()
    assert config.pools is not None and len(config.pools.first_group) == 1
    assert elphapex.parse_is_mining(CTX, CONF) is True
    assert elphapex.parse_is_mining(CTX, {**CONF, "fc-work-mode": 1}) is False
    slept = elphapex.decode_elphapex_conf({**CONF, "fc-work-mode": "1"})
    assert slept.mining_mode == MiningModeSleep()
    manual = {**CONF, "fc-fan-ctrl": True, "fc-fan-pwm": "60"}
    assert elphapex.decode_elphapex_conf(manual).fan_mode == FanModeManual(speed=60)
    oil = {**CONF, "fc-fan-ctrl": True, "fc-fan-pwm": "0"}
    assert elphapex.decode_elphapex_conf(oil).fan_mode == FanModeImmersion()

    body = elphapex.encode_elphapex_conf(MinerConfig(fan_mode=FanModeManual(speed=70)), CONF)
    assert body["fc-fan-ctrl"] is True and body["fc-fan-pwm"] == "70"
    assert body["pools"] == CONF["pools"] and body["fc-freq"] == "1850"
    assert body["miner-mode"] == 0 and "fc-work-mode" not in body
    new = PoolConfig.simple([Pool(url="stratum+tcp://n:1", user="x", password="y")])
    body = elphapex.encode_elphapex_conf(MinerConfig(pools=new), CONF)
    assert body["pools"][0] == {"url": "stratum+tcp://n:1", "user": "x", "pass": "y"}
    assert len(body["pools"]) == 3 and body["fc-fan-ctrl"] is False
    four = PoolConfig.simple([Pool(url=f"stratum+tcp://p{i}:1") for i in range(4)])
    with pytest.raises(ConfigError):
        elphapex.encode_elphapex_conf(MinerConfig(pools=four), CONF)

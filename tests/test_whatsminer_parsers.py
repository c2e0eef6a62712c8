"""Whatsminer parsers on captured-style payloads: API v2 (4028) and API v3 (4433), no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asic_bridge.catalog import lookup_whatsminer
from asic_bridge.config import (
    MinerConfig,
    MiningModeHigh,
    MiningModeLow,
    MiningModeNormal,
    MiningModePowerTune,
    MiningModeSleep,
)
from asic_bridge.credentials import Credentials
from asic_bridge.drivers import Evidence
from asic_bridge.drivers import whatsminer as wm
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import CommandError, MinerTimeoutError
from asic_bridge.transport.rpc import parse_rpc_payload

M30S = lookup_whatsminer("M30S+_VE40")
CTX = ParseContext("SHA256", M30S, Identity(ip="10.0.0.5", make="WhatsMiner", firmware="Stock"))
BARE = ParseContext("SHA256", None, Identity(ip="10.0.0.5", make="WhatsMiner", firmware="Stock"))

# ---------------------------------------------------------------------------- API v2 payloads
SUMMARY: dict[str, Any] = {
    "STATUS": [{"STATUS": "S", "When": 1700000000, "Code": 11, "Msg": "Summary",
                "Description": "btminer"}],
    "SUMMARY": [
        {
            "Elapsed": 10650, "MHS av": 99512345.12, "MHS 5s": 100123456.78,
            "MHS 1m": 99871234.56, "MHS 5m": 99650000.0, "MHS 15m": 99600000.0,
            "HS RT": 99871234.56, "Accepted": 5120, "Rejected": 3, "Temperature": 66.0,
            "freq_avg": 598, "Fan Speed In": 5910, "Fan Speed Out": 5880, "Power": 3391,
            "Power Rate": 33.87, "Uptime": 11020, "Env Temp": 27.5, "Power Mode": "Normal",
            "Factory GHS": 100150, "Power Limit": 3600, "Chip Temp Min": 69.75,
            "Chip Temp Max": 86.5, "Chip Temp Avg": 78.31, "MAC": "C4:0A:18:00:12:AB",
            "Firmware Version": "'20210719.22.REL'", "Btminer Fast Boot": "disable",
        }
    ],
    "id": 1,
}  # fmt: skip


def dev(slot: int, **extra: Any) -> dict[str, Any]:
    entry = {
        "ASC": slot, "Name": "SM", "ID": slot, "Slot": slot, "Enabled": "Y", "Status": "Alive",
        "Temperature": 64.0 + slot, "Chip Frequency": 598, "MHS av": 33170000.0,
        "MHS 5s": 33374485.59, "MHS 1m": 33290411.52, "Effective Chips": 156,
        "PCB SN": f"HEM3X10C40{slot}", "Chip Temp Min": 70.0, "Chip Temp Max": 86.5,
        "Chip Temp Avg": 78.25 + slot,
    }  # fmt: skip
    entry.update(extra)
    return entry


DEVS = {"STATUS": [{"STATUS": "S", "Code": 9, "Msg": "3 ASC(s)"}],
        "DEVS": [dev(0), dev(1), dev(2)], "id": 1}  # fmt: skip

POOLS = {
    "STATUS": [{"STATUS": "S", "Code": 7, "Msg": "2 Pool(s)", "Description": "btminer"}],
    "POOLS": [
        {"POOL": 2, "URL": "stratum+tcp://backup.example:443", "Status": "Alive",
         "Priority": 1, "Accepted": 0, "Rejected": 0, "Get Failures": 0, "Remote Failures": 0,
         "User": "acct.w1", "Stratum Active": False},
        {"POOL": 1, "URL": "stratum+tcp://btc.example:3333", "Status": "Alive", "Priority": 0,
         "Accepted": 5120, "Rejected": 3, "Get Failures": 1, "Remote Failures": 2,
         "User": "acct.w1", "Stratum Active": True},
    ],
    "id": 1,
}  # fmt: skip


def btminer(msg: Any, code: int = 131, status: str = "S") -> dict[str, Any]:
    return {"STATUS": status, "When": 1700000000, "Code": code, "Msg": msg, "Description": ""}


GET_VERSION = btminer(
    {"api_ver": "2.0.5", "fw_ver": "20230911.12.Rel", "platform": "H616", "chip": "BM1368"}
)
MINER_INFO = btminer(
    {"ip": "10.0.0.5", "proto": "dhcp", "netmask": "255.255.255.0", "gateway": "10.0.0.1",
     "dns": "10.0.0.1", "hostname": "WhatsMiner", "mac": "C4:0A:18:00:12:AB",
     "ledstat": "auto", "minersn": "HTM3X10C40123456"}
)  # fmt: skip
STATUS_ON = btminer({"mineroff": "false", "mineroff_reason": "", "mineroff_time": "",
                     "FirmwareVersion": "'20230911.12.Rel'"})  # fmt: skip
STATUS_OFF = btminer({"mineroff": "true", "mineroff_reason": "power off by API"})
GET_PSU = btminer(
    {"name": "P221B", "model": "P221B", "iin": "1543", "vin": "23150", "vout": "1222",
     "fan_speed": "6720", "serial_no": "ASG2207A123456", "vendor": "7"}
)  # fmt: skip
ERROR_CODE_205 = btminer(
    {"error_code": [{"110": "2024-01-02 10:00:00"}, {"541": "2024-01-02 10:01:00"}]}
)
# API 2.0.4: pairs inside a list, which is not JSON.  The transport repairs it.
ERROR_CODE_204_RAW = (
    b'{"STATUS":"S","When":1700000000,"Code":131,"Msg":{"error_code":'
    b'["110":"2021-08-01 10:00:00","530":"2021-08-01 10:02:00"]},"Description":""}\x00'
)


# ---------------------------------------------------------------------------- v2 tests
def test_v2_summary_fields() -> None:
    assert wm.v2_hashrate(CTX, SUMMARY) == pytest.approx(100.12345678)
    assert wm.v2_expected_hashrate(CTX, SUMMARY) == pytest.approx(100.15)
    assert wm.v2_wattage(CTX, SUMMARY) == 3391
    assert wm.v2_wattage_limit(CTX, SUMMARY) == 3600
    assert wm.v2_env_temp(CTX, SUMMARY) == 27.5
    assert wm.v2_uptime(CTX, SUMMARY) == 10650
    assert [f.speed for f in wm.v2_fans(CTX, SUMMARY) or []] == [5910, 5880]
    # firmware version from summary (quoted) when get_version is unavailable
    assert wm.v2_fw_ver(CTX, None, SUMMARY) == "20210719.22.REL"


def test_v2_hashrate_falls_back_to_other_windows() -> None:
    entry = dict(SUMMARY["SUMMARY"][0])
    del entry["MHS 5s"]
    del entry["HS RT"]
    assert wm.v2_hashrate(CTX, {"SUMMARY": [entry]}) == pytest.approx(99.87123456)


def test_v2_hashboards() -> None:
    boards = wm.v2_hashboards(CTX, DEVS)
    assert boards is not None and len(boards) == 3
    b0 = boards[0]
    assert b0.hashrate == pytest.approx(33.37448559)
    assert (b0.temp, b0.chip_temp, b0.chips) == (64.0, 78.25, 156)
    assert b0.serial_number == "HEM3X10C400"
    assert b0.expected_chips == 156 and not b0.missing and b0.active
    assert [b.slot for b in boards] == [0, 1, 2]


def test_v2_hashboards_missing_board_and_extra_board() -> None:
    devs = {"DEVS": [dev(0), dev(2), dev(3)]}  # slot 1 not detected; a 4th board on slot 3
    boards = wm.v2_hashboards(CTX, devs)
    assert boards is not None
    assert [b.missing for b in boards] == [False, True, False, False]
    assert boards[1].chips is None and boards[1].expected_chips == 156
    # no catalog entry: only what the miner lists
    assert [b.slot for b in wm.v2_hashboards(BARE, devs) or []] == [0, 1, 2, 3]


def test_v2_hashboards_tolerate_bad_entries() -> None:
    devs = {"DEVS": [dev(0, **{"MHS 5s": "n/a", "Effective Chips": None}), "junk", {"ASC": 99}]}
    boards = wm.v2_hashboards(CTX, devs)
    assert boards is not None and len(boards) == 3
    assert boards[0].hashrate is None and boards[0].chips is None and not boards[0].missing
    assert boards[0].temp == 64.0


def test_v2_pools_sorted_by_priority_index() -> None:
    pools = wm.v2_pools(CTX, POOLS)
    assert pools is not None
    assert [p.url for p in pools] == ["stratum+tcp://btc.example:3333",
                                      "stratum+tcp://backup.example:443"]  # fmt: skip
    first = pools[0]
    assert (first.index, first.user, first.accepted, first.rejected) == (0, "acct.w1", 5120, 3)
    assert (first.get_failures, first.remote_failures, first.active, first.alive) == (
        1, 2, True, True)  # fmt: skip
    assert pools[1].active is False


def test_v2_btminer_commands() -> None:
    assert wm.v2_mac(CTX, MINER_INFO) == "c4:0a:18:00:12:ab"
    assert wm.v2_hostname(CTX, MINER_INFO) == "WhatsMiner"
    assert wm.v2_serial(CTX, MINER_INFO) == "HTM3X10C40123456"
    assert wm.v2_fault_light(CTX, MINER_INFO) is False
    manual = btminer({**MINER_INFO["Msg"], "ledstat": "manual"})
    assert wm.v2_fault_light(CTX, manual) is True
    assert wm.v2_fw_ver(CTX, GET_VERSION) == "20230911.12.Rel"
    assert wm.v2_api_ver(CTX, GET_VERSION) == "2.0.5"
    assert wm.v2_api_ver(CTX, btminer("whatsminer v1.4.0")) == "1.4.0"  # v1 firmware
    assert wm.v2_is_mining(CTX, STATUS_ON) is True
    assert wm.v2_is_mining(CTX, STATUS_OFF) is False
    assert wm.v2_is_mining(CTX, btminer({"btmineroff": "true", "mineroff": "false"})) is False
    assert wm.v2_fan_psu(CTX, SUMMARY, GET_PSU) == 6720
    assert wm.v2_fan_psu(CTX, {"SUMMARY": [{"Power Fanspeed": 6100}]}, GET_PSU) == 6100
    assert wm.v2_psu_serial(CTX, GET_PSU) == "ASG2207A123456"
    assert wm.v2_voltage(CTX, GET_PSU) == 12.22


def test_v2_errors_from_get_error_code() -> None:
    errors = wm.v2_errors(CTX, ERROR_CODE_205, SUMMARY)
    assert [(e.error_code, e.error_message) for e in errors] == [
        (110, "Intake fan speed error"),
        (541, "Hash board 1: chip IDs could not be read"),
    ]


def test_v2_errors_from_api_204_broken_list() -> None:
    repaired = parse_rpc_payload(ERROR_CODE_204_RAW)
    errors = wm.v2_errors(CTX, repaired, None)
    assert [e.error_code for e in errors] == [110, 530]
    assert errors[1].error_message == "Hash board 0: hash board not found"


def test_v2_errors_from_old_summary_keys() -> None:
    summary = {"SUMMARY": [{"Error Code Count": 2, "Error Code 0": 2010, "Error Code 1": 600}]}
    errors = wm.v2_errors(CTX, None, summary)
    assert [e.error_code for e in errors] == [2010, 600]
    # get_error_code and summary agree: reported once
    both = wm.v2_errors(CTX, btminer({"error_code": [{"2010": "t"}]}), summary)
    assert [e.error_code for e in both] == [2010, 600]
    assert wm.v2_errors(CTX, btminer({"error_code": []}), None) == []


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"SUMMARY": []}, {"SUMMARY": "garbage"}, {"SUMMARY": [None]}, [1, 2], "x"],
)
def test_v2_summary_parsers_on_missing_or_garbage(payload: Any) -> None:
    for parser in (wm.v2_hashrate, wm.v2_expected_hashrate, wm.v2_wattage, wm.v2_wattage_limit,
                   wm.v2_env_temp, wm.v2_uptime, wm.v2_fans):  # fmt: skip
        assert parser(CTX, payload) is None, parser.__name__
    assert wm.v2_hashboards(CTX, payload) is None
    assert wm.v2_pools(CTX, payload) is None
    assert wm.v2_errors(CTX, payload, payload) == []


@pytest.mark.parametrize("msg", [None, "", "garbage", 17, [], {"mac": 5}, {"mac": "not-a-mac"}])
def test_v2_btminer_parsers_on_missing_or_garbage(msg: Any) -> None:
    payload = btminer(msg)
    assert wm.v2_mac(CTX, payload) is None
    assert wm.v2_hostname(CTX, payload) is None
    assert wm.v2_fault_light(CTX, payload) is None
    assert wm.v2_is_mining(CTX, payload) is None
    assert wm.v2_fan_psu(CTX, None, payload) is None
    assert wm.v2_voltage(CTX, payload) is None


def test_v2_placeholder_values_are_not_readings() -> None:
    summary = {"SUMMARY": [{"Power": -1, "Factory GHS": 0, "Power Limit": 0, "MHS 5s": "inf",
                            "Env Temp": -273.0, "Elapsed": -5}]}  # fmt: skip
    assert wm.v2_wattage(CTX, summary) is None
    assert wm.v2_expected_hashrate(CTX, summary) is None
    assert wm.v2_wattage_limit(CTX, summary) is None
    assert wm.v2_hashrate(CTX, summary) is None
    assert wm.v2_env_temp(CTX, summary) is None
    assert wm.v2_uptime(CTX, summary) is None


def test_v2_config() -> None:
    config = wm.v2_config(CTX, POOLS, SUMMARY, STATUS_ON)
    assert config.pools is not None
    assert [(p.url, p.user, p.password) for p in config.pools.first_group] == [
        ("stratum+tcp://btc.example:3333", "acct.w1", "x"),
        ("stratum+tcp://backup.example:443", "acct.w1", "x"),
    ]
    # 3600 W on a 3400 W model is the firmware's ceiling, not a user limit
    assert isinstance(config.mining_mode, MiningModeNormal)
    limited = {"SUMMARY": [{**SUMMARY["SUMMARY"][0], "Power Limit": 3000}]}
    assert wm.v2_config(CTX, POOLS, limited, STATUS_ON).mining_mode == MiningModePowerTune(
        power=3000
    )
    # without catalog facts any reported limit counts (as pyasic does)
    assert wm.v2_config(BARE, POOLS, SUMMARY, STATUS_ON).mining_mode == MiningModePowerTune(
        power=3600
    )
    for word, cls in (("Low", MiningModeLow), ("High", MiningModeHigh)):
        summary = {"SUMMARY": [{**SUMMARY["SUMMARY"][0], "Power Mode": word}]}
        assert isinstance(wm.v2_config(CTX, POOLS, summary, STATUS_ON).mining_mode, cls)
    assert isinstance(wm.v2_config(CTX, POOLS, SUMMARY, STATUS_OFF).mining_mode, MiningModeSleep)
    assert wm.v2_config(CTX, None, None, None) == MinerConfig()


# ---------------------------------------------------------------------------- API v3 payloads
DEVICE_INFO: dict[str, Any] = {
    "code": 0,
    "when": 1761111204,
    "msg": {
        "network": {"ip": "10.10.10.20", "proto": "dhcp", "netmask": "255.255.255.0",
                    "dns": "10.10.10.1", "mac": "C8:0A:18:01:02:03", "gateway": "10.10.10.1",
                    "hostname": "WhatsMiner"},
        "miner": {"working": "true", "type": "M60_VK10", "hash-board": "K10",
                  "cointype": "BTC/BCH/BSV", "pool-strategy": "FAILOVER", "board-num": "3",
                  "pcbsn0": "HHM60K10A", "pcbsn1": "HHM60K10B", "pcbsn2": "HHM60K10C",
                  "miner-sn": "HTM60K10XYZ", "power-limit-set": "", "web-pool": 1},
        "system": {"api": "3.0.2", "platform": "H616", "fwversion": "20250915.16.Rel2",
                   "control-board-version": "CB6V10", "apiswitch": "1", "ledstatus": "auto"},
        "power": {"type": "P222B", "mode": "1", "model": "P222B", "iin": 15.43, "vin": 231.5,
                  "vout": 1222, "pin": 3573, "fanspeed": 4992, "temp0": 79,
                  "sn": "AG123456", "vendor": "7"},
        "salt": "IbDcC123",
        "error-code": [],
    },
    "desc": "get.device.info",
}  # fmt: skip
V3_SUMMARY = {
    "code": 0,
    "when": 1761111204,
    "msg": {
        "summary": {
            "elapsed": 86400, "bootup-time": 1761024804, "freq-avg": 550.0, "target-freq": 550,
            "factory-hash": 172.0, "hash-average": 171.2, "hash-1min": 171.9,
            "hash-15min": 171.5, "hash-realtime": 171.932, "power-rate": 19.9,
            "power-5min": 3410, "power-realtime": 3422, "environment-temperature": 26.5,
            "board-temperature": [58.0, 59.0, 60.0], "chip-temp-min": 64.5,
            "chip-temp-avg": 72.4, "chip-temp-max": 81.0, "power-limit": 3800,
            "up-freq-finish": 1, "fan-speed-in": 5280, "fan-speed-out": 5250,
        }
    },
    "desc": "get.miner.status",
}  # fmt: skip
V3_EDEVS: dict[str, Any] = {
    "code": 0,
    "msg": {
        "edevs": [
            {"id": i, "slot": i, "hash-average": 57.31 + i / 100, "factory-hash": 57.33,
             "freq": 550, "effective-chips": 164, "chip-temp-min": 64.5, "chip-temp-avg": 72.0 + i,
             "chip-temp-max": 81.0}
            for i in range(3)
        ]
    },
    "desc": "get.miner.status",
}  # fmt: skip
V3_POOLS = {
    "code": 0,
    "msg": {
        "pools": [
            {"id": 2, "url": "stratum+tcp://backup.example:443", "status": "alive",
             "account": "acct.w2", "stratum-active": False, "reject-rate": 0.0,
             "last-share-time": 0},
            {"id": 1, "url": "stratum+tcp://btc.example:3333", "status": "alive",
             "account": "acct.w1", "stratum-active": True, "reject-rate": 0.05,
             "last-share-time": 1761111200},
        ]
    },
    "desc": "get.miner.status",
}  # fmt: skip
V3_SETTING = {
    "code": 0,
    "msg": {"power-limit": 3800, "power-mode": "normal", "fast-boot": "disable"},
}
M60 = lookup_whatsminer("M60_VK10")
CTX3 = ParseContext("SHA256", M60, Identity(ip="10.10.10.20", make="WhatsMiner", firmware="Stock"))


def test_v3_device_info_fields() -> None:
    assert wm.v3_mac(CTX3, DEVICE_INFO) == "c8:0a:18:01:02:03"
    assert wm.v3_hostname(CTX3, DEVICE_INFO) == "WhatsMiner"
    assert wm.v3_serial(CTX3, DEVICE_INFO) == "HTM60K10XYZ"
    assert wm.v3_fw_ver(CTX3, DEVICE_INFO) == "20250915.16.Rel2"
    assert wm.v3_api_ver(CTX3, DEVICE_INFO) == "3.0.2"
    assert wm.v3_fault_light(CTX3, DEVICE_INFO) is False
    assert wm.v3_is_mining(CTX3, DEVICE_INFO) is True
    assert wm.v3_fan_psu(CTX3, DEVICE_INFO) == 4992
    assert wm.v3_psu_serial(CTX3, DEVICE_INFO) == "AG123456"
    assert wm.v3_voltage(CTX3, DEVICE_INFO) == 12.22
    assert wm.v3_errors(CTX3, DEVICE_INFO) == []


def test_v3_summary_fields() -> None:
    assert wm.v3_hashrate(CTX3, V3_SUMMARY) == pytest.approx(171.932)
    assert wm.v3_expected_hashrate(CTX3, V3_SUMMARY) == 172.0
    assert wm.v3_wattage(CTX3, V3_SUMMARY) == 3422
    assert wm.v3_wattage_limit(CTX3, V3_SUMMARY) == 3800
    assert wm.v3_env_temp(CTX3, V3_SUMMARY) == 26.5
    assert wm.v3_uptime(CTX3, V3_SUMMARY) == 86400
    assert [f.speed for f in wm.v3_fans(CTX3, V3_SUMMARY) or []] == [5280, 5250]
    misspelt = {"msg": {"summary": {"environment-tempurature": 30.0}}}
    assert wm.v3_env_temp(CTX3, misspelt) == 30.0


def test_v3_hashboards() -> None:
    boards = wm.v3_hashboards(CTX3, DEVICE_INFO, V3_EDEVS, V3_SUMMARY)
    assert boards is not None and len(boards) == 3
    assert [b.hashrate for b in boards] == pytest.approx([57.31, 57.32, 57.33])
    assert [b.temp for b in boards] == [58.0, 59.0, 60.0]
    assert [b.chip_temp for b in boards] == [72.0, 73.0, 74.0]
    assert [b.chips for b in boards] == [164, 164, 164]
    assert [b.serial_number for b in boards] == ["HHM60K10A", "HHM60K10B", "HHM60K10C"]
    assert all(b.expected_chips == 164 and not b.missing for b in boards)
    # a board missing from edevs stays missing; no summary: no board temperature
    one = {"msg": {"edevs": [V3_EDEVS["msg"]["edevs"][2]]}}
    boards = wm.v3_hashboards(CTX3, DEVICE_INFO, one, None)
    assert boards is not None and [b.missing for b in boards] == [True, True, False]
    assert boards[2].temp is None and boards[2].chip_temp == 74.0


def test_v3_pools() -> None:
    pools = wm.v3_pools(CTX3, V3_POOLS)
    assert pools is not None
    assert [(p.index, p.url, p.user, p.active, p.alive) for p in pools] == [
        (0, "stratum+tcp://btc.example:3333", "acct.w1", True, True),
        (1, "stratum+tcp://backup.example:443", "acct.w2", False, True),
    ]
    assert pools[0].accepted is None  # v3 does not report share counts


def test_v3_errors_of_every_shape() -> None:
    slot_error = {"5032": "Slot 2 voltage abnormal", "reason": "hashboard"}
    info = {"msg": {"error-code": ["2010", 541, slot_error, "bad", None]}}
    errors = wm.v3_errors(CTX3, info)
    assert [e.error_code for e in errors] == [541, 2010, 5032]
    # a code our table lacks takes the firmware's own reason (API 3.0.2 sends one per code)
    assert errors[2].error_message == "hashboard"
    text = wm.v3_errors(CTX3, {"msg": {"error-code": "btminer process is down err"}})
    assert [(e.error_code, e.error_message) for e in text] == [
        (None, "btminer process is down err")
    ]


@pytest.mark.parametrize("payload", [None, {}, {"msg": "ok"}, {"msg": {"summary": []}}, 3])
def test_v3_parsers_on_missing_or_garbage(payload: Any) -> None:
    for parser in (wm.v3_hashrate, wm.v3_expected_hashrate, wm.v3_wattage, wm.v3_wattage_limit,
                   wm.v3_env_temp, wm.v3_uptime, wm.v3_fans, wm.v3_mac, wm.v3_hostname,
                   wm.v3_fault_light, wm.v3_is_mining, wm.v3_fan_psu, wm.v3_voltage,
                   wm.v3_pools):  # fmt: skip
        assert parser(CTX3, payload) is None, parser.__name__
    assert wm.v3_hashboards(CTX3, payload, payload, payload) is None
    assert wm.v3_errors(CTX3, payload) == []


def test_v3_expected_hashrate_placeholder() -> None:
    # while calibrating the firmware reports -0.001 per board
    calibrating = {"msg": {"summary": {"factory-hash": -0.003}}}
    assert wm.v3_expected_hashrate(CTX3, calibrating) is None


def test_v3_config() -> None:
    config = wm.v3_config(CTX3, V3_POOLS, DEVICE_INFO, V3_SETTING)
    assert config.pools is not None
    assert [p.user for p in config.pools.first_group] == ["acct.w1", "acct.w2"]
    assert isinstance(config.mining_mode, MiningModeNormal)
    limited = {"msg": {"miner": {**DEVICE_INFO["msg"]["miner"], "power-limit-set": "3100"}}}
    assert wm.v3_config(CTX3, V3_POOLS, limited, V3_SETTING).mining_mode == (
        MiningModePowerTune(power=3100)
    )
    low = {"msg": {"power-mode": "low"}}
    assert isinstance(wm.v3_config(CTX3, V3_POOLS, DEVICE_INFO, low).mining_mode, MiningModeLow)
    stopped = {"msg": {"miner": {"working": "false"}}}
    assert isinstance(
        wm.v3_config(CTX3, V3_POOLS, stopped, V3_SETTING).mining_mode, MiningModeSleep
    )


# ---------------------------------------------------------------------------- error table
@pytest.mark.parametrize(
    ("code", "text"),
    [
        (110, "Intake fan speed error"),
        (202, "Power supply output voltage error"),
        (300, "Hash board 0: temperature sensor not detected"),
        (352, "Hash board 2: over-temperature protection"),
        (532, "Hash board 2: hash board not found"),
        (2021, "Connection to pool 1 failed"),
        (539, "Unknown error (code 539)"),
        (1, "Unknown error (code 1)"),
    ],
)
def test_describe_error(code: int, text: str) -> None:
    assert wm.describe_error(code) == text


# ---------------------------------------------------------------------------- identification
def test_matches() -> None:
    devdetails = {
        "STATUS": [{"STATUS": "S", "Code": 69, "Msg": "Device Details", "Description": "btminer"}],
        "DEVDETAILS": [{"DEVDETAILS": 0, "Name": "SM", "Driver": "bitmicro", "Model": "M50_VH50"}],
    }
    assert wm.matches_v2(Evidence(ip="x", rpc_devdetails=devdetails))
    assert not wm.matches_v3(Evidence(ip="x", rpc_devdetails=devdetails))
    bare = {"DEVDETAILS": [{"Model": "M30S+_VE41"}]}  # no btminer word, but a Whatsminer model
    assert wm.matches_v2(Evidence(ip="x", rpc_devdetails=bare))
    antminer = {"DEVDETAILS": [{"Model": "Antminer S19"}], "STATUS": [{"Description": "bmminer"}]}
    assert not wm.matches_v2(Evidence(ip="x", rpc_devdetails=antminer))
    assert wm.matches_v3(Evidence(ip="x", whatsminer_v3=DEVICE_INFO))
    assert not wm.matches_v3(Evidence(ip="x", whatsminer_v3={"code": 0, "msg": {"salt": "a"}}))


async def test_build_v3_from_probe_evidence() -> None:
    miner = await wm.build_v3(Evidence(ip="10.10.10.20", whatsminer_v3=DEVICE_INFO), Credentials())
    assert isinstance(miner, wm.WhatsminerV3)
    ident = miner.identity
    assert (ident.model, ident.raw_model, ident.mac) == (
        "M60 VK10",
        "M60_VK10",
        "c8:0a:18:01:02:03",
    )
    assert (ident.fw_ver, ident.api_ver, ident.serial_number) == (
        "20250915.16.Rel2", "3.0.2", "HTM60K10XYZ")  # fmt: skip
    assert miner.model_info is not None and miner.model_info.chips_per_board == 164


async def test_unknown_model_keeps_raw_name() -> None:
    info = {"msg": {**DEVICE_INFO["msg"], "miner": {"type": "M99_VZ90", "working": "true"}}}
    miner = await wm.build_v3(Evidence(ip="10.0.0.9", whatsminer_v3=info), Credentials())
    assert miner is not None
    assert miner.model == "M99_VZ90" and miner.model_info is None and miner.algo == "SHA256"


# ---------------------------------------------------------------------------- engine isolation
class _Canned(wm.WhatsminerV2):
    """A v2 driver answering from canned payloads (or exceptions) instead of the network."""

    payloads: dict[str, Any] = {}

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {n: self.payloads.get(n) for n in names}


async def test_one_failed_command_costs_only_its_fields() -> None:
    miner = _Canned("10.0.0.5")
    miner.payloads = {
        "summary": SUMMARY, "devs": DEVS, "pools": POOLS, "get_version": GET_VERSION,
        "get_miner_info": MINER_INFO, "get_psu": GET_PSU, "get_error_code": ERROR_CODE_205,
        "status": MinerTimeoutError("no answer within 5 s", ip="10.0.0.5", command="status"),
    }  # fmt: skip
    data = await miner.get_data()
    assert data.field_errors == {"is_mining": "10.0.0.5 'status': no answer within 5 s"}
    assert data.is_mining is None
    assert data.hashrate == pytest.approx(100.12345678)
    assert len(data.hashboards) == 3 and len(data.pools) == 2
    assert data.mac == "c4:0a:18:00:12:ab" and data.fw_ver == "20230911.12.Rel"


async def test_garbage_payloads_give_none_not_crashes() -> None:
    miner = _Canned("10.0.0.5")
    miner.payloads = {name: {"SUMMARY": 7, "DEVS": "x", "POOLS": {}, "Msg": [1]}
                      for name in ("summary", "devs", "pools", "get_version", "get_miner_info",
                                   "get_psu", "get_error_code", "status")}  # fmt: skip
    data = await miner.get_data()
    assert data.field_errors == {}
    assert data.hashrate is None and data.hashboards == [] and data.pools == []
    assert data.errors == []


class _FakeRPC:
    """Stands in for RPCClient: single commands and one joined batch, from canned replies."""

    port = 4028

    def __init__(self, replies: dict[str, Any]) -> None:
        self.replies = replies
        self.batches: list[tuple[str, ...]] = []

    async def send(self, command: str) -> Any:
        reply = self.replies[command]
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def multicommand(self, *commands: str) -> dict[str, Any]:
        self.batches.append(commands)
        return {c: self.replies[c] for c in commands}


async def test_real_fetch_batches_and_treats_missing_optional_commands_as_unreported() -> None:
    miner = wm.WhatsminerV2("10.0.0.5")
    fake = _FakeRPC(
        {
            "summary": SUMMARY, "devs": DEVS, "pools": POOLS, "get_miner_info": MINER_INFO,
            "status": STATUS_ON, "get_version": GET_VERSION,
            "get_psu": CommandError("invalid cmd (code 14)", ip="10.0.0.5", command="get_psu"),
            "get_error_code": CommandError("invalid cmd (code 14)", ip="10.0.0.5",
                                           command="get_error_code"),
        }
    )  # fmt: skip
    miner._set_client("rpc", wm.RPC_PORT, fake)
    data = await miner.get_data()
    assert fake.batches == [("devs", "pools", "summary")]
    assert data.field_errors == {}
    assert data.fan_psu is None and data.voltage is None and data.errors == []
    assert data.hashrate == pytest.approx(100.12345678)
    # a non-optional command failing the same way is an error of its fields
    fake.replies["status"] = CommandError("invalid cmd (code 14)", ip="10.0.0.5", command="status")
    data = await miner.get_data(include=["is_mining"])
    assert "invalid cmd" in data.field_errors["is_mining"]

"""Pure parsers of the LuxOS driver on captured-style LUXminer 2025.x payloads.

The payloads follow the firmware's format (keys, string/number types, units) with our own
numbers: complete, with missing keys, and garbage, each failing only its own field.
"""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.config import (
    FanModeManual,
    FanModeNormal,
    MiningModeNormal,
    MiningModePreset,
    MiningModeSleep,
)
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.drivers.luxos import (
    LuxOSMiner,
    choose_profile,
    mode_profile,
    parse_config,
    parse_errors,
    parse_expected_hashrate,
    parse_fans,
    parse_fault_light,
    parse_hashboards,
    parse_is_mining,
    parse_mac,
    parse_profiles,
    parse_wattage,
    parse_wattage_limit,
)

INFO = catalog.lookup("Antminer S19j Pro")
CTX = ParseContext("SHA256", INFO, Identity(ip="x", make="AntMiner", firmware="LuxOS"))


def status(msg: str) -> list[dict[str, Any]]:
    return [{"Code": 1, "Description": "LUXminer 2025.4.8.220305-57b389c7", "Msg": msg,
             "STATUS": "S", "When": 1760242394}]  # fmt: skip


STATS = {
    "STATS": [
        {"CompileTime": "Tue Apr  8 22:05:35 UTC 2025", "Miner": "2025.4.8.220305",
         "Type": "Antminer S19j Pro"},
        {
            "Elapsed": 3453, "GHS 5s": 103756.06, "ID": "BTM_SOC0",
            "chain_acn1": 126, "chain_acn2": 126, "chain_acn3": 126, "chain_acn4": 0,
            "chain_rate1": "34610.28", "chain_rate2": "34539.95", "chain_rate3": "34605.83",
            "chain_rate4": "0",
            "temp_pcb1": "71-58-58-71", "temp_pcb2": "72-57-59-72", "temp_pcb3": "70-58-58-70",
            "temp_pcb4": "0-0-0-0", "rate_unit": "GH", "total_rateideal": 104000.0,
        },
    ],
    "STATUS": status("LUXminer stats"),
    "id": 1,
}  # fmt: skip

CONFIG = {
    "CONFIG": [
        {"CurtailMode": "None", "Hostname": "rack5-slot2", "MACAddr": "62:f7:5e:b7:10:46",
         "Profile": "default", "RedLed": "auto", "SerialNumber": "JYZZB0UBDJABF06RB",
         "SystemStatus": "Normal"}
    ],
    "STATUS": status("LUXminer config"),
    "id": 1,
}  # fmt: skip

PROFILES = {
    "PROFILES": [
        {"Profile Name": "450MHz", "Watts": 2400, "Hashrate": 89.1, "IsTuned": False},
        {"Profile Name": "500MHz", "Watts": 2886, "Hashrate": 99.0, "IsTuned": False},
        {"Profile Name": "default", "Watts": 3068, "Hashrate": 104.0, "IsTuned": True},
        {"Profile Name": "575MHz", "Watts": 3437, "Hashrate": 113.9, "IsTuned": False},
    ],
    "STATUS": status("List profiles"),
    "id": 1,
}

FANS = {
    "FANCTRL": [{"MinFans": 3, "PowerOffSpeed": 20}],
    "FANS": [{"FAN": "FAN4", "ID": 3, "RPM": 2340, "Speed": 20},
             {"FAN": "FAN2", "ID": 0, "RPM": 1920, "Speed": 20}],
    "STATUS": status("2 Fan(s)"),
    "id": 1,
}  # fmt: skip


def test_hashboards_exhaust_and_intake_pairs() -> None:
    boards = parse_hashboards(CTX, STATS)
    assert len(boards) == 3  # the empty fourth connector is not a board of an S19j Pro
    assert boards[0].hashrate == pytest.approx(34.61028)
    assert (boards[0].temp, boards[0].chip_temp) == (58.0, 71.0)
    assert boards[1].temp == 58.0 and boards[1].chip_temp == 72.0
    assert all(b.chips == 126 and not b.missing and b.expected_chips == 126 for b in boards)
    assert parse_expected_hashrate(CTX, STATS) == pytest.approx(104.0)


def test_board_with_garbage_keeps_the_others() -> None:
    stats = {"STATS": [{}, {**STATS["STATS"][1], "chain_rate2": "n/a", "temp_pcb2": "x-y"}]}
    boards = parse_hashboards(CTX, stats)
    assert boards[1].hashrate is None and boards[1].temp is None
    assert boards[0].hashrate == pytest.approx(34.61028)
    with pytest.raises(ValueError):
        parse_hashboards(CTX, {"STATS": [{"Type": "x"}]})


def test_fans_in_id_order() -> None:
    assert [f.speed for f in parse_fans(CTX, FANS)] == [1920, 2340]
    with pytest.raises(ValueError):
        parse_fans(CTX, {"STATUS": []})


def test_power_profiles_and_limit() -> None:
    assert parse_wattage(CTX, {"POWER": [{"PSU": False, "Watts": 1051}]}) == 1051
    assert parse_wattage_limit(CTX, CONFIG, PROFILES) == 3068
    presets = parse_profiles(PROFILES)
    assert [p.name for p in presets] == ["450MHz", "500MHz", "default", "575MHz"]
    assert choose_profile(presets, 3000) == presets[1]
    assert choose_profile(presets, 2000) is None
    assert mode_profile(presets, "normal") == presets[2]
    assert mode_profile(presets, "high") == presets[3]
    assert mode_profile(presets, "low") == presets[0]  # <= 80 % of default's 3068 W


def test_light_mining_errors_mac() -> None:
    assert parse_fault_light(CTX, CONFIG) is False  # "auto": the firmware's own indication
    blink = {"CONFIG": [{**CONFIG["CONFIG"][0], "RedLed": "blink"}]}
    assert parse_fault_light(CTX, blink) is True
    summary = {"SUMMARY": [{"GHS 5s": 1.0, "Elapsed": 5}]}
    assert parse_is_mining(CTX, CONFIG, summary) is True
    asleep = {"CONFIG": [{**CONFIG["CONFIG"][0], "CurtailMode": "Sleep"}]}
    assert parse_is_mining(CTX, asleep, summary) is False
    assert parse_errors(CTX, CONFIG) == []
    bad = {"CONFIG": [{"SystemStatus": "Overheat"}]}
    assert parse_errors(CTX, bad)[0].error_message == "system status: Overheat"
    assert parse_mac(CTX, CONFIG) == "62:f7:5e:b7:10:46"
    with pytest.raises(ValueError):
        parse_mac(CTX, {"garbage": True})


def test_config_codec() -> None:
    pools = {"POOLS": [
        {"POOL": 1, "URL": "stratum+tcp://b:3333", "User": "u.b", "Priority": 1, "GROUP": 0},
        {"POOL": 0, "URL": "stratum+tcp://a:3333", "User": "u.a", "Priority": 0, "GROUP": 0},
    ]}  # fmt: skip
    groups = {"GROUPS": [{"GROUP": 0, "Name": "Default", "Quota": 1}]}
    tempctrl = {"TEMPCTRL": [{"Mode": "Auto", "Target": 75.0, "Hot": 90.0, "Dangerous": 100.0}]}
    config = parse_config(CTX, pools, groups, FANS, tempctrl, CONFIG, PROFILES)
    assert config.pools is not None
    assert [p.url for p in config.pools.first_group] == ["stratum+tcp://a:3333",
                                                         "stratum+tcp://b:3333"]  # fmt: skip
    assert config.fan_mode == FanModeNormal(minimum_fans=3)
    assert config.temperature is not None and config.temperature.danger == 100.0
    # the active profile is "default", the one "normal" selects: reported as normal
    assert config.mining_mode == MiningModeNormal()
    other = {"CONFIG": [{**CONFIG["CONFIG"][0], "Profile": "500MHz"}]}
    mode = parse_config(CTX, pools, groups, FANS, tempctrl, other, PROFILES).mining_mode
    assert isinstance(mode, MiningModePreset) and mode.active_preset == "500MHz"
    manual = {"TEMPCTRL": [{"Mode": "Manual"}]}
    assert parse_config(CTX, pools, groups, FANS, manual, CONFIG, PROFILES).fan_mode == (
        FanModeManual(speed=20, minimum_fans=3)
    )
    asleep = {"CONFIG": [{**CONFIG["CONFIG"][0], "CurtailMode": "Sleep"}]}
    mode = parse_config(CTX, pools, groups, FANS, tempctrl, asleep, PROFILES).mining_mode
    assert isinstance(mode, MiningModeSleep)


def test_every_field_has_a_parser() -> None:
    wanted = {"hashrate", "hashboards", "fans", "wattage", "wattage_limit", "pools",
              "is_mining", "fault_light", "config", "mac", "hostname"}  # fmt: skip
    assert wanted <= set(LuxOSMiner.FIELDS)

"""ePIC parsers on captured-style payloads (PowerPlay-BMS 1.5.13 on an S19 XP, one board
disabled), and garbage isolated to the field it breaks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.config import (
    FanModeImmersion,
    FanModeManual,
    FanModeNormal,
    MiningModeHashrateTune,
    MiningModeNormal,
    MiningModePowerTune,
    MiningModeSleep,
)
from asic_bridge.drivers import epic
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError

INFO = catalog.lookup("AntMiner S19 XP")
CTX = ParseContext("SHA256", INFO, Identity(ip="127.25.200.1", make="AntMiner", firmware="ePIC"))

SUMMARY: dict[str, Any] = {
    "Disable Board On Failure": True,
    "Fans": {
        "Fan Mode": {"Auto": {"Idle Speed": 20, "Target Temperature": 60}},
        "Fans Speed": 100,
        "Minimum Working Fans": 0,
    },
    "Fans Rpm": {
        "Fans Speed 1": 5971,
        "Fans Speed 10": None,
        "Fans Speed 11": None,
        "Fans Speed 12": None,
        "Fans Speed 2": 0,
        "Fans Speed 3": 5942,
        "Fans Speed 4": 5745,
        "Fans Speed 5": None,
    },
    "HBStatus": [
        {"Detected": True, "Enabled": False, "Index": 0},
        {"Detected": True, "Enabled": True, "Index": 1},
        {"Detected": True, "Enabled": True, "Index": 2},
    ],
    "HBs": [
        {
            "Core Clock Avg": 487.5,
            "Hashrate": [49440724.0, 103.1, 0.8],
            "Index": 1,
            "Input Voltage": 12.6,
            "Temperature": 67.0,
        },
        {
            "Core Clock Avg": 487.5,
            "Hashrate": [49925124.0, 104.1, 0.8],
            "Index": 2,
            "Input Voltage": 12.6,
            "Temperature": 64.312,
        },
    ],
    "Hostname": "cminer32092035",
    "Last License Error": None,
    "Mining": {"Algorithm": "SHA-256", "Coin": "BTC"},
    "Misc": {"Critical Temp": 100.0, "Locate Miner State": False, "Shutdown Temp": 85.0},
    "PerpetualTune": {
        "Algorithm": {
            "VoltageOptimizer": {
                "Min Throttle Target": 50,
                "Optimized": False,
                "Target": 143,
                "Throttle Step": 5,
                "Unit": "TH/s",
            }
        },
        "Running": True,
    },
    "Power Supply Stats": {
        "Input Power": 2166.6174,
        "Output Voltage": 12.595,
        "Target Voltage": 12600,
    },
    "PresetInfo": {"Target Power": 3000},
    "Session": {"Accepted": 1862, "Rejected": 2, "Uptime": 23170},
    "Software": "PowerPlay-BMS v1.5.13",
    "Status": {"Last Error": None, "Operating State": "Mining"},
    "Stratum": {
        "Config Id": 0,
        "Current Pool": "mine.ocean.xyz:3334",
        "Current User": "randomuser.randomworker-0x81x19",
        "IsPoolConnected": True,
        "Worker Unique Id": True,
    },
    "StratumConfigs": [
        {
            "login": "randomuser.randomworker",
            "password": "password",
            "pool": "stratum+tcp://mine.ocean.xyz:3334",
        },
        {"login": "backup.worker", "password": "x", "pool": "stratum+tcp://backup.example:3333"},
    ],
}
CAPABILITIES: dict[str, Any] = {
    "Board Serial Numbers": ["YNAHYPDBCJEBC0D6S", "YNAHYPDBCJEBC0C6R"],
    "Model": "AntMiner S19 XP",
    "Performance Estimator": {"Chip Count": 110, "Hashes Per Second Per Chip": 894.0},
    "PerpetualTune": [
        {"algorithm": "VoltageOptimizer", "max": 300, "min": 60, "name": "Voltage Optimizer"},
        {"algorithm": "Power", "max": 3600, "min": 1500, "name": "Power"},
    ],
}
TEMPS = [
    {"Data": [42.312, 42.875], "Index": 0, "Total": 0.0},
    {"Data": [55.062, 67.0], "Index": 1, "Total": 0.0},
    {"Data": [52.062, 64.312], "Index": 2, "Total": 0.0},
]
NETWORK = {"dhcp": {"address": "10.0.81.19", "mac_address": "E6:D4:41:51:64:28"}}


def summary_with(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(SUMMARY)
    out.update(changes)
    return out


def test_hashrates_sum_the_boards_in_mhs() -> None:
    assert epic.parse_hashrate(CTX, SUMMARY) == pytest.approx(99.365848)
    expected = 49440724.0 / 1.031 + 49925124.0 / 1.041
    assert epic.parse_expected_hashrate(CTX, SUMMARY) == pytest.approx(expected / 1e6)
    assert epic.parse_hashrate(CTX, summary_with(HBs=None)) is None


def test_hashboards_carry_every_reported_detail() -> None:
    boards = epic.parse_hashboards(CTX, SUMMARY, CAPABILITIES, TEMPS)
    assert [b.slot for b in boards] == [0, 1, 2]
    off, one, two = boards
    assert (off.missing, off.active, off.chips, off.hashrate) == (False, False, 0, None)
    assert off.serial_number is None  # serials are listed for the enabled boards only
    assert one.hashrate == pytest.approx(49.440724) and one.chips == 110
    assert (one.temp, one.inlet_temp, one.outlet_temp) == (67.0, 55.062, 67.0)
    assert (one.voltage, one.active, one.tuned) == (12.6, True, False)  # not optimized yet
    assert (one.serial_number, two.serial_number) == ("YNAHYPDBCJEBC0D6S", "YNAHYPDBCJEBC0C6R")
    assert two.temp == 64.312 and two.chip_temp is None  # board sensors only


def test_hashboards_without_capabilities_or_temps_use_the_catalog() -> None:
    boards = epic.parse_hashboards(CTX, SUMMARY, None, None)
    assert INFO is not None and boards[1].chips == INFO.chips_per_board
    assert boards[1].inlet_temp is None and boards[1].serial_number is None


def test_fans_in_number_order_without_empty_connectors() -> None:
    assert [f.speed for f in epic.parse_fans(CTX, SUMMARY)] == [5971, 0, 5942, 5745]


def test_power_figures() -> None:
    assert epic.parse_wattage(CTX, SUMMARY) == 2167
    assert epic.parse_voltage(CTX, SUMMARY) == 12.595
    assert epic.parse_wattage_limit(CTX, SUMMARY) is None  # tuning for hashrate, not power
    power = {"Algorithm": {"Power": {"Target": 2800, "Unit": "W"}}, "Running": True}
    assert epic.parse_wattage_limit(CTX, summary_with(PerpetualTune=power)) == 2800
    old = summary_with()
    del old["PerpetualTune"]
    assert epic.parse_wattage_limit(CTX, old) == 3000  # the older preset API


def test_identity_facts() -> None:
    assert epic.parse_fw_ver(CTX, SUMMARY) == "1.5.13"
    assert epic.parse_hostname(CTX, SUMMARY) == "cminer32092035"
    assert epic.parse_mac(CTX, NETWORK) == "e6:d4:41:51:64:28"
    assert epic.parse_mac(CTX, {"static": {"mac_address": "e6-d4-41-51-64-29"}}) == (
        "e6:d4:41:51:64:29"
    )
    assert epic.parse_serial_number(CTX, CAPABILITIES) is None
    assert epic.parse_serial_number(CTX, {"Miner Serial Number": "ABC123"}) == "ABC123"


def test_state_light_uptime_errors() -> None:
    assert epic.parse_is_mining(CTX, SUMMARY) is True
    idle = summary_with(Status={"Operating State": "Idling", "Last Error": None})
    assert epic.parse_is_mining(CTX, idle) is False
    assert epic.parse_fault_light(CTX, SUMMARY) is False
    assert epic.parse_uptime(CTX, SUMMARY) == 23170
    assert epic.parse_errors(CTX, SUMMARY) == []
    failed = summary_with(
        Status={"Operating State": "Mining", "Last Error": {"HbChipDetectError": [0]}},
        **{"Last License Error": "LicenseExpired"},
    )
    assert [e.error_message for e in epic.parse_errors(CTX, failed)] == [
        "HbChipDetectError: [0]",
        "license: LicenseExpired",
    ]


def test_pools_list_every_config_and_mark_the_connected_one() -> None:
    first, backup = epic.parse_pools(CTX, SUMMARY)
    assert first.url == "stratum+tcp://mine.ocean.xyz:3334"
    assert first.user == "randomuser.randomworker-0x81x19"  # the live user, unique id added
    assert (first.accepted, first.rejected, first.active, first.alive) == (1862, 2, True, True)
    assert (backup.index, backup.user, backup.active, backup.accepted) == (
        1,
        "backup.worker",
        False,
        None,
    )


def test_config_from_the_summary() -> None:
    config = epic.parse_config(CTX, SUMMARY)
    assert config.pools is not None
    first = config.pools.first_group[0]
    assert (first.url, first.user, first.password) == (
        "stratum+tcp://mine.ocean.xyz:3334",
        "randomuser.randomworker",
        "password",
    )
    assert config.fan_mode == FanModeNormal(minimum_fans=0, minimum_speed=20)
    assert config.temperature is not None
    assert (config.temperature.target, config.temperature.hot, config.temperature.danger) == (
        60.0,
        85.0,
        100.0,
    )
    assert config.mining_mode == MiningModeHashrateTune(hashrate=143, algo="voltage_optimizer")
    manual = summary_with(Fans={"Fan Mode": {"Manual": 70}, "Minimum Working Fans": 2})
    assert epic.parse_config(CTX, manual).fan_mode == FanModeManual(speed=70, minimum_fans=2)
    power = {"Algorithm": {"Power": {"Target": 2800, "Unit": "W"}}, "Running": True}
    assert epic.parse_config(CTX, summary_with(PerpetualTune=power)).mining_mode == (
        MiningModePowerTune(power=2800, algo="Power")
    )
    off = summary_with(PerpetualTune={"Algorithm": {}, "Running": False})
    assert epic.parse_config(CTX, off).mining_mode == MiningModeNormal()
    idle = summary_with(Status={"Operating State": "Idling"})
    assert epic.parse_config(CTX, idle).mining_mode == MiningModeSleep()


def test_fan_mode_encoding_keeps_live_values() -> None:
    assert epic.encode_fan_mode(FanModeManual(speed=70), None, SUMMARY) == {"Manual": 70}
    assert epic.encode_fan_mode(FanModeNormal(minimum_speed=0), None, SUMMARY) == {
        "Auto": {"Idle Speed": 20, "Target Temperature": 60}
    }
    assert epic.encode_fan_mode(FanModeNormal(minimum_speed=30), 55.0, SUMMARY) == {
        "Auto": {"Idle Speed": 30, "Target Temperature": 55}
    }
    with pytest.raises(ConfigError, match="immersion"):
        epic.encode_fan_mode(FanModeImmersion(), None, SUMMARY)


def test_tuner_ranges_and_models() -> None:
    assert epic.tuner_ranges(CAPABILITIES) == {"VoltageOptimizer": (60, 300), "Power": (1500, 3600)}
    assert epic.tuner_ranges("garbage") == {}
    make, model, info = epic.resolve_model("AntMiner S19j Pro")
    assert (make, model) == ("AntMiner", "S19j Pro") and info is not None
    make, model, info = epic.resolve_model("BlockMiner 520i")
    assert (make, model) == ("ePIC", "BlockMiner 520i") and info is not None
    assert epic.resolve_model("AntMiner S99 Future")[:2] == ("AntMiner", "S99 Future")


class _Canned(epic.EpicMiner):
    """The driver with canned payloads instead of sockets."""

    payloads: dict[str, Any] = {}

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        return {name: self.payloads.get(name) for name in names}


async def test_garbage_is_isolated_to_its_field() -> None:
    miner = _Canned("127.25.200.2")
    miner.identity.model_info = INFO
    broken = summary_with(**{"Fans Rpm": "garbage", "Power Supply Stats": [1, 2], "HBs": 7})
    miner.payloads = {
        "summary": broken,
        "capabilities": CAPABILITIES,
        "temps": TEMPS,
        "network": NETWORK,
    }
    data = await miner.get_data()
    assert set(data.field_errors) == {
        "fans",
        "wattage",
        "voltage",
        "hashrate",
        "expected_hashrate",
        "hashboards",
    }
    assert data.mac == "e6:d4:41:51:64:28" and data.uptime == 23170
    assert data.pools and data.is_mining is True and data.fw_ver == "1.5.13"
    miner.payloads = {"summary": {"no": "status"}, "network": "x", "temps": None}
    data = await miner.get_data()
    assert "hashrate" in data.field_errors and "is_mining" in data.field_errors
    assert data.mac == "e6:d4:41:51:64:28"  # a static fact, cached from the first reading

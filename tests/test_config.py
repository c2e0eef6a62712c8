from __future__ import annotations

import pytest

from asic_bridge import ConfigError, MinerConfig
from asic_bridge.config import (
    FanModeManual,
    MiningModePowerTune,
    Pool,
    PoolConfig,
    PoolGroup,
    TemperatureConfig,
)

FULL = {
    "pools": {
        "groups": [
            {
                "name": "main",
                "quota": 2,
                "pools": [
                    {"url": "stratum+tcp://a:3333", "user": "w.1", "password": "x"},
                    {"url": "stratum+tcp://b:3333", "user": "w.1", "password": "x"},
                ],
            }
        ]
    },
    "fan_mode": {"mode": "manual", "speed": 80, "minimum_fans": 1},
    "temperature": {"target": 70, "hot": 80, "danger": 90},
    "mining_mode": {"mode": "power_tuning", "power": 3000, "algo": None},
}


def test_round_trip() -> None:
    config = MinerConfig.from_dict(FULL)
    assert isinstance(config.fan_mode, FanModeManual)
    assert isinstance(config.mining_mode, MiningModePowerTune)
    assert config.mining_mode.power == 3000
    assert MinerConfig.from_dict(config.as_dict()) == config
    assert config.as_dict()["pools"]["groups"][0]["quota"] == 2


@pytest.mark.parametrize(
    "mode",
    [
        {"mode": "normal"},
        {"mode": "low"},
        {"mode": "high"},
        {"mode": "sleep"},
        {"mode": "power_tuning", "power": 2500},
        {"mode": "hashrate_tuning", "hashrate": 90.0},
        {
            "mode": "preset",
            "active_preset": "p1",
            "available_presets": [{"name": "p1", "power": 2000, "hashrate": 80.0}],
        },
        {
            "mode": "manual",
            "global_freq": 500,
            "global_volt": 13.2,
            "boards": {"0": {"freq": 500, "volt": 13.2}},
        },
    ],
)
def test_every_mining_mode(mode: dict[str, object]) -> None:
    config = MinerConfig.from_dict({"mining_mode": mode})
    assert config.mining_mode is not None
    assert config.mining_mode.mode == mode["mode"]
    assert MinerConfig.from_dict(config.as_dict()) == config


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"pool": {}}, "pool: Extra inputs"),
        ({"fan_mode": {"mode": "turbo"}}, "fan_mode"),
        ({"fan_mode": {"mode": "manual", "speed": 150}}, "fan_mode.manual.speed"),
        ({"mining_mode": {"mode": "power_tuning", "power": -5}}, "mining_mode.power_tuning.power"),
        ({"pools": {"groups": [{"quota": 0}]}}, "pools.groups.0.quota"),
        ({"pools": {"groups": [{"pools": [{"user": "w"}]}]}}, "pools.groups.0.pools.0.url"),
        ("not a mapping", "MinerConfig"),
    ],
)
def test_bad_input_names_the_key(bad: object, where: str) -> None:
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        MinerConfig.from_dict(bad)


def test_pool_password_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        MinerConfig.from_dict(
            {"pools": {"groups": [{"pools": [{"url": "u", "password": ["hunter2"]}]}]}}
        )
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(Pool(url="u", password="hunter2"))


def test_merge_keeps_live_parts() -> None:
    live = MinerConfig.from_dict(FULL)
    change = MinerConfig(mining_mode=MiningModePowerTune(power=2000))
    merged = change.merged_over(live)
    assert merged.pools == live.pools  # a power change never drops the pools
    assert merged.fan_mode == live.fan_mode
    assert merged.temperature == TemperatureConfig(target=70, hot=80, danger=90)
    assert isinstance(merged.mining_mode, MiningModePowerTune)
    assert merged.mining_mode.power == 2000


def test_helpers() -> None:
    pools = PoolConfig.simple([{"url": "stratum+tcp://a:1", "user": "u"}])
    assert pools.first_group[0].user == "u"
    assert PoolConfig().first_group == []
    assert MinerConfig.fields() == ["pools", "fan_mode", "temperature", "mining_mode"]
    assert PoolGroup().quota == 1

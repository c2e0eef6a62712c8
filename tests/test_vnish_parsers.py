"""Pure parsers of the VNish driver on payloads in the AnthillOS REST format."""

from __future__ import annotations

import pytest

from asic_bridge import catalog
from asic_bridge.config import (
    FanModeManual,
    MinerConfig,
    MiningModeNormal,
    MiningModePreset,
    MiningModeSleep,
    Pool,
    PoolConfig,
)
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.drivers.vnish import (
    choose_preset,
    encode_settings,
    parse_errors,
    parse_fw_ver,
    parse_is_mining,
    parse_mac,
    parse_preset,
    parse_presets,
    parse_rate,
    parse_settings_config,
    parse_wattage,
    parse_wattage_limit,
    resolve_model,
)

CTX = ParseContext(
    "SHA256", catalog.lookup("S19j Pro"), Identity(ip="x", make="AntMiner", firmware="VNish")
)

SUMMARY = {
    "miner": {
        "miner_type": "Antminer S19j Pro (Vnish 1.2.6)",
        "miner_status": {"miner_state": "mining", "miner_state_time": 100},
        "power_usage": 3012.4,
        "chains": [
            {"id": 1, "status": {"state": "mining", "description": ""}},
            {"id": 2, "status": {"state": "failure", "description": "Chain lost"}},
        ],
    },
    "system": {"network_status": {"mac": "AA:BB:CC:00:11:22", "hostname": "rig-7"}},
}
SETTINGS = {
    "miner": {
        "overclock": {"preset": "3000", "globals": {"freq": 0}},
        "cooling": {"fan_min_count": 4, "fan_min_duty": 10, "mode": {"name": "auto", "param": 70}},
        "misc": {"restart_temp": 95, "asic_boost": True},
        "pools": [{"url": "stratum+tcp://a:3333", "user": "u.a", "pass": "secret", "order": 0}],
    },
    "ui": {"theme": "dark"},
}
PRESETS = [
    {"name": "2800", "pretty": "2800 watt ~ 96.7 TH", "status": "tuned"},
    {"name": "3000", "pretty": "3000 watt ~ 102.3 TH", "status": "tuned"},
    {"name": "1100", "pretty": "1100 watt ~ 11500 M", "status": "untuned"},  # pyasic#296
    {"name": "bogus"},
]


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        ("Antminer S19j Pro (Vnish 1.2.6)", "S19j Pro"),
        ("Antminer S19j Pro AML (Vnish 1.2.6)", "S19j Pro"),
        ("Antminer S19 (88) (Vnish 1.2.0)", "S19 No PIC"),
    ],
)
def test_model_strings(raw: str, model: str) -> None:
    _, info = resolve_model(raw)
    assert info is not None and info.model == model


def test_summary_fields() -> None:
    assert parse_mac(CTX, SUMMARY) == "aa:bb:cc:00:11:22"
    assert parse_fw_ver(CTX, SUMMARY) == "1.2.6"
    assert parse_wattage(CTX, SUMMARY) == 3012
    assert parse_is_mining(CTX, SUMMARY) is True
    stopped = {"miner": {"miner_status": {"miner_state": "stopped"}}}
    assert parse_is_mining(CTX, stopped) is False
    assert [e.error_message for e in parse_errors(CTX, SUMMARY)] == ["chain 2: Chain lost"]
    with pytest.raises(ValueError):
        parse_mac(CTX, {"miner": {}})  # no system section: only mac fails
    with pytest.raises(ValueError):
        parse_wattage(CTX, "<html>")


def test_presets_with_string_rates() -> None:
    presets = parse_presets(PRESETS)
    assert [p.name for p in presets] == ["2800", "3000", "1100", "bogus"]
    assert presets[0].hashrate == pytest.approx(96.7) and presets[0].tuned is True
    assert presets[2].hashrate == pytest.approx(0.0115)  # "11500 M" = 11500 MH/s
    assert parse_rate("11500 M", "Scrypt") == pytest.approx(11.5)  # an L7's GH/s
    assert presets[3].power is None
    assert parse_preset({"name": "2000", "pretty": "no tilde"}) is not None
    assert choose_preset(presets, 2999) == presets[0]
    assert choose_preset(presets, 1000) is None
    assert parse_wattage_limit(CTX, SETTINGS) == 3000
    disabled = {"miner": {"overclock": {"preset": "disabled"}}}
    assert parse_wattage_limit(CTX, disabled) is None


def test_config_codec_round_trip_keeps_unknown_keys() -> None:
    config = parse_settings_config(CTX, SETTINGS, PRESETS, SUMMARY)
    assert isinstance(config.mining_mode, MiningModePreset)
    assert config.mining_mode.active_preset == "3000"
    assert config.temperature is not None and config.temperature.danger == 95
    assert config.pools is not None and config.pools.first_group[0].password == "secret"
    stopped = {"miner": {"miner_status": {"miner_state": "stopped"}}}
    assert isinstance(parse_settings_config(CTX, SETTINGS, PRESETS, stopped).mining_mode,
                      MiningModeSleep)  # fmt: skip
    body = encode_settings(MinerConfig(mining_mode=MiningModeNormal()), SETTINGS)
    assert body["miner"]["overclock"] == {"preset": "disabled", "globals": {"freq": 0}}
    assert body["miner"]["pools"] == SETTINGS["miner"]["pools"]  # untouched
    assert body["ui"] == {"theme": "dark"}
    body = encode_settings(
        MinerConfig(
            pools=PoolConfig.simple([Pool(url="stratum+tcp://a:3333", user="u.a")]),
            fan_mode=FanModeManual(speed=55, minimum_fans=2),
        ),
        SETTINGS,
    )
    assert body["miner"]["pools"][0]["pass"] == "secret"  # "x" keeps the stored password
    assert body["miner"]["cooling"]["mode"] == {"name": "manual", "param": 55}
    assert body["miner"]["misc"] == SETTINGS["miner"]["misc"]

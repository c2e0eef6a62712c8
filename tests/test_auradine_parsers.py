"""Pure parsers of the Auradine (FluxOS) driver on captured-style GCMiner and REST payloads."""

from __future__ import annotations

import pytest

from asic_bridge import catalog
from asic_bridge.config import (
    FanModeManual,
    FanModeNormal,
    MiningModeLow,
    MiningModePowerTune,
    MiningModeSleep,
)
from asic_bridge.drivers import auradine as ad
from asic_bridge.drivers.base import Identity, ParseContext

AT = catalog.lookup("AT2860")
OK = [{"STATUS": "S", "When": 1, "Code": 0, "Msg": "Mode", "Description": "FluxOS"}]


def ctx() -> ParseContext:
    return ParseContext("SHA256", AT, Identity(ip="10.0.0.9", make="Auradine", firmware="Stock"))


def test_boards_from_devs_numbered_from_one() -> None:
    devs = {
        "DEVS": [
            {"ID": 1, "MHS 5s": 83000000.0, "Temperature": 71.5, "Status": "Alive"},
            {"ID": 3, "MHS 5s": 82000000.0, "Temperature": 70.0, "Status": "Alive"},
            {"ID": "x", "MHS 5s": 1},
        ]
    }
    boards = ad.parse_hashboards(ctx(), devs)
    assert [(b.slot, b.missing) for b in boards] == [(0, False), (1, True), (2, False)]
    assert boards[0].hashrate == pytest.approx(83.0) and boards[0].temp == 71.5
    with pytest.raises(ValueError):
        ad.parse_hashboards(ctx(), "garbage")


def test_rest_sections() -> None:
    assert ad.parse_wattage(ctx(), {"STATUS": OK, "PSU": [{"PowerIn": "3512W"}]}) == 3512
    assert ad.parse_wattage(ctx(), {"PSU": [{"PowerIn": "n/a"}]}) is None
    fans = ad.parse_fans(ctx(), {"Fan": [{"Index": 0, "Speed": 6120}, {"Speed": "?"}]})
    assert [f.speed for f in fans or []] == [6120, None]
    assert ad.parse_fault_light(ctx(), {"LED": [{"Code": 3}]}) is True
    assert ad.parse_fault_light(ctx(), {"LED": [{"Code": 2}]}) is False
    errors = ad.parse_errors(ctx(), {"LED": [{"Code": 4}]})
    assert [(e.error_code, e.error_message) for e in errors] == [(4, "temperature fault")]
    assert ad.parse_is_mining(ctx(), {"Mode": [{"Sleep": "on"}]}) is False
    report = {"IPReport": [{"mac": "AA:BB:CC:00:00:01", "hostname": "at", "version": "v1"}]}
    assert ad.parse_mac(ctx(), report) == "aa:bb:cc:00:00:01"
    assert (ad.parse_hostname(ctx(), report), ad.parse_fw_ver(ctx(), report)) == ("at", "v1")
    with pytest.raises(ValueError):
        ad.parse_mac(ctx(), {"STATUS": OK})


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"Mode": "eco", "Sleep": "off"}, MiningModeLow()),
        ({"Mode": "normal", "Sleep": "on"}, MiningModeSleep()),
        ({"Mode": "custom", "Sleep": "off", "Power": 3000}, MiningModePowerTune(power=3000)),
        ({"Mode": "mystery", "Sleep": "off"}, None),
    ],
)
def test_modes(entry: dict[str, object], expected: object) -> None:
    assert ad.parse_mode({"Mode": [entry]}) == expected


def test_fan_mode_and_status() -> None:
    assert ad.parse_fan_mode({"Fan": [{"Speed": 1, "Max": 7500, "Target": 3750}]}) == (
        FanModeManual(speed=50)
    )
    assert ad.parse_fan_mode({"Fan": [{"Speed": 1, "Max": 7500}]}) == FanModeNormal()
    assert ad.status_ok({"STATUS": OK}) and not ad.status_ok({"STATUS": [{"STATUS": "E"}]})

"""Elphapex parsers on real captures (tests/fixtures/real/elphapex/, sources.yaml).

Two firmwares: DG1+ V1.0.2 (hashing, 4 boards) and DG-Home1 V1.0.5 (captured right after
boot: ``elapsed`` 0, three boards not detected yet, two status checks not evaluated).
Every expected value is worked out by hand from the payload; the reason stands beside it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from real_captures import assert_same_shape, load
from sim_answers import our_reading, serving, web_answer

from asic_bridge.catalog import lookup
from asic_bridge.config import FanModeManual, FanModeNormal, MinerConfig, MiningModeNormal
from asic_bridge.drivers import elphapex as el
from asic_bridge.drivers.antminer import parse_errors, parse_fault_light_modern
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError
from asic_bridge.sim.elphapex import cjson

DG1 = "DG1+_SW_V1.0.2"
HOME = "DG-Home1_V1.0.5"


_CONTEXTS = {
    model: ParseContext(
        "Scrypt",
        lookup(model, make="Elphapex"),
        Identity(ip="x", make="Elphapex", firmware="Stock"),
    )
    for model in ("DG1+", "DG-Home1")
}
ctx = _CONTEXTS.__getitem__


def cap(version: str, page: str) -> Any:
    """The page as the web client returns it (every Elphapex capture is JSON)."""
    return load("elphapex", version, page + ".json")


# ----------------------------------------------------------------------------- DG1+ V1.0.2
def test_dg1_summary() -> None:
    c, summary = ctx("DG1+"), cap(DG1, "summary")
    # rate_5s 14920.94 MH/s -> 14.92094 GH/s (Scrypt's default unit is GH/s)
    assert el.parse_hashrate(c, summary) == pytest.approx(14.92094)
    # rate_ideal 14229 MH/s -> 14.229 GH/s
    assert el.parse_expected_hashrate(c, summary) == pytest.approx(14.229)
    assert el.parse_uptime(c, summary) == 357357  # elapsed
    assert el.parse_api_ver(c, summary) == "1.0.0"  # STATUS.api_version
    # all four checks are in state "s"
    assert parse_errors(c, summary) == []


def test_dg1_stats() -> None:
    c, stats = ctx("DG1+"), cap(DG1, "stats")
    boards = el.parse_hashboards(c, stats)
    assert [b.slot for b in boards] == [0, 1, 2, 3]
    # chain[1].rate_real 3550.11 MH/s -> 3.55011 GH/s
    assert boards[1].hashrate == pytest.approx(3.55011)
    # temp_pcb [47, 46, 67, 66]: mean 56.5
    assert boards[1].temp == pytest.approx(56.5)
    # temp_chip ["52812", "56937", "", ""] milli-degC: (52.812 + 56.937) / 2 = 54.8745
    assert boards[1].chip_temp == pytest.approx(54.8745)
    assert [b.chips for b in boards] == [204, 204, 204, 204]  # asic_num
    assert not any(b.missing for b in boards)
    # fan ["5340", "5400", "5400", "5400"]: RPM as strings
    assert [f.speed for f in el.parse_fans(c, stats)] == [5340, 5400, 5400, 5400]


def test_dg1_pools_and_sysinfo() -> None:
    c = ctx("DG1+")
    pools = el.parse_pools(c, cap(DG1, "pools"))
    # three pools; index 1 is the one "Alive"
    assert [(p.index, p.alive) for p in pools] == [(0, False), (1, True), (2, False)]
    assert (pools[0].accepted, pools[0].rejected) == (798704, 3320)
    sysinfo = cap(DG1, "get_system_info")
    assert el.parse_fw_ver(c, sysinfo) == "1.0.2"  # "DG1+_SW_V1.0.2" after the last V
    assert el.parse_mac(c, sysinfo) == "00:00:5e:00:53:01"  # masked, lower-cased
    assert el.parse_hostname(c, sysinfo) == "DG1+"
    assert parse_fault_light_modern(c, cap(DG1, "get_blink_status")) is False  # blink false


def test_dg1_config() -> None:
    conf = cap(DG1, "get_miner_conf")
    config = el.decode_elphapex_conf(conf)
    assert config.pools is not None
    assert [p.url for p in config.pools.first_group] == [
        "stratum+tcp://ltc.trustpool.ru:3333",
        "stratum+tcp://ltc.trustpool.ru:443",
        "stratum+tcp://ltc.trustpool.ru:25",
    ]
    assert config.fan_mode == FanModeNormal()  # fc-fan-ctrl false
    assert config.mining_mode == MiningModeNormal()  # fc-work-mode 0
    assert el.parse_is_mining(ctx("DG1+"), conf) is True


# ----------------------------------------------------------------------------- DG-Home1 V1.0.5
def test_home_summary_not_evaluated_checks_are_no_errors() -> None:
    """``"status": ""`` for rate and network at boot means "not evaluated yet", not a fault
    (issue #11); read as an error it raised two false alarms on every fresh boot."""
    c, summary = ctx("DG-Home1"), cap(HOME, "summary")
    states = [s["status"] for s in summary["SUMMARY"][0]["status"]]
    assert states == ["", "", "s", "s"]  # the capture really has them
    assert parse_errors(c, summary) == []
    assert el.parse_hashrate(c, summary) == 0.0  # rate_5s 0: not hashing yet
    # rate_ideal 3003.75 MH/s -> 3.00375 GH/s
    assert el.parse_expected_hashrate(c, summary) == pytest.approx(3.00375)
    assert el.parse_uptime(c, summary) == 0


def test_home_summary_failed_check_still_an_error() -> None:
    summary = cap(HOME, "summary")
    summary["SUMMARY"][0]["status"][2].update(status="e", msg="fan lost", code=7)
    errors = parse_errors(ctx("DG-Home1"), summary)
    assert [(e.error_code, e.error_message) for e in errors] == [(7, "fan lost")]


def test_home_stats_boards_not_detected_yet() -> None:
    c, stats = ctx("DG-Home1"), cap(HOME, "stats")
    boards = el.parse_hashboards(c, stats)
    # chains 0-2: asic_num 0, sn "", temp_chip all "" -> missing, no chip temperature
    for board in boards[:3]:
        assert board.missing and board.chips == 0
        assert board.chip_temp is None and board.serial_number is None
    # chain 3: 120 chips; temp_chip 25687/25562/25437/25500 m-degC -> mean 25.5465
    assert boards[3].chips == 120 and not boards[3].missing
    assert boards[3].chip_temp == pytest.approx(25.5465)
    assert boards[3].hashrate == 0.0  # rate_real 0
    # fan ["420", "420", "420", "1020"]
    assert [f.speed for f in el.parse_fans(c, stats)] == [420, 420, 420, 1020]


def test_home_sysinfo_pools_config() -> None:
    c = ctx("DG-Home1")
    sysinfo = cap(HOME, "get_system_info")
    assert el.parse_fw_ver(c, sysinfo) == "1.0.5"  # "DG-Home1_V1.0.5"
    assert el.parse_mac(c, sysinfo) == "00:00:5e:00:53:02"
    pools = el.parse_pools(c, cap(HOME, "pools"))
    # all three "Unreachable": none alive, none active, no shares
    assert [(p.alive, p.accepted) for p in pools] == [(False, 0)] * 3
    config = el.decode_elphapex_conf(cap(HOME, "get_miner_conf"))
    assert config.pools is not None and len(config.pools.first_group) == 3
    assert config.mining_mode == MiningModeNormal()  # fc-work-mode 0
    assert parse_fault_light_modern(c, cap(HOME, "get_blink_status")) is False


# ----------------------------------------------------------------------------- simulator shapes
PAGES = ["summary", "stats", "pools", "get_system_info", "get_miner_conf", "get_blink_status"]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("kind", "version", "dead"),
    [
        ("elphapex_dg1plus", DG1, ()),
        # the DG-Home1 capture was taken at boot with chains 0-2 not detected yet
        ("elphapex_dghome1", HOME, (0, 1, 2)),
    ],
)
async def test_simulator_pages_have_the_capture_shape(
    kind: str, version: str, dead: tuple[int, ...], page: str
) -> None:
    async with serving(f"{kind}:{version}", dead_boards=dead) as miner:
        answer = await web_answer(miner, page)
    # The firmware prints numbers the cJSON way (a whole value has no fraction: rate_ideal
    # 14229 on the DG1+ and 3003.75 on the DG-Home1), so int or float follows the value, not
    # the key: on both sides every number is compared as a float.
    assert_same_shape(numbers_as_float(cap(version, page)), numbers_as_float(answer))
    # and the simulator prints them the same way: no whole value with a fraction
    assert json.dumps(answer) == json.dumps(cjson(answer))


def numbers_as_float(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        return {k: numbers_as_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_as_float(v) for v in value]
    return value


async def test_simulator_reports_not_evaluated_checks_at_boot() -> None:
    async with serving("elphapex_dghome1") as miner:
        summary = await web_answer(miner, "summary")
    states = [c["status"] for c in summary["SUMMARY"][0]["status"]]
    assert states == ["", "", "s", "s"]  # as the DG-Home1 capture at elapsed 0
    assert parse_errors(ctx("DG-Home1"), summary) == []


async def test_dghome1_simulator_is_read_end_to_end_at_boot() -> None:
    async with serving("elphapex_dghome1") as miner:
        ours, data = await our_reading(miner)
    assert isinstance(ours, el.ElphapexMiner) and ours.model == "DG1Home"
    assert data.errors == []  # rate and network not evaluated yet: no false alarm
    assert len(data.hashboards) == 4 and data.field_errors == {}


# ----------------------------------------------------------------------------- fan control
@pytest.mark.parametrize(("version", "model"), [(DG1, "DG1+"), (HOME, "DG-Home1")])
def test_fan_mode_from_both_configs(version: str, model: str) -> None:
    conf = cap(version, "get_miner_conf")
    # both: "fc-fan-ctrl": false (an unused fc-fan-pwm "20" / "80" beside it)
    assert el.parse_fan_mode(ctx(model), conf) == "normal"
    assert el.parse_fan_percent(ctx(model), conf) is None
    manual = dict(conf, **{"fc-fan-ctrl": True})
    expected = int(conf["fc-fan-pwm"])
    assert el.parse_fan_mode(ctx(model), manual) == "manual"
    assert el.parse_fan_percent(ctx(model), manual) == expected


def test_fan_garbage_is_no_reading() -> None:
    conf = cap(DG1, "get_miner_conf")
    for bad in ("x", "-1", "250", None):
        manual = dict(conf, **{"fc-fan-ctrl": True, "fc-fan-pwm": bad})
        assert el.parse_fan_percent(ctx("DG1+"), manual) is None
    assert el.parse_fan_mode(ctx("DG1+"), dict(conf, **{"fc-fan-ctrl": "perhaps"})) is None
    with pytest.raises(ConfigError, match="1-100"):
        el.encode_elphapex_conf(MinerConfig(fan_mode=FanModeManual(speed=0)), conf)


async def test_fan_writes_are_read_back() -> None:
    async with serving("elphapex_dghome1") as s:
        ours, _ = await our_reading(s)
        assert ours.fan_modes() == ("normal", "manual")
        await ours.set_fan_mode({"mode": "manual", "speed": 45})
        assert (s.conf["fc-fan-ctrl"], s.conf["fc-fan-pwm"]) == (True, "45")
        data = await ours.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent) == ("manual", 45)
        await ours.set_fan_mode({"mode": "normal"})
        assert s.conf["fc-fan-ctrl"] is False
        await ours.aclose()

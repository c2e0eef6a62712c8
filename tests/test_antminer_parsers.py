"""Antminer stock parsers and config codec on captured-style payloads (no sockets).

Fixtures in tests/fixtures/antminer/ are hand-written in the shape the firmwares send:
an S19j Pro (modern web UI), an L7 (Scrypt, MH/s under ``GHS`` names), an S17 Pro (old web
UI, 16 key slots) and an S9-style ``stats`` (chains 6-8, fans in slots 3 and 6).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from asic_bridge.catalog import lookup
from asic_bridge.config import (
    FanModeImmersion,
    FanModeManual,
    FanModeNormal,
    MinerConfig,
    MiningModeHigh,
    MiningModeLow,
    MiningModeNormal,
    MiningModeSleep,
    Pool,
    PoolConfig,
)
from asic_bridge.data import UnitError
from asic_bridge.drivers import Evidence
from asic_bridge.drivers import antminer as am
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError, InvalidResponseError, UnsupportedError

FIXTURES = Path(__file__).parent / "fixtures" / "antminer"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def ctx(model: str | None, algo: str = "SHA256") -> ParseContext:
    info = lookup(model, make="AntMiner") if model else None
    identity = Identity(ip="10.0.0.1", make="AntMiner", firmware="Stock", model=model)
    return ParseContext(info.algo if info else algo, info, identity)


S19 = load("s19jpro.json")
L7 = load("l7.json")
S17 = load("s17pro.json")
S9_STATS = load("s9_stats.json")
C_S19 = ctx("S19j Pro")
C_L7 = ctx("L7")
C_S17 = ctx("S17 Pro")


# ----------------------------------------------------------------------------- hash rates
def test_hashrate_sha256_is_ghs_5s_in_th() -> None:
    assert am.parse_hashrate(C_S19, S19["rpc_summary"], S19["rpc_stats"]) == pytest.approx(
        104.51237
    )


def test_hashrate_without_stats_assumes_gh() -> None:
    assert am.parse_hashrate(C_S19, S19["rpc_summary"]) == pytest.approx(104.51237)


def test_l7_ghs_key_holds_mh_and_rate_unit_says_so() -> None:
    # 9512.5 under "GHS 5s" with rate_unit "MH" is 9.5125 GH/s, Scrypt's default unit
    assert C_L7.algo == "Scrypt"
    assert am.parse_hashrate(C_L7, L7["rpc_summary"], L7["rpc_stats"]) == pytest.approx(9.5125)
    assert am.parse_expected_hashrate(C_L7, L7["rpc_stats"]) == pytest.approx(9.5)


def test_expected_hashrate() -> None:
    assert am.parse_expected_hashrate(C_S19, S19["rpc_stats"]) == pytest.approx(104.0)
    assert am.parse_expected_hashrate(C_S17, S17["rpc_stats"]) == pytest.approx(53.0)
    stats = copy.deepcopy(S19["rpc_stats"])
    del stats["STATS"][1]["rate_unit"]
    assert am.parse_expected_hashrate(C_S19, stats) == pytest.approx(104.0)  # GH by default
    del stats["STATS"][1]["total_rateideal"]
    assert am.parse_expected_hashrate(C_S19, stats) is None


def test_hashrate_garbage_values_are_none_or_a_clear_error() -> None:
    summary = copy.deepcopy(S19["rpc_summary"])
    summary["SUMMARY"][0]["GHS 5s"] = "n/a"
    assert am.parse_hashrate(C_S19, summary) is None
    del summary["SUMMARY"][0]["GHS 5s"]
    assert am.parse_hashrate(C_S19, summary) is None
    with pytest.raises(ValueError, match="SUMMARY"):
        am.parse_hashrate(C_S19, {"STATUS": [{"STATUS": "S"}], "id": 1})
    with pytest.raises(ValueError, match="JSON object"):
        am.parse_hashrate(C_S19, ["not", "a", "dict"])
    stats = copy.deepcopy(S19["rpc_stats"])
    stats["STATS"][1]["rate_unit"] = "furlongs"
    with pytest.raises(UnitError, match="furlongs"):
        am.parse_hashrate(C_S19, S19["rpc_summary"], stats)


# ----------------------------------------------------------------------------- fans, uptime
def test_fans_modern_and_old_slots_one_to_four() -> None:
    assert [f.speed for f in am.parse_fans(C_S19, S19["rpc_stats"])] == [5880, 5760, 5970, 5820]
    # the S17 lists fan1..fan16; fan_num says 4 are real
    assert [f.speed for f in am.parse_fans(C_S17, S17["rpc_stats"])] == [3120, 3240, 3360, 3180]


def test_fans_s9_layout_skips_empty_slots() -> None:
    assert [f.speed for f in am.parse_fans(ctx("S9"), S9_STATS)] == [5880, 5760]


def test_fans_missing_or_garbage() -> None:
    stats = copy.deepcopy(S19["rpc_stats"])
    for key in ("fan1", "fan2", "fan3", "fan4"):
        del stats["STATS"][1][key]
    assert am.parse_fans(C_S19, stats) == []
    stats["STATS"][1]["fan1"] = "fast"
    assert am.parse_fans(C_S19, stats) == []
    with pytest.raises(ValueError, match="STATS"):
        am.parse_fans(C_S19, {"STATS": "nope"})


def test_uptime() -> None:
    assert am.parse_uptime(C_S19, S19["rpc_stats"]) == 86412
    stats = copy.deepcopy(S19["rpc_stats"])
    del stats["STATS"][1]["Elapsed"]
    assert am.parse_uptime(C_S19, stats) is None


# ----------------------------------------------------------------------------- pools
def test_pools() -> None:
    pools = am.parse_pools(C_S19, S19["rpc_pools"])
    assert [p.url for p in pools] == [
        "stratum+tcp://btc.pool.example:3333",
        "stratum+tcp://backup.pool.example:443",
        None,
    ]
    first = pools[0]
    assert (first.index, first.user, first.accepted, first.rejected) == (
        0,
        "farm.s19jpro01",
        17300,
        21,
    )
    assert (first.get_failures, first.remote_failures, first.active, first.alive) == (
        1,
        0,
        True,
        True,
    )
    assert pools[1].active is False and pools[2].alive is False


def test_pools_missing_or_garbage_entries() -> None:
    assert am.parse_pools(C_S19, {"STATUS": [{"STATUS": "S"}]}) == []
    mixed = {"POOLS": ["junk", {"URL": "stratum+tcp://x:1", "Accepted": "many"}]}
    (pool,) = am.parse_pools(C_S19, mixed)
    assert pool.url == "stratum+tcp://x:1" and pool.accepted is None and pool.index == 1
    with pytest.raises(ValueError, match="not a list"):
        am.parse_pools(C_S19, {"POOLS": "x"})


# ----------------------------------------------------------------------------- hash boards
def test_hashboards_modern() -> None:
    boards = am.parse_hashboards_modern(C_S19, S19["web_stats"])
    assert [b.slot for b in boards] == [0, 1, 2]
    b0 = boards[0]
    assert b0.hashrate == pytest.approx(34.90211)
    assert (b0.chips, b0.expected_chips, b0.missing) == (126, 126, False)
    assert b0.temp == pytest.approx((56 + 54 + 64 + 62) / 4)
    assert b0.chip_temp == pytest.approx((71 + 69 + 79 + 77) / 4)
    assert b0.serial_number == "JYZZF1UBDJHJE01A1"


def test_hashboards_modern_l7_in_mh() -> None:
    boards = am.parse_hashboards_modern(C_L7, L7["web_stats"])
    assert [round(b.hashrate or 0, 5) for b in boards] == [3.17011, 3.18102, 3.16137]


def test_hashboards_modern_dead_and_absent_boards() -> None:
    stats = copy.deepcopy(S19["web_stats"])
    chains = stats["STATS"][0]["chain"]
    chains[1].update(asic_num=0, rate_real=0.0, temp_pcb=[0, 0, 0, 0], temp_chip=[0, 0, 0, 0])
    del chains[2]
    boards = am.parse_hashboards_modern(C_S19, stats)
    assert len(boards) == 3  # the model has three
    assert boards[1].chips == 0 and boards[1].temp is None and boards[1].hashrate == 0.0
    assert boards[2].missing is True and boards[2].hashrate is None


def test_wattage_modern_from_2025_builds_only() -> None:
    """``watt`` (L11, S21) or ``power`` (L9) beside the rates in stats.cgi STATS[0] (asic-rs
    PR #325; no full stats.cgi of such a build is published, so this payload is ours)."""
    assert am.parse_wattage_modern(C_S19, S19["web_stats"]) is None  # 2022 build: no key
    for key in ("watt", "power"):
        stats = copy.deepcopy(S19["web_stats"])
        stats["STATS"][0][key] = 3512.6
        assert am.parse_wattage_modern(C_S19, stats) == 3513
    stats = copy.deepcopy(S19["web_stats"])
    stats["STATS"][0]["watt"] = "n/a"
    assert am.parse_wattage_modern(C_S19, stats) is None


def test_hashboards_modern_garbage() -> None:
    stats = copy.deepcopy(S19["web_stats"])
    stats["STATS"][0]["chain"][0]["temp_pcb"] = "hot"
    stats["STATS"][0]["chain"][0]["rate_real"] = None
    boards = am.parse_hashboards_modern(C_S19, stats)
    assert boards[0].temp is None and boards[0].hashrate is None and boards[0].chips == 126
    with pytest.raises(ValueError, match="chain"):
        am.parse_hashboards_modern(C_S19, {"STATS": [{"rate_unit": "GH/s"}]})


def test_hashboards_unknown_model_uses_what_is_reported() -> None:
    boards = am.parse_hashboards_modern(ctx(None), S19["web_stats"])
    assert len(boards) == 3 and boards[0].expected_chips is None


def test_hashboards_old_s17_pcb_and_chip_temps() -> None:
    boards = am.parse_hashboards_old(C_S17, S17["rpc_stats"])
    assert len(boards) == 3
    b1 = boards[1]
    assert b1.hashrate == pytest.approx(17.92085)
    assert (b1.chips, b1.missing) == (48, False)
    assert (b1.temp, b1.chip_temp) == (52.0, 79.0)  # tempN is the PCB, temp2_N the chips


def test_hashboards_old_s9_chains_six_to_eight() -> None:
    boards = am.parse_hashboards_old(ctx("S9"), S9_STATS)
    assert [b.chips for b in boards] == [63, 63, 0]
    assert boards[2].missing is True and boards[2].hashrate is None
    assert boards[0].hashrate == pytest.approx(6.89012)
    assert (boards[1].temp, boards[1].chip_temp) == (64.0, 80.0)


# ----------------------------------------------------------------------------- status
def test_errors_from_summary_status_list() -> None:
    (error,) = am.parse_errors(C_S19, S19["web_summary"])
    assert error.error_code == 2011 and error.error_message == "fan 3 speed too low"
    summary = copy.deepcopy(S19["web_summary"])
    summary["SUMMARY"][0]["status"][0].update(status="w", msg="")
    errors = am.parse_errors(C_S19, summary)
    assert errors[0].error_message == "rate check reports 'w'"
    del summary["SUMMARY"][0]["status"]
    assert am.parse_errors(C_S19, summary) == []


def test_fault_light() -> None:
    assert am.parse_fault_light_modern(C_S19, {"blink": False}) is False
    assert am.parse_fault_light_modern(C_S19, {"blink": "true"}) is True
    assert am.parse_fault_light_modern(C_S19, {}) is None
    assert am.parse_fault_light_old(C_S17, S17["web_blink_status"]) is True
    with pytest.raises(ValueError):
        am.parse_fault_light_modern(C_S19, "blink")


def test_is_mining() -> None:
    conf = dict(S19["web_get_miner_conf"])
    assert am.parse_is_mining_modern(C_S19, conf) is True
    assert am.parse_is_mining_modern(C_S19, {**conf, "bitmain-work-mode": "1"}) is False
    assert am.parse_is_mining_modern(C_S19, {**conf, "bitmain-work-mode": "3"}) is True
    assert am.parse_is_mining_modern(C_S19, {**conf, "bitmain-work-mode": ""}) is None
    assert am.parse_is_mining_old(C_S17, S17["web_get_miner_conf"]) is True
    assert am.parse_is_mining_old(C_S17, {"bitmain-work-mode": "254"}) is False


def test_static_facts() -> None:
    info = S19["web_get_system_info"]
    assert am.parse_mac(C_S19, info) == "30:cb:1b:49:a4:db"
    assert am.parse_serial(C_S19, info) == "JYZZF1UBDJHJE01W0"
    assert am.parse_hostname(C_S19, info) == "s19-rack4-07"
    assert am.parse_serial(C_S17, S17["web_get_system_info"]) is None
    assert am.parse_mac(C_S19, {"macaddr": "garbage"}) is None
    assert am.parse_fw_ver(C_S19, S19["rpc_version"]) == "Mon Dec 26 17:10:01 CST 2022"
    assert am.parse_api_ver(C_S19, S19["rpc_version"]) == "3.1"


# ----------------------------------------------------------------------------- a broken field
async def test_one_broken_payload_fails_only_its_field() -> None:
    payloads = {
        "rpc:summary": S19["rpc_summary"],
        "rpc:stats": S19["rpc_stats"],
        "rpc:pools": S19["rpc_pools"],
        "web:stats": {"STATS": [{"chain": "garbled"}]},
        "web:summary": S19["web_summary"],
        "web:get_blink_status": {"blink": True},
        "web:get_miner_conf": S19["web_get_miner_conf"],
    }

    class Canned(am.AntminerModern):
        async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
            return {n: payloads[f"{group}:{n}"] for n in names}

    info = lookup("S19j Pro")
    identity = Identity(
        ip="10.0.0.9",
        make="AntMiner",
        firmware="Stock",
        model="S19j Pro",
        model_info=info,
        mac="30:cb:1b:49:a4:db",
        serial_number="X",
        hostname="h",
        fw_ver="f",
        api_ver="3.1",
    )
    data = await Canned("10.0.0.9", identity=identity).get_data()
    assert list(data.field_errors) == ["hashboards"]
    assert "chain" in data.field_errors["hashboards"]
    assert data.hashrate == pytest.approx(104.51237)
    assert data.fault_light is True and data.is_mining is True and len(data.errors) == 1
    assert data.mac == "30:cb:1b:49:a4:db" and len(data.pools) == 3


# ----------------------------------------------------------------------------- config codec
def test_decode_modern_conf() -> None:
    config = am.decode_miner_conf(S19["web_get_miner_conf"])
    assert config.pools is not None
    assert [(p.url, p.user, p.password) for p in config.pools.first_group] == [
        ("stratum+tcp://btc.pool.example:3333", "farm.s19jpro01", "123"),
        ("stratum+tcp://backup.pool.example:443", "farm.s19jpro01", "x"),
    ]
    assert config.fan_mode == FanModeNormal()
    assert config.mining_mode == MiningModeNormal()


@pytest.mark.parametrize(
    ("ctrl", "pwm", "expected"),
    [
        (True, "60", FanModeManual(speed=60)),
        ("true", "0", FanModeImmersion()),
        (False, "60", FanModeNormal()),
    ],
)
def test_decode_fan_modes(ctrl: Any, pwm: str, expected: Any) -> None:
    conf = {**S19["web_get_miner_conf"], "bitmain-fan-ctrl": ctrl, "bitmain-fan-pwm": pwm}
    assert am.decode_miner_conf(conf).fan_mode == expected


def test_decode_work_modes() -> None:
    base = S19["web_get_miner_conf"]
    assert am.decode_miner_conf({**base, "bitmain-work-mode": "1"}).mining_mode == MiningModeSleep()
    assert am.decode_miner_conf({**base, "bitmain-work-mode": "3"}).mining_mode == MiningModeLow()
    assert am.decode_miner_conf({**base, "bitmain-work-mode": "7"}).mining_mode is None
    old = {**S17["web_get_miner_conf"], "bitmain-work-mode": "254"}
    assert am.decode_miner_conf(old, old=True).mining_mode == MiningModeSleep()
    assert am.decode_miner_conf(S17["web_get_miner_conf"], old=True).fan_mode == FanModeManual(
        speed=80
    )
    with pytest.raises(InvalidResponseError):
        am.decode_miner_conf("nope")  # type: ignore[arg-type]


def test_encode_modern_mode_change_keeps_everything_else() -> None:
    live = S19["web_get_miner_conf"]
    merged = MinerConfig(mining_mode=MiningModeLow()).merged_over(am.decode_miner_conf(live))
    body = am.encode_modern_conf(merged, live)
    assert body["miner-mode"] == 3
    assert body["freq-level"] == "100"
    assert "bitmain-work-mode" not in body and "bitmain-freq-level" not in body
    assert body["pools"] == live["pools"]  # hass-miner#380: the pools survive a mode change
    for key in ("bitmain-freq", "bitmain-voltage", "bitmain-pwth", "api-allow"):
        assert body[key] == live[key]
    assert (body["bitmain-fan-ctrl"], body["bitmain-fan-pwm"]) == (False, "100")


def test_encode_modern_pools_and_fans() -> None:
    live = S19["web_get_miner_conf"]
    new = MinerConfig(
        pools=PoolConfig.simple([Pool(url="stratum+tcp://new:1", user="u", password="p")]),
        fan_mode=FanModeManual(speed=70),
    )
    body = am.encode_modern_conf(new.merged_over(am.decode_miner_conf(live)), live)
    assert body["pools"] == [
        {"url": "stratum+tcp://new:1", "user": "u", "pass": "p"},
        {"url": "", "user": "", "pass": ""},
        {"url": "", "user": "", "pass": ""},
    ]
    assert (body["bitmain-fan-ctrl"], body["bitmain-fan-pwm"], body["miner-mode"]) == (
        True,
        "70",
        0,
    )


def test_encode_modern_refuses_what_stock_cannot_do() -> None:
    live = S19["web_get_miner_conf"]
    four = PoolConfig.simple([Pool(url=f"stratum+tcp://p{i}:1") for i in range(4)])
    with pytest.raises(ConfigError, match="3 pool slots"):
        am.encode_modern_conf(MinerConfig(pools=four), live)
    with pytest.raises(UnsupportedError, match="high"):
        am.encode_modern_conf(MinerConfig(mining_mode=MiningModeHigh()), live)


def test_encode_old_form_is_positional_and_keeps_live_values() -> None:
    live = S17["web_get_miner_conf"]
    merged = MinerConfig(mining_mode=MiningModeSleep()).merged_over(
        am.decode_miner_conf(live, old=True)
    )
    form = am.encode_old_form(merged, live)
    assert [k for k, _ in form] == list(am._OLD_FORM_ORDER)
    values = dict(form)
    assert values["_ant_pool1url"] == "stratum+tcp://btc.pool.example:3333"
    assert values["_ant_pool3url"] == ""
    assert values["_ant_nobeeper"] == "true" and values["_ant_notempoverctrl"] == "false"
    assert (values["_ant_fan_customize_switch"], values["_ant_fan_customize_value"]) == (
        "true",
        "80",
    )
    assert (values["_ant_freq"], values["_ant_voltage"]) == ("650", "1900")
    assert values["_ant_work_mode"] == "254"
    with pytest.raises(UnsupportedError):
        am.encode_old_form(MinerConfig(mining_mode=MiningModeLow()), live)


# ----------------------------------------------------------------------------- identification
def test_pyasic_model_string() -> None:
    assert am.pyasic_model_string("Antminer S19j Pro") == "ANTMINER S19J PRO"
    assert am.pyasic_model_string("Antminer L7 (9500M)") == "ANTMINER L7"
    assert am.pyasic_model_string("Antminer L9_I") == "ANTMINER L9"
    assert am.pyasic_model_string("Antminer S19i") == "ANTMINER S19I"  # only a literal "_I"


def test_web_generation() -> None:
    assert am.web_generation(S19["web_get_system_info"], "S17 Pro") == "modern"
    assert am.web_generation(S17["web_get_system_info"], "S19j Pro") == "old"
    assert am.web_generation(None, "S17 Pro") == "old"
    assert am.web_generation(None, "T17+") == "old"
    assert am.web_generation(None, "S19j Pro") == "modern"
    assert am.web_generation(None, "Z15 Pro") == "modern"
    assert am.web_generation(None, None) == "modern"


def _evidence(**kw: Any) -> Evidence:
    return Evidence(ip="10.0.0.1", **kw)


def test_matches() -> None:
    challenge = {"www-authenticate": 'Digest realm="antMiner Configuration", nonce="1", qop="auth"'}
    assert am._matches(_evidence(http_status=401, http_headers=challenge))
    assert am._matches(_evidence(rpc_version=S19["rpc_version"]))
    assert not am._matches(_evidence(http_status=401, http_headers={"www-authenticate": "Basic"}))
    assert not am._matches(_evidence(rpc_version={"VERSION": [{"Type": "whatever"}]}))
    hiveon = copy.deepcopy(S19["rpc_version"])
    hiveon["VERSION"][0]["Type"] = "Antminer S19JPRO Hiveon"
    assert not am._matches(_evidence(rpc_version=hiveon, http_status=401, http_headers=challenge))
    vnish = copy.deepcopy(S19["rpc_version"])
    vnish["VERSION"][0]["Type"] = "Antminer S19j Pro (vnish 1.2.6)"
    assert not am._matches(_evidence(rpc_version=vnish))
    bos = {"VERSION": [{"BOSminer": "0.2.0", "Type": "Antminer S9"}]}
    assert not am._matches(_evidence(rpc_version=bos))

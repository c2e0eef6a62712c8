"""Antminer stock parsers on real captures (tests/fixtures/real/antminer/, sources.yaml).

Versions are named by their build: ``2022-12-06`` (S19 Pro, bmminer RPC of the X19 era),
``2020-12-11`` (S19 asleep with a dead chain), ``2019-08-20`` (S17 Pro, old web UI era) and
``FR-1.12-251009`` (S21, 2025: get_system_info.cgi).  Expected values are derived by hand.
"""

from __future__ import annotations

from typing import Any

import pytest
from real_captures import assert_same_shape, load
from sim_answers import our_reading, rpc_answer, serving, web_answer

from asic_bridge import factory
from asic_bridge.catalog import lookup
from asic_bridge.config import (
    FanModeImmersion,
    FanModeManual,
    FanModeNormal,
    MinerConfig,
    MiningModeNormal,
    MiningModeSleep,
)
from asic_bridge.drivers import antminer as am
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError, UnsupportedError
from asic_bridge.transport.rpc import parse_rpc_payload


def ctx(model: str, algo: str = "SHA256") -> ParseContext:
    return ParseContext(
        algo, lookup(model, make="AntMiner"), Identity(ip="x", make="AntMiner", firmware="Stock")
    )


def cap(version: str, name: str) -> Any:
    return load("antminer", version, f"{name}.json")


def test_s19pro_2022_rpc() -> None:
    c, stats = ctx("S19 Pro"), cap("2022-12-06", "stats")
    # SUMMARY GHS 5s 110566.89 (a number on this build) in rate_unit "GH" -> 110.56689 TH/s
    assert am.parse_hashrate(c, cap("2022-12-06", "summary"), stats) == pytest.approx(110.56689)
    assert am.parse_expected_hashrate(c, stats) == pytest.approx(110.0)  # total_rateideal
    assert am.parse_uptime(c, stats) == 50474  # Elapsed
    assert [f.speed for f in am.parse_fans(c, stats)] == [6000, 5880, 5040, 5040]  # fan1..4
    boards = am.parse_hashboards_old(c, stats)
    # chain_rate1..3 "37603.30"/"35536.22"/"37427.38" GH/s; chain_acn4 0 is no 4th board
    assert [b.hashrate for b in boards] == pytest.approx([37.6033, 35.53622, 37.42738])
    assert [b.chips for b in boards] == [114, 114, 114]
    assert [b.temp for b in boards] == [73, 66, 64]  # tempN = PCB
    assert [b.chip_temp for b in boards] == [78, 71, 69]  # temp2_N = chip
    version = cap("2022-12-06", "version")
    assert am.parse_fw_ver(c, version) == "Tue Dec  6 16:12:30 CST 2022"  # CompileTime
    assert am.parse_api_ver(c, version) == "3.1"
    assert am.pyasic_model_string("Antminer S19 Pro") == "ANTMINER S19 PRO"
    pools = am.parse_pools(c, cap("2022-12-06", "pools"))
    # pool 0 is the stratum-active one with 4057 accepted / 11 rejected
    assert [(p.index, p.active, p.alive) for p in pools] == [
        (0, True, True),
        (1, False, True),
        (2, False, True),
    ]
    assert (pools[0].accepted, pools[0].rejected) == (4057, 11)


def test_s19_2020_asleep_with_dead_first_chain() -> None:
    """chain_acn1 0 / chain_rate1 "" / no temp1: chain 1 is gone, chains 2 and 3 report.
    Board 0 is the missing one (we used to shift the live chains onto boards 0 and 1)."""
    c, stats = ctx("S19"), cap("2020-12-11", "stats")
    boards = am.parse_hashboards_old(c, stats)
    assert [b.missing for b in boards] == [True, False, False]
    assert [b.chips for b in boards] == [0, 76, 76]
    assert [b.hashrate for b in boards] == [None, 0.0, 0.0]  # "" -> unknown, "0.00" -> 0
    assert [b.temp for b in boards] == [None, 40, 40]  # temp2 / temp3
    # asleep: GHS 5s 0.0, but total_rateideal 63919.0 GH/s is still reported
    assert am.parse_expected_hashrate(c, stats) == pytest.approx(63.919)
    assert [f.speed for f in am.parse_fans(c, stats)] == [1560, 1560, 600, 720]
    pools = am.parse_pools(c, cap("2020-12-11", "pools"))
    # pool 2 reports Status "Deed" (sic): not "Alive", so not alive
    assert [p.alive for p in pools] == [True, True, False]
    assert am.parse_fw_ver(c, cap("2020-12-11", "version")) == "Fri Dec 11 11:15:40 CST 2020"


def test_s19_2020_asleep_config() -> None:
    """get_miner_conf.cgi of the same asleep S19: bitmain-work-mode "1" is sleep."""
    c, conf = ctx("S19"), load("antminer", "2020-12-11", "get_miner_conf.cgi.json")
    assert am.parse_is_mining_modern(c, conf) is False  # work mode 1
    config = am.decode_miner_conf(conf)
    assert config.mining_mode == MiningModeSleep()
    assert config.fan_mode == FanModeNormal()  # bitmain-fan-ctrl false
    assert config.pools is not None
    assert [(p.url, p.user) for p in config.pools.first_group] == [
        ("aaa:700", "aaa.226x94"),
        ("bbb:6000", "bbb.226x94"),
        ("ccc:443", "ccc.226x94"),
    ]
    # a write keeps every other key and sends the mode as miner-mode (set_miner_conf's name)
    body = am.encode_modern_conf(MinerConfig(mining_mode=MiningModeNormal()), conf)
    assert body["miner-mode"] == 0 and "bitmain-work-mode" not in body
    assert body["bitmain-voltage"] == "1400" and body["freq-level"] == "100"


def test_s17pro_2019_old_ui_era() -> None:
    c, stats = ctx("S17 Pro"), cap("2019-08-20", "stats")
    boards = am.parse_hashboards_old(c, stats)
    # chain_rate1..3 "17968.26"/"18418.00"/"18610.75" GH/s; slots 6..16 are all zero
    assert [b.hashrate for b in boards] == pytest.approx([17.96826, 18.418, 18.61075])
    assert [b.chips for b in boards] == [48, 48, 48]
    assert [(b.temp, b.chip_temp) for b in boards] == [(50, 80), (53, 75), (45, 63)]
    assert am.parse_expected_hashrate(c, stats) == pytest.approx(53.619)
    assert am.parse_uptime(c, stats) == 253447
    assert [f.speed for f in am.parse_fans(c, stats)] == [2400, 3000, 3120, 2400]
    pools = am.parse_pools(c, cap("2019-08-20", "pools"))
    assert [p.accepted for p in pools] == [86241, 63, 196]


def test_l3plus_2017_mh_under_ghs_keys() -> None:
    """cgminer 4.9.0 on the L3+ names no rate_unit and puts MH/s under the GHS keys (GHS av
    500.28 on a 504 MH/s machine): read as GH/s we reported 1000x its hash rate."""
    c = ctx("L3+", "Scrypt")
    stats = parse_rpc_payload(load("antminer", "2017-08-25", "stats.txt").encode())
    assert "rate_unit" not in stats["STATS"][1]
    boards = am.parse_hashboards_old(c, stats)
    # chain_rate1..4 "126.12"/"125.79"/"126.06"/"126.59" MH/s -> GH/s (Scrypt's unit)
    assert [b.hashrate for b in boards] == pytest.approx([0.12612, 0.12579, 0.12606, 0.12659])
    assert [(b.temp, b.chip_temp) for b in boards] == [(46, 54), (46, 56), (46, 56), (45, 53)]
    summary = {"SUMMARY": [{"GHS 5s": stats["STATS"][1]["GHS 5s"]}]}  # "504.56"
    assert am.parse_hashrate(c, summary, stats) == pytest.approx(0.50456)
    assert [f.speed for f in am.parse_fans(c, stats)] == [3840, 3810]
    version = cap("2017-08-25", "version")
    assert am.pyasic_model_string(version["VERSION"][0]["Type"]) == "ANTMINER L3+"
    assert am.parse_fw_ver(c, version) == "Fri Aug 25 17:28:57 CST 2017"
    pools = am.parse_pools(c, cap("2017-08-25", "pools"))
    assert pools and pools[0].url


def test_l9_style_gh_figures_without_rate_unit_stay_gh() -> None:
    """The same missing rate_unit on an L9 means GH/s (asic-rs, live L9/L11): a figure near
    the nominal rate is not scaled (the payload is ours, in the 2022 capture's layout)."""
    c = ctx("L9", "Scrypt")
    stats = cap("2022-12-06", "stats")
    body = stats["STATS"][1]
    del body["rate_unit"]
    body.update({"GHS av": 16.2, "chain_rate1": "5.40"})
    assert am.parse_hashboards_old(c, stats)[0].hashrate == pytest.approx(5.4)


def test_s21_2025_system_info() -> None:
    c, sysinfo = ctx("S21"), cap("FR-1.12-251009", "get_system_info")
    assert am.parse_mac(c, sysinfo) == "00:00:5e:00:53:03"  # macaddr, masked
    assert am.parse_serial(c, sysinfo) == "FAKES21SN00000001"  # serinum, masked
    assert am.parse_hostname(c, sysinfo) == "Antminer"
    # serinum / firmware_type are the modern UI's marks
    assert am.web_generation(sysinfo, "S21") == "modern"
    assert am._algo_hint(sysinfo) == "SHA256"  # no Algorithm key: SHA-256


def test_s23_hydro_2026_web_pages() -> None:
    """The 2026 build reports its power draw in stats.cgi (issue #11: we offered none)."""
    c = ctx("S23 Hydro")
    stats = load("antminer", "2026-06-26", "stats.cgi.json")
    assert am.parse_wattage_modern(c, stats) == 5525  # STATS[0].watt
    boards = am.parse_hashboards_modern(c, stats)
    # rate_real 188896.1 GH/s ("GH/s" in rate_unit) -> 188.8961 TH/s
    assert [b.hashrate for b in boards] == pytest.approx([188.8961, 192.19463, 191.75483])
    assert [b.chips for b in boards] == [84, 84, 84]
    # temp_pcb [44, 44, 52, 52] -> 48; temp_chip [44, 44, 56, 56] -> 50, [43, 43, 55, 55] -> 49
    assert [b.temp for b in boards] == [48, 48, 48]
    assert [b.chip_temp for b in boards] == [50, 49, 50]
    summary = load("antminer", "2026-06-26", "summary.cgi.json")
    fans_check = summary["SUMMARY"][0]["status"][2]
    assert (fans_check["type"], fans_check["status"]) == ("fans", "")  # a hydro has none
    assert am.parse_errors(c, summary) == []  # "" is not applicable, not a fan failure


def test_s23_hydro_2026_rpc() -> None:
    c, stats = ctx("S23 Hydro"), cap("2026-06-26", "stats")
    assert am.parse_fans(c, stats) == []  # fan_num 0, fan1..4 all 0: no fans at all
    assert am.parse_expected_hashrate(c, stats) == pytest.approx(581.9727)  # total_rateideal
    assert am.parse_uptime(c, stats) == 167431
    boards = am.parse_hashboards_old(c, stats)
    assert [b.hashrate for b in boards] == pytest.approx([188.8961, 192.19463, 191.75483])
    assert [(b.temp, b.chip_temp) for b in boards] == [(52, 56), (52, 55), (52, 56)]


def test_s21_xp_hydro_2026_rpc() -> None:
    c, stats = ctx("S21 XP Hydro"), cap("2026-01-08", "stats")
    # fan_num 4 while every fan reads 0 (water cooled): four fans standing still
    assert [f.speed for f in am.parse_fans(c, stats)] == [0, 0, 0, 0]
    boards = am.parse_hashboards_old(c, stats)
    # chain_rate1..3 "161794.68"/"159226.52"/"162958.05" GH/s, 160 chips each
    assert [b.hashrate for b in boards] == pytest.approx([161.79468, 159.22652, 162.95805])
    assert [b.chips for b in boards] == [160, 160, 160]
    assert am.parse_expected_hashrate(c, stats) == pytest.approx(473.0)


# ----------------------------------------------------------------------------- simulator shapes
@pytest.mark.parametrize(
    ("kind", "version", "command"),
    [
        ("antminer_s19jpro:2022-12-06", "2022-12-06", "version"),
        ("antminer_s19jpro:2022-12-06", "2022-12-06", "summary"),
        ("antminer_s19jpro:2022-12-06", "2022-12-06", "stats"),
        ("antminer_s19jpro:2022-12-06", "2022-12-06", "pools"),
        ("antminer_s17pro:2019-08-20", "2019-08-20", "stats"),
        ("antminer_s17pro:2019-08-20", "2019-08-20", "pools"),
    ],
)
async def test_simulator_rpc_has_the_capture_shape(kind: str, version: str, command: str) -> None:
    async with serving(kind) as miner:
        assert_same_shape(cap(version, command), await rpc_answer(miner, command))


async def test_simulator_2025_system_info_has_the_capture_shape() -> None:
    async with serving("antminer_s21:FR-1.12-251009") as miner:
        answer = await web_answer(miner, "get_system_info")
    assert_same_shape(cap("FR-1.12-251009", "get_system_info"), answer)
    assert answer["system_filesystem_version"].startswith("FR-1.12")


async def test_simulator_sleeping_s19_with_a_dead_chain_reads_as_the_capture() -> None:
    """The 2020 capture's situation (chain 1 dead) served by the X19 kind reads the same way."""
    async with serving("antminer_s19jpro", dead_boards=[0]) as miner:
        stats = await rpc_answer(miner, "stats")
    boards = am.parse_hashboards_old(ctx("S19j Pro"), stats)
    assert [b.missing for b in boards] == [True, False, False]


@pytest.mark.parametrize(
    ("name", "read"),
    [("stats.cgi.json", "web:stats"), ("summary.cgi.json", "web:summary"), ("stats.json", "rpc")],
)
async def test_s23_hydro_simulator_has_the_2026_shapes(name: str, read: str) -> None:
    async with serving("antminer_s23hyd:2026-06-26") as miner:
        if read == "rpc":
            answer = await rpc_answer(miner, "stats")
        else:
            answer = await web_answer(miner, read.removeprefix("web:"))
    assert_same_shape(load("antminer", "2026-06-26", name), answer)


async def test_s23_hydro_simulator_is_read_end_to_end() -> None:
    async with serving("antminer_s23hyd") as miner:
        ours, data = await our_reading(miner)
        watts = round(miner.state.read().wattage)
    assert ours.model == "S23 Hydro" and data.field_errors == {}
    assert data.wattage == pytest.approx(watts, abs=5)  # stats.cgi "watt"
    assert data.fans == [] and data.errors == []  # no fans; the fans check is "" (n/a)
    assert [b.chips for b in data.hashboards] == [84, 84, 84]


async def test_simulator_config_has_the_x19_capture_shape() -> None:
    # The X19 config file (cgminer.conf as JSON) is the 2020 S19's capture; no other X19
    # build's get_miner_conf is published, so the 2022 kind is held to it.
    async with serving("antminer_s19jpro") as miner:
        answer = await web_answer(miner, "get_miner_conf")
    assert_same_shape(load("antminer", "2020-12-11", "get_miner_conf.cgi.json"), answer)


# ----------------------------------------------------------------------------- fan control
def test_fan_mode_from_the_2020_config() -> None:
    c, conf = ctx("S19"), load("antminer", "2020-12-11", "get_miner_conf.cgi.json")
    # "bitmain-fan-ctrl": false, "bitmain-fan-pwm": "100" (the text of an unused setting)
    assert am.parse_fan_mode(c, conf) == "normal"
    assert am.parse_fan_percent(c, conf) is None  # in auto stock reports no duty
    manual = dict(conf, **{"bitmain-fan-ctrl": True, "bitmain-fan-pwm": "60"})
    assert (am.parse_fan_mode(c, manual), am.parse_fan_percent(c, manual)) == ("manual", 60)
    # the old UI's config has no key at all in auto
    bare = {k: v for k, v in conf.items() if not k.startswith("bitmain-fan")}
    assert am.parse_fan_mode(c, bare) is None and am.parse_fan_mode_old(c, bare) == "normal"


def test_fan_garbage_is_no_reading() -> None:
    c, conf = ctx("S19"), load("antminer", "2020-12-11", "get_miner_conf.cgi.json")
    for bad in ("fast", "-5", "180", None):
        broken = dict(conf, **{"bitmain-fan-ctrl": True, "bitmain-fan-pwm": bad})
        assert am.parse_fan_percent(c, broken) is None
    assert am.parse_fan_mode(c, dict(conf, **{"bitmain-fan-ctrl": "maybe"})) is None
    with pytest.raises(ConfigError, match="1-100"):  # 0 % would read back as immersion
        am.encode_modern_conf(MinerConfig(fan_mode=FanModeManual(speed=0)), conf)


@pytest.mark.parametrize("kind", ["antminer_s19jpro", "antminer_s17pro"])
async def test_fan_writes_are_read_back_on_both_web_generations(kind: str) -> None:
    async with serving(kind) as s:
        ours = await factory.get_miner(s.address, use_cache=False)
        assert ours is not None and ours.fan_modes() == ("normal", "manual")
        await ours.set_fan_mode(FanModeManual(speed=65))
        assert (s.conf["bitmain-fan-ctrl"], s.conf["bitmain-fan-pwm"]) == (True, "65")
        data = await ours.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent) == ("manual", 65)
        await ours.set_fan_mode(FanModeNormal())
        assert s.conf["bitmain-fan-ctrl"] is False
        with pytest.raises(UnsupportedError):
            await ours.set_fan_mode(FanModeImmersion())
        await ours.aclose()

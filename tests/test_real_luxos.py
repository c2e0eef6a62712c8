"""LuxOS on real captures: the parsers on what LUXminer sent, the simulator in the same shape.

Captures: tests/fixtures/real/luxos (LUXminer 2025.4.8 on an S19k Pro from asic-rs' fixtures;
Luxor's command reference examples for 2023.9, 2024.1 and 2024.10).  Expected values are
worked out by hand from the raw payloads; the reason is written beside each.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from real_captures import assert_same_shape, load

from asic_bridge import catalog, sim
from asic_bridge.config import MinerConfig, MiningModeLow, MiningModeNormal, MiningModePreset
from asic_bridge.drivers.base import ParseContext
from asic_bridge.drivers.cgminer import entries, parse_pools, parse_summary_hashrate, parse_uptime
from asic_bridge.drivers.luxos import (
    LuxOSMiner,
    parse_config,
    parse_errors,
    parse_expected_hashrate,
    parse_fans,
    parse_fault_light,
    parse_fw_ver,
    parse_hashboards,
    parse_hostname,
    parse_is_mining,
    parse_mac,
    parse_profiles,
    parse_serial,
    parse_temperature,
    parse_wattage,
    parse_wattage_limit,
    power_bounds,
    reported_mode,
)
from asic_bridge.errors import NotAppliedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.luxos import LuxOSSim
from asic_bridge.transport.rpc import RPCClient

V2025 = "2025.4.8.220305"
S19K = catalog.lookup("Antminer S19k Pro", make="AntMiner")
CTX = ParseContext("SHA256", S19K, None)


def cap(name: str, version: str = V2025) -> Any:
    return load("luxos", version, name)


# ----------------------------------------------------------------------------- parsers
def test_summary_2025() -> None:
    summary = cap("summary.json")
    assert parse_summary_hashrate(CTX, summary) == pytest.approx(59.75606)  # GHS 5s 59756.06
    assert parse_uptime(CTX, summary) == 3453  # Elapsed


def test_stats_boards_2025() -> None:
    boards = parse_hashboards(CTX, cap("stats.json"))
    # chain_acn1..3 = 77, chain_acn4 = 0 on the unused fourth connector (S19k Pro has 3)
    assert [b.chips for b in boards] == [77, 77, 77]
    # chain_rate1..3 "18910.28" / "18939.95" / "19067.67" GH/s, strings
    assert [b.hashrate for b in boards] == pytest.approx([18.91028, 18.93995, 19.06767])
    # temp_pcb1 "47-34-34-47": exhaust 47 at both ends (chip side), intake 34 in the middle
    assert (boards[0].temp, boards[0].chip_temp) == (34.0, 47.0)
    assert (boards[1].temp, boards[1].chip_temp) == (33.0, 47.0)  # "47-33-33-47"
    # total_rateideal 61954.2 with rate_unit "GH"
    assert parse_expected_hashrate(CTX, cap("stats.json")) == pytest.approx(61.9542)


def test_fans_power_profiles_2025() -> None:
    # FANS by ID 0..3: RPM 1920, 1920, 2340, 2340 (named FAN4, FAN2, FAN1, FAN3)
    assert [f.speed for f in parse_fans(CTX, cap("fans.json"))] == [1920, 1920, 2340, 2340]
    assert parse_wattage(CTX, cap("power.json")) == 1051  # POWER[0].Watts
    presets = parse_profiles(cap("profiles.json"))
    assert len(presets) == 25  # 190MHz (step -16) .. 790MHz (step 8)
    assert (presets[0].name, presets[0].power, presets[0].hashrate) == ("190MHz", 784, 39.2)
    assert [p.name for p in presets if p.tuned] == ["290MHz"]  # the one IsTuned: true
    # config Profile "290MHz" -> that profile's Watts 1188
    assert parse_wattage_limit(CTX, cap("config.json"), cap("profiles.json")) == 1188
    # the firmware's own range: the lowest and highest rated profile (190MHz / 790MHz)
    assert power_bounds(presets) == (784, 4195)


def test_config_identity_2025() -> None:
    config = cap("config.json")
    assert parse_mac(CTX, config) == "00:00:5e:00:53:01"  # MACAddr (masked)
    assert parse_hostname(CTX, config) == "UrlacherS19k"
    assert parse_serial(CTX, config) == "SERIAL00000000001"  # SerialNumber (replaced)
    assert parse_fault_light(CTX, config) is False  # RedLed "auto" = the firmware's own
    assert parse_errors(CTX, config) == []  # SystemStatus "Normal"
    # CurtailMode "None" and GHS 5s > 0
    assert parse_is_mining(CTX, config, cap("summary.json")) is True
    # version: Miner "2025.4.8.220305" (LUXminer "2025.4.8.220305-57b389c7")
    assert parse_fw_ver(CTX, cap("version.json")) == "2025.4.8.220305"


def test_pools_2025() -> None:
    pools = parse_pools(CTX, cap("pools.json"))
    # four pools; POOL 0 and 2 are the active ones ("Stratum Active": true), 724 / 759 accepted
    assert [p.url for p in pools][:2] == [
        "stratum+tcp://ca.stratum.braiins.com:3333",
        "stratum+tcp://stratum.braiins.com:3333",
    ]
    assert [(p.accepted, p.rejected, p.active) for p in pools] == [
        (724, 0, True),
        (0, 0, False),
        (759, 1, True),
        (0, 0, False),
    ]


def test_reported_mode_is_one_of_the_options_2025() -> None:
    presets = parse_profiles(cap("profiles.json"))
    config = cap("config.json")
    # Profile "290MHz" is none of default / highest / the low choice: a named preset
    mode = parse_config(
        CTX, cap("pools.json"), {}, cap("fans.json"), {}, config, cap("profiles.json")
    )
    assert isinstance(mode.mining_mode, MiningModePreset)
    assert mode.mining_mode.active_preset == "290MHz"
    # "default" (2794 W) is normal; low = highest profile <= 0.8 x 2794 = 2235 W: 490MHz 2192 W
    assert reported_mode(presets, "default", False) == MiningModeNormal()
    assert reported_mode(presets, "490MHz", False) == MiningModeLow()
    for name in ("default", "490MHz", "790MHz", "290MHz"):
        assert reported_mode(presets, name, False).mode in LuxOSMiner.supported_modes
    assert reported_mode(presets, "default", True).mode == "sleep"


def test_tempctrlset_answer_2023() -> None:
    # the answer carries the TEMPCTRL values set: Target 65, Hot 70, Dangerous 75 (ints)
    t = parse_temperature(cap("tempctrlset.json", "2023.9.28.220144"))
    assert t is not None and (t.target, t.hot, t.danger) == (65.0, 70.0, 75.0)


def test_temps_hydro_2024() -> None:
    # Hydro model: integer readings; METADATA names BottomRight the water inlet
    temps = cap("temps.json", "2024.10.3.150831")
    assert temps["METADATA"][0]["BottomRight"]["Label"] == "Water Inlet"
    assert [t["ID"] for t in entries(temps, "TEMPS")] == [1, 2, 0]  # not in ID order


def test_profileset_answer_2024() -> None:
    answer = cap("profileset.json", "2024.1.26.143259")
    assert entries(answer, "PROFILE")[0]["Profile"] == "default"  # what the driver confirms


# ----------------------------------------------------------------------------- shapes
_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[LuxOSSim]:
    s = sim.create(f"luxos_s19jpro@127.161.0.{next(_hosts)}")
    assert isinstance(s, LuxOSSim)
    s.state.jitter = 0.0
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


READ = ["version", "summary", "stats", "pools", "power", "profiles", "config", "fans", "devs",
        "temps"]  # fmt: skip


@pytest.mark.parametrize("command", READ)
async def test_simulator_answers_in_the_2025_shape(command: str) -> None:
    async with running() as s:
        answer = await RPCClient(s.address, s.ports["rpc"]).send(command)
        assert_same_shape(cap(f"{command}.json"), answer)


async def test_simulator_write_answers_in_the_documented_shape() -> None:
    async with running() as s:
        rpc = RPCClient(s.address, s.ports["rpc"])
        doc = "0.1.0-15436f7140"
        assert_same_shape(cap("session.json", doc), await rpc.send("session"))
        logon = await rpc.send("logon")
        assert_same_shape(cap("logon.json", doc), logon)
        # the documented codes: 316 Session created, 319 Session information
        assert logon["STATUS"][0]["Code"] == cap("logon.json", doc)["STATUS"][0]["Code"]
        sid = entries(logon, "SESSION")[0]["SessionID"]
        await rpc.send("atmset", f"{sid},enabled=false")
        answer = await rpc.send("profileset", f"{sid},default")
        assert_same_shape(cap("profileset.json", "2024.1.26.143259"), answer)
        answer = await rpc.send("tempctrlset", f"{sid},65,70,75")
        assert_same_shape(cap("tempctrlset.json", "2023.9.28.220144"), answer)
        for action in ("sleep", "wakeup"):
            answer = await rpc.send("curtail", f"{sid},{action}")
            assert_same_shape(cap(f"curtail-{action}.json", "0.1.0-15436f7140"), answer)
            assert entries(answer, "CURTAIL") == entries(
                cap(f"curtail-{action}.json", "0.1.0-15436f7140"), "CURTAIL"
            )  # "sleep mode" / "wake up", as documented


async def test_power_range_comes_from_the_profiles() -> None:
    async with running() as s:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, LuxOSMiner)
        bounds = await miner.get_power_range()
        watts = [p.watts for p in s.profiles]
        assert (bounds.low, bounds.high, bounds.source) == (min(watts), max(watts), "firmware")
        with pytest.raises(Exception, match=f"{min(watts)}"):
            await miner.set_power_limit(min(watts) - 1)


async def test_a_profile_the_miner_does_not_confirm_is_not_reported_applied() -> None:
    async with running() as s:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, LuxOSMiner)
        real = s.cmd_profileset

        def keeps_default(parameter: str | None) -> dict[str, Any]:
            answer = real(parameter)
            for item in answer.get("PROFILE", []):
                item["Profile"] = "default"  # the firmware confirms another profile
            return answer

        s.cmd_profileset = keeps_default  # type: ignore[method-assign]
        with pytest.raises(NotAppliedError) as caught:
            await miner.set_power_limit(2000)
        fitting = max((p for p in s.profiles if p.watts <= 2000), key=lambda p: p.watts)
        assert caught.value.wanted == fitting.name  # the highest profile at or below 2000 W
        assert s.profile == fitting.name  # what the driver asked; the answer named another


async def test_after_set_mode_the_reading_names_that_mode() -> None:
    # issue #12: after set/mode low the reading said "preset", which the select did not offer
    async with running() as s:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, LuxOSMiner)
        for mode in ("low", "high", "normal"):
            await miner.set_mode(mode)
            reading = (await miner.get_config()).mining_mode
            assert reading is not None and reading.mode == mode
        await miner.send_config(MinerConfig(mining_mode=MiningModePreset(active_preset="400MHz")))
        reading = (await miner.get_config()).mining_mode
        assert isinstance(reading, MiningModePreset) and reading.active_preset == "400MHz"
        assert reading.mode in miner.supported_modes


# ----------------------------------------------------------------------------- fan control
def test_fan_percent_from_the_2025_fans() -> None:
    from asic_bridge.drivers.luxos import parse_fan_mode_name, parse_fan_percent

    fans = cap("fans.json")
    assert parse_fan_percent(CTX, fans) == 20  # FANS[].Speed 20 on all four
    # no tempctrl capture says Auto/Manual: no mode from the fans alone
    assert parse_fan_mode_name(CTX, fans, None) is None
    assert parse_fan_mode_name(CTX, fans, cap("tempctrlset.json", "2023.9.28.220144")) is None
    auto = {"TEMPCTRL": [{"Mode": "Auto", "Target": 65}]}
    assert parse_fan_mode_name(CTX, fans, auto) == "normal"  # with MinFans 3
    manual = {"TEMPCTRL": [{"Mode": "Manual"}]}
    assert parse_fan_mode_name(CTX, fans, manual) == "manual"
    off = {**fans, "FANCTRL": [{"MinFans": 0}], "FANS": [dict(f, Speed=0) for f in fans["FANS"]]}
    assert parse_fan_mode_name(CTX, off, manual) == "immersion"


def test_fan_garbage_is_no_reading() -> None:
    from asic_bridge.drivers.luxos import parse_fan_mode_name, parse_fan_percent

    fans = cap("fans.json")
    for bad in ("x", -3, 140, None):
        assert (
            parse_fan_percent(CTX, {**fans, "FANS": [dict(f, Speed=bad) for f in fans["FANS"]]})
            is None
        )
    assert parse_fan_mode_name(CTX, fans, {"TEMPCTRL": [{"Mode": "Turbo"}]}) is None


async def test_fanset_is_written_and_read_back() -> None:
    async with running() as s:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, LuxOSMiner)
        assert miner.fan_modes() == ("normal", "manual", "immersion")
        await miner.set_fan_mode({"mode": "manual", "speed": 45})
        assert (s.fan_speed, s.min_fans) == (45, 3)  # the miner's minimum fans kept
        data = await miner.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent) == ("manual", 45)
        await miner.set_fan_mode({"mode": "immersion"})
        assert (s.fan_speed, s.min_fans) == (0, 0)
        await miner.set_fan_mode({"mode": "normal", "minimum_fans": 2})
        assert (s.fan_speed, s.min_fans) == (-1, 2)
        assert (await miner.get_data(include=["fan_mode"])).fan_mode == "normal"
        await miner.aclose()

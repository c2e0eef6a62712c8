"""Whatsminer parsers on real btminer captures (API 1.4, 2.0.x, 3.0.x); values derived by hand."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from real_captures import assert_same_shape, load, rpc_answers

from asic_bridge import sim
from asic_bridge.catalog import lookup_whatsminer
from asic_bridge.drivers import whatsminer as wm
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.sim.state import Fault
from asic_bridge.transport.rpc import RPCClient
from asic_bridge.transport.whatsminer import WhatsminerV3Client

FAMILY = "whatsminer"


def cap(version: str, name: str) -> Any:
    return load(FAMILY, version, name)


def ctx(model: str = "M30S_VE10") -> ParseContext:
    return ParseContext(
        "SHA256", lookup_whatsminer(model), Identity(ip="", make="WhatsMiner", firmware="Stock")
    )


# ------------------------------------------------------------------ API 1.4 (20210322.22.REL)
V14 = "20210322.22.REL"


def test_api14_version_strips_the_whatsminer_prefix() -> None:
    version = cap(V14, "get_version.json")
    # Msg.api_ver "whatsminer v1.4.0" -> 1.4.0; fw_ver "20210322.22.REL" as is
    assert wm.v2_api_ver(ctx(), version) == "1.4.0"
    assert wm.v2_fw_ver(ctx(), version) == "20210322.22.REL"


def test_api14_summary() -> None:
    summary = cap(V14, "summary.json")
    c = ctx()
    # "MHS 5s" 70668114.52 MH/s -> 70.67 TH/s
    assert wm.v2_hashrate(c, summary) == pytest.approx(70.668, abs=1e-3)
    # "Factory GHS" 68796 GH/s -> 68.796 TH/s
    assert wm.v2_expected_hashrate(c, summary) == pytest.approx(68.796)
    assert wm.v2_wattage(c, summary) == 3417  # "Power" 3417
    assert wm.v2_wattage_limit(c, summary) == 3500  # "Power Limit" 3500
    assert wm.v2_uptime(c, summary) == 10154  # "Elapsed" 10154 (not "Uptime" 10792: the OS)
    assert [f.speed for f in wm.v2_fans(c, summary) or []] == [6450, 6480]  # In, Out
    assert (
        wm.v2_env_temp(c, summary) is None
    )  # API 1.4 has no "Env Temp" ("Temperature" is the board)
    assert wm.v2_errors(c, None, summary) == []  # "Error Code Count": 0


def test_api14_devs_three_boards() -> None:
    boards = wm.v2_hashboards(ctx(), cap(V14, "devs.json")) or []
    assert [b.slot for b in boards] == [0, 1, 2]
    # board 0: "MHS 5s" 20053438.74 MH/s -> 20.05 TH/s, Temperature 70.0, Chip Temp Avg 83.33
    assert boards[0].hashrate == pytest.approx(20.053, abs=1e-3)
    assert (boards[0].temp, boards[0].chip_temp, boards[0].chips) == (70.0, 83.33, 105)
    assert boards[0].serial_number == "SN-FAKE-000000000001"  # "PCB SN" (masked)
    assert boards[2].hashrate == pytest.approx(24.351, abs=1e-3)  # 24351292.28 MH/s


def test_api14_pools_numbered_from_one() -> None:
    pools = wm.v2_pools(ctx(), cap(V14, "pools.json")) or []
    # POOL 1..3 sorted and re-indexed 0..2; only the first is "Stratum Active"
    assert [p.index for p in pools] == [0, 1, 2]
    assert [p.active for p in pools] == [True, False, False]
    assert pools[0].url == "stratum+tcp://btc.example.pool:3333"
    assert (pools[0].accepted, pools[0].rejected) == (2338, 0)


def test_api14_psu_without_voltage_or_serial() -> None:
    psu = cap(V14, "get_psu.json")
    # Msg has only hw_version/model/name/sw_version: nothing to invent
    assert wm.v2_voltage(ctx(), psu) is None
    assert wm.v2_psu_serial(ctx(), psu) is None
    # the PSU fan comes from summary "Power Fanspeed" 9060
    assert wm.v2_fan_psu(ctx(), cap(V14, "summary.json"), psu) == 9060


# ------------------------------------------------------------------ status across versions
@pytest.mark.parametrize(
    ("version", "name", "mining"),
    [
        # API 1.4 reports btmineroff, not mineroff: "false" = mining (was None: issue #11)
        ("20220919.15.REL", "status.json", True),
        ("20220919.15.REL", "status-btmineroff.json", False),  # btmineroff "true"
        ("20230208.18.Rel", "status.json", True),  # mineroff "false", no reason keys
        ("20230803.11.REL", "status.json", True),
        ("20240624.18.REL", "status.json", True),
        ("20240924.14.Rel", "status.json", True),
        ("20250214.16.1", "status.json", True),  # a v3 firmware's legacy answer on 4028
    ],
)
def test_status_is_mining_on_every_version(version: str, name: str, mining: bool) -> None:
    assert wm.v2_is_mining(ctx(), cap(version, name)) is mining


def test_api14_stopped_status_puts_the_config_to_sleep() -> None:
    config = wm.v2_config(
        ctx(), cap(V14, "pools.json"), cap(V14, "summary.json"),
        cap("20220919.15.REL", "status-btmineroff.json"),
    )  # fmt: skip
    assert config.mining_mode is not None and config.mining_mode.mode == "sleep"
    running = wm.v2_config(
        ctx(), cap(V14, "pools.json"), cap(V14, "summary.json"),
        cap("20220919.15.REL", "status.json"),
    )  # fmt: skip
    # "Power Mode" "Normal" and "Power Limit" 3500 >= the model's rated power: normal
    assert running.mining_mode is not None and running.mining_mode.mode != "sleep"


# ------------------------------------------------------------------ API 2.x summary (M30S, 2022)
V2X = "api2-m30s-2022"


def test_api2_summary() -> None:
    summary = cap(V2X, "summary.json")
    c = ctx("M30S_VE10")
    # "MHS 5s" 69202822.25 MH/s -> 69.20 TH/s
    assert wm.v2_hashrate(c, summary) == pytest.approx(69.2028, abs=1e-3)
    assert wm.v2_expected_hashrate(c, summary) == pytest.approx(55.525)  # Factory GHS 55525
    assert (wm.v2_wattage(c, summary), wm.v2_wattage_limit(c, summary)) == (2631, 2635)
    assert wm.v2_env_temp(c, summary) == 54.44  # "Env Temp"
    assert [f.speed for f in wm.v2_fans(c, summary) or []] == [0, 0]  # In/Out 0 (no fans run)
    assert wm.v2_uptime(c, summary) == 42709  # Elapsed
    # no "Firmware Version" in a 2.x summary: the version comes from get_version only
    assert wm.v2_fw_ver(c, None, summary) is None


# ------------------------------------------------------------------ API 2.0.5 (20230803.11.REL)
V205 = "20230803.11.REL"


def test_api205_version_info_and_psu() -> None:
    assert wm.v2_api_ver(ctx(), cap(V205, "get_version.json")) == "2.0.5"
    info = cap(V205, "get_miner_info.json")
    assert wm.v2_mac(ctx(), info) == "00:00:5e:00:53:02"  # masked "mac", normalised lower
    assert wm.v2_hostname(ctx(), info) == "WhatsMiner"
    assert wm.v2_fault_light(ctx(), info) is False  # ledstat "auto"
    # fan_speed arrives as the string "6000"; no summary given
    assert wm.v2_fan_psu(ctx(), None, cap(V205, "get_psu.json")) == 6000


def test_api205_error_codes() -> None:
    assert wm.v2_errors(ctx(), cap(V205, "get_error_code.json"), None) == []  # []
    errors = wm.v2_errors(ctx(), cap(V205, "get_error_code-errors.json"), None)
    # [{"218": time}, {"110": time}] in the order given
    assert [e.error_code for e in errors] == [218, 110]
    assert errors[1].error_message == "Intake fan speed error"


# ------------------------------------------------------------------ API 3.0.2 (20251209.16.Rel2)
V302 = "20251209.16.Rel2"


def test_api302_device_info() -> None:
    info = cap(V302, "get.device.info.json")
    c = ctx("M60S_VK40")
    assert wm.v3_api_ver(c, info) == "3.0.2"
    assert wm.v3_fw_ver(c, info) == "20251209.16.Rel2"
    assert wm.v3_mac(c, info) == "00:00:5e:00:53:03"
    assert wm.v3_is_mining(c, info) is True  # miner.working "true"
    assert wm.v3_fault_light(c, info) is False  # system.ledstatus "auto"
    assert wm.v3_fan_psu(c, info) == 6344  # power.fanspeed (an int here)
    # 3.0.2 sends no power.vout: no voltage rather than a guess
    assert wm.v3_voltage(c, info) is None
    assert wm.v3_errors(c, info) == []  # no error-code section


def test_api302_error_reasons_name_codes_we_do_not_know() -> None:
    errors = wm.v3_errors(ctx(), cap(V302, "get.device.info-errors.json"))
    assert [e.error_code for e in errors] == [264, 265, 266, 267, 270]
    # 264 is not in our table: the firmware's own "reason" is the message
    assert errors[0].error_message == "Power xfer error. code: 0xffffffffc0000000"


# ------------------------------------------------------------------ API 3.0.0 (document example)
V300 = "20240722.07.51.REL"


def test_api300_device_info_with_vout_and_known_errors() -> None:
    info = cap(V300, "get.device.info.json")
    c = ctx("M30S++_VH70")
    assert wm.v3_voltage(c, info) == 12.09  # power.vout 1209 (hundredths of a volt)
    assert wm.v3_is_mining(c, info) is False  # miner.working "false"
    # 531/532 are ours ("hash board not found", slots 1 and 2): our wording wins
    errors = wm.v3_errors(c, info)
    assert [e.error_code for e in errors] == [531, 532]
    assert errors[0].error_message == "Hash board 1: hash board not found"


def test_api300_summary_in_terahash() -> None:
    summary = cap(V300, "get.miner.status-summary.json")
    c = ctx("M30S++_VH70")
    assert wm.v3_hashrate(c, summary) == pytest.approx(101.847)  # hash-realtime, TH/s
    assert wm.v3_expected_hashrate(c, summary) == pytest.approx(101.366)  # factory-hash
    assert wm.v3_wattage(c, summary) == 3268  # power-realtime
    assert wm.v3_wattage_limit(c, summary) == 3500  # power-limit
    assert wm.v3_env_temp(c, summary) == 34.8  # environment-temperature
    assert wm.v3_uptime(c, summary) == 1074  # elapsed (bootup-time 1175 is the OS)
    assert [f.speed for f in wm.v3_fans(c, summary) or []] == [4980, 5070]


# ------------------------------------------------------------ simulators in the captures' shape
_hosts = itertools.count(1)


async def _ask_v2(spec: str, *commands: str) -> list[Any]:
    """The kind (version) on its own 127.171.0.x address answers each RPC command."""
    return await rpc_answers(f"{spec}@127.171.0.{next(_hosts)}", *commands)


async def _ask_v3(
    spec: str, *requests: tuple[str, str | None], faults: tuple[int, ...] = ()
) -> list[Any]:
    s = sim.create(f"{spec}@127.171.1.{next(_hosts)}")
    s.state.errors = [Fault(code, f"fault {code}") for code in faults]
    await s.start()
    client = WhatsminerV3Client(s.address, s.ports["whatsminer_v3"], password="super")
    try:
        return [await client.send(cmd, param) for cmd, param in requests]
    finally:
        await client.aclose()
        await s.stop()


@pytest.mark.parametrize(
    ("spec", "command", "version", "name"),
    [
        # API 1.4.0: the m30s kind serves the captured 20210322.22.REL build
        ("whatsminer_m30s:20210322.22.REL", "summary", V14, "summary.json"),
        ("whatsminer_m30s:20210322.22.REL", "devs", V14, "devs.json"),
        ("whatsminer_m30s:20210322.22.REL", "pools", V14, "pools.json"),
        ("whatsminer_m30s:20210322.22.REL", "get_version", V14, "get_version.json"),
        ("whatsminer_m30s:20210322.22.REL", "get_psu", V14, "get_psu.json"),
        # the only published API 1.4 status is of 20220919.15.REL (same API, same shape)
        ("whatsminer_m30s:20210322.22.REL", "status", "20220919.15.REL", "status.json"),
        # API 2.x summary: the only full one published is an M30S's (pyasic#22)
        ("whatsminer_m30s", "summary", V2X, "summary.json"),
        ("whatsminer_m50", "summary", V2X, "summary.json"),
        # API 2.0.5: the m50 kind serves the captured 20230803.11.REL build
        ("whatsminer_m50", "get_version", V205, "get_version.json"),
        ("whatsminer_m50", "status", V205, "status.json"),
        ("whatsminer_m50", "get_psu", V205, "get_psu.json"),
        ("whatsminer_m50", "get_error_code", V205, "get_error_code.json"),
        # an API v3 firmware's legacy status on 4028 (20250214.16.1 is the published one)
        ("whatsminer_m60", "status", "20250214.16.1", "status.json"),
    ],
)
async def test_v2_simulator_answers_in_the_capture_shape(
    spec: str, command: str, version: str, name: str
) -> None:
    (answer,) = await _ask_v2(spec, command)
    # the pyasic#22 paste trimmed its STATUS entry to STATUS and Msg
    trimmed = ["$.STATUS[].When", "$.STATUS[].Code", "$.STATUS[].Description"]
    assert_same_shape(cap(version, name), answer, ignore=trimmed if version == V2X else [])


async def test_api14_simulator_is_read_as_mining_then_stopped() -> None:
    s = sim.create(f"whatsminer_m30s:20210322.22.REL@127.171.2.{next(_hosts)}")
    await s.start()
    try:
        rpc = RPCClient(s.address, s.ports["rpc"])
        assert wm.v2_is_mining(ctx(), await rpc.send("status")) is True  # btmineroff "false"
        s.state.set_mining(False)
        status = await rpc.send("status")
        assert status["Msg"]["btmineroff"] == "true" and "mineroff" not in status["Msg"]
        assert wm.v2_is_mining(ctx(), status) is False
    finally:
        await s.stop()


@pytest.mark.parametrize(
    ("spec", "request_", "version", "name", "faults"),
    [
        # error entries are keyed by their code: the simulated faults use the capture's codes
        ("whatsminer_m60", ("get.device.info", None), V302, "get.device.info.json", ()),
        (
            "whatsminer_m60",
            ("get.device.info", None),
            V302,
            "get.device.info-errors.json",
            (264, 265, 266, 267, 270),
        ),
        (
            f"whatsminer_m60:{V300}",
            ("get.device.info", None),
            V300,
            "get.device.info.json",
            (531, 532),
        ),
        (
            f"whatsminer_m60:{V300}",
            ("get.miner.status", "summary"),
            V300,
            "get.miner.status-summary.json",
            (),
        ),
        (f"whatsminer_m60:{V300}", ("get.miner.setting", None), V300, "get.miner.setting.json", ()),
        # 3.0.2's setting: only the 3.0.0 document shows one (same command, same keys)
        ("whatsminer_m60", ("get.miner.setting", None), V300, "get.miner.setting.json", ()),
    ],
)
async def test_v3_simulator_answers_in_the_capture_shape(
    spec: str, request_: tuple[str, str | None], version: str, name: str, faults: tuple[int, ...]
) -> None:
    (answer,) = await _ask_v3(spec, request_, faults=faults)
    assert_same_shape(cap(version, name), answer)


async def test_v3_versions_differ_as_their_firmware() -> None:
    """3.0.2 (captured) has no power-limit-set and no PSU vout; 3.0.0 (documented) has both."""
    (new,) = await _ask_v3("whatsminer_m60", ("get.device.info", None))
    (old,) = await _ask_v3(f"whatsminer_m60:{V300}", ("get.device.info", None))
    assert "power-limit-set" not in new["msg"]["miner"] and "vout" not in new["msg"]["power"]
    assert wm.v3_voltage(ctx(), new) is None
    assert "power-limit-set" in old["msg"]["miner"]
    assert wm.v3_voltage(ctx(), old) == 12.22  # the simulated PSU's 1222

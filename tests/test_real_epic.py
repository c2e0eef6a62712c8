"""ePIC UMC on real captures: the parsers on what the firmware sent, the simulator in its shape.

Captures: tests/fixtures/real/epic (PowerPlay-BMS 1.5.13 on an S19 XP from asic-rs' fixtures;
the firmware's own OpenAPI documents of UMC 1.22.5 and 1.30.0).  Expected values are worked
out by hand from the raw payloads; the reason is written beside each.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from real_captures import assert_same_shape, load, openapi_problems

from asic_bridge import catalog, sim
from asic_bridge.config import FanModeManual, MinerConfig, MiningModeHashrateTune
from asic_bridge.drivers import epic
from asic_bridge.drivers.base import ParseContext
from asic_bridge.errors import ConfigError
from asic_bridge.factory import get_miner
from asic_bridge.sim.epic import EpicSim
from asic_bridge.transport.http import HTTPClient

V = "1.5.13"
S19XP = catalog.lookup("Antminer S19 XP", make="AntMiner")
CTX = ParseContext("SHA256", S19XP, None)


def cap(name: str, version: str = V) -> Any:
    return load("epic", version, name)


# ----------------------------------------------------------------------------- parsers
def test_summary_1513() -> None:
    summary = cap("summary.json")
    # HBs[].Hashrate[0] in MH/s: 49440724.0 + 49925124.0 = 99365848 MH/s -> 99.37 TH/s
    assert epic.parse_hashrate(CTX, summary) == pytest.approx(99.365848)
    # Hashrate[1] is % of the estimator's ideal at the clock: 49.44 / 1.031 + 49.93 / 1.041
    assert epic.parse_expected_hashrate(CTX, summary) == pytest.approx(95.913, abs=0.01)
    assert epic.parse_wattage(CTX, summary) == 2167  # Power Supply Stats.Input Power 2166.6174
    assert epic.parse_voltage(CTX, summary) == pytest.approx(12.595)  # PSU Output Voltage
    assert epic.parse_hostname(CTX, summary) == "cminer32092035"
    assert epic.parse_fw_ver(CTX, summary) == "1.5.13"  # Software "PowerPlay-BMS v1.5.13"
    assert epic.parse_uptime(CTX, summary) == 23170  # Session.Uptime
    assert epic.parse_is_mining(CTX, summary) is True  # Operating State "Mining"
    assert epic.parse_fault_light(CTX, summary) is False  # Misc.Locate Miner State
    assert epic.parse_errors(CTX, summary) == []  # Last Error null
    # Fans Rpm: "Fans Speed 1..4" = 5971, 0, 5942, 5745; 5..12 null (no fan there)
    assert [f.speed for f in epic.parse_fans(CTX, summary)] == [5971, 0, 5942, 5745]
    [pool] = epic.parse_pools(CTX, summary)
    # Session Accepted 1862 / Rejected 2; the user carries the unique-id suffix
    assert (pool.url, pool.accepted, pool.rejected) == (
        "stratum+tcp://mine.ocean.xyz:3334",
        1862,
        2,
    )
    assert pool.user == "randomuser.randomworker-0x81x19"


def test_boards_1513() -> None:
    boards = epic.parse_hashboards(
        CTX, cap("summary.json"), cap("capabilities.json"), cap("temps.json")
    )
    # HBStatus: board 0 detected but disabled (not in HBs), 1 and 2 hashing
    assert [(b.slot, b.active) for b in boards] == [(0, False), (1, True), (2, True)]
    assert [b.hashrate for b in boards[1:]] == pytest.approx([49.440724, 49.925124])
    # Performance Estimator Chip Count 110 per board; serials in slot order
    assert [b.chips for b in boards[1:]] == [110, 110]
    assert [b.serial_number for b in boards[1:]] == ["BOARD000000000001", "BOARD000000000002"]
    # temps: Data = [intake, exhaust]; board 1: 55.062 / 67.0
    assert (boards[1].inlet_temp, boards[1].outlet_temp) == (55.062, 67.0)


def test_identity_1513() -> None:
    assert epic.parse_mac(CTX, cap("network.json")) == "00:00:5e:00:53:01"  # dhcp.mac_address
    # 1.5.13 capabilities have no "Miner Serial Number" (1.30.0's document adds it)
    assert epic.parse_serial_number(CTX, cap("capabilities.json")) is None
    doc = cap("openapi.json", "1.30.0")
    assert (
        "Miner Serial Number" in doc["components"]["schemas"]["CapabilitiesResponse"]["properties"]
    )


def test_running_tuner_is_one_of_the_mode_options() -> None:
    config = epic.parse_config(CTX, cap("summary.json"))
    # PerpetualTune: VoltageOptimizer running, Target 143 TH/s -> hashrate_tuning at 143
    assert config.mining_mode == MiningModeHashrateTune(hashrate=143.0, algo="voltage_optimizer")
    assert config.mining_mode.mode in epic.EpicMiner.supported_modes
    # the tuners offered and their ranges: 60..300 TH/s each, no Power tuner on this build
    assert epic.tuner_ranges(cap("capabilities.json")) == {
        "VoltageOptimizer": (60, 300),
        "ChipTune": (60, 300),
        "BoardTune": (60, 300),
    }


def test_the_1513_capture_is_the_1225_document() -> None:
    # PowerPlay-BMS 1.5.13's summary has exactly the keys UMC 1.22.5's API document names
    # (and lacks 1.30.0's newer required keys): the two numberings describe one era
    summary = cap("summary.json")
    old, new = cap("openapi.json", "1.22.5"), cap("openapi.json", "1.30.0")
    assert openapi_problems(old, "SummaryResponse", summary) == []
    assert openapi_problems(new, "SummaryResponse", summary) == [
        "SummaryResponse.PreInitCooldown Max Duration: required, missing"
    ]


# ----------------------------------------------------------------------------- shapes
_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[tuple[EpicSim, HTTPClient]]:
    s = sim.create(f"epic_s19jpro@127.163.0.{next(_hosts)}")
    assert isinstance(s, EpicSim)
    s.state.jitter = 0.0
    later = s.state.clock() + 600.0  # ten minutes in: shares found, timers set
    s.state.clock = lambda: later  # type: ignore[method-assign]
    await s.start()
    client = HTTPClient(s.address, s.ports["rpc"])
    try:
        yield s, client
    finally:
        await client.aclose()
        await s.stop()


@pytest.mark.parametrize("name", ["summary", "capabilities", "network", "temps"])
async def test_simulator_answers_in_the_1513_shape(name: str) -> None:
    async with running() as (_, client):
        answer = (await client.get(f"/{name}")).json()
        assert_same_shape(cap(f"{name}.json"), answer)


async def test_simulated_summary_conforms_to_the_1225_document() -> None:
    doc = cap("openapi.json", "1.22.5")
    async with running() as (_, client):
        summary = (await client.get("/summary")).json()
        problems = openapi_problems(doc, "SummaryResponse", summary)
        for section, name in (("Fans", "FansInfo"), ("Session", "SessionParams"),
                              ("Misc", "MiscInfo"), ("Stratum", "StratumParams")):  # fmt: skip
            problems += openapi_problems(doc, name, summary[section])
        assert problems == []


# ----------------------------------------------------------------------------- #12 writes
async def test_hashrate_target_outside_the_tuner_range_is_refused_before_any_call() -> None:
    async with running() as (s, _):
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, epic.EpicMiner)
        try:
            before = (s.ptune_algo, dict(s.ptune_targets))
            low, high = s.hashrate_range
            with pytest.raises(ConfigError, match=f"outside {low}-{high} TH/s"):
                await miner.send_config(
                    MinerConfig(mining_mode=MiningModeHashrateTune(hashrate=high + 50))
                )
            assert (s.ptune_algo, s.ptune_targets) == before
            # inside the range: written and read back
            target = (low + high) // 2
            await miner.send_config(
                MinerConfig(mining_mode=MiningModeHashrateTune(hashrate=target))
            )
            mode = (await miner.get_config()).mining_mode
            assert isinstance(mode, MiningModeHashrateTune) and mode.hashrate == target
            # the plain mode (the select's option) keeps the running target
            await miner.set_mode("hashrate_tuning")
            mode = (await miner.get_config()).mining_mode
            assert isinstance(mode, MiningModeHashrateTune) and mode.hashrate == target
        finally:
            await miner.aclose()


# ----------------------------------------------------------------------------- fan control
def test_fan_mode_and_duty_1513() -> None:
    summary = cap("summary.json")
    # Fans: {"Fan Mode": {"Auto": {"Idle Speed": 20, ...}}, "Fans Speed": 100, ...}
    assert epic.parse_fan_mode(CTX, summary) == "normal"
    assert epic.parse_fan_percent(CTX, summary) == 100
    manual = dict(summary, Fans=dict(summary["Fans"], **{"Fan Mode": {"Manual": 45}}))
    assert epic.parse_fan_mode(CTX, manual) == "manual"


def test_fan_garbage_is_no_reading() -> None:
    summary = cap("summary.json")
    for bad in ("fast", -5, 250, None):
        broken = dict(summary, Fans=dict(summary["Fans"], **{"Fans Speed": bad}))
        assert epic.parse_fan_percent(CTX, broken) is None
    odd = dict(summary, Fans={"Fan Mode": "Auto"})
    assert epic.parse_fan_mode(CTX, odd) is None


def test_the_documents_declare_the_fan_keys_read() -> None:
    """UMC 1.22.5 and 1.30.0: FansInfo requires "Fans Speed" (an integer >= 0) and "Fan
    Mode"; /fanspeed takes a manual speed of 1-100 (so 0 is refused here)."""
    for version in ("1.22.5", "1.30.0"):
        schemas = cap("openapi.json", version)["components"]["schemas"]
        fans = schemas["FansInfo"]
        assert {"Fans Speed", "Fan Mode"} <= set(fans["required"])
        assert fans["properties"]["Fans Speed"]["type"] == "integer"
    with pytest.raises(ConfigError, match="1-100"):
        epic.encode_fan_mode(FanModeManual(speed=0), None, cap("summary.json"))


async def test_set_fan_mode_reads_back_on_the_simulator() -> None:
    async with running() as (s, _):
        miner = await get_miner(s.address, use_cache=False, ports=s.ports)
        assert miner is not None and miner.fan_modes() == ("normal", "manual")
        await miner.set_fan_mode({"mode": "manual", "speed": 35})
        assert s.fan_mode == {"Manual": 35} and s.min_fans == 0  # minimum fans kept
        data = await miner.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent) == ("manual", 35)
        # from manual the firmware keeps no auto settings: the idle speed is the API
        # example's 100 unless asked for, the target the default 60
        await miner.set_fan_mode({"mode": "normal"})
        assert s.fan_mode == {"Auto": {"Idle Speed": 100, "Target Temperature": 60}}
        await miner.set_fan_mode({"mode": "normal", "minimum_speed": 30})
        assert s.fan_mode == {"Auto": {"Idle Speed": 30, "Target Temperature": 60}}
        assert (await miner.get_data(include=["fan_mode"])).fan_mode == "normal"
        await miner.aclose()

"""Auradine (FluxOS / GCMiner) against real answers of an AT1500 (FluxOS 2023-12.27).

Expected values are derived by hand from each payload.  The shape tests start the simulated
FluxOS on 127.133.1.x, bring it to the state the capture shows (custom power tuning, a set
fan), send the same request and compare the answers' shapes.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from real_captures import assert_same_shape, load, parse_context

from asic_bridge import sim
from asic_bridge.config import MiningModePowerTune
from asic_bridge.drivers import auradine as ad
from asic_bridge.drivers.base import ParseContext
from asic_bridge.drivers.cgminer import parse_api_ver, parse_pools, parse_uptime
from asic_bridge.errors import ConfigError, NotAppliedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.http_server import HttpReply, Request, json_reply

FAMILY = "auradine"
VERSION = "2023-12.27"


def cap(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load(FAMILY, VERSION, f"{name}.json")
    return data


def ctx() -> ParseContext:
    return parse_context("Auradine", "AT1500", "SHA256")


def test_2023_12_27_reads() -> None:
    c = ctx()
    assert ad.parse_hashrate(c, cap("summary")) == pytest.approx(20.5997672)  # MHS 5s, MH/s
    assert parse_uptime(c, cap("summary")) == 56696  # Elapsed
    boards = ad.parse_hashboards(c, cap("devs"))
    assert [b.slot for b in boards] == [0, 1, 2]  # ID 1..3
    assert [b.hashrate for b in boards] == pytest.approx([6.8, 6.9, 7.0])  # 6800000.0 MH/s
    assert [b.temp for b in boards] == [28.25, 29.06, 30.12]
    assert all(b.active for b in boards)  # Status Alive, a hashrate
    first, second, third = parse_pools(c, cap("pools"))
    assert first.url == "stratum+tcp://btc.viabtc.io:3333" and first.user == "username.suffix"
    assert (first.accepted, first.rejected, first.active) == (10, 1, True)
    assert (second.active, second.alive, third.alive) == (False, False, False)  # Dead
    assert ad.parse_wattage(c, cap("psu")) == 59  # PowerIn "58.94W"
    assert ad.parse_wattage_limit(c, cap("mode")) == 2000  # Mode custom, Power 2000
    assert ad.parse_mode(cap("mode")) == MiningModePowerTune(power=2000)
    assert ad.parse_is_mining(c, cap("mode")) is True  # Sleep "off"
    assert [f.speed for f in ad.parse_fans(c, cap("fan")) or []] == [7080, 7020, 7100, 7020]
    assert ad.parse_fault_light(c, cap("led")) is False  # Code 2 = normal
    assert ad.parse_errors(c, cap("led")) == []
    report = cap("ipreport")
    assert ad.parse_mac(c, report) == "00:00:5e:00:53:2b"
    assert ad.parse_hostname(c, report) == "teraflux-01"
    assert ad.parse_fw_ver(c, report) == "2023-12.27"
    assert parse_api_ver(c, cap("version")) == "1.0"


_hosts = itertools.count(1)


@pytest.mark.parametrize(
    "name", ["version", "summary", "devs", "pools", "ipreport", "fan", "led", "mode", "psu"]
)
async def test_simulator_answers_like_the_capture(name: str) -> None:
    s = sim.create(f"auradine_at2860:{VERSION}@127.133.1.{next(_hosts)}")
    await s.start()
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, ad.AuradineMiner)
        await miner.set_power_limit(2000)  # the capture's mode: custom power tuning
        await miner.web_command("fan", percentage=91)  # its fans carry a Target
        if name in ("version", "summary", "devs", "pools"):
            answer = await miner._command(name)
        else:
            answer = await miner.web_command(name)
        await miner.aclose()
    finally:
        await s.stop()
    assert_same_shape(cap(name), answer)


async def test_a_power_target_the_firmware_ignores_is_not_an_ok() -> None:
    s = sim.create(f"auradine_at2860:{VERSION}@127.133.2.1")
    await s.start()
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, ad.AuradineMiner)
        assert await miner.set_power_limit(3000) is True  # read back from mode: 3000
        assert (await miner.get_data(include=["wattage_limit"])).wattage_limit == 3000

        async def ignore_power(request: Request) -> HttpReply:  # answers S, changes nothing
            return json_reply({"STATUS": [{"STATUS": "S", "Msg": "Mode"}], "Mode": []})

        s.servers["web"].route("POST", "/mode", ignore_power)
        with pytest.raises(NotAppliedError) as caught:
            await miner.set_power_limit(2500)
        assert (caught.value.wanted, caught.value.applied) == (2500, 3000)
        await miner.aclose()
    finally:
        await s.stop()


# ----------------------------------------------------------------------------- fan control
def test_fan_percent_is_the_target_of_the_fans_max() -> None:
    c = ctx()
    # fan 1: Target 7000 of Max 7700 RPM -> 90.9 % -> 91 (the capture does not record the
    # mode; a Target is what a percentage write sets, so it reads as manual)
    assert ad.parse_fan_percent(c, cap("fan")) == 91
    assert ad.parse_fan_mode_name(c, cap("fan")) == "manual"
    auto = {"Fan": [{k: v for k, v in f.items() if k != "Target"} for f in cap("fan")["Fan"]]}
    assert ad.parse_fan_percent(c, auto) is None  # RPM only: no duty
    assert ad.parse_fan_mode_name(c, auto) == "normal"


def test_fan_garbage_is_no_reading() -> None:
    c = ctx()
    for bad in ({"Max": 0, "Target": 10}, {"Max": 100, "Target": 500}, {"Max": "x", "Target": 1}):
        assert ad.parse_fan_percent(c, {"Fan": [bad]}) is None
    assert ad.parse_fan_percent(c, {"Fan": []}) is None


async def test_fan_percentage_is_written_and_read_back() -> None:
    s = sim.create(f"auradine_at2860:{VERSION}@127.133.3.1")
    await s.start()
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, ad.AuradineMiner)
        assert miner.fan_modes() == ("normal", "manual")
        await miner.set_fan_mode({"mode": "manual", "speed": 55})
        data = await miner.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent, s.fan_percent) == ("manual", 55, 55)
        await miner.set_fan_mode({"mode": "normal"})
        assert s.fan_percent == 0  # percentage 0 = automatic
        with pytest.raises(ConfigError, match="1-100"):
            await miner.set_fan_mode({"mode": "manual", "speed": 0})
        assert s.fan_percent == 0
        await miner.aclose()
    finally:
        await s.stop()

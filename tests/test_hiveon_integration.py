"""The Hiveon driver against the simulated Hiveon S19j Pro over real sockets (127.26.1.x).

Identification (and that stock Antminer and Hiveon never claim each other), get_data, every
control end to end, read-modify-write of the config, one connection per protocol per poll,
misbehaving miners within the deadline, and credentials (default key, custom, wrong).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from asic_bridge import factory, settings
from asic_bridge.config import (
    FanModeManual,
    MinerConfig,
    MiningModeHigh,
    MiningModeLow,
    MiningModeNormal,
    Pool,
    PoolConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.drivers.antminer import FAMILIES as STOCK_FAMILIES
from asic_bridge.drivers.antminer import AntminerModern
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.hiveon import HiveonModern, HiveonOld
from asic_bridge.errors import AuthenticationError, ConfigError, UnsupportedError
from asic_bridge.sim import Fault, load_kinds
from asic_bridge.sim.antminer import _AntminerStock

KIND = "hiveon_s19jpro"
_hosts = itertools.count(1)


def next_address() -> str:
    n = next(_hosts)
    return f"127.26.{1 + n // 250}.{1 + n % 250}"


Start = Callable[..., Awaitable[_AntminerStock]]


def work_mode(sim: _AntminerStock) -> str:
    """The simulated box's work mode (a plain str, so controls can change it between reads)."""
    return str(sim.state.work_mode)


Connect = Callable[..., Awaitable[BaseMiner]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start a simulated miner (Hiveon by default) on a fresh 127.26.x address."""
    started: list[_AntminerStock] = []

    async def _start(kind: str = KIND) -> _AntminerStock:
        sim = load_kinds()[kind](next_address())
        assert isinstance(sim, _AntminerStock)
        sim.reboot_delay, sim.reboot_downtime = 0.05, 0.3
        await sim.start()
        started.append(sim)
        return sim

    yield _start
    for sim in started:
        await sim.stop()
        factory.forget(sim.address)


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    miners: list[BaseMiner] = []

    async def _connect(sim: _AntminerStock, **kwargs: Any) -> BaseMiner:
        miner = await factory.get_miner(sim.address, ports=sim.ports, **kwargs)
        assert miner is not None, f"{sim.kind} not found"
        miners.append(miner)
        return miner

    yield _connect
    for miner in miners:
        await miner.aclose()


# ----------------------------------------------------------------------------- identification
async def test_identifies_make_model_firmware_and_static_facts(
    start: Start, connect: Connect
) -> None:
    sim = await start()
    miner = await connect(sim)
    assert type(miner) is HiveonModern
    assert (miner.make, miner.model, miner.firmware, miner.algo) == (
        "AntMiner",
        "S19j Pro",
        "Hive",
        "SHA256",
    )
    ident = miner.identity
    assert ident.raw_model == "Antminer S19jPro Hiveon"
    assert ident.mac == sim.state.mac and ident.hostname == sim.state.hostname
    assert ident.serial_number == sim.state.serial
    assert ident.fw_ver == sim.compile_time and ident.api_ver == "3.1"
    assert miner.capabilities == {
        Capability.FAULT_LIGHT,
        Capability.REBOOT,
        Capability.STOP_MINING,
        Capability.FAN_CONTROL,
        Capability.MINING_MODES,
        Capability.GET_CONFIG,
        Capability.SEND_CONFIG,
    }
    assert miner.supported_modes == ("normal", "low", "sleep")
    sim.reset_counters()
    assert await factory.get_miner(sim.address, ports=sim.ports) is miner  # cached
    assert sim.counters["rpc"].connections == sim.counters["http"].connections == 0


async def test_stock_antminer_is_not_claimed_and_hiveon_not_by_stock(
    start: Start, connect: Connect
) -> None:
    stock = await connect(await start("antminer_s19jpro"))
    assert type(stock) is AntminerModern and stock.firmware == "Stock"
    hive_sim = await start()
    hive = await connect(hive_sim)
    assert type(hive) is HiveonModern
    # the stock family alone would refuse the Hiveon box even with its RPC silent
    await hive_sim.set_mode("offline", servers="rpc")
    evidence = await factory.probe(hive_sim.address, hive_sim.ports, per_probe=2.0)
    assert not STOCK_FAMILIES[0].matches(evidence) or (
        await STOCK_FAMILIES[0].build(evidence, Credentials()) is None
    )


async def test_rpc_silent_hiveon_is_still_identified_by_its_web_ui(
    start: Start, connect: Connect
) -> None:
    sim = await start()
    await sim.set_mode("offline", servers="rpc")
    miner = await connect(sim)
    assert type(miner) is HiveonModern and miner.model == "S19j Pro"
    assert miner.identity.mac == sim.state.mac
    await sim.set_mode("normal", servers="rpc")
    data = await miner.get_data()
    assert data.field_errors == {}
    assert data.fw_ver == sim.compile_time


async def test_stock_antminer_with_rpc_silent_still_goes_to_stock(
    start: Start, connect: Connect
) -> None:
    sim = await start("antminer_s21")
    await sim.set_mode("offline", servers="rpc")
    miner = await connect(sim)
    assert type(miner) is AntminerModern


# ----------------------------------------------------------------------------- get_data
async def test_get_data_fills_every_field_the_firmware_reports(
    start: Start, connect: Connect
) -> None:
    sim = await start()
    sim.state.jitter = 0.0
    miner = await connect(sim)
    data = await miner.get_data()
    assert data.field_errors == {}
    reading = sim.state.read()
    assert data.hashrate == pytest.approx(104.0, rel=0.01)
    assert data.expected_hashrate == pytest.approx(104.0)
    assert data.hashrate_unit == "TH/s"
    assert data.wattage == round(reading.wattage)
    assert data.wattage_limit is None  # Hiveon's UI has no power limit
    assert len(data.hashboards) == 3
    for board, sim_board in zip(data.hashboards, reading.boards, strict=True):
        assert board.chips == board.expected_chips == 126
        assert board.hashrate == pytest.approx(104.0 / 3, rel=0.01)
        assert board.temp == round(sim_board.temp_pcb)
        assert board.chip_temp == round(sim_board.temp_chip)
        assert board.voltage == sim_board.voltage
    assert [f.speed for f in data.fans] == list(reading.fans)
    assert [p.url for p in data.pools] == [p.url for p in sim.state.pools]
    assert data.pools[0].active is True and data.pools[0].alive is True
    assert data.uptime is not None and data.uptime >= 0
    assert data.is_mining is True and data.fault_light is False and data.errors == []
    assert data.mac == sim.state.mac and data.hostname == sim.state.hostname
    assert data.serial_number == sim.state.serial
    assert data.fw_ver == sim.compile_time and data.api_ver == "3.1"
    assert (data.make, data.model, data.firmware) == ("AntMiner", "S19j Pro", "Hive")


async def test_firmware_errors_are_reported(start: Start, connect: Connect) -> None:
    sim = await start()
    sim.state.errors.append(Fault(2011, "fan 2 speed too low"))
    miner = await connect(sim)
    errors = await miner.get_errors()
    assert [(e.error_code, e.error_message) for e in errors] == [(2011, "fan 2 speed too low")]


async def test_one_get_data_one_rpc_and_one_http_connection(start: Start, connect: Connect) -> None:
    sim = await start()
    miner = await connect(sim)
    assert isinstance(miner, HiveonModern)
    for fresh_http in (False, True):
        if fresh_http:  # a new TCP connection must not cost a new digest challenge
            await miner.web.aclose()
        sim.reset_counters()
        data = await miner.get_data()
        assert data.field_errors == {}
        rpc, http = sim.counters["rpc"], sim.counters["http"]
        assert rpc.connections == 1
        assert dict(rpc.by_key) == {"summary": 1, "stats": 1, "pools": 1}
        assert http.connections == (1 if fresh_http else 0)
        assert http.unauthorized == 0
        assert max(http.by_key.values()) == 1


# ----------------------------------------------------------------------------- controls
async def test_fault_light(start: Start, connect: Connect) -> None:
    sim = await start()
    miner = await connect(sim)
    assert await miner.fault_light_on() is True
    assert sim.state.fault_light is True
    assert (await miner.get_data()).fault_light is True
    assert await miner.check_light() is True
    assert await miner.fault_light_off() is True
    assert sim.state.fault_light is False
    assert await miner.check_light() is False


async def test_stop_and_resume(start: Start, connect: Connect) -> None:
    sim = await start()
    miner = await connect(sim)
    before = await miner.get_data()
    pools = [(p.url, p.user, p.password) for p in sim.state.pools]
    assert await miner.stop_mining() is True
    assert work_mode(sim) == "sleep"
    data = await miner.get_data()
    assert data.is_mining is False and data.hashrate == 0.0
    assert all(b.hashrate == 0.0 for b in data.hashboards)
    assert data.wattage is not None and before.wattage is not None
    assert data.wattage < before.wattage / 5
    assert await miner.is_mining() is False
    assert await miner.resume_mining() is True
    assert work_mode(sim) == "normal"
    data = await miner.get_data()
    assert data.is_mining is True and data.hashrate and data.hashrate > 100
    assert [(p.url, p.user, p.password) for p in sim.state.pools] == pools


async def test_low_mode_keeps_pools_and_fan_settings(start: Start, connect: Connect) -> None:
    """hass-miner#380: a mode change must not wipe the pools (or anything else)."""
    sim = await start()
    miner = await connect(sim)
    custom = PoolConfig.simple(
        [
            Pool(url="stratum+tcp://eu.pool.example:3333", user="acct.w1", password="p1"),
            Pool(url="stratum+tcp://us.pool.example:443", user="acct.w1", password="p2"),
            Pool(url="stratum+tcp://asia.pool.example:25", user="acct.w1", password="p3"),
        ]
    )
    await miner.send_config(MinerConfig(pools=custom, fan_mode=FanModeManual(speed=55)))
    watts_normal = (await miner.get_data()).wattage
    assert await miner.set_mode("low") is True
    assert work_mode(sim) == "low"
    assert [(p.url, p.user, p.password) for p in sim.state.pools] == [
        (p.url, p.user, p.password) for p in custom.first_group
    ]
    assert (sim.conf["bitmain-fan-ctrl"], sim.conf["bitmain-fan-pwm"]) == (True, "55")
    config = await miner.get_config()
    assert config.mining_mode == MiningModeLow()
    assert config.pools == custom and config.fan_mode == FanModeManual(speed=55)
    data = await miner.get_data()
    assert data.is_mining is True
    assert data.hashrate is not None and data.hashrate < 0.9 * 104.0
    assert data.wattage is not None and watts_normal is not None
    assert data.wattage < 0.9 * watts_normal  # the power figure follows the mode
    await miner.send_config(MinerConfig(mining_mode=MiningModeNormal()))
    assert work_mode(sim) == "normal"


async def test_config_round_trip_and_user_suffix(start: Start, connect: Connect) -> None:
    sim = await start()
    miner = await connect(sim)
    before = await miner.get_config()
    assert before.pools is not None and len(before.pools.first_group) == 2
    await miner.send_config(before)
    assert await miner.get_config() == before
    assert (await miner.get_data(include=["config"])).config == before
    await miner.send_config(MinerConfig(), user_suffix="rack7")
    assert all(p.user.endswith(".rack7") for p in sim.state.pools)
    assert len(sim.state.pools) == 2


async def test_reboot(start: Start, connect: Connect) -> None:
    sim = await start()
    frozen = [time.monotonic() + 1000.0]
    sim.state.clock = lambda: frozen[0]
    miner = await connect(sim)
    assert (await miner.get_data()).uptime == 1000
    assert await miner.reboot() is True
    await asyncio.sleep(0.15)  # the box is down
    down = await miner.get_data()
    assert "uptime" in down.field_errors and "fault_light" in down.field_errors
    for _ in range(40):
        await asyncio.sleep(0.05)
        data = await miner.get_data()
        if not data.field_errors:
            break
    assert data.field_errors == {}
    assert data.uptime == 0


async def test_unsupported_controls_raise(start: Start, connect: Connect) -> None:
    sim = await start()
    miner = await connect(sim)
    with pytest.raises(UnsupportedError, match="set_power_limit"):
        await miner.set_power_limit(3000)
    with pytest.raises(UnsupportedError, match="restart_backend"):
        await miner.restart_backend()
    with pytest.raises(UnsupportedError, match="high"):
        await miner.send_config(MinerConfig(mining_mode=MiningModeHigh()))
    four = PoolConfig.simple(
        [Pool(url=f"stratum+tcp://p{i}.example:3333", user="u") for i in "1234"]
    )
    with pytest.raises(ConfigError, match="3 pool slots"):
        await miner.send_config(MinerConfig(pools=four))
    assert work_mode(sim) == "normal" and len(sim.state.pools) == 2


# ----------------------------------------------------------------------------- misbehaviour
@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
@pytest.mark.parametrize("server", ["rpc", "http"])
async def test_misbehaving_miner_gives_field_errors_within_the_deadline(
    mode: Any, server: str, start: Start, connect: Connect
) -> None:
    deadline = 0.5
    settings.update("api_function_timeout", deadline)
    sim = await start()
    miner = await connect(sim)
    await sim.set_mode(mode, servers=server, delay=2.0)
    async with asyncio.timeout(20):
        data = await miner.get_data()
    rpc_fields = {
        "hashrate", "expected_hashrate", "hashboards", "fans", "fan_percent", "uptime", "wattage",
        "pools"
    }  # fmt: skip
    web_fields = {"errors", "fault_light", "is_mining", "fan_mode"}
    broken, working = (rpc_fields, web_fields) if server == "rpc" else (web_fields, rpc_fields)
    assert set(data.field_errors) == broken
    assert all(sim.address in reason for reason in data.field_errors.values())
    assert all(getattr(data, name) not in (None, []) for name in working - {"errors"})
    await sim.set_mode("normal", servers=server)
    assert (await miner.get_data()).field_errors == {}


async def test_hanging_miner_is_not_identified_and_does_not_hang(start: Start) -> None:
    sim = await start()
    await sim.set_mode("hang")
    settings.update("factory_get_timeout", 0.5)
    async with asyncio.timeout(20):
        assert await factory.get_miner(sim.address, ports=sim.ports) is None


# ----------------------------------------------------------------------------- credentials
async def test_wrong_password_is_a_clear_error_without_the_password(
    start: Start, connect: Connect
) -> None:
    sim = await start()
    sim.web_password = "the-real-one"
    guess = "wrong-guess-pw"
    miner = await connect(sim, credentials=Credentials(password=guess))
    assert isinstance(miner, HiveonModern) and miner.model == "S19j Pro"  # RPC still says
    assert any("credentials rejected" in n for n in miner.identity.extra["notes"])
    data = await miner.get_data()
    web_fields = {"errors", "fault_light", "is_mining", "fan_mode", "mac", "serial_number",
                  "hostname"}  # fmt: skip
    assert set(data.field_errors) == web_fields
    for reason in data.field_errors.values():
        assert sim.address in reason and "credentials rejected" in reason
        assert guess not in reason and "the-real-one" not in reason
    assert data.hashrate is not None and data.pools and data.wattage
    with pytest.raises(AuthenticationError) as caught:
        await miner.fault_light_on()
    assert sim.address in str(caught.value) and guess not in str(caught.value)
    assert sim.state.fault_light is False


async def test_custom_and_default_passwords_are_really_used(start: Start, connect: Connect) -> None:
    sim = await start()
    sim.web_password = "hive-secret"
    miner = await connect(sim, credentials=Credentials(password="hive-secret"))
    assert miner.identity.mac == sim.state.mac
    assert await miner.fault_light_on() is True

    other = await start()
    other.web_password = "farm-default"
    settings.update("default_hiveon_password", "farm-default")
    miner2 = await connect(other)
    assert (await miner2.get_data()).field_errors == {}
    assert await miner2.fault_light_on() is True and other.state.fault_light is True


# ----------------------------------------------------------------------------- wire fidelity
async def test_wire_looks_like_hiveon(start: Start) -> None:
    sim = await start()

    def exchange(command: str) -> dict[str, Any]:
        with socket.create_connection((sim.address, sim.ports["rpc"]), timeout=3) as sock:
            sock.sendall(json.dumps({"command": command}).encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        raw = b"".join(chunks)
        assert raw.endswith(b"\x00")
        reply: dict[str, Any] = json.loads(raw[:-1])
        return reply

    version = await asyncio.to_thread(exchange, "version")
    assert version["VERSION"][0]["Type"] == "Antminer S19jPro Hiveon"
    stats = (await asyncio.to_thread(exchange, "stats"))["STATS"][1]
    assert "rate_unit" not in stats
    assert isinstance(stats["total_power"], int) and "chain_power" not in stats  # 2025 build
    assert stats["temp_pcb1"].count("-") == 3 and stats["temp2_1"] == stats["temp3_1"]

    base = f"http://{sim.address}:{sim.ports['http']}"
    auth = httpx.DigestAuth("root", "root")
    async with httpx.AsyncClient(base_url=base) as client:
        resp = await client.get("/")
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"].startswith('Digest realm="antMiner Configuration"')
        info = (await client.get("/cgi-bin/get_system_info.cgi", auth=auth)).json()
        assert info["minertype"] == "Antminer S19jPro Hiveon"
        brief = await client.get("/kaonsu/v1/brief", auth=auth)  # not MaraFW
        assert brief.status_code == 404
        on = await client.post("/cgi-bin/blink.cgi", data={"action": "startBlink"}, auth=auth)
        assert on.json()["code"] == "B000" and sim.state.fault_light is True
        state = await client.post("/cgi-bin/blink.cgi", data={"action": "onPageLoaded"}, auth=auth)
        assert state.json()["blink"] is True
        status = await client.get("/cgi-bin/get_blink_status.cgi", auth=auth)
        assert status.json() == {"blink": True}


# ----------------------------------------------------------------------------- X9-era (T9)
async def test_t9_is_read_over_rpc_only(start: Start, connect: Connect) -> None:
    sim = await start("hiveon_t9")
    sim.state.jitter = 0.0
    miner = await connect(sim)
    assert type(miner) is HiveonOld
    assert (miner.make, miner.model, miner.firmware) == ("AntMiner", "T9", "Hive")
    assert miner.capabilities == {Capability.GET_CONFIG}
    assert miner.identity.mac == sim.state.mac  # the old UI's get_system_info, once
    sim.reset_counters()
    data = await miner.get_data()
    assert data.field_errors == {}
    assert sim.counters["rpc"].connections == 1 and sim.counters["http"].connections == 0
    reading = sim.state.read()
    assert data.hashrate == pytest.approx(12.5, rel=0.01)
    assert data.expected_hashrate == pytest.approx(12.5, rel=0.01)
    assert data.wattage == round(reading.wattage)  # from the text "chain_power"
    assert data.env_temp == round(sim.state.ambient_temp + 3)
    assert [b.chips for b in data.hashboards] == [54, 54, 54]
    assert [b.hashrate for b in data.hashboards] == pytest.approx([12.5 / 3] * 3, rel=0.01)
    assert [b.temp for b in data.hashboards] == [round(b.temp_pcb) for b in reading.boards]
    assert [f.speed for f in data.fans] == list(reading.fans)
    assert data.is_mining is True and data.fault_light is None
    assert data.mac == sim.state.mac and data.hostname == sim.state.hostname
    config = await miner.get_config()
    assert config.pools is not None
    assert [p.url for p in config.pools.first_group] == [p.url for p in sim.state.pools]


async def test_t9_offers_no_web_control(start: Start, connect: Connect) -> None:
    sim = await start("hiveon_t9")
    miner = await connect(sim)
    for call in (
        miner.fault_light_on(),
        miner.reboot(),
        miner.stop_mining(),
        miner.restart_backend(),
        miner.set_power_limit(1400),
        miner.send_config(MinerConfig(mining_mode=MiningModeLow())),
    ):
        with pytest.raises(UnsupportedError):
            await call
    assert sim.state.fault_light is False and len(sim.state.pools) == 2


@pytest.mark.parametrize("mode", ["hang", "garbage", "offline"])
async def test_t9_misbehaving_rpc_is_bounded(mode: Any, start: Start, connect: Connect) -> None:
    sim = await start("hiveon_t9")
    miner = await connect(sim)
    settings.update("api_function_timeout", 0.5)
    await sim.set_mode(mode, servers="rpc", delay=2.0)
    async with asyncio.timeout(20):  # bounds the test; not a speed assertion
        data = await miner.get_data()
    assert set(data.field_errors) == {
        "hashrate", "expected_hashrate", "hashboards", "env_temp", "fans", "uptime",
        "wattage", "pools", "is_mining",
    }  # fmt: skip
    assert data.mac == sim.state.mac  # static facts stay

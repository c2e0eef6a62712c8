"""Antminer stock drivers against the simulated miners over real sockets (127.11.2.x).

Covers identification, get_data, every control end to end, read-modify-write of the config,
the one-connection-per-protocol budget of a poll, misbehaving miners and a wrong password.
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
    MiningModeSleep,
    Pool,
    PoolConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.drivers.antminer import AntminerModern, AntminerOld
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import AuthenticationError, UnsupportedError
from asic_bridge.sim import load_kinds
from asic_bridge.sim.antminer import _AntminerStock

_hosts = itertools.count(1)


def next_address() -> str:
    n = next(_hosts)
    return f"127.11.{2 + n // 250}.{1 + n % 250}"


Start = Callable[[str], Awaitable[_AntminerStock]]
Connect = Callable[..., Awaitable[BaseMiner]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start a simulated miner of a kind on a fresh 127.11.x address."""
    started: list[_AntminerStock] = []

    async def _start(kind: str) -> _AntminerStock:
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
    """Identify a simulated miner with asic_bridge (ports as the simulator really uses)."""
    miners: list[BaseMiner] = []

    async def _connect(sim: _AntminerStock, **kwargs: Any) -> BaseMiner:
        miner = await factory.get_miner(sim.address, ports=sim.ports, **kwargs)
        assert miner is not None, f"{sim.kind} not found"
        miners.append(miner)
        return miner

    yield _connect
    for miner in miners:
        await miner.aclose()


KINDS = {
    "antminer_s19jpro": (AntminerModern, "S19j Pro", "SHA256", 104.0),
    "antminer_s21": (AntminerModern, "S21", "SHA256", 200.0),
    "antminer_l7": (AntminerModern, "L7", "Scrypt", 9.5),
    "antminer_s17pro": (AntminerOld, "S17 Pro", "SHA256", 53.0),
}


# ----------------------------------------------------------------------------- identification
@pytest.mark.parametrize("kind", list(KINDS))
async def test_get_miner_identifies_make_model_firmware(
    kind: str, start: Start, connect: Connect
) -> None:
    cls, model, algo, _ = KINDS[kind]
    sim = await start(kind)
    miner = await connect(sim)
    assert type(miner) is cls
    assert (miner.make, miner.model, miner.firmware, miner.algo) == (
        "AntMiner",
        model,
        "Stock",
        algo,
    )
    ident = miner.identity
    assert ident.mac == sim.state.mac
    assert ident.hostname == sim.state.hostname
    assert ident.fw_ver == sim.compile_time and ident.api_ver == "3.1"
    assert ident.serial_number == (sim.state.serial if cls is AntminerModern else None)
    assert Capability.POWER_LIMIT not in miner.capabilities
    assert Capability.RESTART_BACKEND not in miner.capabilities
    # cached: a second call costs nothing on the wire
    sim.reset_counters()
    assert await factory.get_miner(sim.address, ports=sim.ports) is miner
    assert sim.counters["rpc"].connections == sim.counters["http"].connections == 0


# ----------------------------------------------------------------------------- get_data
@pytest.mark.parametrize("kind", list(KINDS))
async def test_get_data_fills_every_offered_field(
    kind: str, start: Start, connect: Connect
) -> None:
    cls, _, algo, nominal = KINDS[kind]
    sim = await start(kind)
    miner = await connect(sim)
    data = await miner.get_data()
    assert data.field_errors == {}
    assert data.hashrate == pytest.approx(nominal, rel=0.02)
    assert data.expected_hashrate == pytest.approx(nominal)
    assert data.hashrate_unit == ("GH/s" if algo == "Scrypt" else "TH/s")
    assert len(data.hashboards) == 3
    per_board = sim.hardware.chips_per_board
    for board in data.hashboards:
        assert board.chips == per_board and board.expected_chips == per_board
        assert board.hashrate == pytest.approx(nominal / 3, rel=0.02)
        assert board.temp is not None and board.chip_temp is not None
        assert board.chip_temp > board.temp
        assert (board.serial_number is not None) == (cls is AntminerModern)
    assert len(data.fans) == 4 and all(f.speed for f in data.fans)
    assert [p.url for p in data.pools] == [p.url for p in sim.state.pools]
    assert data.pools[0].active is True and data.pools[0].alive is True
    assert data.uptime is not None and data.uptime >= 0
    assert data.is_mining is True and data.fault_light is False
    assert data.mac == sim.state.mac and data.hostname == sim.state.hostname
    # only the 2025 build (the S21 kind) reports its draw, as stats.cgi "watt"; no limit ever
    expected_watts = round(sim.state.read().wattage) if kind == "antminer_s21" else None
    assert data.wattage == (pytest.approx(expected_watts, abs=5) if expected_watts else None)
    assert data.wattage_limit is None
    if cls is AntminerModern:
        assert data.errors == []
        assert data.serial_number == sim.state.serial


async def test_firmware_errors_are_reported(start: Start, connect: Connect) -> None:
    from asic_bridge.sim import Fault

    sim = await start("antminer_s21")
    sim.state.errors.append(Fault(2011, "fan 2 speed too low"))
    miner = await connect(sim)
    errors = await miner.get_errors()
    assert [(e.error_code, e.error_message) for e in errors] == [(2011, "fan 2 speed too low")]


# ----------------------------------------------------------------------------- efficiency
@pytest.mark.parametrize("kind", ["antminer_s19jpro", "antminer_s17pro"])
async def test_one_get_data_one_rpc_and_one_http_connection(
    kind: str, start: Start, connect: Connect
) -> None:
    sim = await start(kind)
    miner = await connect(sim)
    for fresh_http in (False, True):
        if fresh_http:  # a new TCP connection must not cost a new digest challenge
            assert isinstance(miner, (AntminerModern, AntminerOld))
            await miner.web.aclose()
        sim.reset_counters()
        data = await miner.get_data()
        assert data.field_errors == {}
        rpc, http = sim.counters["rpc"], sim.counters["http"]
        assert rpc.connections == 1
        assert dict(rpc.by_key) == {"summary": 1, "stats": 1, "pools": 1}
        assert http.connections == (1 if fresh_http else 0)
        assert http.unauthorized == 0
        assert max(http.by_key.values()) == 1  # each page once (get_miner_conf shared)


# ----------------------------------------------------------------------------- controls
@pytest.mark.parametrize("kind", ["antminer_s19jpro", "antminer_s17pro"])
async def test_fault_light(kind: str, start: Start, connect: Connect) -> None:
    sim = await start(kind)
    miner = await connect(sim)
    assert await miner.fault_light_on() is True
    assert sim.state.fault_light is True
    assert (await miner.get_data()).fault_light is True
    assert await miner.check_light() is True
    assert await miner.fault_light_off() is True
    assert sim.state.fault_light is False
    assert await miner.check_light() is False


@pytest.mark.parametrize("kind", ["antminer_s19jpro", "antminer_s17pro"])
async def test_stop_and_resume(kind: str, start: Start, connect: Connect) -> None:
    sim = await start(kind)
    miner = await connect(sim)
    pools = [(p.url, p.user) for p in sim.state.pools]
    assert await miner.stop_mining() is True
    assert sim.state.work_mode == "sleep"
    data = await miner.get_data()
    assert data.is_mining is False and data.hashrate == 0.0
    assert all(b.hashrate == 0.0 for b in data.hashboards)
    assert await miner.is_mining() is False
    assert await miner.resume_mining() is True
    assert sim.state.work_mode == "normal"
    data = await miner.get_data()
    assert data.is_mining is True and data.hashrate and data.hashrate > 0
    assert [(p.url, p.user) for p in sim.state.pools] == pools


async def test_low_power_mode_keeps_pools_and_settings(start: Start, connect: Connect) -> None:
    """hass-miner#380: a mode change must not wipe the pools (or anything else)."""
    sim = await start("antminer_s19jpro")
    miner = await connect(sim)
    custom = PoolConfig.simple(
        [
            Pool(url="stratum+tcp://eu.pool.example:3333", user="acct.w1", password="p1"),
            Pool(url="stratum+tcp://us.pool.example:443", user="acct.w1", password="p2"),
            Pool(url="stratum+tcp://asia.pool.example:25", user="acct.w1", password="p3"),
        ]
    )
    await miner.send_config(MinerConfig(pools=custom, fan_mode=FanModeManual(speed=55)))
    await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))
    assert sim.state.work_mode == "low"
    assert [(p.url, p.user, p.password) for p in sim.state.pools] == [
        (p.url, p.user, p.password) for p in custom.first_group
    ]
    assert (sim.conf["bitmain-fan-ctrl"], sim.conf["bitmain-fan-pwm"]) == (True, "55")
    config = await miner.get_config()
    assert config.mining_mode == MiningModeLow()
    assert config.pools == custom
    assert config.fan_mode == FanModeManual(speed=55)
    data = await miner.get_data()
    assert data.is_mining is True
    assert data.hashrate is not None and data.hashrate < 0.9 * 104.0


async def test_a_partial_write_really_would_wipe_the_pools(start: Start) -> None:
    """The simulator reproduces the hazard the read-modify-write avoids."""
    sim = await start("antminer_s19jpro")
    auth = httpx.DigestAuth("root", "root")
    async with httpx.AsyncClient(base_url=f"http://{sim.address}:{sim.ports['http']}") as client:
        resp = await client.post("/cgi-bin/set_miner_conf.cgi", json={"miner-mode": 3}, auth=auth)
    assert resp.json()["code"] == "M000"
    assert sim.state.pools == [] and sim.state.work_mode == "low"


@pytest.mark.parametrize("kind", ["antminer_s19jpro", "antminer_s17pro"])
async def test_config_round_trip(kind: str, start: Start, connect: Connect) -> None:
    sim = await start(kind)
    miner = await connect(sim)
    before = await miner.get_config()
    assert before.pools is not None and len(before.pools.first_group) == 2
    await miner.send_config(before)
    assert await miner.get_config() == before
    assert (await miner.get_data(include=["config"])).config == before


async def test_user_suffix(start: Start, connect: Connect) -> None:
    sim = await start("antminer_s21")
    miner = await connect(sim)
    await miner.send_config(MinerConfig(), user_suffix="rack7")
    assert {p.user for p in sim.state.pools} == {
        f"{sim.state.pools[0].user.split('.rack7')[0]}.rack7"
    }


@pytest.mark.parametrize("kind", ["antminer_s19jpro", "antminer_s17pro"])
async def test_reboot(kind: str, start: Start, connect: Connect) -> None:
    sim = await start(kind)
    frozen = [time.monotonic() + 1000.0]
    sim.state.clock = lambda: frozen[0]
    miner = await connect(sim)
    assert (await miner.get_data()).uptime == 1000
    assert await miner.reboot() is True
    await asyncio.sleep(0.15)  # the box is down
    down = await miner.get_data()
    assert "uptime" in down.field_errors and "hashrate" in down.field_errors
    for _ in range(40):
        await asyncio.sleep(0.05)
        data = await miner.get_data()
        if not data.field_errors:
            break
    assert data.field_errors == {}
    assert data.uptime == 0


async def test_unsupported_controls_raise(start: Start, connect: Connect) -> None:
    s19 = await connect(await start("antminer_s19jpro"))
    with pytest.raises(UnsupportedError, match="set_power_limit"):
        await s19.set_power_limit(3000)
    with pytest.raises(UnsupportedError, match="restart_backend"):
        await s19.restart_backend()
    with pytest.raises(UnsupportedError, match="high"):
        await s19.send_config(MinerConfig(mining_mode=MiningModeHigh()))

    l7_sim = await start("antminer_l7")
    l7 = await connect(l7_sim)
    assert Capability.STOP_MINING not in l7.capabilities
    with pytest.raises(UnsupportedError):
        await l7.stop_mining()
    with pytest.raises(UnsupportedError, match="mining mode"):
        await l7.send_config(MinerConfig(mining_mode=MiningModeSleep()))
    assert l7_sim.state.work_mode == "normal"

    s17 = await connect(await start("antminer_s17pro"))
    assert Capability.MINING_MODES not in s17.capabilities
    with pytest.raises(UnsupportedError, match="low"):
        await s17.send_config(MinerConfig(mining_mode=MiningModeLow()))


async def test_l7_other_controls_work(start: Start, connect: Connect) -> None:
    sim = await start("antminer_l7")
    miner = await connect(sim)
    assert await miner.fault_light_on() is True
    new = PoolConfig.simple([Pool(url="stratum+tcp://ltc.pool.example:3333", user="doge.l7")])
    await miner.send_config(MinerConfig(pools=new))
    assert [(p.url, p.user) for p in sim.state.pools] == [
        ("stratum+tcp://ltc.pool.example:3333", "doge.l7")
    ]


# ----------------------------------------------------------------------------- misbehaviour
@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
@pytest.mark.parametrize("server", ["rpc", "http"])
async def test_misbehaving_miner_gives_field_errors_within_the_deadline(
    mode: Any, server: str, start: Start, connect: Connect
) -> None:
    deadline = 0.5
    settings.update("api_function_timeout", deadline)
    sim = await start("antminer_s19jpro")
    miner = await connect(sim)
    await sim.set_mode(mode, servers=server, delay=2.0)
    async with asyncio.timeout(20):
        data = await miner.get_data()
    rpc_fields = {"hashrate", "expected_hashrate", "fans", "uptime", "pools"}
    web_fields = {"hashboards", "wattage", "errors", "fault_light", "is_mining", "fan_mode",
                  "fan_percent"}  # fmt: skip
    broken, working = (rpc_fields, web_fields) if server == "rpc" else (web_fields, rpc_fields)
    assert set(data.field_errors) == broken
    assert all(sim.address in reason for reason in data.field_errors.values())
    # errors may be empty; wattage is None on a build without the key (before 2025)
    # fan_percent: none in auto (stock reports no duty then)
    unknown = {"errors", "wattage", "fan_percent"}
    assert all(getattr(data, name) not in (None, []) for name in working - unknown)
    # and it recovers once the miner behaves again
    await sim.set_mode("normal", servers=server)
    assert (await miner.get_data()).field_errors == {}


async def test_hanging_miner_is_not_identified_and_does_not_hang(start: Start) -> None:
    sim = await start("antminer_s21")
    await sim.set_mode("hang")
    settings.update("factory_get_timeout", 0.5)
    async with asyncio.timeout(20):
        assert await factory.get_miner(sim.address, ports=sim.ports) is None


async def test_wrong_web_password(start: Start, connect: Connect) -> None:
    sim = await start("antminer_s19jpro")
    sim.web_password = "the-real-one"
    guess = "wrong-guess-pw"
    miner = await connect(sim, credentials=Credentials(password=guess))
    assert isinstance(miner, AntminerModern) and miner.model == "S19j Pro"  # RPC still says
    data = await miner.get_data()
    web_fields = {"hashboards", "wattage", "errors", "fault_light", "is_mining", "mac",
                  "serial_number", "hostname", "fan_mode", "fan_percent"}  # fmt: skip
    assert set(data.field_errors) == web_fields
    for reason in data.field_errors.values():
        assert sim.address in reason and "credentials rejected" in reason
        assert guess not in reason and "the-real-one" not in reason
    assert data.hashrate is not None and data.pools
    with pytest.raises(AuthenticationError) as caught:
        await miner.fault_light_on()
    assert sim.address in str(caught.value) and guess not in str(caught.value)
    assert sim.state.fault_light is False


# ----------------------------------------------------------------------------- wire fidelity
async def test_web_ui_challenge_and_no_marafw_look_alike(start: Start) -> None:
    sim = await start("antminer_s19jpro")
    base = f"http://{sim.address}:{sim.ports['http']}"
    async with httpx.AsyncClient(base_url=base) as client:
        resp = await client.get("/")
        assert resp.status_code == 401
        challenge = resp.headers["www-authenticate"]
        assert challenge.startswith('Digest realm="antMiner Configuration"')
        assert "nonce=" in challenge and 'qop="auth"' in challenge
        auth = httpx.DigestAuth("root", "root")
        brief = await client.get("/kaonsu/v1/brief", auth=auth)
        assert brief.status_code == 404
        with pytest.raises(ValueError):
            brief.json()
        info = await client.get("/cgi-bin/get_system_info.cgi", auth=auth)
        assert info.json()["minertype"] == "Antminer S19j Pro"


async def test_rpc_batch_reply_is_nul_terminated_and_closed(start: Start) -> None:
    sim = await start("antminer_l7")

    def exchange() -> bytes:
        with socket.create_connection((sim.address, sim.ports["rpc"]), timeout=3) as sock:
            sock.sendall(json.dumps({"command": "summary+stats"}).encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    raw = await asyncio.to_thread(exchange)
    assert raw.endswith(b"\x00")
    reply = json.loads(raw[:-1])
    assert set(reply) == {"summary", "stats", "id"}
    body = reply["stats"][0]["STATS"][1]
    assert body["rate_unit"] == "MH"  # the L7's GHS keys hold MH/s
    assert float(reply["summary"][0]["SUMMARY"][0]["GHS 5s"]) == pytest.approx(9500, rel=0.02)


async def test_look_alike_named_in_system_info_is_not_claimed(start: Start) -> None:
    """Hiveon serves the stock web UI; with its RPC silent, only minertype gives it away."""
    sim = await start("antminer_s19jpro")
    sim.type_string = "Antminer S19JPRO Hiveon"
    await sim.set_mode("offline", servers="rpc")
    miner = await factory.get_miner(sim.address, ports=sim.ports)
    assert not isinstance(miner, (AntminerModern, AntminerOld))


async def test_bridge_poll_reads_slow_fields_only_on_full_polls(
    start: Start, connect: Connect
) -> None:
    """A normal bridge poll of a modern Antminer is one RPC connection and one page
    (stats.cgi); the error list and mining state (two more pages) come with full polls."""
    from asic_bridge.bridge.poller import FULL_POLL_EVERY, FieldPolicy
    from asic_bridge.sim import Fault

    sim = await start("antminer_s19jpro")
    miner = await connect(sim)
    policy = FieldPolicy()
    full_fields = policy.fields(miner, modes=False)
    assert {"errors", "is_mining", "fault_light"} <= set(full_fields)
    await miner.get_data(include=full_fields)  # static fields are cached from here on
    sim.state.errors.append(Fault(2011, "fan 2 speed too low"))
    sim.reset_counters()
    normal_fields = policy.fields(miner, modes=False)
    data = await miner.get_data(include=normal_fields)
    assert data.field_errors == {}
    assert data.errors == [] and data.is_mining is None  # not read: the bridge carries them
    assert sim.counters["rpc"].connections == 1
    assert dict(sim.counters["http"].by_key) == {"GET /cgi-bin/stats.cgi": 1}
    for _ in range(FULL_POLL_EVERY - 2):
        assert "errors" not in policy.fields(miner, modes=False)
    full = await miner.get_data(include=policy.fields(miner, modes=False))
    assert [e.error_code for e in full.errors] == [2011] and full.is_mining is True

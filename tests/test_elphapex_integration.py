"""The Elphapex driver against the simulated DG1+ over real sockets (127.23.3.x)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from asic_bridge import settings, sim
from asic_bridge.config import FanModeManual, MinerConfig, MiningModeSleep, Pool, PoolConfig
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.elphapex import ElphapexMiner
from asic_bridge.errors import AuthenticationError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.elphapex import ElphapexDG1PlusSim

_hosts = itertools.count(1)
WEB_FIELDS = ("hashrate", "hashboards", "fans", "pools", "fault_light", "is_mining", "uptime")


def address() -> str:
    return f"127.23.3.{next(_hosts)}"


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[ElphapexDG1PlusSim]:
    miner = sim.create(f"elphapex_dg1plus@{address()}")
    assert isinstance(miner, ElphapexDG1PlusSim)
    miner.state.jitter = 0.0
    miner.reboot_delay, miner.reboot_downtime = 0.05, 0.2
    await miner.start()
    try:
        yield miner
    finally:
        await miner.stop()


async def identify(s: ElphapexDG1PlusSim, **kwargs: Any) -> ElphapexMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)
    assert isinstance(miner, ElphapexMiner), miner
    return miner


async def settled(miner: BaseMiner) -> MinerData:
    data = await miner.get_data()
    for _ in range(60):
        if not data.field_errors:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


async def test_identify_and_read() -> None:
    async with running() as s:
        miner = await identify(s)
        assert (miner.make, miner.model, miner.firmware, miner.algo) == (
            "Elphapex",
            "DG1+",
            "Stock",
            "Scrypt",
        )
        assert miner.identity.fw_ver == "1.0.2" and miner.identity.mac == s.state.mac
        data = await miner.get_data(include=[*ElphapexMiner.FIELDS])
        assert data.field_errors == {}
        assert data.hashrate == pytest.approx(14.0, rel=1e-3)  # GH/s
        assert data.expected_hashrate == pytest.approx(14.0, rel=1e-3)
        assert len(data.hashboards) == 4 and all(b.chips == 204 for b in data.hashboards)
        reading = s.state.read().boards[0]
        assert data.hashboards[0].temp == round(reading.temp_pcb)
        assert data.hashboards[0].chip_temp == round(reading.temp_chip)
        assert len(data.fans) == 4 and all(f.speed for f in data.fans)
        assert data.hostname == s.state.hostname and data.api_ver == "1.0.0"
        assert data.is_mining is True and data.fault_light is False and data.errors == []
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.pools[0].active and data.uptime is not None
        for cap in (Capability.STOP_MINING, Capability.POWER_LIMIT):
            assert not miner.supports(cap)
        s.reset_counters()
        await miner.get_data()
        assert s.counters["http"].unauthorized == 0  # digest answered once, reused
        await miner.aclose()


async def test_fault_light_and_reboot() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True
        assert (await miner.get_data()).fault_light is True
        assert await miner.fault_light_off() is True and s.state.fault_light is False
        booted = s.state.boot_at
        assert await miner.reboot() is True
        await asyncio.sleep(0.3)
        assert (await settled(miner)).field_errors == {} and s.state.boot_at > booted


async def test_unsupported_controls_raise() -> None:
    async with running() as s:
        miner = await identify(s)
        for call in (miner.stop_mining(), miner.restart_backend(), miner.set_power_limit(3000)):
            with pytest.raises(UnsupportedError):
                await call
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(mining_mode=MiningModeSleep()))


async def test_config_read_modify_write() -> None:
    async with running() as s:
        miner = await identify(s)
        s.conf["fc-freq"] = "1900"
        pools = PoolConfig.simple(
            [Pool(url="stratum+tcp://ltc.example:3333", user="acct.dg", password="pw")]
        )
        await miner.send_config(MinerConfig(pools=pools))
        await miner.send_config(MinerConfig(fan_mode=FanModeManual(speed=65)))
        config = await miner.get_config()
        assert config.pools == pools and config.fan_mode == FanModeManual(speed=65)
        assert s.conf["fc-freq"] == "1900" and s.work_code == 0
        assert [p.password for p in s.state.pools] == ["pw"]


async def test_wrong_password_is_a_clear_error() -> None:
    async with running() as s:
        s.web_password = "right-one-5"
        miner = await identify(s, credentials=Credentials(password="wrong-one-4"))
        assert miner.model is None
        data = await miner.get_data()
        assert set(WEB_FIELDS) <= set(data.field_errors)
        for reason in data.field_errors.values():
            assert "credentials rejected" in reason and "wrong-one-4" not in reason
        with pytest.raises(AuthenticationError) as caught:
            await miner.fault_light_on()
        assert "wrong-one-4" not in str(caught.value)


@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_miner_is_bounded(mode: str) -> None:
    async with running() as s:
        miner = await identify(s)
        settings.update("api_function_timeout", 0.5)
        await s.set_mode(mode, delay=3.0)  # type: ignore[arg-type]
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data()
        for name in WEB_FIELDS:
            assert name in data.field_errors, (mode, name)
        assert data.mac == s.state.mac
        await s.set_mode("normal")
        assert (await settled(miner)).field_errors == {}


async def test_realm_on_the_wire() -> None:
    async with running() as s:
        base = f"http://{s.address}:{s.ports['http']}"
        client = httpx.AsyncClient(base_url=base)
        try:
            first = await client.get("/")
            assert first.status_code == 401
            assert first.headers["www-authenticate"].startswith('Digest realm="Daoge')
            auth = httpx.DigestAuth("root", "root")
            stats = (await client.get("/cgi-bin/stats.cgi", auth=auth)).json()
            chain = stats["STATS"][0]["chain"][0]
            assert chain["temp_chip"][2] == "" and chain["temp_chip"][0].isdigit()
        finally:
            await client.aclose()

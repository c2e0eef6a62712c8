"""The MaraFW driver against the simulated MaraFW S19 XP over real sockets (127.23.1.x).

Identification (and never claiming a stock Antminer), readings, every control and its effect
on the next reading, read-modify-write of miner_config, wrong password, misbehaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from asic_bridge import settings, sim
from asic_bridge.config import (
    FanModeManual,
    MinerConfig,
    MiningModeLow,
    Pool,
    PoolConfig,
    TemperatureConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.antminer import AntminerModern
from asic_bridge.drivers.base import BaseMiner
from asic_bridge.drivers.marafw import MaraMiner
from asic_bridge.errors import AuthenticationError, ConfigError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.marafw import MaraS19XPSim

_hosts = itertools.count(1)


def address() -> str:
    return f"127.23.1.{next(_hosts)}"


@contextlib.asynccontextmanager
async def running(kind: str = "marafw_s19xp") -> AsyncIterator[Any]:
    miner = sim.create(f"{kind}@{address()}")
    miner.state.jitter = 0.0
    for attr in ("reboot_delay", "reboot_downtime", "reload_downtime"):
        if hasattr(miner, attr):
            setattr(miner, attr, 0.1)
    await miner.start()
    try:
        yield miner
    finally:
        await miner.stop()


async def identify(s: MaraS19XPSim, **kwargs: Any) -> MaraMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)
    assert isinstance(miner, MaraMiner), miner
    return miner


async def settled(miner: BaseMiner) -> MinerData:
    data = await miner.get_data()
    for _ in range(60):
        if not data.field_errors:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


async def test_identify_and_read_everything() -> None:
    async with running() as s:
        miner = await identify(s)
        assert (miner.make, miner.model, miner.firmware) == ("AntMiner", "S19 XP", "MaraFW")
        assert miner.identity.mac == s.state.mac and miner.identity.fw_ver == "1.4.2"
        data = await miner.get_data(include=[*MaraMiner.FIELDS])
        assert data.field_errors == {}
        hw = s.hardware
        assert data.hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
        assert data.expected_hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
        assert data.wattage == round(hw.nominal_power)
        assert len(data.hashboards) == 3 and all(b.chips == 110 for b in data.hashboards)
        assert sum(b.hashrate or 0 for b in data.hashboards) == pytest.approx(data.hashrate)
        assert len(data.fans) == 4 and all(f.speed for f in data.fans)
        assert data.hostname == s.state.hostname and data.mac == s.state.mac
        assert data.is_mining is True and data.fault_light is False
        assert data.uptime is not None and data.wattage_limit is None
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.pools[0].active and data.config is not None
        await miner.aclose()


async def test_one_poll_is_one_kept_alive_connection() -> None:
    async with running() as s:
        miner = await identify(s)
        await miner.get_data()
        s.reset_counters()
        await miner.get_data()
        await miner.get_data()
        http = s.counters["http"]
        assert http.unauthorized == 0  # the digest challenge was answered once, then reused
        assert http.connections <= 4
        await miner.aclose()


async def test_stock_antminer_is_never_claimed_and_marafw_wins() -> None:
    async with running("antminer_s19jpro") as stock, running() as mara:
        assert isinstance(await get_miner(stock.address, use_cache=False), AntminerModern)
        assert isinstance(await get_miner(mara.address, use_cache=False), MaraMiner)


async def test_fault_light() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True
        assert s.state.fault_light and (await miner.get_data()).fault_light is True
        assert await miner.fault_light_off() is True
        assert await miner.check_light() is False


async def test_stop_resume_and_power_limit_keep_pools() -> None:
    async with running() as s:
        miner = await identify(s)
        pools = [(p.url, p.user, p.password) for p in s.state.pools]
        assert await miner.stop_mining() is True
        data = await miner.get_data()
        assert data.is_mining is False and data.hashrate == 0
        assert await miner.resume_mining() is True
        assert (await miner.get_data()).is_mining is True
        assert s.config["mode"]["work-mode-selector"] == "Stock"
        assert await miner.set_power_limit(2500) is True
        data = await miner.get_data()
        assert data.wattage == 2500 and data.wattage_limit == 2500
        assert data.hashrate is not None and data.hashrate < s.hardware.nominal_hashrate
        # sleep and resume returns to the power target
        await miner.stop_mining()
        await miner.resume_mining()
        assert (await miner.get_data()).wattage_limit == 2500
        assert [(p.url, p.user, p.password) for p in s.state.pools] == pools
        with pytest.raises(ConfigError):
            await miner.set_power_limit(50)


async def test_reboot_and_restart_backend() -> None:
    async with running() as s:
        miner = await identify(s)
        booted = s.state.boot_at
        assert await miner.restart_backend() is True
        await asyncio.sleep(0.05)
        assert s.state.boot_at == booted
        assert await miner.reboot() is True
        await asyncio.sleep(0.3)
        data = await settled(miner)
        assert data.field_errors == {} and s.state.boot_at > booted


async def test_config_round_trip_and_read_modify_write() -> None:
    async with running() as s:
        miner = await identify(s)
        s.config["vendor-setting"] = {"keep": True}
        new_pools = PoolConfig.simple(
            [Pool(url="stratum+tcp://n.example:3333", user="acct.1", password="pw")]
        )
        await miner.send_config(MinerConfig(pools=new_pools, fan_mode=FanModeManual(speed=60)))
        config = await miner.get_config()
        assert config.pools == new_pools and config.fan_mode == FanModeManual(speed=60)
        assert s.config["vendor-setting"] == {"keep": True}
        await miner.set_power_limit(2600)
        after = await miner.get_config()
        assert after.pools == new_pools and after.fan_mode == FanModeManual(speed=60)
        assert [(p.url, p.password) for p in s.state.pools] == [
            ("stratum+tcp://n.example:3333", "pw")
        ]
        await miner.send_config(after)  # an unchanged config writes nothing
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(temperature=TemperatureConfig(target=70)))


async def test_set_mode() -> None:
    async with running() as s:
        miner = await identify(s)
        # every mode miner_config can read back as (the target modes need their target)
        assert miner.supported_modes == (
            "normal", "sleep", "power_tuning", "hashrate_tuning", "manual"
        )  # fmt: skip
        await miner.set_mode("sleep")
        assert s.state.mining is False
        await miner.set_mode("normal")
        assert s.state.mining is True


async def test_wrong_password_is_a_clear_error() -> None:
    async with running() as s:
        s.web_password = "real-secret-1"
        miner = await identify(s, credentials=Credentials(password="bad-guess-9"))
        data = await miner.get_data()
        assert "hashrate" in data.field_errors
        for reason in data.field_errors.values():
            assert "credentials rejected" in reason and "bad-guess-9" not in reason
        with pytest.raises(AuthenticationError) as caught:
            await miner.fault_light_on()
        assert "bad-guess-9" not in str(caught.value)
        good = await identify(s, credentials=Credentials(password="real-secret-1"))
        assert good.model == "S19 XP" and (await good.get_data()).field_errors == {}


@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_miner_is_bounded(mode: str) -> None:
    async with running() as s:
        miner = await identify(s)
        settings.update("api_function_timeout", 0.5)
        await s.set_mode(mode, delay=3.0)
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data()
        for name in ("hashrate", "hashboards", "fans", "pools", "fault_light"):
            assert name in data.field_errors, (mode, name)
        assert data.mac == s.state.mac  # static facts survive
        await s.set_mode("normal")
        assert (await settled(miner)).field_errors == {}


async def test_wire_shapes() -> None:
    async with running() as s:
        base = f"http://{s.address}:{s.ports['http']}"
        async with httpx.AsyncClient(base_url=base) as client:
            first = await client.get("/kaonsu/v1/brief")
            assert first.status_code == 401
            assert 'realm="antMiner Configuration"' in first.headers["www-authenticate"]
            auth = httpx.DigestAuth("root", "root")
            pools = (await client.get("/kaonsu/v1/pools", auth=auth)).json()
            assert isinstance(pools, list) and pools[0]["status"] == "Alive"
            bad = await client.post(
                "/kaonsu/v1/miner_config", auth=auth, json={"mode": {"work-mode-selector": "X"}}
            )
            assert bad.status_code == 400

"""The Goldshell driver against the simulated KD Max over real sockets (127.24.2.x)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import FanModeManual, MinerConfig, MiningModeLow, Pool, PoolConfig
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.goldshell import GoldshellMiner
from asic_bridge.errors import AuthenticationError, ConfigError, NotAppliedError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.goldshell import GoldshellKDMaxSim

_hosts = itertools.count(1)
RPC_FIELDS = ("hashrate", "hashboards", "fans", "pools", "is_mining", "uptime")


@contextlib.asynccontextmanager
async def running(**attrs: object) -> AsyncIterator[GoldshellKDMaxSim]:
    s = sim.create(f"goldshell_kdmax@127.24.2.{next(_hosts)}")
    assert isinstance(s, GoldshellKDMaxSim)
    s.state.jitter = 0.0
    s.restart_downtime = 0.2
    for name, value in attrs.items():
        setattr(s, name, value)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: GoldshellKDMaxSim, **kwargs: object) -> GoldshellMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)  # type: ignore[arg-type]
    assert isinstance(miner, GoldshellMiner)
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
        assert (miner.make, miner.model, miner.firmware) == ("Goldshell", "KD Max", "Stock")
        assert miner.algo == "Kadena" and miner.identity.fw_ver == "2.2.1"
        assert not miner.supports(Capability.FAULT_LIGHT)
        data = await miner.get_data()
        assert data.field_errors == {}
        assert data.hashrate == pytest.approx(40.2, rel=1e-3)
        assert len(data.hashboards) == 3
        assert all(b.chips == 84 and b.temp and b.chip_temp for b in data.hashboards)
        assert [f.speed for f in data.fans] == list(s.state.read().fans)
        assert data.mac == s.state.mac and data.api_ver == "3.1"
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.is_mining is True and data.uptime is not None
        assert data.wattage is None and data.expected_hashrate is None  # not reported
        await miner.aclose()


async def test_one_batched_rpc_and_one_login() -> None:
    async with running() as s:
        miner = await identify(s)
        s.reset_counters()
        await miner.get_data()
        await miner.get_data()
        assert s.counters["rpc"].connections == 2
        assert s.counters["http"].by_key["GET /user/login"] == 1  # MAC read once, token cached
        assert s.counters["http"].by_key["GET /mcb/setting"] == 1
        await miner.aclose()


async def test_stop_resume_and_modes() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.stop_mining() is True
        data = await miner.get_data(include=["hashrate", "is_mining", "config"])
        assert data.is_mining is False and data.hashrate == 0
        assert data.config is not None and data.config.mining_mode is not None
        assert data.config.mining_mode.mode == "sleep"
        assert await miner.resume_mining() is True
        await miner.set_mode("low")
        data = await miner.get_data(include=["hashrate", "config"])
        assert data.hashrate is not None and data.hashrate < 40.2
        assert data.config is not None and data.config.mining_mode == MiningModeLow()
        with pytest.raises(ConfigError):
            await miner.set_mode("high")
        await miner.aclose()


async def test_restart_backend() -> None:
    async with running() as s:
        miner = await identify(s)
        started = s.state.backend_started_at
        assert await miner.restart_backend() is True
        await asyncio.sleep(0.1)
        assert (await settled(miner)).field_errors == {}
        assert s.state.backend_started_at > started
        await miner.aclose()


async def test_unsupported_controls_raise() -> None:
    async with running() as s:
        miner = await identify(s)
        for call in (miner.fault_light_on, miner.fault_light_off, miner.reboot):
            with pytest.raises(UnsupportedError):
                await call()
        with pytest.raises(UnsupportedError):
            await miner.set_power_limit(3000)
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(fan_mode=FanModeManual(speed=50)))
        await miner.aclose()


async def test_pools_round_trip_keeps_the_mode() -> None:
    async with running() as s:
        miner = await identify(s)
        await miner.set_mode("low")
        wanted = PoolConfig.simple(
            [
                Pool(url="stratum+tcp://a.example:1", user="me.a", password="pa"),
                Pool(url="stratum+tcp://b.example:2", user="me.b", password="pb"),
                Pool(url="stratum+tcp://c.example:3", user="me.c", password="pc"),
            ]
        )
        await miner.send_config(MinerConfig(pools=wanted))
        config = await miner.get_config()
        assert config.pools is not None
        assert [(p.url, p.user) for p in config.pools.first_group] == [
            (p.url, p.user) for p in wanted.first_group
        ]
        assert [p.password for p in s.state.pools] == ["pa", "pb", "pc"]
        assert config.mining_mode == MiningModeLow() and s.state.work_mode == "low"
        s.reset_counters()
        await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))  # nothing changes
        await miner.send_config(config)
        by_key = s.counters["http"].by_key
        assert by_key["PUT /mcb/newpool"] == by_key["PUT /mcb/delpool"] == 0
        with pytest.raises(ConfigError):
            four = [Pool(url=f"stratum+tcp://p{i}.example:1") for i in range(4)]
            await miner.send_config(MinerConfig(pools=PoolConfig.simple(list(four))))
        await miner.aclose()


async def test_old_firmware_login_with_the_web_ui_cipher() -> None:
    async with running(plain_login=False) as s:
        miner = await identify(s)
        assert (await miner.get_data()).mac == s.state.mac
        await miner.aclose()


async def test_wrong_password_is_a_clear_error_without_the_password() -> None:
    async with running() as s:
        miner = await identify(s, credentials=Credentials(password="s3cret-pw"))
        with pytest.raises(AuthenticationError) as err:
            await miner.get_config()
        assert "s3cret-pw" not in str(err.value)
        data = await miner.get_data()
        assert set(data.field_errors) == {"mac"} and "s3cret-pw" not in data.field_errors["mac"]
        assert data.hashrate  # the RPC does not need the password
        await miner.aclose()


async def test_custom_password_is_used() -> None:
    async with running(web_password="mine-now") as s:
        miner = await identify(s, credentials=Credentials(password="mine-now"))
        assert (await miner.get_data()).field_errors == {}
        await miner.aclose()


@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_miner_is_bounded(mode: str) -> None:
    async with running() as s:
        settings.update("api_function_timeout", 0.5)
        miner = await identify(s)
        await miner.get_data()  # MAC learned
        await s.set_mode(mode, delay=3.0)  # type: ignore[arg-type]
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data(include=[*RPC_FIELDS, "mac", "config"])
        for name in (*RPC_FIELDS, "config"):
            assert name in data.field_errors, (mode, name)
        assert data.mac == s.state.mac
        await s.set_mode("normal")
        await miner.aclose()
        assert (await settled(miner)).field_errors == {}
        await miner.aclose()


async def test_a_power_plan_the_firmware_ignores_is_not_ok() -> None:
    async with running() as s:
        miner = await identify(s)
        # a build that answers the PUT "success" and keeps plan 0
        s.setting = lambda: {**type(s).setting(s), "select": 0}  # type: ignore[method-assign]
        with pytest.raises(NotAppliedError) as caught:
            await miner.set_mode("low")  # PUT /mcb/setting select 1 answered "success"
        assert (caught.value.wanted, caught.value.applied) == (1, 0)  # levels, read back
        await miner.aclose()

"""The IceRiver driver against the simulated KS3M web UI over real sockets (127.24.5.x)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import MinerConfig, Pool, PoolConfig
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.iceriver import IceRiverMiner
from asic_bridge.errors import AuthenticationError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.iceriver import IceRiverKS3MSim

_hosts = itertools.count(1)
FIELDS = ("hashrate", "hashboards", "fans", "pools", "is_mining", "uptime", "fault_light")


@contextlib.asynccontextmanager
async def running(**attrs: object) -> AsyncIterator[IceRiverKS3MSim]:
    s = sim.create(f"iceriver_ks3m@127.24.5.{next(_hosts)}")
    assert isinstance(s, IceRiverKS3MSim)
    s.state.jitter = 0.0
    for name, value in attrs.items():
        setattr(s, name, value)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: IceRiverKS3MSim, **kwargs: object) -> IceRiverMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)  # type: ignore[arg-type]
    assert isinstance(miner, IceRiverMiner)
    return miner


async def settled(miner: BaseMiner) -> MinerData:
    data = await miner.get_data()
    for _ in range(60):
        if not data.field_errors:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


async def test_identify_and_read_a_ks3m() -> None:
    async with running() as s:
        miner = await identify(s)
        assert (miner.make, miner.model, miner.firmware) == ("IceRiver", "KS3M", "Stock")
        assert miner.algo == "kHeavyHash" and miner.identity.mac == s.state.mac
        data = await miner.get_data()
        assert data.field_errors == {}
        assert data.hashrate == pytest.approx(6.0, rel=1e-3)
        assert [b.chips for b in data.hashboards] == [18, 18, 18]
        assert all(b.inlet_temp and b.outlet_temp and b.hashrate for b in data.hashboards)
        assert [f.speed for f in data.fans] == list(s.state.read().fans)
        assert data.hostname == s.state.hostname and data.fw_ver == s.softver
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.pools[0].active and data.is_mining is True and data.fault_light is False
        await miner.aclose()


async def test_one_request_per_reading_and_one_login() -> None:
    async with running() as s:
        miner = await identify(s)
        s.reset_counters()
        await miner.get_data()
        await miner.get_data()
        http = s.counters["http"]
        assert http.by_key["POST /user/loginpost"] == 0  # the session from identification
        assert http.by_key["POST /user/userpanel"] == 2 and http.connections <= 1
        await miner.aclose()


async def test_expired_session_logs_in_again_once() -> None:
    async with running() as s:
        miner = await identify(s)
        s.expire_sessions()
        s.reset_counters()
        assert (await miner.get_data()).field_errors == {}
        assert s.counters["http"].by_key["POST /user/loginpost"] == 1
        await miner.aclose()


async def test_locate_light() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True
        assert s.state.fault_light is True and await miner.check_light() is True
        assert await miner.fault_light_off() is True
        assert (await miner.get_data(include=["fault_light"])).fault_light is False
        await miner.aclose()


async def test_get_config_and_unsupported_controls() -> None:
    async with running() as s:
        miner = await identify(s)
        config = await miner.get_config()
        assert config.pools is not None
        assert [p.url for p in config.pools.first_group] == [p.url for p in s.state.pools]
        for call in (miner.reboot, miner.restart_backend, miner.stop_mining, miner.resume_mining):
            with pytest.raises(UnsupportedError):
                await call()
        with pytest.raises(UnsupportedError):
            await miner.set_power_limit(3000)
        with pytest.raises(UnsupportedError):
            new = PoolConfig.simple([Pool(url="stratum+tcp://x.example:1")])
            await miner.send_config(MinerConfig(pools=new))
        await miner.aclose()


async def test_wrong_password_is_clear_and_secret_free() -> None:
    async with running() as s:
        miner = await identify(s, credentials=Credentials(password="wrong-ice-77"))
        assert miner.model is None  # the model sits behind the login
        data = await miner.get_data()
        assert set(FIELDS) <= set(data.field_errors)
        assert all("wrong-ice-77" not in e for e in data.field_errors.values())
        assert "refused the login" in data.field_errors["hashrate"]
        with pytest.raises(AuthenticationError) as err:
            await miner.fault_light_on()
        assert "wrong-ice-77" not in str(err.value)
        await miner.aclose()


async def test_custom_password_is_used() -> None:
    async with running(web_password="kas-Pw-1") as s:
        miner = await identify(s, credentials=Credentials(password="kas-Pw-1"))
        assert miner.model == "KS3M"
        assert (await miner.get_data()).field_errors == {}
        await miner.aclose()


@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_miner_is_bounded(mode: str) -> None:
    async with running() as s:
        settings.update("api_function_timeout", 0.5)
        miner = await identify(s)
        await s.set_mode(mode, delay=3.0)  # type: ignore[arg-type]
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data()
        for name in FIELDS:
            assert name in data.field_errors, (mode, name)
        assert data.mac == s.state.mac
        await s.set_mode("normal")
        await miner.aclose()
        assert (await settled(miner)).field_errors == {}
        await miner.aclose()


def test_capabilities() -> None:
    assert IceRiverMiner.default_capabilities == {Capability.FAULT_LIGHT, Capability.GET_CONFIG}

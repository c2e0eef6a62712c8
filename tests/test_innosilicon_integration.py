"""The Innosilicon driver against the simulated T3H+ over real sockets (127.24.3.x)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import MinerConfig, MiningModeLow, Pool, PoolConfig
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.innosilicon import InnosiliconMiner
from asic_bridge.errors import AuthenticationError, NotAppliedError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.innosilicon import InnosiliconT3HPlusSim

_hosts = itertools.count(1)
RPC_FIELDS = ("hashrate", "hashboards", "pools", "is_mining", "uptime")
WEB_FIELDS = ("wattage", "errors")


@contextlib.asynccontextmanager
async def running(**attrs: object) -> AsyncIterator[InnosiliconT3HPlusSim]:
    s = sim.create(f"innosilicon_t3hplus@127.24.3.{next(_hosts)}")
    assert isinstance(s, InnosiliconT3HPlusSim)
    s.state.jitter = 0.0
    s.reboot_downtime = s.restart_downtime = 0.2
    for name, value in attrs.items():
        setattr(s, name, value)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: InnosiliconT3HPlusSim, **kwargs: object) -> InnosiliconMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)  # type: ignore[arg-type]
    assert isinstance(miner, InnosiliconMiner)
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
        assert (miner.make, miner.model, miner.firmware) == ("Innosilicon", "T3H+", "Stock")
        assert miner.supports(Capability.REBOOT) and not miner.supports(Capability.STOP_MINING)
        data = await miner.get_data()
        assert data.field_errors == {}
        assert data.hashrate == pytest.approx(74.0, rel=1e-3)
        assert data.wattage == 3250 and data.mac == s.state.mac
        assert data.api_ver == "3.7" and data.fw_ver == "4.9.0"
        assert [b.chips for b in data.hashboards] == [114, 114, 114]
        assert all(b.temp and b.chip_temp and b.hashrate for b in data.hashboards)
        assert data.fans == []  # the firmware gives a duty %, not RPM
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.errors == [] and data.is_mining is True
        await miner.aclose()


async def test_reading_cost_and_token_reuse() -> None:
    async with running() as s:
        miner = await identify(s)
        await miner.get_data()
        s.reset_counters()
        await miner.get_data()
        assert s.counters["rpc"].connections == 1
        http = s.counters["http"]
        assert http.by_key["POST /api/auth"] == 0  # token cached
        assert set(http.by_key) == {"POST /api/getAll", "POST /api/getErrorDetail"}
        await miner.aclose()


async def test_expired_token_is_renewed_once() -> None:
    async with running() as s:
        miner = await identify(s)
        await miner.get_data()
        s.expire_tokens()
        s.reset_counters()
        data = await miner.get_data()
        assert data.field_errors == {}
        assert s.counters["http"].by_key["POST /api/auth"] == 1
        await miner.aclose()


async def test_error_codes_are_reported() -> None:
    async with running() as s:
        miner = await identify(s)
        s.error_code = 23
        errors = await miner.get_errors()
        assert [(e.error_code, e.error_message) for e in errors] == [
            (23, "chain 1 temperature too high")
        ]
        await miner.aclose()


async def test_reboot_and_restart() -> None:
    async with running() as s:
        miner = await identify(s)
        started = s.state.backend_started_at
        assert await miner.restart_backend() is True
        await asyncio.sleep(0.1)
        assert (await settled(miner)).field_errors == {}
        assert s.state.backend_started_at > started
        booted = s.state.boot_at
        assert await miner.reboot() is True
        await asyncio.sleep(0.15)
        assert (await settled(miner)).field_errors == {}
        assert s.state.boot_at > booted
        await miner.aclose()


async def test_unsupported_controls_raise() -> None:
    async with running() as s:
        miner = await identify(s)
        for call in (miner.stop_mining, miner.resume_mining, miner.fault_light_on):
            with pytest.raises(UnsupportedError):
                await call()
        with pytest.raises(UnsupportedError):
            await miner.set_power_limit(3000)
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))
        assert s.counters["http"].by_key["POST /api/updatePools"] == 0
        await miner.aclose()


async def test_config_round_trip_keeps_secrets() -> None:
    async with running() as s:
        miner = await identify(s)
        live = await miner.get_config()
        assert live.pools is not None
        first = live.pools.first_group[0]
        new = Pool(url="stratum+tcp://new.example:3333", user="me.new", password="pw-new")
        # the first pool as the API shows it without its password: "x" keeps the live one
        await miner.send_config(
            MinerConfig(pools=PoolConfig.simple([first.model_copy(update={"password": "x"}), new]))
        )
        assert [(p.url, p.user, p.password) for p in s.state.pools] == [
            (first.url, first.user, "123"),
            (new.url, new.user, "pw-new"),
        ]
        data = await miner.get_data(include=["pools", "config"])
        assert [p.url for p in data.pools] == [first.url, new.url]
        s.reset_counters()
        await miner.send_config(MinerConfig())  # nothing to change, nothing sent
        assert s.counters["http"].by_key["POST /api/updatePools"] == 0
        await miner.aclose()


async def test_wrong_password_costs_only_the_web_fields() -> None:
    async with running() as s:
        miner = await identify(s, credentials=Credentials(password="hunter2-wrong"))
        assert miner.model is None  # the model lives behind the login
        data = await miner.get_data()
        assert set(data.field_errors) == {"mac", *WEB_FIELDS}
        assert all("hunter2" not in text for text in data.field_errors.values())
        assert data.hashrate
        with pytest.raises(AuthenticationError) as err:
            await miner.reboot()
        assert "hunter2" not in str(err.value)
        await miner.aclose()


async def test_custom_password_is_used() -> None:
    async with running(web_password="Zz9-farm") as s:
        miner = await identify(s, credentials=Credentials(password="Zz9-farm"))
        assert miner.model == "T3H+"
        assert (await miner.get_data()).field_errors == {}
        await miner.aclose()


@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_miner_is_bounded(mode: str) -> None:
    async with running() as s:
        settings.update("api_function_timeout", 0.5)
        miner = await identify(s)
        await miner.get_data()
        await s.set_mode(mode, delay=3.0)  # type: ignore[arg-type]
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data()
        for name in (*RPC_FIELDS, *WEB_FIELDS):
            assert name in data.field_errors, (mode, name)
        assert data.mac == s.state.mac
        await s.set_mode("normal")
        await miner.aclose()
        assert (await settled(miner)).field_errors == {}
        await miner.aclose()


async def test_pools_the_firmware_ignores_are_not_ok() -> None:
    async with running() as s:
        miner = await identify(s)
        s.state.set_pools = lambda pools: None  # type: ignore[method-assign]  # answers success
        new = Pool(url="stratum+tcp://new.example:3333", user="me.new", password="pw-new")
        with pytest.raises(NotAppliedError) as caught:
            await miner.send_config(MinerConfig(pools=PoolConfig.simple([new])))
        assert caught.value.wanted == [(new.url, new.user)]
        await miner.aclose()

"""The Auradine driver against the simulated AT2860 (GCMiner RPC + FluxOS REST on 8080)
over real sockets (127.24.4.x)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import (
    FanModeManual,
    MinerConfig,
    MiningModeHigh,
    MiningModePowerTune,
    Pool,
    PoolConfig,
    TemperatureConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.auradine import AuradineMiner
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import AuthenticationError, CommandError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.auradine import AuradineAT2860Sim

_hosts = itertools.count(1)
RPC_FIELDS = ("hashrate", "hashboards", "pools", "uptime")
WEB_FIELDS = ("wattage", "fans", "fan_mode", "fan_percent", "fault_light", "is_mining", "errors")


@contextlib.asynccontextmanager
async def running(**attrs: object) -> AsyncIterator[AuradineAT2860Sim]:
    s = sim.create(f"auradine_at2860@127.24.4.{next(_hosts)}")
    assert isinstance(s, AuradineAT2860Sim)
    s.state.jitter = 0.0
    s.reboot_downtime = s.restart_downtime = 0.2
    for name, value in attrs.items():
        setattr(s, name, value)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: AuradineAT2860Sim, **kwargs: object) -> AuradineMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)  # type: ignore[arg-type]
    assert isinstance(miner, AuradineMiner)
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
        assert (miner.make, miner.model, miner.firmware) == ("Auradine", "AT2860", "Stock")
        # every control but a firmware upload and presets (FluxOS has neither in its API)
        assert {c for c in Capability if not miner.supports(c)} == {
            Capability.FIRMWARE_UPGRADE,
            Capability.PRESETS,
        }
        data = await miner.get_data()
        assert data.field_errors == {}
        assert data.hashrate == pytest.approx(250.0, rel=1e-3)
        assert data.wattage == 4000 and data.wattage_limit is None
        assert len(data.hashboards) == 3 and all(b.hashrate and b.temp for b in data.hashboards)
        assert len(data.fans) == 4 and all(f.speed for f in data.fans)
        assert data.mac == s.state.mac and data.hostname == s.state.hostname
        assert data.fw_ver == s.served_version and data.api_ver == "1.0"  # ipreport / version
        assert data.fault_light is False and data.is_mining is True and data.errors == []
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        await miner.aclose()


async def test_reading_cost() -> None:
    async with running() as s:
        miner = await identify(s)
        await miner.get_data()
        s.reset_counters()
        await miner.get_data()
        assert s.counters["rpc"].connections == 1
        web = s.counters["web"]
        assert web.by_key["POST /token"] == 0 and web.connections <= 1
        assert set(web.by_key) == {"GET /psu", "GET /mode", "GET /fan", "GET /led"}
        await miner.aclose()


async def test_fault_light_and_led_errors() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True
        assert s.led_code == 3 and await miner.check_light() is True
        assert await miner.fault_light_off() is True
        assert (await miner.get_data(include=["fault_light"])).fault_light is False
        s.led_code = 8
        errors = await miner.get_errors()
        assert [e.error_message for e in errors] == ["hashrate low"]
        await miner.aclose()


async def test_stop_resume_power_limit_and_modes() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.stop_mining() is True
        data = await miner.get_data(include=["is_mining", "hashrate", "config"])
        assert data.is_mining is False and data.hashrate == 0
        assert data.config is not None and data.config.mining_mode is not None
        assert data.config.mining_mode.mode == "sleep"
        assert await miner.resume_mining() is True
        assert await miner.set_power_limit(3000) is True
        data = await miner.get_data(include=["wattage", "wattage_limit", "hashrate"])
        assert data.wattage_limit == 3000 and data.wattage == 3000
        assert data.hashrate is not None and data.hashrate < 250
        await miner.set_mode("high")
        data = await miner.get_data(include=["wattage_limit", "wattage", "config"])
        assert data.wattage_limit is None and data.wattage == 4600
        assert data.config is not None and data.config.mining_mode == MiningModeHigh()
        await miner.set_mode("sleep")
        assert s.state.mining is False
        await miner.set_mode("normal")  # wakes it up too
        assert s.state.mining is True and s.state.work_mode == "normal"
        # FluxOS reports no power bounds (issue #12): the miner decides, and its refusal is
        # reported as it answered, never as an ok
        with pytest.raises(CommandError, match="Invalid power"):
            await miner.set_power_limit(50)
        assert miner.power_range().source == "unknown"
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


async def test_power_change_keeps_pools_and_fans() -> None:
    async with running() as s:
        miner = await identify(s)
        pools = PoolConfig.simple(
            [Pool(url="stratum+tcp://a.example:1", user="me.a", password="pa")]
        )
        await miner.send_config(MinerConfig(pools=pools, fan_mode=FanModeManual(speed=60)))
        assert [(p.url, p.password) for p in s.state.pools] == [("stratum+tcp://a.example:1", "pa")]
        s.reset_counters()
        await miner.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=3500)))
        by_key = s.counters["web"].by_key
        assert by_key["POST /updatepools"] == 0 and by_key["POST /fan"] == 0
        config = await miner.get_config()
        assert config.mining_mode == MiningModePowerTune(power=3500)
        assert config.fan_mode == FanModeManual(speed=60)
        assert config.pools is not None and config.pools.first_group[0].url.endswith("a.example:1")
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(temperature=TemperatureConfig(target=70)))
        await miner.aclose()


async def test_wrong_password_costs_only_the_web_fields() -> None:
    async with running() as s:
        miner = await identify(s, credentials=Credentials(password="not-admin-9"))
        data = await miner.get_data()
        assert set(data.field_errors) == {"mac", "hostname", "fw_ver", "wattage_limit", *WEB_FIELDS}
        assert all("not-admin-9" not in e for e in data.field_errors.values())
        assert data.hashrate
        with pytest.raises(AuthenticationError) as err:
            await miner.fault_light_on()
        assert "not-admin-9" not in str(err.value)
        await miner.aclose()


async def test_custom_password_is_used() -> None:
    async with running(web_password="flux-Pa55") as s:
        miner = await identify(s, credentials=Credentials(password="flux-Pa55"))
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

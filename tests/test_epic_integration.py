"""The ePIC driver against the simulated ePIC miner over real sockets (127.25.0.x)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import (
    FanModeManual,
    MinerConfig,
    MiningModeHashrateTune,
    MiningModePowerTune,
    MiningModeSleep,
    Pool,
    PoolConfig,
    TemperatureConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import Capability
from asic_bridge.drivers.epic import EpicMiner
from asic_bridge.errors import (
    AuthenticationError,
    ConfigError,
    MinerTimeoutError,
    UnsupportedError,
)
from asic_bridge.factory import get_miner
from asic_bridge.sim.epic import EpicSim

_hosts = itertools.count(1)
FIELDS = ("hashrate", "hashboards", "fans", "wattage", "pools", "is_mining", "uptime")


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[EpicSim]:
    s = sim.create(f"epic_s19jpro@127.25.0.{next(_hosts)}")
    assert isinstance(s, EpicSim)
    s.state.jitter = 0.0
    s.restart_downtime = s.reboot_downtime = 0.2
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: EpicSim, **kwargs: Any) -> EpicMiner:
    miner = await get_miner(s.address, use_cache=False, ports=s.ports, **kwargs)
    assert isinstance(miner, EpicMiner)
    return miner


async def settled(miner: EpicMiner) -> MinerData:
    data = await miner.get_data()
    for _ in range(80):
        if not data.field_errors and data.is_mining:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


async def test_identify_and_read() -> None:
    async with running() as s:
        miner = await identify(s)
        assert (miner.make, miner.model, miner.firmware) == ("AntMiner", "S19j Pro", "ePIC")
        # PowerPlay-BMS 1.5.13 capabilities carry no "Miner Serial Number" (real capture)
        assert miner.identity.serial_number is None
        assert miner.supports(Capability.POWER_LIMIT)
        assert miner.power_limit_range() == s.power_range
        s.reset_counters()
        data = await miner.get_data()
        assert data.field_errors == {}
        assert data.hashrate == pytest.approx(104.0, rel=1e-3)
        assert data.expected_hashrate == pytest.approx(104.0, rel=1e-3)
        assert len(data.hashboards) == 3 and all(b.chips == 126 for b in data.hashboards)
        assert all(b.inlet_temp and b.outlet_temp and b.serial_number for b in data.hashboards)
        assert [f.speed for f in data.fans] == list(s.state.read().fans)
        assert data.wattage == 3068 and data.voltage and data.uptime is not None
        assert (data.mac, data.hostname, data.fw_ver) == (s.state.mac, s.state.hostname, "1.5.13")
        assert data.is_mining is True and data.fault_light is False and data.errors == []
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.pools[0].active and not data.pools[1].active
        api = s.counters["rpc"].by_key
        assert api["GET /capabilities"] == 0  # read once at identification
        assert s.counters["rpc"].connections <= 3  # one kept-alive client
        await miner.get_data()
        assert api["GET /network"] == 1 and api["GET /summary"] == 2  # the MAC is cached
        await miner.aclose()


async def test_controls_end_to_end() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True and s.state.fault_light
        assert await miner.check_light() is True
        assert await miner.fault_light_off() is True and not s.state.fault_light
        assert await miner.stop_mining() is True
        data = await miner.get_data(include=["is_mining", "hashrate", "config"])
        assert data.is_mining is False and data.hashrate == 0
        assert data.config is not None and isinstance(data.config.mining_mode, MiningModeSleep)
        assert await miner.is_mining() is False
        assert await miner.resume_mining() is True
        assert (await miner.get_data()).is_mining is True
        started, booted = s.state.backend_started_at, s.state.boot_at
        assert await miner.restart_backend() is True
        data = await miner.get_data(include=["is_mining", "hashrate"])
        assert data.is_mining is True and data.hashrate == 0  # SoftRebooting
        for _ in range(40):
            if (await miner.get_data(include=["hashrate"])).hashrate:
                break
            await asyncio.sleep(0.05)
        assert s.state.backend_started_at > started and s.state.boot_at == booted
        assert await miner.reboot() is True
        await asyncio.sleep(0.15)
        assert (await settled(miner)).field_errors == {}
        assert s.state.boot_at > booted
        s.state.dead_boards.add(1)
        assert [e.error_message for e in await miner.get_errors()] == ["HbChipDetectError: [1]"]
        await miner.aclose()


async def test_power_limit_and_modes() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.set_power_limit(2500) is True
        assert (s.ptune_algo, s.ptune_targets["Power"]) == ("Power", 2500)
        data = await miner.get_data(include=["wattage", "wattage_limit", "pools"])
        assert data.wattage_limit == 2500 and data.wattage == 2500
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        with pytest.raises(ConfigError, match="outside"):
            await miner.set_power_limit(900)
        await miner.set_mode("sleep")
        assert not s.state.mining
        await miner.set_mode("normal")
        assert s.state.mining and not s.ptune_enabled
        assert (await miner.get_data(include=["wattage_limit"])).wattage_limit is None
        await miner.send_config(MinerConfig(mining_mode=MiningModeHashrateTune(hashrate=90)))
        assert (s.ptune_enabled, s.ptune_algo, s.ptune_targets["VoltageOptimizer"]) == (
            True,
            "VoltageOptimizer",
            90,
        )
        assert (await miner.get_data(include=["expected_hashrate"])).expected_hashrate == (
            pytest.approx(90.0, rel=1e-3)
        )
        await miner.aclose()


async def test_power_limit_unsupported_without_the_power_tuner() -> None:
    async with running() as s:
        s.tuners = ("VoltageOptimizer", "BoardTune")
        miner = await identify(s)
        assert not miner.supports(Capability.POWER_LIMIT)
        with pytest.raises(UnsupportedError, match="set_power_limit"):
            await miner.set_power_limit(2500)
        with pytest.raises(UnsupportedError, match="power target"):
            await miner.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=2500)))
        await miner.aclose()


async def test_config_round_trip_read_modify_write() -> None:
    async with running() as s:
        miner = await identify(s)
        s.unique_id = True
        pools = PoolConfig.simple(
            [
                Pool(url="stratum+tcp://a.example:3333", user="acct.a", password="pa"),
                Pool(url="stratum+tcp://b.example:3333", user="acct.b", password="pb"),
            ]
        )
        await miner.send_config(MinerConfig(pools=pools))
        assert [(p.url, p.password) for p in s.state.pools] == [
            ("stratum+tcp://a.example:3333", "pa"),
            ("stratum+tcp://b.example:3333", "pb"),
        ]
        assert s.unique_id is True  # kept from the live settings
        s.reset_counters()
        await miner.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=2600)))
        assert s.counters["rpc"].by_key["POST /coin"] == 0  # a power change keeps the pools
        assert s.counters["rpc"].by_key["POST /fanspeed"] == 0
        assert s.state.pools[0].password == "pa" and s.ptune_targets["Power"] == 2600
        await miner.send_config(
            MinerConfig(
                fan_mode=FanModeManual(speed=80, minimum_fans=2),
                temperature=TemperatureConfig(hot=80, danger=95),
            )
        )
        assert s.fan_mode == {"Manual": 80} and s.min_fans == 2
        assert (s.shutdown_temp, s.critical_temp) == (80.0, 95.0)
        config = await miner.get_config()
        assert config.fan_mode == FanModeManual(speed=80, minimum_fans=2)
        assert config.mining_mode == MiningModePowerTune(power=2600, algo="Power")
        assert config.pools is not None
        assert [(p.url, p.user) for p in config.pools.first_group] == [
            ("stratum+tcp://a.example:3333", "acct.a"),
            ("stratum+tcp://b.example:3333", "acct.b"),
        ]
        with pytest.raises(ConfigError, match="target temperature"):
            await miner.send_config(MinerConfig(temperature=TemperatureConfig(target=50)))
        four = PoolConfig.simple([Pool(url=f"stratum+tcp://{n}.example:1") for n in "abcd"])
        with pytest.raises(ConfigError, match="at most 3"):
            await miner.send_config(MinerConfig(pools=four))
        await miner.aclose()


async def test_wrong_password_is_clear_and_secret() -> None:
    async with running() as s:
        miner = await identify(s, credentials=Credentials(password="hunter2-wrong"))
        data = await miner.get_data()
        assert data.field_errors == {}  # readings need no password
        with pytest.raises(AuthenticationError) as err:
            await miner.stop_mining()
        assert "password" in str(err.value) and "hunter2" not in str(err.value)
        assert s.state.mining
        await miner.aclose()
        s.password = "hunter2-custom"
        miner = await identify(s, credentials=Credentials(password="hunter2-custom"))
        assert await miner.stop_mining() is True and not s.state.mining
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
        for name in FIELDS:
            assert name in data.field_errors, (mode, name)
        assert data.mac == s.state.mac
        if mode in ("hang", "slow"):
            with pytest.raises(MinerTimeoutError):
                await miner.stop_mining()
        await s.set_mode("normal")
        await miner.aclose()  # drop connections the misbehaving server spoiled
        assert (await miner.get_data()).field_errors == {}
        await miner.aclose()


async def test_power_target_written_while_stopped_is_read_back_from_the_stored_target() -> None:
    """A sleeping miner's tuner is not running, yet keeps the target it was given: waking
    a curtailed ePIC sets its target first, then resumes (the power controller's order)."""
    async with running() as s:
        miner = await identify(s)
        assert await miner.stop_mining() is True
        assert await miner.set_power_limit(2900) is True
        assert await miner.resume_mining() is True
        data = await miner.get_data(include=["wattage_limit"])
        assert data.wattage_limit == 2900
        await miner.aclose()

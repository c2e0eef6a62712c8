"""The LuxOS driver against the simulated LUXminer over real sockets (127.22.1.x).

Identification, readings, every control and its effect on the next reading, sessions,
profiles with ATM, the config round trip, and misbehaving miners bounded by the deadline.
"""

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
    MiningModePowerTune,
    MiningModePreset,
    Pool,
    PoolConfig,
    TemperatureConfig,
)
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import Capability
from asic_bridge.drivers.luxos import LuxOSMiner
from asic_bridge.errors import ConfigError, MinerTimeoutError
from asic_bridge.factory import get_miner
from asic_bridge.sim.luxos import LuxOSSim

_hosts = itertools.count(1)
FIELDS = ("hashrate", "hashboards", "fans", "wattage", "pools", "is_mining", "uptime")


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[LuxOSSim]:
    s = sim.create(f"luxos_s19jpro@127.22.1.{next(_hosts)}")
    assert isinstance(s, LuxOSSim)
    s.state.jitter = 0.0
    s.restart_downtime = 0.2
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: LuxOSSim) -> LuxOSMiner:
    miner = await get_miner(s.address, use_cache=False)
    assert isinstance(miner, LuxOSMiner)
    return miner


async def settled(miner: LuxOSMiner) -> MinerData:
    data = await miner.get_data()
    for _ in range(80):
        if not data.field_errors:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


async def test_identify_and_read() -> None:
    async with running() as s:
        miner = await identify(s)
        assert (miner.make, miner.model, miner.firmware) == ("AntMiner", "S19j Pro", "LuxOS")
        assert miner.identity.mac == s.state.mac and miner.identity.hostname == s.state.hostname
        assert miner.supports(Capability.POWER_LIMIT)
        s.reset_counters()
        data = await miner.get_data()
        assert s.counters["rpc"].connections == 1  # one batched request
        assert data.field_errors == {}
        assert data.hashrate == pytest.approx(104.0, rel=1e-3)
        assert data.expected_hashrate == pytest.approx(104.0, rel=1e-3)
        assert len(data.hashboards) == 3 and all(b.chips == 126 for b in data.hashboards)
        temps = [(b.temp, b.chip_temp) for b in data.hashboards]
        assert all(t is not None and c is not None and t < c for t, c in temps)
        assert len(data.fans) == 4 and all(f.speed for f in data.fans)
        assert data.wattage == 3068 and data.wattage_limit == 3068
        assert data.mac == s.state.mac and data.serial_number == s.state.serial
        assert data.fw_ver == "2025.4.8.220305" and data.api_ver == "3.7"
        assert data.is_mining is True and data.fault_light is False
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]


async def test_fault_light_stop_resume() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True
        assert s.red_led == "blink" and (await miner.get_data()).fault_light is True
        assert await miner.fault_light_off() is True
        assert await miner.check_light() is False
        assert await miner.stop_mining() is True
        data = await miner.get_data(include=["is_mining", "hashrate", "config"])
        assert data.is_mining is False and data.hashrate == 0
        assert data.config is not None and data.config.mining_mode is not None
        assert data.config.mining_mode.mode == "sleep"
        assert await miner.resume_mining() is True
        assert (await miner.get_data()).is_mining is True
        assert s.counters["rpc"].by_key["logon"] == 1  # the session is reused


async def test_expired_session_is_renewed_once() -> None:
    async with running() as s:
        miner = await identify(s)
        await miner.fault_light_on()
        s._session = None  # the firmware dropped it (timeout, another client's logoff)
        assert await miner.fault_light_off() is True
        assert s.counters["rpc"].by_key["logon"] == 2


async def test_session_held_by_another_client_is_joined() -> None:
    async with running() as s:
        other = s.cmd_logon(None)["SESSION"][0]["SessionID"]
        miner = await identify(s)
        assert await miner.fault_light_on() is True
        assert miner._session == other


async def test_power_limit_picks_a_profile_around_atm() -> None:
    async with running() as s:
        miner = await identify(s)
        assert s.atm_enabled
        assert await miner.set_power_limit(2600) is True
        chosen = s._profile(s.profile)
        assert chosen is not None and chosen.watts <= 2600
        assert all(p.watts <= chosen.watts or p.watts > 2600 for p in s.profiles)
        assert s.atm_enabled  # switched back on after profileset
        data = await miner.get_data(include=["wattage", "wattage_limit", "hashrate"])
        assert data.wattage_limit == chosen.watts
        assert data.wattage is not None and data.wattage <= 2600
        assert data.hashrate is not None and data.hashrate < 100
        s.profiles = s.profiles[5:]  # a firmware whose lowest profile is 2184 W
        with pytest.raises(ConfigError, match="lowest: 2184 W"):
            await miner.set_power_limit(2000)
        with pytest.raises(ConfigError):
            await miner.set_power_limit(99_999)


async def test_modes_and_presets() -> None:
    async with running() as s:
        miner = await identify(s)
        await miner.set_mode("low")
        low = (await miner.get_data(include=["wattage_limit"])).wattage_limit
        assert low is not None and low <= 0.8 * 3068
        await miner.set_mode("high")
        assert s.profile == s.profiles[-1].name
        await miner.set_mode("sleep")
        assert (await miner.get_data(include=["is_mining"])).is_mining is False
        await miner.set_mode("normal")  # wakes it up on the default profile
        assert s.profile == "default" and s.state.mining
        await miner.send_config(MinerConfig(mining_mode=MiningModePreset(active_preset="400MHz")))
        assert s.profile == "400MHz"
        await miner.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=3000)))
        assert s.profile == "500MHz"


async def test_reboot_and_restart() -> None:
    async with running() as s:
        miner = await identify(s)
        booted, started = s.state.boot_at, s.state.backend_started_at
        assert await miner.restart_backend() is True
        await asyncio.sleep(0.1)
        assert (await settled(miner)).field_errors == {}
        assert s.state.backend_started_at > started
        assert await miner.reboot() is True
        await asyncio.sleep(0.15)
        assert (await settled(miner)).field_errors == {}
        assert s.state.boot_at > booted
        assert await miner.fault_light_on() is True  # a new session after the reboot


async def test_config_round_trip_read_modify_write() -> None:
    async with running() as s:
        miner = await identify(s)
        before = await miner.get_config()
        pools = PoolConfig.simple(
            [Pool(url="stratum+tcp://a.example:3333", user="acct.a", password="pa"),
             Pool(url="stratum+tcp://b.example:3333", user="acct.b")]
        )  # fmt: skip
        await miner.send_config(MinerConfig(pools=pools))
        after = await miner.get_config()
        assert after.pools is not None
        assert [(p.url, p.user) for p in after.pools.first_group] == [
            ("stratum+tcp://a.example:3333", "acct.a"),
            ("stratum+tcp://b.example:3333", "acct.b"),
        ]
        assert after.mining_mode == before.mining_mode and after.fan_mode == before.fan_mode
        # a power change keeps the pools; temperature and fans are their own commands
        await miner.set_power_limit(2900)
        await miner.send_config(
            MinerConfig(
                temperature=TemperatureConfig(target=70, hot=85, danger=95),
                fan_mode=FanModeManual(speed=60, minimum_fans=2),
            )
        )
        final = await miner.get_config()
        assert final.pools == after.pools
        assert final.temperature == TemperatureConfig(target=70, hot=85, danger=95)
        assert final.fan_mode == FanModeManual(speed=60, minimum_fans=2)
        assert s.state.pools[0].password == "pa"


async def test_bad_pool_values_never_reach_the_miner() -> None:
    async with running() as s:
        miner = await identify(s)
        bad = PoolConfig.simple([Pool(url="stratum+tcp://x:1,evil", user="u")])
        with pytest.raises(ConfigError):
            await miner.send_config(MinerConfig(pools=bad))
        assert s.counters["rpc"].by_key["addpool"] == 0


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
        assert data.mac == s.state.mac  # static facts survive
        if mode in ("hang", "slow"):
            with pytest.raises(MinerTimeoutError):
                await miner.fault_light_on()
        await s.set_mode("normal")
        assert (await miner.get_data()).field_errors == {}

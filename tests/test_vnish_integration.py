"""The VNish driver against the simulated VNish miner over real sockets (127.22.2.x)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import MinerConfig, MiningModePreset, Pool, PoolConfig
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import Capability
from asic_bridge.drivers.vnish import VNishMiner
from asic_bridge.errors import AuthenticationError, ConfigError, MinerTimeoutError
from asic_bridge.factory import get_miner
from asic_bridge.sim.vnish import VNishSim

_hosts = itertools.count(1)
FIELDS = ("hashrate", "hashboards", "fans", "wattage", "pools", "is_mining")


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[VNishSim]:
    s = sim.create(f"vnish_s19jpro@127.22.2.{next(_hosts)}")
    assert isinstance(s, VNishSim)
    s.state.jitter = 0.0
    s.restart_downtime = s.reboot_downtime = 0.2
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: VNishSim, **kwargs: Any) -> VNishMiner:
    miner = await get_miner(s.address, use_cache=False, ports=s.ports, **kwargs)
    assert isinstance(miner, VNishMiner)
    return miner


async def settled(miner: VNishMiner) -> MinerData:
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
        assert (miner.make, miner.model, miner.firmware) == ("AntMiner", "S19j Pro", "VNish")
        assert miner.identity.mac == s.state.mac and miner.identity.fw_ver == "1.2.6"
        assert miner.supports(Capability.POWER_LIMIT)
        s.reset_counters()
        data = await miner.get_data()
        assert data.field_errors == {}
        assert s.counters["rpc"].connections == 1
        assert s.counters["http"].connections == 1  # one kept-alive client, unlocked once
        assert data.hashrate == pytest.approx(104.0, rel=1e-3)
        assert data.expected_hashrate == pytest.approx(104.0, rel=1e-3)
        assert len(data.hashboards) == 3 and all(b.chips == 126 for b in data.hashboards)
        assert len(data.fans) == 4 and data.wattage == 3068
        assert data.hostname == s.state.hostname and data.is_mining is True
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        await miner.get_data()
        assert s.counters["http"].by_key["POST /api/v1/unlock"] == 0  # token from identify
        await miner.aclose()


async def test_bridge_poll_between_full_polls_is_one_rpc_batch_and_one_page() -> None:
    """The bridge's normal poll: the RPC batch (hash rate, boards, fans, uptime, pools; the
    real /api/v1/summary captures hold no uptime and no whole chains) and /api/v1/summary."""
    from asic_bridge.bridge.poller import FieldPolicy

    async with running() as s:
        miner = await identify(s)
        policy = FieldPolicy()
        full = policy.fields(miner, True)
        policy.carry(await miner.get_data(include=full), full)
        s.reset_counters()
        fields = policy.fields(miner, True)
        data = await miner.get_data(include=fields)
        assert data.field_errors == {} and data.hashrate and data.uptime is not None
        assert s.counters["rpc"].connections == 1
        assert dict(s.counters["http"].by_key) == {"GET /api/v1/summary": 1}
        await miner.aclose()


async def test_controls_end_to_end() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True and s.locate
        assert await miner.fault_light_on() is True and s.locate  # a toggle, pressed twice
        assert await miner.fault_light_off() is True and not s.locate
        assert await miner.stop_mining() is True
        data = await miner.get_data(include=["is_mining", "hashrate", "config"])
        assert data.is_mining is False and data.hashrate == 0
        assert data.config is not None and data.config.mining_mode is not None
        assert data.config.mining_mode.mode == "sleep"
        assert await miner.resume_mining() is True
        assert (await miner.get_data()).is_mining is True
        started, booted = s.state.backend_started_at, s.state.boot_at
        assert await miner.restart_backend() is True
        await asyncio.sleep(0.1)
        assert (await settled(miner)).field_errors == {}
        assert s.state.backend_started_at > started
        assert await miner.reboot() is True
        await asyncio.sleep(0.15)
        assert (await settled(miner)).field_errors == {}
        assert s.state.boot_at > booted
        with pytest.raises(Exception, match="fault_light"):
            await miner.check_light()  # no documented reading of the locate LED
        await miner.aclose()


async def test_power_limit_picks_a_preset() -> None:
    async with running() as s:
        miner = await identify(s)
        assert await miner.set_power_limit(2950) is True
        assert s.settings["miner"]["overclock"]["preset"] == "2800"
        data = await miner.get_data(include=["wattage", "wattage_limit"])
        assert data.wattage_limit == 2800 and data.wattage == 2800
        assert s.state.pools[0].url.startswith("stratum+tcp://stratum")
        # below the lowest preset (2400 W): refused before any write, the firmware's range named
        before = s.settings["miner"]["overclock"]["preset"]
        with pytest.raises(ConfigError, match=r"outside 2400-3300 W .*firmware"):
            await miner.set_power_limit(2000)
        assert s.settings["miner"]["overclock"]["preset"] == before
        s.presets = s.presets[2:]  # the firmware's list changed since the range was read
        with pytest.raises(ConfigError, match="lowest: 2800 W"):
            await miner.set_power_limit(2500)
        await miner.set_mode("normal")
        assert s.settings["miner"]["overclock"]["preset"] == "disabled"
        await miner.aclose()


async def test_config_round_trip_read_modify_write() -> None:
    async with running() as s:
        miner = await identify(s)
        pools = PoolConfig.simple(
            [Pool(url="stratum+tcp://a.example:3333", user="acct.a", password="pa")]
        )
        await miner.send_config(MinerConfig(pools=pools))
        assert [(p.url, p.password) for p in s.state.pools] == [
            ("stratum+tcp://a.example:3333", "pa")
        ]
        await miner.send_config(MinerConfig(mining_mode=MiningModePreset(active_preset="3000")))
        assert s.state.pools[0].password == "pa"  # a power change keeps the pools
        assert s.settings["ui"] == {"theme": "dark", "locale": "en"}  # unknown keys kept
        config = await miner.get_config()
        assert isinstance(config.mining_mode, MiningModePreset)
        assert config.mining_mode.active_preset == "3000"
        assert config.pools is not None
        assert [(p.url, p.user) for p in config.pools.first_group] == [
            ("stratum+tcp://a.example:3333", "acct.a")
        ]
        await miner.aclose()


async def test_wrong_password_is_clear_and_secret() -> None:
    async with running() as s:
        miner = await identify(s, credentials=Credentials(password="hunter2-wrong"))
        data = await miner.get_data()
        assert data.hashrate  # the RPC part still reads
        assert "wattage" in data.field_errors
        assert "password" in data.field_errors["wattage"]
        assert "hunter2" not in str(data.field_errors)
        with pytest.raises(AuthenticationError) as err:
            await miner.stop_mining()
        assert "hunter2" not in str(err.value)
        assert s.state.mining
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

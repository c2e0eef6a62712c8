"""The ESP-Miner driver against simulated BitAxe / LuckyMiner boards over real sockets
(127.24.1.x): identification, readings, controls and their effect, config, misbehaviour."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import FanModeManual, MinerConfig, MiningModeLow, Pool, PoolConfig
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.espminer import ESPMiner, LuckyMiner
from asic_bridge.errors import ConfigError, MinerTimeoutError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.espminer import ESPMinerSim

_hosts = itertools.count(1)
FIELDS = ("hashrate", "hashboards", "fans", "wattage", "pools", "is_mining", "uptime")


@contextlib.asynccontextmanager
async def running(kind: str) -> AsyncIterator[ESPMinerSim]:
    s = sim.create(f"{kind}@127.24.1.{next(_hosts)}")
    assert isinstance(s, ESPMinerSim)
    s.state.jitter = 0.0
    s.reboot_downtime = 0.2
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: ESPMinerSim) -> ESPMiner:
    miner = await get_miner(s.address, use_cache=False)
    assert isinstance(miner, ESPMiner)
    return miner


async def settled(miner: BaseMiner) -> MinerData:
    data = await miner.get_data()
    for _ in range(60):
        if not data.field_errors:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


@pytest.mark.parametrize(
    ("kind", "cls", "make", "model", "chips", "pause"),
    [
        ("bitaxe_gamma", ESPMiner, "BitAxe", "Gamma", 1, True),
        ("bitaxe_supra", ESPMiner, "BitAxe", "Supra", 1, False),
        ("luckyminer_lv08", LuckyMiner, "LuckyMiner", "LV08", 4, False),
    ],
)
async def test_identify_and_read(
    kind: str, cls: type, make: str, model: str, chips: int, pause: bool
) -> None:
    async with running(kind) as s:
        miner = await identify(s)
        assert type(miner) is cls
        assert (miner.make, miner.model, miner.firmware) == (make, model, "Stock")
        assert miner.supports(Capability.STOP_MINING) is pause
        assert not miner.supports(Capability.FAULT_LIGHT)
        data = await miner.get_data()
        assert data.field_errors == {}
        hw = s.hardware
        assert data.hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
        assert data.expected_hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-2)
        assert data.wattage == round(hw.nominal_power)
        assert data.mac == s.state.mac and data.hostname == s.state.hostname
        assert data.fw_ver == s.version
        [board] = data.hashboards
        assert board.chips == chips and board.temp and board.chip_temp and not board.missing
        assert len(data.fans) == 1 and data.fans[0].speed
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.pools[0].active and data.is_mining is True
        await miner.aclose()


async def test_one_request_per_reading_on_a_kept_connection() -> None:
    async with running("bitaxe_gamma") as s:
        miner = await identify(s)
        s.reset_counters()
        await miner.get_data()
        await miner.get_data()
        http = s.counters["http"]
        assert http.requests == 2 and http.connections <= 1  # identification's connection is reused
        assert set(http.by_key) == {"GET /api/system/info"}
        await miner.aclose()


async def test_pause_and_resume() -> None:
    async with running("bitaxe_gamma") as s:
        miner = await identify(s)
        assert await miner.stop_mining() is True
        data = await miner.get_data()
        assert data.is_mining is False and data.hashrate == 0
        assert data.wattage is not None and data.wattage < s.hardware.nominal_power / 2
        assert await miner.resume_mining() is True
        assert (await miner.get_data()).is_mining is True
        await miner.aclose()


async def test_unsupported_controls_raise() -> None:
    async with running("bitaxe_supra") as s:  # v2.4: no pause API
        miner = await identify(s)
        for call in (
            miner.stop_mining,
            miner.resume_mining,
            miner.fault_light_on,
            miner.restart_backend,
        ):
            with pytest.raises(UnsupportedError):
                await call()
        with pytest.raises(UnsupportedError):
            await miner.set_power_limit(15)
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))
        assert not any(k.startswith(("POST", "PATCH")) for k in s.counters["http"].by_key)
        await miner.aclose()


async def test_reboot() -> None:
    async with running("bitaxe_gamma") as s:
        miner = await identify(s)
        booted = s.state.boot_at
        assert await miner.reboot() is True
        await asyncio.sleep(0.1)
        assert (await settled(miner)).field_errors == {}
        assert s.state.boot_at > booted
        await miner.aclose()


async def test_config_round_trip_and_read_modify_write() -> None:
    async with running("luckyminer_lv08") as s:
        miner = await identify(s)
        await miner.send_config(MinerConfig(fan_mode=FanModeManual(speed=40)))
        before = await miner.get_config()
        assert before.fan_mode == FanModeManual(speed=40)
        pools = PoolConfig.simple(
            [
                Pool(url="stratum+tcp://a.example:4444", user="me.a", password="pa"),
                Pool(url="stratum+tcp://b.example:5555", user="me.b", password="pb"),
            ]
        )
        s.reset_counters()
        await miner.send_config(MinerConfig(pools=pools))
        after = await miner.get_config()
        assert after.pools is not None
        assert [(p.url, p.user) for p in after.pools.first_group] == [
            ("stratum+tcp://a.example:4444", "me.a"),
            ("stratum+tcp://b.example:5555", "me.b"),
        ]
        assert [p.password for p in s.state.pools] == ["pa", "pb"]
        assert after.fan_mode == before.fan_mode and after.temperature == before.temperature
        assert s.counters["http"].by_key["PATCH /api/system"] == 1
        data = await miner.get_data(include=["pools"])
        assert data.pools[0].url == "stratum+tcp://a.example:4444"
        await miner.aclose()


async def test_bad_config_never_reaches_the_board() -> None:
    async with running("bitaxe_gamma") as s:
        miner = await identify(s)
        bad = PoolConfig.simple([Pool(url="stratum+tcp://nope")])
        with pytest.raises(ConfigError):
            await miner.send_config(MinerConfig(pools=bad))
        assert s.counters["http"].by_key["PATCH /api/system"] == 0
        await miner.aclose()


@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_board_is_bounded(mode: str) -> None:
    async with running("bitaxe_gamma") as s:
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
                await miner.reboot()
        await s.set_mode("normal")
        await miner.aclose()
        assert (await settled(miner)).field_errors == {}
        await miner.aclose()


async def test_unknown_answer_is_not_claimed() -> None:
    from asic_bridge.drivers import Evidence
    from asic_bridge.drivers.espminer import FAMILIES

    family = FAMILIES[0]
    assert not family.matches(Evidence(ip="127.24.1.250", http_status=200, http_body="hello"))
    assert family.matches(Evidence(ip="x", http_status=200, http_body="<title>AxeOS</title>"))

"""Hammer D10 and VolcMiner D1 drivers against their simulators over real sockets (127.23.4.x).

Identification by realm and minertype (with each make's default password), readings with the
repeated ``tempN`` keys, every control, config read-modify-write, wrong password, misbehaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import (
    FanModeManual,
    MinerConfig,
    MiningModeSleep,
    Pool,
    PoolConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.hammer import BlackMiner, HammerMiner, VolcMiner
from asic_bridge.errors import AuthenticationError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.hammer import BlackMinerSim

_hosts = itertools.count(1)
RPC_FIELDS = ("hashrate", "hashboards", "fans", "pools", "uptime")
WEB_FIELDS = ("fault_light", "is_mining", "errors")


def address() -> str:
    return f"127.23.4.{next(_hosts)}"


@contextlib.asynccontextmanager
async def running(kind: str) -> AsyncIterator[BlackMinerSim]:
    miner = sim.create(f"{kind}@{address()}")
    assert isinstance(miner, BlackMinerSim)
    miner.state.jitter = 0.0
    miner.reboot_delay, miner.reboot_downtime = 0.05, 0.2
    await miner.start()
    try:
        yield miner
    finally:
        await miner.stop()


async def identify(s: BlackMinerSim, **kwargs: Any) -> BlackMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)
    assert isinstance(miner, BlackMiner), miner
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
    ("kind", "cls", "make", "model"),
    [("hammer_d10", HammerMiner, "Hammer", "D10"), ("volcminer_d1", VolcMiner, "VolcMiner", "D1")],
)
async def test_identify_and_read(kind: str, cls: type, make: str, model: str) -> None:
    async with running(kind) as s:
        miner = await identify(s)
        assert type(miner) is cls
        assert (miner.make, miner.model, miner.firmware, miner.algo) == (
            make,
            model,
            "Stock",
            "Scrypt",
        )
        data = await miner.get_data(include=[*BlackMiner.FIELDS])
        assert data.field_errors == {}
        hw = s.hardware
        assert data.hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
        assert data.expected_hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
        assert len(data.hashboards) == 3
        for board, reading in zip(data.hashboards, s.state.read().boards, strict=True):
            assert board.chips == hw.chips_per_board
            assert board.temp == round(reading.temp_pcb)  # mean of the two PCB sensors
            assert board.chip_temp == round(reading.temp_chip)  # the hotter chip sensor
        assert len(data.fans) == 4 and all(f.speed for f in data.fans)
        assert data.mac == s.state.mac and data.hostname == s.state.hostname
        assert data.fw_ver == s.compile_time and data.api_ver == "3.1"
        assert data.is_mining is True and data.fault_light is False and data.errors == []
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.config is not None and data.config.pools is not None
        assert not miner.supports(Capability.STOP_MINING)
        await miner.aclose()


async def test_one_rpc_connection_per_reading() -> None:
    async with running("hammer_d10") as s:
        miner = await identify(s)
        await miner.get_data()
        s.reset_counters()
        await miner.get_data()
        assert s.counters["rpc"].connections == 1
        assert s.counters["http"].unauthorized == 0
        await miner.aclose()


async def test_fault_light_and_reboot() -> None:
    async with running("volcminer_d1") as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True
        assert s.state.fault_light and (await miner.get_data()).fault_light is True
        assert await miner.fault_light_off() is True
        assert await miner.check_light() is False
        booted = s.state.boot_at
        assert await miner.reboot() is True
        await asyncio.sleep(0.35)
        assert (await settled(miner)).field_errors == {} and s.state.boot_at > booted


async def test_unsupported_controls_raise() -> None:
    async with running("hammer_d10") as s:
        miner = await identify(s)
        for call in (
            miner.stop_mining(),
            miner.resume_mining(),
            miner.restart_backend(),
            miner.set_power_limit(3000),
        ):
            with pytest.raises(UnsupportedError):
                await call
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(mining_mode=MiningModeSleep()))


async def test_config_read_modify_write() -> None:
    async with running("hammer_d10") as s:
        miner = await identify(s)
        s.conf["bitmain-freq"] = "700"
        pools = PoolConfig.simple(
            [Pool(url="stratum+tcp://ltc.example:3333", user="acct.d10", password="pw")]
        )
        await miner.send_config(MinerConfig(pools=pools))
        config = await miner.get_config()
        assert config.pools == pools
        assert s.conf["bitmain-freq"] == "700"  # vendor keys survive
        await miner.send_config(MinerConfig(fan_mode=FanModeManual(speed=70)))
        config = await miner.get_config()
        assert config.pools == pools and config.fan_mode == FanModeManual(speed=70)
        assert [p.password for p in s.state.pools] == ["pw"]


async def test_wrong_password_is_a_clear_error() -> None:
    async with running("hammer_d10") as s:
        s.web_password = "real-pass-7"
        miner = await identify(s, credentials=Credentials(password="guess-3"))
        data = await miner.get_data()
        assert set(WEB_FIELDS) <= set(data.field_errors)
        for reason in data.field_errors.values():
            assert "credentials rejected" in reason and "guess-3" not in reason
        assert data.hashrate is not None  # the RPC needs no password
        with pytest.raises(AuthenticationError) as caught:
            await miner.fault_light_on()
        assert "guess-3" not in str(caught.value)
        right = await identify(s, credentials=Credentials(password="real-pass-7"))
        assert right.model == "D10"


@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_miner_is_bounded(mode: str) -> None:
    async with running("hammer_d10") as s:
        settings.update("api_function_timeout", 0.5)
        miner = await identify(s)
        await s.set_mode(mode, delay=3.0)  # type: ignore[arg-type]
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data()
        for name in (*RPC_FIELDS, *WEB_FIELDS):
            assert name in data.field_errors, (mode, name)
        assert data.mac == s.state.mac
        await s.set_mode("normal")
        assert (await settled(miner)).field_errors == {}


async def _raw(address: str, port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(address, port)
    writer.write(payload)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def test_repeated_keys_are_on_the_wire() -> None:
    async with running("hammer_d10") as s:
        port = s.ports["rpc"]
        assert port == 8359
        raw = await _raw(s.address, port, b'{"command":"stats"}')
        assert raw.endswith(b"\x00") and raw.count(b'"temp1":') == 4
        batch = await _raw(s.address, port, b'{"command":"summary+stats"}')
        assert batch.count(b'"temp2":') == 4
        assert set(json.loads(batch.rstrip(b"\x00"))) == {"summary", "stats", "id"}

"""The Avalon driver against the simulated AvalonMiners over real sockets (127.13.1.x).

Identification, readings, every control and its effect on the next reading, the config
round trip, unsupported calls, and misbehaving miners bounded by the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import (
    FanModeManual,
    MinerConfig,
    MiningModeLow,
    MiningModePowerTune,
    Pool,
    PoolConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.avalon import AvalonHome, AvalonMiner
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import (
    AuthenticationError,
    ConfigError,
    MinerTimeoutError,
    NotAppliedError,
    UnsupportedError,
)
from asic_bridge.factory import get_miner
from asic_bridge.sim.avalon import AvalonSim

_hosts = itertools.count(1)
RPC_FIELDS = ("hashrate", "hashboards", "fans", "wattage", "pools", "is_mining", "uptime")


def address() -> str:
    return f"127.13.1.{next(_hosts)}"


@contextlib.asynccontextmanager
async def running(kind: str, **attrs: Any) -> AsyncIterator[AvalonSim]:
    miner = sim.create(f"{kind}@{address()}")
    assert isinstance(miner, AvalonSim)
    miner.state.jitter = 0.0
    miner.reboot_downtime = miner.restart_downtime = 0.2
    for name, value in attrs.items():
        setattr(miner, name, value)
    await miner.start()
    try:
        yield miner
    finally:
        await miner.stop()


async def identify(s: AvalonSim, **kwargs: Any) -> AvalonMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)
    assert isinstance(miner, AvalonMiner)
    return miner


async def rebooted(s: AvalonSim, booted: float) -> None:
    """Until the simulated box has gone down and up (it acts just after answering)."""
    for _ in range(200):
        if s.state.boot_at > booted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the box did not reboot")


async def settled(miner: BaseMiner) -> MinerData:
    """The first complete reading (after a reboot/restart the RPC port comes back)."""
    data = await miner.get_data()
    for _ in range(80):
        if not data.field_errors:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


# --------------------------------------------------------------------------- identification
@pytest.mark.parametrize(
    ("kind", "cls", "model", "boards", "fans"),
    [
        ("avalon_1246", AvalonMiner, "Avalon 1246", 3, 4),
        ("avalon_1566", AvalonMiner, "Avalon 1566", 3, 2),
        ("avalon_nano3", AvalonHome, "Avalon Nano 3", 1, 1),
    ],
)
async def test_identify_and_read(kind: str, cls: type, model: str, boards: int, fans: int) -> None:
    async with running(kind) as s:
        miner = await identify(s)
        assert type(miner) is cls
        assert (miner.make, miner.model, miner.firmware) == ("AvalonMiner", model, "Stock")
        assert miner.identity.raw_model == s.prod
        assert miner.supports(Capability.FAULT_LIGHT) and miner.supports(Capability.MINING_MODES)
        assert not miner.supports(Capability.POWER_LIMIT)
        data = await miner.get_data()
        assert data.field_errors == {}
        hw = s.hardware
        assert data.hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
        assert data.expected_hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
        assert len(data.hashboards) == boards
        assert all(b.chips == hw.chips_per_board and not b.missing for b in data.hashboards)
        assert sum(b.hashrate or 0 for b in data.hashboards) == pytest.approx(data.hashrate)
        assert len(data.fans) == fans and all(f.speed for f in data.fans)
        assert data.wattage == pytest.approx(hw.nominal_power, rel=0.01)
        assert data.wattage_limit == round(hw.nominal_power)
        assert data.mac == s.state.mac
        assert data.fw_ver == s.build and data.api_ver == "3.7"
        assert data.is_mining is True and data.fault_light is False
        assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
        assert data.pools[0].active and data.pools[0].alive
        assert data.expected_hashboards == boards and data.nominal is True
        await miner.aclose()


async def test_one_rpc_connection_per_reading() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        s.reset_counters()
        await miner.get_data()
        rpc = s.counters["rpc"]
        assert rpc.connections == 1
        assert set(rpc.by_key) == {"summary", "estats", "pools"}


async def test_nano3_mac_from_the_web_ui_once() -> None:
    async with running("avalon_nano3") as s:
        miner = await identify(s)
        assert miner.identity.mac is None  # its version answer has no MAC
        s.reset_counters()
        first = await miner.get_data()
        second = await miner.get_data()
        assert first.mac == second.mac == s.state.mac
        assert s.counters["http"].requests == 1  # learned once, then static
        await miner.aclose()


async def test_nano3_wrong_web_password_costs_only_the_mac() -> None:
    async with running("avalon_nano3") as s:
        miner = await identify(s, credentials=Credentials(password="not-it"))
        data = await miner.get_data()
        assert data.mac is None
        assert "web UI" in data.field_errors["mac"]
        assert set(data.field_errors) == {"mac"}
        assert data.hashrate
        await miner.aclose()


# --------------------------------------------------------------------------- controls
async def test_fault_light_end_to_end() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True
        assert s.state.fault_light is True
        assert (await miner.get_data()).fault_light is True
        assert await miner.check_light() is True
        assert await miner.fault_light_off() is True
        assert (await miner.get_data()).fault_light is False


async def test_stop_and_resume_mining() -> None:
    async with running("avalon_1246") as s:
        miner = await identify(s)
        assert await miner.stop_mining() is True
        data = await miner.get_data(include=["hashrate", "is_mining", "wattage", "config"])
        assert data.is_mining is False
        assert data.hashrate == 0
        assert data.wattage is not None and data.wattage < 0.1 * s.hardware.nominal_power
        assert data.config is not None and data.config.mining_mode is not None
        assert data.config.mining_mode.mode == "sleep"
        assert await miner.is_mining() is False
        assert await miner.resume_mining() is True
        data = await miner.get_data()
        assert data.is_mining is True and data.hashrate


async def test_soft_off_at_a_future_time_waits_for_it() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        await miner._command("ascset", f"0,softoff,1:{int(time.time()) + 60}")
        assert (await miner.get_data()).is_mining is True  # not yet
        s._pending_power = [(time.time() - 1, False)]
        assert (await miner.get_data()).is_mining is False


@pytest.mark.parametrize("kind", ["avalon_1246", "avalon_1566", "avalon_nano3"])
async def test_mining_modes_follow(kind: str) -> None:
    async with running(kind) as s:
        miner = await identify(s)
        nominal = s.hardware.nominal_power
        await miner.set_mode("low")
        data = await miner.get_data(include=["wattage", "wattage_limit", "hashrate", "config"])
        assert data.config is not None and data.config.mining_mode is not None
        assert data.config.mining_mode.mode == "low"
        assert data.wattage_limit == round(nominal * 0.75)
        assert data.wattage is not None and data.wattage < nominal * 0.8
        low_rate = data.hashrate
        await miner.set_mode("high")
        data = await miner.get_data(include=["wattage_limit", "hashrate"])
        assert data.wattage_limit == round(nominal * 1.15)
        assert data.hashrate is not None and low_rate is not None and data.hashrate > low_rate
        await miner.set_mode("sleep")
        assert (await miner.get_data(include=["is_mining"])).is_mining is False
        await miner.set_mode("normal")  # a working level wakes it up again
        data = await miner.get_data(include=["is_mining", "wattage_limit"])
        assert data.is_mining is True and data.wattage_limit == round(nominal)
        with pytest.raises(ConfigError):
            await miner.set_mode("turbo")
        await miner.aclose()


async def test_level_option_falls_back_between_spellings() -> None:
    async with running("avalon_1246:21042001_4ec6bb0_61407fa") as s:  # only "worklevel"
        miner = await identify(s)
        await miner._set_level(0, None)  # tries workmode first: "Unknown option"
        assert s.state.work_mode == "low"


async def test_reboot_restarts_the_box() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        booted = s.state.boot_at
        assert await miner.reboot() is True
        await rebooted(s, booted)
        data = await settled(miner)
        assert data.field_errors == {}


async def test_reboot_falls_back_to_restart_on_module_firmware() -> None:
    async with running("avalon_1246") as s:  # reboot,0 is "invalid module_id"
        miner = await identify(s)
        started = s.state.backend_started_at
        assert await miner.reboot() is True
        await asyncio.sleep(0.1)
        assert (await settled(miner)).field_errors == {}
        assert s.state.backend_started_at > started
        assert s.counters["rpc"].by_key["restart"] == 1


async def test_restart_backend() -> None:
    async with running("avalon_nano3") as s:
        miner = await identify(s)
        started = s.state.backend_started_at
        assert await miner.restart_backend() is True
        await asyncio.sleep(0.1)
        assert (await settled(miner)).field_errors == {}
        assert s.state.backend_started_at > started
        await miner.aclose()


async def test_unsupported_controls_raise() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        with pytest.raises(UnsupportedError):
            await miner.set_power_limit(3000)
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(fan_mode=FanModeManual(speed=50)))
        with pytest.raises(UnsupportedError):
            await miner.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=3000)))
        assert s.counters["rpc"].by_key["ascset"] == 0


# --------------------------------------------------------------------------- config
def pools(*names: str) -> PoolConfig:
    return PoolConfig.simple(
        [
            Pool(url=f"stratum+tcp://{n}.example:3333", user=f"acct.{n}", password=f"pw-{n}")
            for n in names
        ]
    )


async def test_config_round_trip_with_three_pools() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        before = await miner.get_config()
        booted = s.state.boot_at
        await miner.send_config(MinerConfig(pools=pools("a", "b", "c")))
        await rebooted(s, booted)  # the firmware reads its pool slots at boot
        await settled(miner)
        after = await miner.get_config()
        assert after.pools is not None
        assert [(p.url, p.user) for p in after.pools.first_group] == [
            (f"stratum+tcp://{n}.example:3333", f"acct.{n}") for n in "abc"
        ]
        assert after.mining_mode == before.mining_mode
        assert [p.password for p in s.state.pools] == ["pw-a", "pw-b", "pw-c"]


async def test_fewer_pools_fill_the_slots_with_the_first() -> None:
    async with running("avalon_1246") as s:
        miner = await identify(s)
        await miner.send_config(MinerConfig(pools=pools("solo")))
        await asyncio.sleep(0.1)
        await settled(miner)
        config = await miner.get_config()
        assert config.pools is not None
        urls = {p.url for p in config.pools.first_group}
        assert urls == {"stratum+tcp://solo.example:3333"}


async def test_mode_change_keeps_pools_and_does_not_reboot() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        before = [(p.url, p.user, p.password) for p in s.state.pools]
        booted = s.state.boot_at
        await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))
        assert [(p.url, p.user, p.password) for p in s.state.pools] == before
        assert s.state.boot_at == booted and s.state.work_mode == "low"
        assert s.counters["rpc"].by_key["setpool"] == 0


async def test_bad_pool_values_never_reach_the_miner() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        bad = PoolConfig.simple([Pool(url="stratum+tcp://x:1,evil", user="u")])
        with pytest.raises(ConfigError):
            await miner.send_config(MinerConfig(pools=bad))
        with pytest.raises(ConfigError):
            await miner.send_config(MinerConfig(pools=pools("a", "b", "c", "d")))
        assert s.counters["rpc"].by_key["setpool"] == 0


async def test_wrong_web_password_for_pools() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s, credentials=Credentials(password="nope"))
        before = list(s.state.pools)
        with pytest.raises(AuthenticationError):
            await miner.send_config(MinerConfig(pools=pools("a")))
        assert s.state.pools == before


# --------------------------------------------------------------------------- misbehaviour
@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_miner_is_bounded(mode: str) -> None:
    async with running("avalon_1566") as s:
        settings.update("api_function_timeout", 0.5)
        miner = await identify(s)
        await s.set_mode(mode, delay=3.0)  # type: ignore[arg-type]
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data()
        for name in RPC_FIELDS:
            assert name in data.field_errors, (mode, name)
        assert data.mac == s.state.mac  # static facts survive
        if mode in ("hang", "slow"):
            with pytest.raises(MinerTimeoutError):
                await miner.fault_light_on()
        await s.set_mode("normal")
        assert (await miner.get_data()).field_errors == {}


# --------------------------------------------------------------------------- the wire itself
async def raw(address: str, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(address, 4028)
    writer.write(payload)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def test_wire_format_of_the_simulator() -> None:
    async with running("avalon_1566") as s:
        # the old plain-text form "command|parameter" that many Avalon tools use
        answer = json.loads((await raw(s.address, b"ascset|0,led,1-1")).rstrip(b"\x00"))
        assert answer["STATUS"][0]["Msg"] == "ASC 0 set OK" and s.state.fault_light
        answer = json.loads((await raw(s.address, b"ascset|0,nightlamp,1")).rstrip(b"\x00"))
        assert answer["STATUS"][0]["STATUS"] == "E"
        assert answer["STATUS"][0]["Msg"] == "ASC 0 set failed: Unknown option: nightlamp"
        body = await raw(s.address, b'{"command":"estats"}')
        assert body.endswith(b"\x00")
        mm = json.loads(body.rstrip(b"\x00"))["STATS"][0]["MM ID0"]
        assert mm.startswith("Ver[15-194-") and mm.endswith("WORKMODE[1]")
        assert "Led[1]" in mm and "PVT_T2[" in mm
        answer = json.loads(
            (await raw(s.address, b'{"command":"summary+estats+pools"}')).rstrip(b"\x00")
        )
        assert set(answer) == {"summary", "estats", "pools", "id"}
        answer = json.loads((await raw(s.address, b'{"command":"addpool"}')).rstrip(b"\x00"))
        assert answer["STATUS"][0]["Msg"] == "Invalid command"


async def test_a_work_level_the_firmware_ignores_is_not_ok() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        s.state.set_work_mode = lambda mode: None  # type: ignore[method-assign]  # ignores it
        with pytest.raises(NotAppliedError) as caught:
            await miner.set_mode("low")
        # asked level 0 (low); WORKMODE[1] still in estats
        assert (caught.value.wanted, caught.value.applied) == (0, 1)


async def test_fault_light_is_read_back_from_led() -> None:
    async with running("avalon_1566") as s:
        miner = await identify(s)
        assert await miner.fault_light_on() is True  # Led[1] read back
        assert s.state.fault_light is True
        s.state.fault_light = True
        real = s._asc_led
        s._asc_led = lambda setting: s.asc_ok()  # type: ignore[method-assign]  # answers ok, keeps it
        with pytest.raises(NotAppliedError):
            await miner.fault_light_off()
        s._asc_led = real  # type: ignore[method-assign]

"""The Braiins OS drivers against the simulated miners over real sockets (127.21.1.x).

Legacy BOSminer (RPC + LuCI + SSH) and current BOS+ (RPC + gRPC on HTTP/2): identification,
readings, every control and its effect on the next reading, the config read-modify-write,
custom passwords really used (pyasic#320), and misbehaving miners bounded by the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asic_bridge import settings, sim
from asic_bridge.config import (
    FanModeImmersion,
    FanModeManual,
    FanModeNormal,
    MinerConfig,
    MiningModePowerTune,
    Pool,
    PoolConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.braiins import BOSer, BOSMiner
from asic_bridge.errors import APIError, AuthenticationError, NotAppliedError, UnsupportedError
from asic_bridge.factory import get_miner
from asic_bridge.sim import braiins as bossim
from asic_bridge.sim.braiins import BOSerSim, BOSMinerSim, BraiinsSim

_hosts = itertools.count(1)


def address() -> str:
    return f"127.21.1.{next(_hosts)}"


@contextlib.asynccontextmanager
async def running(kind: str, **attrs: Any) -> AsyncIterator[BraiinsSim]:
    miner = sim.create(f"{kind}@{address()}")
    assert isinstance(miner, BraiinsSim)
    miner.state.jitter = 0.0
    for name, value in attrs.items():
        setattr(miner, name, value)
    await miner.start()
    try:
        yield miner
    finally:
        await miner.stop()


async def identify(s: BraiinsSim, **kwargs: Any) -> BaseMiner:
    miner = await get_miner(s.address, use_cache=False, **kwargs)
    assert isinstance(miner, (BOSMiner, BOSer)), miner
    return miner


async def settled(miner: BaseMiner) -> MinerData:
    """The first complete reading (after a restart the RPC port comes back)."""
    data = await miner.get_data()
    for _ in range(80):
        if not data.field_errors:
            break
        await asyncio.sleep(0.05)
        data = await miner.get_data()
    return data


@pytest.mark.parametrize(
    ("kind", "cls", "make", "model"),
    [
        ("braiins_s9", BOSMiner, "AntMiner", "S9"),
        ("braiins_s19", BOSer, "AntMiner", "S19j Pro"),
        ("braiins_bmm101", BOSer, "Braiins", "BMM101"),
    ],
)
async def test_identification(kind: str, cls: type, make: str, model: str) -> None:
    async with running(kind) as s:
        miner = await identify(s)
        try:
            assert type(miner) is cls
            data = await miner.get_data()
            assert (data.make, data.model, data.firmware) == (make, model, "BOS+")
            assert data.field_errors == {}
            assert data.mac == s.state.mac and data.hostname == s.state.hostname
            assert data.hashrate == pytest.approx(s.hardware.nominal_hashrate, rel=0.01)
            assert data.expected_hashrate == pytest.approx(s.hardware.nominal_hashrate, rel=0.01)
            assert len(data.hashboards) == s.hardware.boards
            assert [f.speed for f in data.fans] == list(s.state.read().fans)
            assert data.wattage_limit == round(s.hardware.nominal_power)
            assert data.is_mining is True and data.fault_light is False
            assert [p.url for p in data.pools] == [p.url for p in s.state.pools]
            assert data.fw_ver in ("21.09", "26.04") and data.api_ver == "3.7"
        finally:
            await miner.aclose()


async def test_legacy_poll_costs_one_rpc_connection_and_static_facts_once() -> None:
    async with running("braiins_s9") as s:
        miner = await identify(s)
        try:
            await miner.get_data()
            s.reset_counters()
            data = await miner.get_data()
            assert data.field_errors == {}
            assert s.counters["rpc"].connections == 1  # one batched request
            assert s.counters["http"].requests == 1  # the LED (GraphQL); MAC, firmware cached
            assert s.counters["ssh"].connections == 0  # hostname and LED need no SSH
        finally:
            await miner.aclose()


async def test_legacy_controls_show_in_the_next_reading() -> None:
    async with running("braiins_s9") as s:
        miner = await identify(s)
        try:
            assert await miner.fault_light_on() is True
            assert (await miner.get_data()).fault_light is True
            assert await miner.fault_light_off() is True
            assert (await miner.get_data()).fault_light is False

            assert await miner.stop_mining() is True
            data = await miner.get_data()
            assert data.is_mining is False and data.hashrate == 0
            assert await miner.resume_mining() is True
            assert (await miner.get_data()).is_mining is True

            assert await miner.set_power_limit(1000) is True
            data = await settled(miner)
            assert data.wattage_limit == 1000 and data.wattage is not None
            assert data.wattage <= 1000
            assert data.uptime is not None and data.uptime < 5  # bosminer restarted

            assert await miner.restart_backend() is True
            assert (await settled(miner)).field_errors == {}
            before = s.state.boot_at
            assert await miner.reboot() is True
            await asyncio.sleep(0.1)
            assert s.state.boot_at != before
            with pytest.raises(UnsupportedError):
                await miner.set_mode("low")
        finally:
            await miner.aclose()


async def test_legacy_config_read_modify_write_keeps_everything_else() -> None:
    async with running("braiins_s9") as s:
        s.toml_text += '\n[x_vendor]\nkeep_me = "yes"\n'
        miner = await identify(s)
        try:
            before = await miner.get_config()
            assert isinstance(before.mining_mode, MiningModePowerTune)
            pools = PoolConfig.simple([Pool(url="stratum+tcp://new.example:3333", user="me.1")])
            await miner.send_config(MinerConfig(pools=pools))
            after = await miner.get_config()
            assert after.pools is not None
            assert [p.url for p in after.pools.first_group] == ["stratum+tcp://new.example:3333"]
            assert after.mining_mode == before.mining_mode
            assert after.temperature == before.temperature
            assert 'keep_me = "yes"' in s.toml_text
            await miner.set_power_limit(900)
            final = await miner.get_config()
            assert final.pools == after.pools
            assert isinstance(final.mining_mode, MiningModePowerTune)
            assert final.mining_mode.power == 900
            assert [p.url for p in s.state.pools] == ["stratum+tcp://new.example:3333"]
        finally:
            await miner.aclose()


async def test_legacy_custom_password_is_used_and_never_shown() -> None:
    async with running("braiins_s9", password="s3cret-pw") as s:
        default = await identify(s)
        try:
            data = await default.get_data()
            assert {"mac", "fw_ver", "hostname", "fault_light"} <= set(data.field_errors)
            assert data.hashrate is not None  # the RPC needs no password
            assert "LuCI refused" in data.field_errors["mac"]
            assert all("s3cret" not in text for text in data.field_errors.values())
            with pytest.raises(AuthenticationError) as info:
                await default.get_config()
            assert "s3cret" not in str(info.value)
        finally:
            await default.aclose()
        creds = Credentials(password="s3cret-pw", ssh_password="s3cret-pw")
        custom = await identify(s, credentials=creds)
        try:
            data = await custom.get_data()
            assert data.field_errors == {} and data.mac == s.state.mac
            assert await custom.fault_light_on() is True
        finally:
            await custom.aclose()


async def test_boser_poll_is_one_grpc_connection_and_one_login() -> None:
    async with running("braiins_s19") as s:
        assert isinstance(s, BOSerSim)
        miner = await identify(s)
        s.reset_counters()
        try:
            await miner.get_data()
            await miner.get_data()
            assert s.logins == 1
            assert s.counters["grpc"].connections == 1  # kept alive across polls
            assert s.counters["rpc"].connections == 2  # one batched request per poll
        finally:
            await miner.aclose()


async def test_boser_controls_show_in_the_next_reading() -> None:
    async with running("braiins_s19") as s:
        miner = await identify(s)
        try:
            assert await miner.fault_light_on() is True
            assert (await miner.get_data()).fault_light is True
            assert await miner.fault_light_off() is True
            assert (await miner.get_data()).fault_light is False

            assert await miner.stop_mining() is True
            data = await miner.get_data()
            assert data.is_mining is False and data.hashrate == 0
            assert await miner.resume_mining() is True
            assert (await miner.get_data()).is_mining is True

            assert await miner.set_power_limit(2500) is True
            data = await miner.get_data()
            assert data.wattage_limit == 2500 and data.wattage is not None
            assert data.wattage <= 2500

            assert await miner.restart_backend() is True
            assert (await settled(miner)).uptime is not None
            before = s.state.boot_at
            assert await miner.reboot() is True
            await asyncio.sleep(0.1)
            assert s.state.boot_at != before
            with pytest.raises(UnsupportedError):
                await miner.set_mode("high")
        finally:
            await miner.aclose()


async def test_boser_config_read_modify_write() -> None:
    async with running("braiins_s19") as s:
        miner = await identify(s)
        try:
            await miner.set_power_limit(2600)
            pools = PoolConfig.simple([Pool(url="stratum+tcp://other.example:3333", user="a.b")])
            await miner.send_config(MinerConfig(pools=pools))
            config = await miner.get_config()
            assert isinstance(config.mining_mode, MiningModePowerTune)
            assert config.mining_mode.power == 2600  # the pool change kept the power target
            assert config.pools is not None
            assert [p.url for p in config.pools.first_group] == ["stratum+tcp://other.example:3333"]
            await miner.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=2400)))
            again = await miner.get_config()
            assert again.pools == config.pools  # the power change kept the pools
            assert s.state.power_limit == 2400
            await miner.send_config(MinerConfig(fan_mode=FanModeManual(speed=50)))
            fans = await miner.get_config()  # through CoolingService/SetCoolingMode
            assert fans.fan_mode == FanModeManual(speed=50, minimum_fans=1)
            assert (fans.pools, fans.mining_mode) == (again.pools, again.mining_mode)
        finally:
            await miner.aclose()


async def test_boser_fan_mode_changes_keep_the_limits_and_minimums() -> None:
    """SetCoolingMode resets what a new mode's message leaves out: the driver sends the live
    temperature limits and minimum fans along, so only the fans change."""
    async with running("braiins_s19") as s:
        s.cooling = {"auto": {**bossim.DEFAULT_LIMITS, "hot_temperature": {"degree_c": 85.0},
                              "minimum_required_fans": 2, "min_fan_speed": 30}}  # fmt: skip
        miner = await identify(s)
        try:
            assert miner.fan_modes() == ("normal", "manual", "immersion")
            await miner.set_fan_mode(FanModeManual(speed=40))
            manual = s.cooling["manual"]
            assert manual["fan_speed_ratio"] == pytest.approx(0.4)
            assert (manual["hot_temperature"], manual["minimum_required_fans"]) == (
                {"degree_c": 85.0},
                2,
            )
            data = await miner.get_data(include=["fan_mode", "fan_percent", "fans"])
            assert (data.fan_mode, data.fan_percent) == ("manual", 40)
            await miner.set_fan_mode(FanModeNormal())
            auto = s.cooling["auto"]
            assert (auto["minimum_required_fans"], auto["hot_temperature"]) == (
                2,
                {"degree_c": 85.0},
            )
            await miner.set_fan_mode(FanModeImmersion())
            data = await miner.get_data(include=["fan_mode", "fan_percent", "fans"])
            assert (data.fan_mode, data.fan_percent) == ("immersion", 0)
            assert [f.speed for f in data.fans] == [0, 0, 0, 0]
        finally:
            await miner.aclose()


async def test_boser_fan_mode_the_miner_changes_is_not_an_ok() -> None:
    async with running("braiins_s19") as s:
        miner = await identify(s)
        original = s.rpc_SetCoolingMode

        def keeps_auto(request: bytes) -> Any:
            result = original(request)
            s.cooling = {"auto": dict(bossim.DEFAULT_AUTO_COOLING)}  # answered, then reverted
            return result

        s.rpc_SetCoolingMode = keeps_auto  # type: ignore[method-assign]
        try:
            with pytest.raises(NotAppliedError) as info:
                await miner.set_fan_mode(FanModeManual(speed=40))
            wanted, applied = info.value.wanted, info.value.applied
            assert (wanted, applied) == ("manual 40% minimum_fans=1", "normal minimum_fans=1")
        finally:
            await miner.aclose()


async def test_boser_custom_password_really_used() -> None:
    """pyasic#320: BOS+ ignores custom passwords there; here the default fails and the
    custom one works, and a token the miner forgot is renewed once."""
    async with running("braiins_s19", password="n0t-root") as s:
        assert isinstance(s, BOSerSim)
        default = await identify(s)
        try:
            data = await default.get_data()
            assert "hashboards" in data.field_errors and data.hashrate is not None
            assert "refused the login" in data.field_errors["hashboards"]
            with pytest.raises(AuthenticationError) as info:
                await default.get_config()
            assert "n0t-root" not in str(info.value)
        finally:
            await default.aclose()
        custom = await identify(s, credentials=Credentials(password="n0t-root"))
        try:
            assert (await custom.get_data()).field_errors == {}
            s.tokens.clear()  # the miner restarted its API: old tokens are void
            assert (await custom.get_data()).field_errors == {}
            assert s.logins == 2
            assert await custom.fault_light_on() is True
        finally:
            await custom.aclose()


@pytest.mark.parametrize("kind", ["braiins_s9", "braiins_s19"])
@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaving_miner_is_bounded(kind: str, mode: str) -> None:
    settings.update("api_function_timeout", 0.5)
    async with running(kind) as s:
        miner = await identify(s)
        try:
            await miner.get_data()
            await s.set_mode(mode, delay=2.0)  # type: ignore[arg-type]
            async with asyncio.timeout(20):  # bounds the test; not a speed assertion
                data = await miner.get_data()
            assert "hashrate" in data.field_errors
            assert "pools" in data.field_errors
            with pytest.raises(APIError):
                await miner.get_config()
            await s.set_mode("normal")
            assert (await settled(miner)).field_errors == {}
        finally:
            await miner.aclose()


def test_capabilities_are_what_the_firmware_does() -> None:
    for cls in (BOSMiner, BOSer):
        assert Capability.MINING_MODES not in cls.default_capabilities
        assert Capability.POWER_LIMIT in cls.default_capabilities
    assert BOSMinerSim.default_ports == {"rpc": 4028, "http": 80, "ssh": 22}
    assert BOSerSim.default_ports == {"rpc": 4028, "http": 80, "grpc": 50051}


async def test_legacy_fan_mode_is_written_to_the_file_and_read_back() -> None:
    async with running("braiins_s9") as s:
        miner = await identify(s)
        try:
            assert miner.fan_modes() == ("normal", "manual")
            await miner.set_fan_mode(FanModeManual(speed=60))
            assert 'mode = "manual"' in s.toml_text and "speed = 60" in s.toml_text
            data = await settled(miner)  # bosminer restarted to apply the file
            assert data.fan_percent == 60  # fans Speed follows the applied file
            config_data = await miner.get_data(include=["config", "fan_mode", "fan_percent"])
            assert config_data.fan_mode == "manual"  # from the config read
            await miner.set_fan_mode(FanModeNormal())
            assert 'mode = "auto"' in s.toml_text and "min_fans = 1" in s.toml_text  # kept
            with pytest.raises(UnsupportedError):
                await miner.set_fan_mode(FanModeImmersion())
        finally:
            await miner.aclose()

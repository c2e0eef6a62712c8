"""Whatsminer drivers against the simulated miners over real sockets (127.12.0.0/16).

Every test gets its own address, so tests never share a listener or a cached identification.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from asic_bridge import settings
from asic_bridge.bridge.poller import FULL_POLL_EVERY, FieldPolicy
from asic_bridge.config import (
    FanModeManual,
    MinerConfig,
    MiningModeLow,
    MiningModeNormal,
    MiningModePowerTune,
    MiningModePreset,
    MiningModeSleep,
    Pool,
    PoolConfig,
    TemperatureConfig,
)
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.whatsminer import WhatsminerV2, WhatsminerV3
from asic_bridge.errors import (
    AuthenticationError,
    ConfigError,
    NotAppliedError,
    UnsupportedError,
)
from asic_bridge.factory import get_miner
from asic_bridge.sim import Fault, SimMiner, create

_hosts = itertools.count(1)


def next_address() -> str:
    n = next(_hosts)
    return f"127.12.{n // 250 + 1}.{n % 250 + 1}"


class Clock:
    """A hand-driven clock for MinerState: uptime and share counters move only when told."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Started = Callable[..., Any]


@pytest.fixture
async def start() -> AsyncIterator[Callable[[str], Any]]:
    """``await start(kind)`` -> (sim, miner, clock): a started simulator and our driver for it."""
    sims: list[SimMiner] = []
    miners: list[BaseMiner] = []

    async def _start(
        kind: str, *, credentials: Credentials | None = None
    ) -> tuple[SimMiner, BaseMiner, Clock]:
        sim = create(f"{kind}@{next_address()}")
        sim.state.jitter = 0.0
        clock = Clock(1000.0)
        sim.state.clock = clock
        sim.state.reboot()  # boot at exactly 1000.0 on the new clock
        clock.advance(600)
        sim.reboot_downtime = 0.2  # type: ignore[attr-defined]
        sim.restart_downtime = 0.1  # type: ignore[attr-defined]
        sims.append(sim)
        await sim.start()
        miner = await get_miner(sim.address, credentials=credentials, use_cache=False)
        assert miner is not None, f"{kind} not identified"
        miners.append(miner)
        sim.reset_counters()
        return sim, miner, clock

    yield _start
    for miner in miners:
        await miner.aclose()
    for sim in sims:
        await sim.stop()


async def wait_reachable(miner: BaseMiner, within: float = 3.0) -> MinerData:
    """Poll until a get_data comes back without errors (after a reboot or restart)."""
    deadline = time.monotonic() + within
    while True:
        data = await miner.get_data()
        if not data.field_errors:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"miner did not come back: {data.field_errors}")
        await asyncio.sleep(0.05)


async def wait_for(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------------- identification
async def test_identifies_m30s_as_api_v2_without_power_limit(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m30s")
    assert isinstance(miner, WhatsminerV2)
    assert (miner.make, miner.model, miner.firmware) == ("WhatsMiner", "M30S+ VE40", "Stock")
    assert miner.identity.raw_model == "M30S+_VE40"
    assert miner.identity.api_ver == "2.0.4"
    assert miner.identity.fw_ver == "20210719.22.REL"
    assert miner.identity.mac == sim.state.mac
    assert miner.identity.serial_number == sim.state.serial
    assert miner.model_info is not None and miner.model_info.chips_per_board == 156
    # API 2.0.4 has no adjust_power_limit: the capability is not advertised
    assert not miner.supports(Capability.POWER_LIMIT)
    assert miner.supports(Capability.MINING_MODES)


async def test_api14_build_reads_fully_and_is_mining(start: Started) -> None:
    """API 1.4.0 (20210322.22.REL): btmineroff status, no Env Temp, no PSU voltage."""
    sim, miner, _ = await start("whatsminer_m30s:20210322.22.REL")
    assert isinstance(miner, WhatsminerV2)
    assert (miner.identity.api_ver, miner.identity.fw_ver) == ("1.4.0", "20210322.22.REL")
    assert not miner.supports(Capability.POWER_LIMIT)  # adjust_power_limit came with 2.0.5
    data = await miner.get_data()
    assert data.field_errors == {}
    assert data.is_mining is True  # from btmineroff "false" (was None)
    assert data.env_temp is None and data.voltage is None  # this build reports neither
    assert await miner.stop_mining() is True  # read back: btmineroff "true"
    assert (await miner.get_data(include=["is_mining"])).is_mining is False
    assert sim.state.mining is False


async def test_identifies_m50_as_api_v2(start: Started) -> None:
    _, miner, _ = await start("whatsminer_m50")
    assert isinstance(miner, WhatsminerV2)
    assert miner.model == "M50 VH50"
    assert miner.identity.api_ver == "2.0.5"
    assert miner.supports(Capability.POWER_LIMIT)


async def test_identifies_m60_as_api_v3_although_4028_answers(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m60")
    assert isinstance(miner, WhatsminerV3)
    assert miner.model == "M60 VK10"
    assert miner.identity.api_ver == "3.0.2"
    assert miner.identity.fw_ver == "20251209.16.Rel2"
    assert miner.identity.mac == sim.state.mac
    # the legacy port is there and looks like btminer, but v3 wins
    assert sim.counters["rpc"].connections == 0  # counters were reset after identification


async def test_v3_firmware_with_4433_closed_falls_back_to_legacy_reads(start: Started) -> None:
    sim = create(f"whatsminer_m60@{next_address()}")
    await sim.set_mode("offline", servers="whatsminer_v3")
    await sim.start()
    try:
        miner = await get_miner(sim.address, use_cache=False)
        assert isinstance(miner, WhatsminerV2)
        assert miner.identity.fw_ver == "20251209.16.Rel2"
        assert "4433" in miner.identity.extra["note"]
        data = await miner.get_data()
        # what the legacy port still tells: identity, uptime and pools; no hash rate
        assert data.mac == sim.state.mac
        assert data.pools and data.pools[0].url == sim.state.pools[0].url
        assert data.uptime is not None
        assert data.hashrate is None and data.wattage is None
        assert "hashboards" in data.field_errors  # devs: invalid cmd
        await miner.aclose()
    finally:
        await sim.stop()


async def test_nothing_listening_gives_none() -> None:
    settings.update("factory_get_timeout", 0.5)
    assert await get_miner(next_address(), use_cache=False) is None


# ---------------------------------------------------------------------------- get_data
@pytest.mark.parametrize("kind", ["whatsminer_m30s", "whatsminer_m50", "whatsminer_m60"])
async def test_get_data_fills_every_field(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    hw = sim.state.hardware
    data = await miner.get_data()
    assert data.field_errors == {}
    assert data.make == "WhatsMiner" and data.model == sim.model and data.firmware == "Stock"
    assert data.mac == sim.state.mac
    assert data.hostname == sim.state.hostname
    assert data.serial_number == sim.state.serial
    assert data.fw_ver == sim.fw_ver
    assert data.api_ver == sim.api_ver
    assert data.hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
    assert data.expected_hashrate == pytest.approx(hw.nominal_hashrate, rel=1e-3)
    assert data.wattage == pytest.approx(hw.nominal_power, abs=1)
    assert data.wattage_limit == hw.max_power
    assert data.env_temp == 25.0
    # the captured builds of API 2.0.5 (get_psu) and 3.0.2 (get.device.info) send no PSU
    # output voltage, and 2.0.5 no PSU serial: None rather than a guess
    assert data.voltage == (12.22 if kind == "whatsminer_m30s" else None)
    assert data.fan_psu is not None and data.fan_psu > 3000
    if kind == "whatsminer_m50":
        assert data.psu_serial_number is None
    else:
        assert data.psu_serial_number and data.psu_serial_number.startswith("PSU")
    assert [f.speed for f in data.fans] == list(sim.state.read().fans)
    assert len(data.hashboards) == hw.boards
    for board in data.hashboards:
        assert not board.missing
        assert board.chips == hw.chips_per_board == board.expected_chips
        assert board.hashrate == pytest.approx(hw.board_hashrate, rel=1e-3)
        assert board.temp is not None and board.chip_temp is not None
        assert board.chip_temp > board.temp
        assert board.serial_number
    assert data.total_chips == data.expected_chips
    assert [p.url for p in data.pools] == [p.url for p in sim.state.pools]
    assert data.pools[0].active is True and data.pools[0].alive is True
    assert data.is_mining is True
    assert data.fault_light is False
    assert data.uptime == 600
    assert data.errors == []


async def test_v2_poll_uses_one_batched_connection_plus_btminer_commands(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m50")
    await miner.get_data()
    rpc = sim.counters["rpc"]
    # summary+devs+pools joined; status, get_miner_info, get_psu, get_error_code alone
    # (btminer refuses to join them); get_version is not asked again (identity cache)
    assert rpc.connections == 5
    assert rpc.by_key["summary"] == rpc.by_key["devs"] == rpc.by_key["pools"] == 1
    assert rpc.by_key["get_version"] == 0


async def test_v2_psu_fan_from_summary_spares_get_psu(start: Started) -> None:
    """``fan_psu`` alone (every bridge poll) comes from ``summary`` once it carried it
    (API 1.4.0 sends "Power Fanspeed" there); 2.0.5 does not, so it keeps asking get_psu."""
    sim, miner, _ = await start("whatsminer_m30s:20210322.22.REL")
    fields = ["hashrate", "fan_psu"]
    first = await miner.get_data(include=fields)  # summary's PSU fan not known yet
    second = await miner.get_data(include=fields)
    rpc = sim.counters["rpc"]
    assert rpc.by_key["get_psu"] == 1 and rpc.by_key["summary"] == 2
    assert first.fan_psu is not None and second.fan_psu == first.fan_psu
    assert second.field_errors == {}
    # a field only get_psu has still fetches it
    await miner.get_data(include=[*fields, "psu_serial_number"])
    assert rpc.by_key["get_psu"] == 2

    sim, miner, _ = await start("whatsminer_m30s")  # API 2.0.5: the PSU fan only in get_psu
    for _ in range(2):
        data = await miner.get_data(include=fields)
        assert data.fan_psu is not None
    assert sim.counters["rpc"].by_key["get_psu"] == 2


async def test_v2_bridge_poll_between_full_polls_is_one_connection(start: Started) -> None:
    """The bridge's normal poll of API 2.0.5 (PSU fan only in get_psu) is the one batch:
    ``fan_psu`` is a slow field, read with get_psu on full polls and carried between."""
    sim, miner, _ = await start("whatsminer_m30s")
    policy = FieldPolicy()
    rpc = sim.counters["rpc"]
    full = policy.fields(miner, True)
    data = await miner.get_data(include=full)
    policy.carry(data, full)
    assert rpc.by_key["get_psu"] == 1 and data.fan_psu is not None
    before = rpc.connections
    for _ in range(FULL_POLL_EVERY - 1):
        fields = policy.fields(miner, True)
        data = await miner.get_data(include=fields)
        policy.carry(data, fields)
        assert data.fan_psu is not None and data.hashrate is not None
    assert rpc.connections - before == FULL_POLL_EVERY - 1
    assert rpc.by_key["get_psu"] == 1


async def test_v3_poll_uses_one_kept_alive_connection(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m60")
    await miner.get_data()
    await miner.get_data()
    v3 = sim.counters["whatsminer_v3"]
    assert v3.connections == 1
    assert v3.by_key["get.device.info"] == 2 and v3.by_key["get.miner.status"] == 6
    assert sim.counters["rpc"].connections == 0


async def test_errors_are_decoded(start: Started) -> None:
    for kind in ("whatsminer_m30s", "whatsminer_m50", "whatsminer_m60"):
        sim, miner, _ = await start(kind)
        sim.state.errors = [Fault(541, "Slot 1 error reading chip id."), Fault(2010, "pools")]
        data = await miner.get_data(include=["errors"])
        assert data.field_errors == {}
        codes = {e.error_code: e.error_message for e in data.errors}
        assert codes == {
            541: "Hash board 1: chip IDs could not be read",
            2010: "All pools are disabled",
        }, kind


async def test_dead_board_is_reported_missing(start: Started) -> None:
    for kind in ("whatsminer_m50", "whatsminer_m60"):
        sim, miner, _ = await start(kind)
        sim.state.dead_boards = {1}
        data = await miner.get_data(include=["hashboards"])
        assert [b.missing for b in data.hashboards] == [False, True, False], kind
        assert data.total_chips == 2 * sim.state.hardware.chips_per_board


# ---------------------------------------------------------------------------- controls
@pytest.mark.parametrize("kind", ["whatsminer_m30s", "whatsminer_m60"])
async def test_fault_light(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    assert await miner.fault_light_on() is True
    assert sim.state.fault_light is True and sim.led.auto is False
    assert await miner.check_light() is True
    assert (await miner.get_data()).fault_light is True
    assert await miner.fault_light_off() is True
    assert (await miner.get_data()).fault_light is False
    assert sim.led.auto is True


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_stop_and_resume_mining(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    assert await miner.stop_mining() is True
    data = await miner.get_data()
    assert data.is_mining is False
    assert data.hashrate == 0
    assert data.wattage is not None and data.wattage < 0.1 * sim.state.hardware.nominal_power
    assert await miner.is_mining() is False
    assert isinstance((await miner.get_config()).mining_mode, MiningModeSleep)
    assert await miner.resume_mining() is True
    data = await miner.get_data()
    assert data.is_mining is True
    assert data.hashrate == pytest.approx(sim.state.hardware.nominal_hashrate, rel=1e-3)


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_power_limit_moves_wattage(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    assert await miner.set_power_limit(2800) is True
    data = await miner.get_data()
    assert data.wattage_limit == 2800
    assert data.wattage == pytest.approx(2800, abs=1)
    assert data.hashrate is not None and data.hashrate < sim.state.hardware.nominal_hashrate
    config = await miner.get_config()
    assert config.mining_mode == MiningModePowerTune(power=2800)


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_power_limit_above_the_standard_power_is_not_applied(
    start: Started, kind: str
) -> None:
    """The firmware caps the limit at the unit's standard power (API 3 document: it "cannot
    exceed the device's standard operating power") and answers ok; the read-back tells."""
    sim, miner, _ = await start(kind)
    cap = round(sim.state.hardware.power_range[1])
    wanted = cap + 150
    assert miner.power_range().low <= wanted <= miner.power_range().high  # the catalog's guess
    with pytest.raises(NotAppliedError) as caught:
        await miner.set_power_limit(wanted)
    assert (caught.value.wanted, caught.value.applied) == (wanted, cap)
    assert str(cap) in str(caught.value) and str(wanted) in str(caught.value)
    assert (await miner.get_data(include=["wattage_limit"])).wattage_limit == cap


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_a_custom_limit_reads_as_an_offered_mode(start: Started, kind: str) -> None:
    _, miner, _ = await start(kind)
    await miner.set_power_limit(2800)
    mode = (await miner.get_config()).mining_mode
    assert mode is not None and mode.mode in miner.supported_modes  # power_tuning
    with pytest.raises(ConfigError, match="power target"):
        await miner.set_mode("power_tuning")  # a power is needed: set_power_limit


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_mode_write_the_firmware_ignores_is_not_ok(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    sim.state.set_work_mode = lambda mode: None  # type: ignore[method-assign]  # a build that ignores it
    with pytest.raises(NotAppliedError) as caught:
        await miner.set_mode("low")
    assert (caught.value.wanted, caught.value.applied) == ("low", "normal")


async def test_power_limit_out_of_range_is_refused_before_sending(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m50")
    low, high = miner.power_limit_range()
    with pytest.raises(ConfigError, match=f"outside {low}-{high} W"):
        await miner.set_power_limit(50_000)
    assert sim.counters["rpc"].connections == 0


async def test_power_limit_unsupported_on_api_204(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m30s")
    with pytest.raises(UnsupportedError, match="set_power_limit"):
        await miner.set_power_limit(3000)
    with pytest.raises(UnsupportedError, match="power_tuning"):
        await miner.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=3000)))
    assert sim.counters["rpc"].by_key["get_token"] == 0


@pytest.mark.parametrize("kind", ["whatsminer_m30s", "whatsminer_m60"])
async def test_reboot_restarts_uptime(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    assert (await miner.get_data()).uptime == 600
    assert await miner.reboot() is True
    await wait_for(lambda: sim.state.uptime == 0)  # the simulated box went down
    data = await wait_reachable(miner)
    assert data.uptime == 0
    assert sim.state.uptime == 0


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_restart_backend_restarts_elapsed(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    assert await miner.restart_backend() is True
    await wait_for(lambda: sim.state.elapsed == 0)  # btminer restarted
    data = await wait_reachable(miner)
    assert data.uptime == 0
    assert sim.state.uptime == 600  # the box did not reboot


@pytest.mark.parametrize("kind", ["whatsminer_m30s", "whatsminer_m60"])
async def test_mining_modes(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    nominal = sim.state.hardware.nominal_power
    await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))
    data = await miner.get_data(include=["wattage", "config"])
    assert data.wattage == pytest.approx(0.75 * nominal, abs=1)
    assert isinstance(data.config.mining_mode if data.config else None, MiningModeLow)
    await miner.send_config(MinerConfig(mining_mode=MiningModeNormal()))
    assert isinstance((await miner.get_config()).mining_mode, MiningModeNormal)
    assert sim.state.work_mode == "normal"


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_unsupported_config_parts_raise_and_write_nothing(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    for config in (
        MinerConfig(fan_mode=FanModeManual(speed=50)),
        MinerConfig(temperature=TemperatureConfig(target=70)),
        MinerConfig(mining_mode=MiningModePreset(active_preset="x")),
    ):
        with pytest.raises(UnsupportedError):
            await miner.send_config(config)
    key = "get_token" if kind == "whatsminer_m50" else "get.device.info"
    counters = sim.counters["rpc" if kind == "whatsminer_m50" else "whatsminer_v3"]
    assert counters.by_key[key] == (0 if kind == "whatsminer_m50" else 3)  # reads only
    too_many = PoolConfig.simple([Pool(url=f"stratum+tcp://p{i}:3333", user="u") for i in range(4)])
    with pytest.raises(ConfigError, match="at most 3"):
        await miner.send_config(MinerConfig(pools=too_many))


# ---------------------------------------------------------------------------- config
@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_config_round_trip_and_read_modify_write(start: Started, kind: str) -> None:
    sim, miner, _ = await start(kind)
    live = await miner.get_config()
    assert live.pools is not None
    assert [p.url for p in live.pools.first_group] == [p.url for p in sim.state.pools]
    assert isinstance(live.mining_mode, MiningModeNormal)

    new_pools = PoolConfig.simple(
        [
            Pool(url="stratum+tcp://new.pool.example:3333", user="acct.w1", password="p1"),
            Pool(url="stratum+tcp://new2.pool.example:443", user="acct.w1", password="p2"),
        ]
    )
    await miner.send_config(MinerConfig(pools=new_pools))
    assert [(p.url, p.user, p.password) for p in sim.state.pools] == [
        ("stratum+tcp://new.pool.example:3333", "acct.w1", "p1"),
        ("stratum+tcp://new2.pool.example:443", "acct.w1", "p2"),
    ]
    # a power change alone must never touch the pools (hass-miner#380)
    sim.reset_counters()
    await miner.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=3000)))
    assert sim.state.power_limit == 3000
    assert sim.state.pools[0].url == "stratum+tcp://new.pool.example:3333"
    assert sim.state.pools[0].password == "p1"
    if kind == "whatsminer_m50":
        assert sim.counters["rpc"].by_key["update_pools"] == 0
        assert sim.counters["rpc"].by_key["adjust_power_limit"] == 1
    else:
        assert sim.counters["whatsminer_v3"].by_key["set.miner.pools"] == 0
        assert sim.counters["whatsminer_v3"].by_key["set.miner.power_limit"] == 1
    config = await miner.get_config()
    assert config.mining_mode == MiningModePowerTune(power=3000)
    assert config.pools is not None
    assert [p.url for p in config.pools.first_group] == [
        "stratum+tcp://new.pool.example:3333",
        "stratum+tcp://new2.pool.example:443",
    ]
    # back to normal: the limit goes back to the rated power, the pools stay
    await miner.send_config(MinerConfig(mining_mode=MiningModeNormal()))
    assert isinstance((await miner.get_config()).mining_mode, MiningModeNormal)
    assert sim.state.pools[0].password == "p1"
    data = await miner.get_data(include=["wattage"])
    assert data.wattage == pytest.approx(sim.state.hardware.nominal_power, abs=1)
    # the live config sent back writes nothing
    config = await miner.get_config()
    sim.reset_counters()
    await miner.send_config(config)
    assert not any(
        k.startswith(("set.", "update", "adjust")) for c in sim.counters.values() for k in c.by_key
    )


async def test_user_suffix_is_appended(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m50")
    pools = PoolConfig.simple([Pool(url="stratum+tcp://p.example:3333", user="acct")])
    await miner.send_config(MinerConfig(pools=pools), user_suffix="rig7")
    assert sim.state.pools[0].user == "acct.rig7"


async def test_sleep_mode_through_config(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m60")
    await miner.send_config(MinerConfig(mining_mode=MiningModeSleep()))
    assert sim.state.mining is False
    await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))
    assert sim.state.mining is True and sim.state.work_mode == "low"


# ---------------------------------------------------------------------------- auth
async def test_one_token_serves_many_writes(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m50")
    await miner.fault_light_on()
    await miner.fault_light_off()
    await miner.set_power_limit(3000)
    await miner.send_config(MinerConfig(mining_mode=MiningModeLow()))
    rpc = sim.counters["rpc"]
    assert rpc.by_key["get_token"] == 1
    assert rpc.by_key["set_led"] == 2


async def test_expired_token_is_fetched_again(start: Started) -> None:
    sim, miner, clock = await start("whatsminer_m50")
    await miner.fault_light_on()
    clock.advance(31 * 60)  # the miner forgets the token after 30 minutes
    assert isinstance(miner, WhatsminerV2)
    miner.session().token_ttl = 1e9  # ... while this client would still use it
    await miner.fault_light_off()
    assert sim.counters["rpc"].by_key["get_token"] == 2
    assert sim.state.fault_light is False


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_wrong_password_is_an_authentication_error(start: Started, kind: str) -> None:
    secret = "Hunter2-not-the-password"
    sim, miner, _ = await start(kind, credentials=Credentials(password=secret))
    with pytest.raises(AuthenticationError) as info:
        await miner.fault_light_on()
    assert secret not in str(info.value) and secret not in repr(info.value)
    assert sim.state.fault_light is False
    # reads do not need the password
    assert (await miner.get_data(include=["hashrate"])).hashrate


async def test_write_api_switched_off_is_an_authentication_error(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m50")
    sim.write_enabled = False
    with pytest.raises(AuthenticationError, match="write API not enabled"):
        await miner.reboot()
    assert sim.state.uptime == 600


async def test_settings_password_is_used(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m50")
    sim.password = "s3cret"
    settings.update("default_whatsminer_password", "s3cret")
    assert await miner.fault_light_on() is True
    assert sim.state.fault_light is True


# ---------------------------------------------------------------------------- misbehaviour
@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
@pytest.mark.parametrize("mode", ["hang", "slow", "garbage", "reset", "offline"])
async def test_misbehaviour_is_bounded_and_reported(start: Started, kind: str, mode: str) -> None:
    settings.update("api_function_timeout", 0.4)
    sim, miner, _ = await start(kind)
    await sim.set_mode(mode, delay=1.5)
    async with asyncio.timeout(20):  # bounds the test; not a speed assertion
        data = await miner.get_data()
    assert data.hashrate is None and data.wattage is None
    assert "hashrate" in data.field_errors and "pools" in data.field_errors
    # static facts still come from the identification
    assert data.mac == sim.state.mac and data.model == sim.model
    # controls fail clearly, within their own deadline
    async with asyncio.timeout(20):  # bounds the test; not a speed assertion
        with pytest.raises(Exception) as info:
            await miner.fault_light_on()
        assert type(info.value).__module__ == "asic_bridge.errors"
    await sim.set_mode("normal")
    data = await miner.get_data()
    assert data.field_errors == {}, mode


@pytest.mark.parametrize("kind", ["whatsminer_m50", "whatsminer_m60"])
async def test_huge_answers_are_cut_off(start: Started, kind: str) -> None:
    settings.update("max_response_bytes", 64 * 1024)
    sim, miner, _ = await start(kind)
    await sim.set_mode("huge", huge_size=256 * 1024)
    data = await miner.get_data()
    assert "hashrate" in data.field_errors
    assert "exceeds" in data.field_errors["hashrate"]


async def test_slow_but_in_time_is_fine(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m50")
    settings.update("api_function_timeout", 1.0)
    await sim.set_mode("slow", delay=0.2)
    data = await miner.get_data()
    assert data.field_errors == {}
    assert data.hashrate


async def test_one_failing_command_only_costs_its_fields(start: Started) -> None:
    sim, miner, _ = await start("whatsminer_m50")
    original = sim.on_rpc

    def broken(command: str, parameter: str | None, request: dict[str, Any]) -> Any:
        if command == "status":
            return b"\xff\xfe not json"
        return original(command, parameter, request)

    sim.servers["rpc"].handler = broken
    data = await miner.get_data()
    assert set(data.field_errors) == {"is_mining"}
    assert "not JSON" in data.field_errors["is_mining"]
    assert data.hashrate and data.pools and data.hashboards

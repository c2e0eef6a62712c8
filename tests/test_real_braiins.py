"""BOS+ on real captures: the gRPC parsers on what the firmware sent, the simulator in its shape.

Captures: tests/fixtures/real/braiins (BOS+ 25.07 on an S19 XP and 26.04 on an S21 Pro, from
asic-rs' fixtures).  They are answers of the REST API (``/api/v1``, from 25.07), which serves
the ``braiins.bos.v1`` messages as JSON under their proto field names - the same messages
the gRPC API on 50051 carries.  Expected values are worked out by hand from the payloads.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from real_captures import assert_same_shape, load, rpc_answers

from asic_bridge import catalog, sim
from asic_bridge.config import FanModeImmersion, FanModeManual
from asic_bridge.drivers import braiins as bos
from asic_bridge.drivers.base import ParseContext
from asic_bridge.errors import ConfigError
from asic_bridge.factory import get_miner
from asic_bridge.sim import braiins as bossim
from asic_bridge.transport.grpc import GRPCClient, Schema, decode_message, encode_message

S19XP = ParseContext("SHA256", catalog.lookup("Antminer S19 XP", make="AntMiner"), None)
S21PRO = ParseContext("SHA256", catalog.lookup("Antminer S21 Pro", make="AntMiner"), None)


def cap(version: str, name: str) -> Any:
    return load("braiins", version, name)


# ----------------------------------------------------------------------------- parsers
def test_details_2507_and_2604() -> None:
    old, new = cap("25.07", "miner_details.json"), cap("26.04", "miner_details.json")
    assert bos.parse_grpc_mac(S19XP, old) == "00:00:5e:00:53:01"  # mac_address (masked)
    assert bos.parse_grpc_hostname(S19XP, old) == "Antminer"
    # bos_version.current "2025-08-06-0-3881c51d-25.07-plus" -> the release 25.07
    assert bos.parse_grpc_fw_ver(S19XP, old) == "25.07"
    assert bos.parse_grpc_fw_ver(S21PRO, new) == "26.04"
    # sticker_hashrate 141000.0 GH/s -> 141 TH/s
    assert bos.parse_grpc_expected_hashrate(S19XP, old) == pytest.approx(141.0)
    assert bos.parse_grpc_is_mining(S19XP, old, {}) is True  # status 2 = normal
    # 25.07 sends null serials (control board and PSU); 26.04 fills both
    assert bos.parse_grpc_serial(S19XP, old) is None
    assert bos.parse_grpc_psu_serial(S19XP, old) is None
    assert bos.parse_grpc_serial(S21PRO, new) == "SERIAL00000000005"
    assert bos.parse_grpc_psu_serial(S21PRO, new) == "SERIAL00000000004"


def test_stats_2507() -> None:
    stats = cap("25.07", "miner_stats.json")
    assert bos.parse_grpc_wattage(S19XP, stats) == 3137  # approximated_consumption.watt
    # the error rate is MegaHashrate (megahash_per_second), every other rate GigaHashrate
    assert set(stats["miner_stats"]["error_hashrate"]) == {"megahash_per_second"}
    assert set(stats["miner_stats"]["nominal_hashrate"]) == {"gigahash_per_second"}
    err = bos.MINER_STATS_RESPONSE["miner_stats"].schema
    assert err is not None and set(err["error_hashrate"].schema or {}) == {"megahash_per_second"}


def test_hashboards_2507() -> None:
    boards = bos.parse_grpc_hashboards(S19XP, cap("25.07", "miner_hw_hashboards.json"))
    # last_5s 50137.73 / 47859.28 / 50362.69 GH/s
    assert [b.hashrate for b in boards] == pytest.approx([50.13773, 47.85928, 50.36269])
    # board 1: board_temp 55.5, highest_chip_temp 70.5, lowest_inlet 41.0, highest_outlet 55.5
    b = boards[0]
    assert (b.temp, b.chip_temp, b.inlet_temp, b.outlet_temp) == (55.5, 70.5, 41.0, 55.5)
    assert [x.chips for x in boards] == [110, 110, 110]  # chips_count (a UInt32Value)
    assert b.serial_number == "SERIAL00000000001" and b.voltage == pytest.approx(12.93827)


def test_cooling_pools_locate_2507() -> None:
    # fans by position 0..3: rpm 5904, 5874, 5874, 5904
    fans = bos.parse_grpc_fans(S19XP, cap("25.07", "cooling_state.json"))
    assert [f.speed for f in fans] == [5904, 5874, 5874, 5904]
    # REST /pools answers the repeated pool_groups bare; gRPC wraps it in the response
    pools = bos.parse_grpc_pools(S19XP, {"pool_groups": cap("25.07", "pools.json")})
    # group "foremanGroup": the active pool 10460 accepted / 18 rejected, the backup 4 / 0
    assert [(p.accepted, p.rejected, p.active) for p in pools] == [
        (10460, 18, True),
        (4, 0, False),
    ]
    # REST /actions/locate answers the bool bare (gRPC: {"enabled": ...})
    assert (
        bos.parse_grpc_fault_light(S19XP, {"enabled": cap("25.07", "actions_locate.json")}) is False
    )


def test_tuner_power_target_2507() -> None:
    # configuration tuner: enabled, tuner_mode 1 (power), power_target 3031 W
    config = bos.parse_grpc_config(S19XP, cap("25.07", "configuration_miner.json"))
    assert config.mining_mode is not None and config.mining_mode.mode == "power_tuning"
    assert getattr(config.mining_mode, "power", None) == 3031
    state = cap("25.07", "performance_tuner_state.json")
    assert state["mode_state"]["powertargetmodestate"]["current_target"] == {"watt": 3031}


# ----------------------------------------------------------------------------- shapes
def _defaults(decoded: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """A decoded message as the REST JSON shows it: proto3 defaults for unset scalars, null
    for unset optional scalars, wrappers and messages, [] for unset repeated fields."""
    out: dict[str, Any] = {}
    for name, spec in schema.items():
        if name in decoded:
            value = decoded[name]
            if spec.kind == "message" and not spec.wrapped and spec.schema is not None:
                if spec.repeated:
                    value = [_defaults(v, spec.schema) for v in value]
                else:
                    value = _defaults(value, spec.schema)
            out[name] = value
        elif spec.repeated:
            out[name] = []
        elif spec.kind == "message" or spec.wrapped or spec.optional:
            out[name] = None
        else:
            out[name] = {"string": "", "bool": False, "double": 0.0, "float": 0.0}.get(spec.kind, 0)
    return out


CALLS = {
    "miner_details": ("MinerService", "GetMinerDetails", bossim.FULL_DETAILS),
    "miner_stats": ("MinerService", "GetMinerStats", bossim.FULL_STATS),
    "miner_hw_hashboards": ("MinerService", "GetHashboards", bossim.FULL_HASHBOARDS),
    "cooling_state": ("CoolingService", "GetCoolingState", bossim.FULL_COOLING),
    "pools": ("PoolService", "GetPoolGroups", bossim.FULL_POOL_GROUPS),
    "actions_locate": ("ActionsService", "GetLocateDeviceStatus", bos.LOCATE),
}
# REST answers a repeated or single-field response bare; the gRPC message wraps it.
BARE = {"pools": "pool_groups", "actions_locate": "enabled"}
_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def serving(version: str) -> AsyncIterator[tuple[bossim.BOSerSim, GRPCClient, str]]:
    s = sim.create(f"braiins_s19:{version}@127.164.0.{next(_hosts)}")
    assert isinstance(s, bossim.BOSerSim)
    s.state.jitter = 0.0
    later = s.state.clock() + 600.0  # ten minutes in: shares found
    s.state.clock = lambda: later  # type: ignore[method-assign]
    await s.start()
    client = GRPCClient(s.address, s.ports["grpc"])
    try:
        login = encode_message({"username": "root", "password": s.password}, bos.LOGIN_REQUEST)
        reply = await client.call("/braiins.bos.v1.AuthenticationService/Login", login)
        yield s, client, reply.headers["authorization"]
    finally:
        await client.aclose()
        await s.stop()


@pytest.mark.parametrize("version", ["25.07", "26.04"])
@pytest.mark.parametrize("name", list(CALLS))
async def test_simulator_answers_in_the_captured_shape(version: str, name: str) -> None:
    service, method, schema = CALLS[name]
    async with serving(version) as (_, client, token):
        reply = await client.call(
            f"/braiins.bos.v1.{service}/{method}", b"", metadata={"authorization": token}
        )
        answer = _defaults(decode_message(reply.message, schema), schema)
        if version == "25.07":
            answer = _without(answer, NEW_IN_2604)
        if name == "pools":
            for group in answer["pool_groups"]:
                # REST renders the oneof as an object named after it: {"strategy": {"quota"..}}
                members = {k: group.pop(k) for k in ("quota", "fixed_share_ratio")}
                group["strategy"] = {k: v for k, v in members.items() if v is not None}
        if name in BARE:
            answer = answer[BARE[name]]
        # a pool without shares yet has no last_share_time (optional); the captured backup
        # pool had 4, the simulated one may have none
        ignore = ["$[].pools[].stats.last_share_time"] if name == "pools" else []
        assert_same_shape(cap(version, f"{name}.json"), answer, ignore=ignore)


# Fields 25.07's messages do not have yet (the 26.04 captures add them).
NEW_IN_2604 = frozenset({"best_share_str", "group uid"})


def _without(value: Any, names: frozenset[str], parent: str = "") -> Any:
    if isinstance(value, list):
        return [_without(v, names, parent) for v in value]
    if isinstance(value, dict):
        grouping = parent == "pool_groups"
        return {
            k: _without(v, names, k)
            for k, v in value.items()
            if k not in names and not (grouping and f"group {k}" in names)
        }
    return value


# ----------------------------------------------------------------------------- #12 range
async def test_power_range_is_the_firmwares_constraints() -> None:
    async with serving("26.04") as (s, _, _):
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, bos.BOSer)
        try:
            bounds = await miner.get_power_range()
            # GetConstraints tuner power_target min/max: 1200-3600 W on the S19j Pro, where
            # the catalog guessed nominal x 0.5..1.2
            assert (bounds.low, bounds.high, bounds.source) == (1200, 3600, "firmware")
            assert await miner.set_power_limit(1300)  # inside: the catalog refused it
            assert s.state.effective_power_limit == 1300
            before = s.state.effective_power_limit
            with pytest.raises(ConfigError, match="outside 1200-3600 W"):
                await miner.set_power_limit(3650)  # the catalog allowed it, the miner not
            assert s.state.effective_power_limit == before
        finally:
            await miner.aclose()


# ----------------------------------------------------------------------------- legacy BOSminer
S9 = ParseContext("SHA256", catalog.lookup("Antminer S9", make="AntMiner"), None)


def test_legacy_rpc_2009() -> None:
    # fans: RPM 5340, 4620, 0, 0 (two connectors without a fan)
    fans = bos.parse_rpc_fans(S9, cap("20.09", "fans.json"))
    assert [f.speed for f in fans] == [5340, 4620, 0, 0]
    tuner = cap("20.09", "tunerstatus.json")
    assert bos.parse_wattage(S9, tuner) == 1419  # ApproximateMinerPowerConsumption
    assert bos.parse_wattage_limit(S9, tuner) == 1420  # PowerLimit
    assert bos.parse_errors(S9, tuner) == []  # "Tuning individual chips" is a normal stage
    # chains 6-8: devdetails Chips 63, Voltage 8.4168 V; temps Board 81.875 / Chip 104.625
    boards = bos.parse_rpc_hashboards(
        S9, {"DEVS": []}, cap("20.09", "devdetails.json"), cap("20.09", "temps.json")
    )
    assert [b.chips for b in boards] == [63, 63, 63]
    assert (boards[0].temp, boards[0].chip_temp) == (81.875, 104.625)
    assert boards[0].voltage == pytest.approx(8.4168, abs=1e-4)


@pytest.mark.parametrize("command", ["fans", "tempctrl", "temps", "tunerstatus", "devdetails"])
async def test_legacy_simulator_answers_in_the_2009_shape(command: str) -> None:
    [answer] = await rpc_answers(f"braiins_s9@127.164.1.{next(_hosts)}", command)
    assert_same_shape(cap("20.09", f"{command}.json"), answer)


# ----------------------------------------------------------------------------- fan control
def test_fan_percent_is_the_fans_pwm_ratio() -> None:
    # 25.07: target_speed_ratio 1.0 on all four fans; 26.04: 0.92 on all four
    assert bos.parse_grpc_fan_percent(S19XP, cap("25.07", "cooling_state.json")) == 100
    assert bos.parse_grpc_fan_percent(S21PRO, cap("26.04", "cooling_state.json")) == 92
    # neither configuration capture carries the temperature (cooling) part: no mode known
    for version in ("25.07", "26.04"):
        assert bos.parse_grpc_fan_mode(S19XP, cap(version, "configuration_miner.json")) is None


def test_fan_garbage_is_no_reading() -> None:
    fans = cap("26.04", "cooling_state.json")["fans"]
    for bad in ("fast", 1.7, -0.2, None):
        broken = {"fans": [dict(f, target_speed_ratio=bad) for f in fans]}
        assert bos.parse_grpc_fan_percent(S21PRO, broken) is None
    assert bos.parse_grpc_fan_percent(S21PRO, {"fans": []}) is None
    with pytest.raises(ValueError):
        bos.parse_grpc_fan_percent(S21PRO, ["not", "a", "message"])
    odd = {"temperature": {"manual": {"fan_speed_ratio": 7.5, "minimum_required_fans": -3}}}
    assert bos.config_from_grpc(odd).fan_mode == FanModeManual(speed=100)  # clamped, no -3


def test_cooling_modes_as_the_proto_declares_them() -> None:
    """cooling.proto: GetMinerConfiguration's CoolingConfiguration oneof auto=2, manual=3,
    immersion=5; SetCoolingMode's request auto=2, manual=3, immersion=4 (save_action 1)."""
    wire = encode_message(
        {"temperature": {"immersion": {"hot_temperature": {"degree_c": 80.0}}}},
        bos.MINER_CONFIGURATION_RESPONSE,
    )
    # field 2 (length 13: immersion's tag and length, hot's tag, length, double's tag, 8 bytes),
    # inside it field 5
    assert (wire[0], wire[1], wire[2]) == ((2 << 3) | 2, 13, (5 << 3) | 2)
    config = bos.config_from_grpc(decode_message(wire, bos.MINER_CONFIGURATION_RESPONSE))
    assert config.fan_mode == FanModeImmersion()
    assert config.temperature is not None and config.temperature.hot == 80.0
    body = bos.encode_cooling_mode(FanModeManual(speed=35), config.temperature)
    request = decode_message(
        encode_message(body, bos.SET_COOLING_MODE_REQUEST), bos.SET_COOLING_MODE_REQUEST
    )
    assert request["save_action"] == bos.SAVE_AND_APPLY
    assert request["manual"]["fan_speed_ratio"] == pytest.approx(0.35)
    assert request["manual"]["hot_temperature"] == {"degree_c": 80.0}  # carried along
    assert "minimum_required_fans" not in request["manual"]  # not asked for: not sent


def test_legacy_fan_percent_is_the_rpc_speed() -> None:
    # 20.09 fans: Speed 100 on all four connectors (two without a fan): the PWM, not RPM
    assert bos.parse_rpc_fan_percent(S9, cap("20.09", "fans.json")) == 100
    broken = {"FANS": [{"RPM": 5000, "Speed": "full"}, {"RPM": 5000, "Speed": 140}]}
    assert bos.parse_rpc_fan_percent(S9, broken) is None
    # the file's modes: auto and manual (with fan_control.speed), "disabled" as immersion
    toml = bos.parse_bosminer_toml(
        '[temp_control]\nmode = "manual"\n[fan_control]\nspeed = 55\nmin_fans = 2\n'
    )
    assert bos.config_from_toml(toml).fan_mode == FanModeManual(speed=55, minimum_fans=2)

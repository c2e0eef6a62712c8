"""state_payload and pool_state against their plain (pre-inlining) versions, on random readings.

The bridge builds every poll's state key by key, with the board aggregates MinerData's
computed fields would give inlined.  The reference here is the straightforward version
(one dict of every key, None filtered out, the computed fields read): both must give the
same payload, byte for byte as orjson encodes it, key order included.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from asic_bridge.bridge.fans import shown_fan_mode
from asic_bridge.bridge.pools import pool_state
from asic_bridge.bridge.state import _iso, state_payload
from asic_bridge.data import Fan, HashBoard, MinerData, PoolMetrics
from asic_bridge.data.errors import MinerErrorData


def reference_pool_state(pools: Sequence[PoolMetrics]) -> list[dict[str, Any]]:
    out = []
    for position, pool in enumerate(pools):
        item = {
            "url": pool.url,
            "user": pool.user,
            "priority": pool.index if pool.index is not None else position,
            "active": pool.active,
            "status": None if pool.alive is None else ("alive" if pool.alive else "dead"),
            "accepted": pool.accepted,
            "rejected": pool.rejected,
            "stale": pool.get_failures,
        }
        out.append({k: v for k, v in item.items() if v is not None})
    return out


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def reference_state(
    data: MinerData, *, energy_kwh: float, boot_time: float | None, mode: str | None, now: float
) -> dict[str, Any]:
    active = next((p for p in data.pools if p.active), data.pools[0] if data.pools else None)
    errors_read = "errors" not in data.field_errors
    problem: bool | None = (errors_read and bool(data.errors)) or data.nominal is False
    if not problem and not errors_read:
        problem = None
    values: dict[str, Any] = {
        "hashrate": _round(data.hashrate),
        "expected_hashrate": _round(data.expected_hashrate),
        "hashrate_unit": data.hashrate_unit,
        "power": data.wattage,
        "power_limit": data.wattage_limit,
        "efficiency": data.efficiency_fract,
        "temperature": data.temperature_avg,
        "chip_temperature": data.chip_temperature_avg,
        "env_temperature": _round(data.env_temp, 1),
        "psu_fan_speed": data.fan_psu,
        "fan_mode": shown_fan_mode(data.fan_mode) if data.fan_mode else None,
        "fan_percent": data.fan_percent,
        "uptime": data.uptime,
        "boot_time": _iso(boot_time) if boot_time is not None else None,
        "mining": data.is_mining,
        "fault_light": data.fault_light,
        "mode": mode,
        "preset": data.active_preset,
        "problem": problem,
        "errors": len(data.errors) if errors_read else None,
        "error_messages": [e.error_message for e in data.errors] if errors_read else None,
        "total_chips": data.total_chips if data.hashboards else None,
        "expected_chips": data.expected_chips,
        "pool_url": active.url if active else None,
        "pool_user": active.user if active else None,
        "pool_accepted": active.accepted if active else None,
        "pool_rejected": active.rejected if active else None,
        "pools": reference_pool_state(data.pools) or None,
        "energy": round(energy_kwh, 4),
        "ip": data.ip,
        "mac": data.mac,
        "model": data.model,
        "firmware": data.firmware,
        "fw_ver": data.fw_ver,
        "hostname": data.hostname,
        "last_seen": _iso(now),
    }
    state = {k: v for k, v in values.items() if v is not None}
    for board in data.hashboards:
        slot = board.slot
        if board.hashrate is not None:
            state[f"board_{slot}_hashrate"] = round(float(board.hashrate), 2)
        if board.temp is not None:
            state[f"board_{slot}_temperature"] = round(float(board.temp), 1)
        if board.chip_temp is not None:
            state[f"board_{slot}_chip_temperature"] = round(float(board.chip_temp), 1)
        if board.chips is not None:
            state[f"board_{slot}_chips"] = board.chips
    for index, fan in enumerate(data.fans):
        if fan.speed is not None:
            state[f"fan_{index}_speed"] = fan.speed
    if data.field_errors:
        state["unreadable"] = sorted(data.field_errors)
    return state


def maybe(rng: random.Random, value: Any, none: float = 0.3) -> Any:
    return None if rng.random() < none else value


def number(rng: random.Random) -> float | int:
    return rng.choice(
        [0, 0.0, -0.0, -3.5, 1, 60, 62.25, 33.335, 70.05, rng.uniform(-5, 150), 10**6 + 0.125]
    )


def random_reading(rng: random.Random) -> MinerData:
    boards = [
        HashBoard(
            slot=rng.choice([0, 1, 2, 2, 3, 7]),
            hashrate=maybe(rng, number(rng)),
            temp=maybe(rng, number(rng)),
            chip_temp=maybe(rng, number(rng)),
            chips=maybe(rng, rng.choice([0, 63, 126, 110])),
            missing=rng.random() < 0.2,
        )
        for _ in range(rng.choice([0, 0, 1, 3, 4]))
    ]
    pools = [
        PoolMetrics(
            url=maybe(rng, f"stratum+tcp://pool{n}:3333"),
            user=maybe(rng, f"acct.{n}"),
            index=maybe(rng, rng.randrange(5)),
            accepted=maybe(rng, rng.randrange(10**6)),
            rejected=maybe(rng, rng.randrange(100)),
            get_failures=maybe(rng, rng.randrange(10)),
            active=maybe(rng, rng.random() < 0.4),
            alive=maybe(rng, rng.random() < 0.7),
        )
        for n in range(rng.choice([0, 1, 3]))
    ]
    errors = [
        MinerErrorData(error_code=n, error_message=f"fault {n}") for n in range(rng.choice([0, 2]))
    ]
    fields = ["errors", "wattage", "hashboards", "fans", "pools", "uptime"]
    return MinerData(
        maybe(rng, "10.0.0.9", 0.1) or "",
        make=maybe(rng, "AntMiner"),
        model=maybe(rng, "S19j Pro"),
        firmware=maybe(rng, "stock"),
        fw_ver=maybe(rng, "2024.1"),
        hostname=maybe(rng, "rig-1"),
        mac=maybe(rng, "02:00:00:00:00:09"),
        algo=rng.choice(["SHA256", "Scrypt", "SHA256"]),
        hashrate=maybe(rng, number(rng)),
        expected_hashrate=maybe(rng, number(rng)),
        wattage=maybe(rng, rng.choice([0, 3000, 3512])),
        wattage_limit=maybe(rng, 3100),
        env_temp=maybe(rng, number(rng)),
        fan_psu=maybe(rng, 4000),
        fan_mode=maybe(rng, rng.choice(["normal", "manual", "immersion", ""])),
        fan_percent=maybe(rng, 60),
        uptime=maybe(rng, 3600),
        is_mining=maybe(rng, rng.random() < 0.8),
        fault_light=maybe(rng, False),
        active_preset=maybe(rng, "p1"),
        expected_chips=maybe(rng, rng.choice([0, 126, 378])),
        hashboards=boards,
        fans=[Fan(speed=maybe(rng, 5000 + n)) for n in range(rng.choice([0, 2, 4]))],
        pools=pools,
        errors=errors,
        field_errors={f: "timeout" for f in fields if rng.random() < 0.1},
    )


@pytest.mark.parametrize("seed", range(40))
def test_state_payload_equals_the_plain_version(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        data = random_reading(rng)
        kwargs: dict[str, Any] = {
            "energy_kwh": rng.choice([0, 0.0, 1.23456, 987.654321]),
            "boot_time": maybe(rng, 1_700_000_000.0),
            "mode": maybe(rng, "normal"),
            "now": 1_700_003_600.7,
        }
        new, old = state_payload(data, **kwargs), reference_state(data, **kwargs)
        assert orjson.dumps(new) == orjson.dumps(old)
        assert [(k, type(v)) for k, v in new.items()] == [(k, type(v)) for k, v in old.items()]
        assert pool_state(data.pools) == reference_pool_state(data.pools)

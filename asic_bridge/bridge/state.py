"""MinerData -> the retained JSON state of ``<b>/<id>``.

Plain numbers and strings, units live in the discovery configs.  A value the miner did not
report is left out, never replaced by an invented zero (hass-miner#519).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from asic_bridge.bridge.fans import shown_fan_mode
from asic_bridge.bridge.pools import pool_state
from asic_bridge.data import MinerData


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def _iso(timestamp: float) -> str:
    return _iso_second(int(timestamp))


@functools.lru_cache(maxsize=1024)
def _iso_second(second: int) -> str:
    """One formatting per second, not per poll: a big fleet's polls share their seconds
    (last_seen), a miner's boot time stays put."""
    return dt.datetime.fromtimestamp(second, dt.UTC).isoformat(timespec="seconds")


def state_payload(
    data: MinerData,
    *,
    energy_kwh: float,
    boot_time: float | None,
    mode: str | None,
    now: float,
) -> dict[str, Any]:
    """The flat state object for one successful poll."""
    active_pool = next((p for p in data.pools if p.active), data.pools[0] if data.pools else None)
    # An error list that could not be read is not "no errors": leave errors/problem out.
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
        "pool_url": active_pool.url if active_pool else None,
        "pool_user": active_pool.user if active_pool else None,
        "pool_accepted": active_pool.accepted if active_pool else None,
        "pool_rejected": active_pool.rejected if active_pool else None,
        "pools": pool_state(data.pools) or None,  # every configured pool, its order
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
    # the boards' and fans' values go in directly, skipping None (no f-strings per poll)
    for board in data.hashboards:
        hashrate_key, temp_key, chip_temp_key, chips_key = _board_keys(board.slot)
        if (value := board.hashrate) is not None:
            state[hashrate_key] = round(float(value), 2)
        if (value := board.temp) is not None:
            state[temp_key] = round(float(value), 1)
        if (value := board.chip_temp) is not None:
            state[chip_temp_key] = round(float(value), 1)
        if (value := board.chips) is not None:
            state[chips_key] = value
    for index, fan in enumerate(data.fans):
        if (value := fan.speed) is not None:
            state[_fan_key(index)] = value
    if data.field_errors:
        state["unreadable"] = sorted(data.field_errors)
    return state


@functools.lru_cache(maxsize=64)
def _board_keys(slot: int) -> tuple[str, str, str, str]:
    return (
        f"board_{slot}_hashrate",
        f"board_{slot}_temperature",
        f"board_{slot}_chip_temperature",
        f"board_{slot}_chips",
    )


@functools.lru_cache(maxsize=64)
def _fan_key(index: int) -> str:
    return f"fan_{index}_speed"


def stable_boot_time(previous: float | None, uptime: int | None, now: float) -> float | None:
    """Boot time from uptime, kept steady between polls (HA: a timestamp, not a counter).

    It only moves when it differs by more than two minutes (a reboot), so the entity does not
    change state on every poll because of rounding.
    """
    if uptime is None:
        return previous
    boot = now - uptime
    if previous is None or abs(previous - boot) > 120:
        return float(int(boot))
    return previous

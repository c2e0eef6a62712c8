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
    """The flat state object for one successful poll.

    Built key by key in the payload's order, each left out when None, with one walk over
    the boards for their own keys and for the averages and chip count MinerData's computed
    fields would each walk them for: this runs on every poll of every miner, and the
    build-all-then-filter dict with those properties was most of the bridge's own CPU of a
    poll.  tests/test_bridge_state_payload.py holds the plain version it must equal.
    """
    state: dict[str, Any] = {}
    value: Any  # each field's own type, in turn
    boards = data.hashboards
    # the boards' and fans' values go in after the rest, skipping None (no f-strings)
    board_state: dict[str, Any] = {}
    temps: list[float] = []
    chip_temps: list[float] = []
    chips: list[int] = []
    for board in boards:
        hashrate_key, temp_key, chip_temp_key, chips_key = _board_keys(board.slot)
        if (value := board.hashrate) is not None:
            board_state[hashrate_key] = round(float(value), 2)
        if (value := board.temp) is not None:
            board_state[temp_key] = round(float(value), 1)
            if value > 0:
                temps.append(value)
        if (value := board.chip_temp) is not None:
            board_state[chip_temp_key] = round(float(value), 1)
            if value > 0:
                chip_temps.append(value)
        if (count := board.chips) is not None:
            board_state[chips_key] = count
            chips.append(count)
    # MinerData.total_chips: 0 without boards, None when no board reported its chips
    total_chips = (sum(chips) if chips else None) if boards else 0
    expected_chips = data.expected_chips
    field_errors = data.field_errors
    # An error list that could not be read is not "no errors": leave errors/problem out.
    errors_read = "errors" not in field_errors
    errors = data.errors
    nominal_false = (
        total_chips is not None and expected_chips is not None and total_chips != expected_chips
    )
    problem: bool | None = (errors_read and bool(errors)) or nominal_false
    if not problem and not errors_read:
        problem = None

    hashrate = data.hashrate
    if hashrate is not None:
        state["hashrate"] = round(float(hashrate), 2)
    if (value := data.expected_hashrate) is not None:
        state["expected_hashrate"] = round(float(value), 2)
    state["hashrate_unit"] = data.hashrate_unit
    wattage = data.wattage
    if wattage is not None:
        state["power"] = wattage
    if (value := data.wattage_limit) is not None:
        state["power_limit"] = value
    if wattage is not None and hashrate:
        state["efficiency"] = round(wattage / hashrate, 2)  # MinerData.efficiency_fract
    if temps:
        state["temperature"] = round(sum(temps) / len(temps))
    if chip_temps:
        state["chip_temperature"] = round(sum(chip_temps) / len(chip_temps))
    if (value := data.env_temp) is not None:
        state["env_temperature"] = round(float(value), 1)
    if (value := data.fan_psu) is not None:
        state["psu_fan_speed"] = value
    if value := data.fan_mode:
        state["fan_mode"] = shown_fan_mode(value)
    if (value := data.fan_percent) is not None:
        state["fan_percent"] = value
    if (value := data.uptime) is not None:
        state["uptime"] = value
    if boot_time is not None:
        state["boot_time"] = _iso(boot_time)
    if (value := data.is_mining) is not None:
        state["mining"] = value
    if (value := data.fault_light) is not None:
        state["fault_light"] = value
    if mode is not None:
        state["mode"] = mode
    if (value := data.active_preset) is not None:
        state["preset"] = value
    if problem is not None:
        state["problem"] = problem
    if errors_read:
        state["errors"] = len(errors)
        state["error_messages"] = [e.error_message for e in errors] if errors else []
    if boards and total_chips is not None:
        state["total_chips"] = total_chips
    if expected_chips is not None:
        state["expected_chips"] = expected_chips
    pools = data.pools
    if pools:
        active_pool = pools[0]
        for pool in pools:
            if pool.active:
                active_pool = pool
                break
        if (value := active_pool.url) is not None:
            state["pool_url"] = value
        if (value := active_pool.user) is not None:
            state["pool_user"] = value
        if (value := active_pool.accepted) is not None:
            state["pool_accepted"] = value
        if (value := active_pool.rejected) is not None:
            state["pool_rejected"] = value
        state["pools"] = pool_state(pools)  # every configured pool, its order
    state["energy"] = round(energy_kwh, 4)
    if (value := data.ip) is not None:
        state["ip"] = value
    if (value := data.mac) is not None:
        state["mac"] = value
    if (value := data.model) is not None:
        state["model"] = value
    if (value := data.firmware) is not None:
        state["firmware"] = value
    if (value := data.fw_ver) is not None:
        state["fw_ver"] = value
    if (value := data.hostname) is not None:
        state["hostname"] = value
    state["last_seen"] = _iso_second(int(now))  # _iso, one call fewer
    if board_state:
        state.update(board_state)
    for index, fan in enumerate(data.fans):
        if (value := fan.speed) is not None:
            state[_fan_key(index)] = value
    if field_errors:
        state["unreadable"] = sorted(field_errors)
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

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
from asic_bridge.data.hashrate import ALGORITHMS


def _iso(timestamp: float) -> str:
    return _iso_second(int(timestamp))


@functools.lru_cache(maxsize=1024)
def _iso_second(second: int) -> str:
    """One formatting per second, not per poll: a big fleet's polls share their seconds
    (last_seen), a miner's boot time stays put."""
    return dt.datetime.fromtimestamp(second, dt.UTC).isoformat(timespec="seconds")


#: round(float(t), 1) per temperature seen: a fleet's board temperatures come from a few
#: hundred values (whole degrees or tenths), and round() with digits is ~5x a dict lookup
_TENTHS: dict[float, float] = {}
_TENTHS_KEPT = 4096


def tenths(value: float) -> float:
    """``round(float(value), 1)``, remembered (never for a zero: 0.0 and -0.0 are one key
    but round to themselves, and a payload shows the sign)."""
    rounded = round(float(value), 1)
    if value:
        if len(_TENTHS) >= _TENTHS_KEPT:
            _TENTHS.clear()
        _TENTHS[value] = rounded
    return rounded


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
    poll.  The models are read through their ``__dict__``.
    tests/test_bridge_state_payload.py holds the plain version it must equal.
    """
    state: dict[str, Any] = {}
    value: Any  # each field's own type, in turn
    # the fields' own dicts: a pydantic model's attribute (its class has a __getattr__, so
    # no specialised lookup) costs several times a dict's item, ~60 of them per state
    fields = data.__dict__
    boards = fields["hashboards"]
    # the boards' and fans' values go in after the rest, skipping None (no f-strings)
    board_state: dict[str, Any] = {}
    temps: list[float] = []
    chip_temps: list[float] = []
    chips: list[int] = []
    for board in boards:
        board_fields = board.__dict__
        hashrate_key, temp_key, chip_temp_key, chips_key = _board_keys(board_fields["slot"])
        if (value := board_fields["hashrate"]) is not None:
            board_state[hashrate_key] = round(float(value), 2)
        if (value := board_fields["temp"]) is not None:
            board_state[temp_key] = tenths(value) if (t := _TENTHS.get(value)) is None else t
            if value > 0:
                temps.append(value)
        if (value := board_fields["chip_temp"]) is not None:
            board_state[chip_temp_key] = tenths(value) if (t := _TENTHS.get(value)) is None else t
            if value > 0:
                chip_temps.append(value)
        if (count := board_fields["chips"]) is not None:
            board_state[chips_key] = count
            chips.append(count)
    # MinerData.total_chips: 0 without boards, None when no board reported its chips
    total_chips = (sum(chips) if chips else None) if boards else 0
    expected_chips = fields["expected_chips"]
    field_errors = fields["field_errors"]
    # An error list that could not be read is not "no errors": leave errors/problem out.
    errors_read = "errors" not in field_errors
    errors = fields["errors"]
    nominal_false = (
        total_chips is not None and expected_chips is not None and total_chips != expected_chips
    )
    problem: bool | None = (errors_read and bool(errors)) or nominal_false
    if not problem and not errors_read:
        problem = None

    hashrate = fields["hashrate"]
    if hashrate is not None:
        state["hashrate"] = round(float(hashrate), 2)
    if (value := fields["expected_hashrate"]) is not None:
        state["expected_hashrate"] = round(float(value), 2)
    state["hashrate_unit"] = ALGORITHMS.get(fields["algo"], "TH/s")  # data.hashrate_unit
    wattage = fields["wattage"]
    if wattage is not None:
        state["power"] = wattage
    if (value := fields["wattage_limit"]) is not None:
        state["power_limit"] = value
    if wattage is not None and hashrate:
        state["efficiency"] = round(wattage / hashrate, 2)  # MinerData.efficiency_fract
    if temps:
        state["temperature"] = round(sum(temps) / len(temps))
    if chip_temps:
        state["chip_temperature"] = round(sum(chip_temps) / len(chip_temps))
    if (value := fields["env_temp"]) is not None:
        state["env_temperature"] = round(float(value), 1)
    if (value := fields["fan_psu"]) is not None:
        state["psu_fan_speed"] = value
    if value := fields["fan_mode"]:
        state["fan_mode"] = shown_fan_mode(value)
    if (value := fields["fan_percent"]) is not None:
        state["fan_percent"] = value
    if (value := fields["uptime"]) is not None:
        state["uptime"] = value
    if boot_time is not None:
        state["boot_time"] = _iso(boot_time)
    if (value := fields["is_mining"]) is not None:
        state["mining"] = value
    if (value := fields["fault_light"]) is not None:
        state["fault_light"] = value
    if mode is not None:
        state["mode"] = mode
    if (value := fields["active_preset"]) is not None:
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
    pools = fields["pools"]
    if pools:
        active_pool = pools[0].__dict__
        for pool in pools:
            if (pool_fields := pool.__dict__)["active"]:
                active_pool = pool_fields
                break
        if (value := active_pool["url"]) is not None:
            state["pool_url"] = value
        if (value := active_pool["user"]) is not None:
            state["pool_user"] = value
        if (value := active_pool["accepted"]) is not None:
            state["pool_accepted"] = value
        if (value := active_pool["rejected"]) is not None:
            state["pool_rejected"] = value
        state["pools"] = pool_state(pools)  # every configured pool, its order
    state["energy"] = round(energy_kwh, 4)
    if (value := fields["ip"]) is not None:
        state["ip"] = value
    if (value := fields["mac"]) is not None:
        state["mac"] = value
    if (value := fields["model"]) is not None:
        state["model"] = value
    if (value := fields["firmware"]) is not None:
        state["firmware"] = value
    if (value := fields["fw_ver"]) is not None:
        state["fw_ver"] = value
    if (value := fields["hostname"]) is not None:
        state["hostname"] = value
    state["last_seen"] = _iso_second(int(now))  # _iso, one call fewer
    if board_state:
        state.update(board_state)
    for index, fan in enumerate(fields["fans"]):
        if (value := fan.__dict__["speed"]) is not None:
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

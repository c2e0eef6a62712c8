"""One poller per miner: when to poll, what to read, when the miner counts as offline.

No MQTT here: a poll's outcome goes to the features as an event (see bridge.events).  The
hot path of the whole bridge runs through this module, so it stays lean: no task or copy per
poll, timers instead of ``wait_for``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any

from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner

# get_data fields the bridge reads on every poll.
POLL_FIELDS = (
    "mac",
    "hostname",
    "fw_ver",
    "serial_number",
    "hashrate",
    "expected_hashrate",
    "hashboards",
    "fans",
    "fan_psu",
    "env_temp",
    "wattage",
    "pools",
    "uptime",
)

# Fields that change rarely or only when someone changes them: the error list, the mining
# state, the power limit, the fault light, the configuration (mining mode), the preset.
# Read on every FULL_POLL_EVERY-th poll, on the poll right after a command, and on every
# poll where they come free (their sources are fetched anyway for the fields above);
# carried over in between.  On web-UI firmwares each can be an extra request: on an
# Antminer they were 2 of its 3 HTTP requests per poll.
SLOW_FIELDS = ("errors", "is_mining", "wattage_limit", "fault_light", "config", "active_preset")
FULL_POLL_EVERY = 6
#: Poll starts are rounded up to this grid (or a tenth of the poll interval if smaller).
#: Polls that start together share the event loop's wake-ups, one epoll wait serving many
#: sockets: on 500 simulated miners this cut the CPU per poll by a third compared with
#: every miner waking the process on its own.  Jitter still spreads the miners.
POLL_TICK = 0.5


_FREE_SLOW: dict[type[BaseMiner], tuple[str, ...]] = {}


def free_slow_fields(miner_type: type[BaseMiner]) -> tuple[str, ...]:
    """The slow fields this driver reads from sources a normal poll fetches anyway.

    Not ``config``: decoding a whole MinerConfig for the mining mode costs more than it
    tells between full polls.
    """
    cached = _FREE_SLOW.get(miner_type)
    if cached is None:
        specs = miner_type.FIELDS
        fetched = {
            src
            for name in POLL_FIELDS
            if name in specs and not specs[name].static
            for src in specs[name].sources
        }
        cached = _FREE_SLOW[miner_type] = tuple(
            name
            for name in SLOW_FIELDS
            if name != "config" and name in specs and set(specs[name].sources) <= fetched
        )
    return cached


def carry_slow_fields(
    readings: dict[str, tuple[Any, str | None]], data: MinerData, read: Sequence[str]
) -> None:
    """Remember the slow fields read this poll; put the last reading of the others back."""
    for name in SLOW_FIELDS:
        if name in read:
            readings[name] = (getattr(data, name), data.field_errors.get(name))
        elif name in readings:
            value, error = readings[name]
            setattr(data, name, value)
            if error is not None:
                data.field_errors[name] = error


async def wait_or_wake(event: asyncio.Event, delay: float) -> None:
    """Wait until ``event`` is set (a poll request) or ``delay`` passes (which sets it).

    A timer instead of ``asyncio.wait_for``, which makes a task per wait: this runs once per
    miner per poll.
    """
    timer = asyncio.get_running_loop().call_later(delay, event.set)
    try:
        await event.wait()
    finally:
        timer.cancel()


def on_tick(delay: float, tick: float) -> float:
    """``delay`` stretched so that it ends on the next multiple of ``tick`` (monotonic)."""
    if tick <= 0:
        return delay
    now = time.monotonic()
    return math.ceil((now + delay) / tick) * tick - now


def nothing_read(data: MinerData) -> bool:
    """True when no core reading arrived: the miner did not really answer this poll."""
    readings = ("hashrate", "hashboards", "wattage", "is_mining", "pools", "uptime", "fans")
    return not any(
        name not in data.field_errors and getattr(data, name) not in (None, []) for name in readings
    )

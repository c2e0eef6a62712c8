"""One poller per miner: when to poll, what to read, when the miner counts as offline.

No MQTT here: a poll's outcome goes to the features as an event (see bridge.events).  The
hot path of the whole bridge runs through this module, so it stays lean: no task or copy per
poll, timers instead of ``wait_for``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from asic_bridge import factory, settings
from asic_bridge.bridge.events import (
    EventBus,
    MinerAdopted,
    MinerOffline,
    MinerOnline,
    MinerRemoved,
    MinerRenamed,
    PollFailed,
    PollSucceeded,
    failure_reason,
)
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner
from asic_bridge.errors import AsicBridgeError
from asic_bridge.transport.deadline import Deadline

if TYPE_CHECKING:
    from asic_bridge.bridge.adoption import Device

log = logging.getLogger("asic_bridge.bridge")

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
    "env_temp",
    "wattage",
    "pools",
    "uptime",
)

# Fields that change rarely or only when someone changes them: the error list, the mining
# state, the power limit, the fault light, the configuration (mining mode), the preset, the
# fan mode and duty.  Read on every FULL_POLL_EVERY-th poll, on the poll right after a
# command, and on every poll where they come free (their sources are fetched anyway for the
# fields above); carried over in between.  On web-UI firmwares each can be an extra request:
# on an Antminer they were 2 of its 3 HTTP requests per poll (its fan duty is in the
# configuration page, so an automatic duty there is up to FULL_POLL_EVERY polls old).
# The PSU fan is here too: on a WhatsMiner whose summary lacks it, it was a get_psu
# connection of its own on every poll; up to FULL_POLL_EVERY polls old is acceptable.
SLOW_FIELDS = (
    "fan_psu",
    "errors",
    "is_mining",
    "wattage_limit",
    "fault_light",
    "config",
    "active_preset",
    "fan_mode",
    "fan_percent",
)
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
    """Remember the slow fields read this poll; put the last reading of the others back.

    A carried value was validated when it was read into a MinerData of the same model, so
    it goes back without pydantic's assignment validation (which cost more than the rest
    of the bridge's work on a poll's state): the field, and the fields-set, as a validated
    assignment would leave them.
    """
    _carry(readings, data, _slow_plan(read))


SlowPlan = tuple[tuple[str, bool], ...]


def _slow_plan(read: Sequence[str]) -> SlowPlan:
    """Each slow field in order, and whether ``read`` holds it (read, or to be carried)."""
    return tuple((name, name in read) for name in SLOW_FIELDS)


def _carry(readings: dict[str, tuple[Any, str | None]], data: MinerData, plan: SlowPlan) -> None:
    values = data.__dict__
    errors = data.field_errors
    fields_set = data.__pydantic_fields_set__
    for name, read in plan:
        if read:
            readings[name] = (values[name], errors.get(name))
        elif (reading := readings.get(name)) is not None:
            value, error = reading
            values[name] = value
            fields_set.add(name)
            if error is not None:
                errors[name] = error


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


_CORE_READINGS = ("hashrate", "hashboards", "wattage", "is_mining", "pools", "uptime", "fans")


def nothing_read(data: MinerData) -> bool:
    """True when no core reading arrived: the miner did not really answer this poll."""
    values = data.__dict__  # the fields themselves: no attribute lookups per poll
    errors = data.field_errors
    for name in _CORE_READINGS:
        if name not in errors and values[name] not in (None, []):
            return False
    return True


class FieldPolicy:
    """Which fields each poll of one miner reads, and the slow readings carried between."""

    __slots__ = ("full_poll_due", "plan", "polls", "read", "slow_readings")

    def __init__(self) -> None:
        self.polls = 0
        self.full_poll_due = True
        self.slow_readings: dict[str, tuple[Any, str | None]] = {}
        #: the last fields returned, and which slow ones they hold (for ``carry``)
        self.read: tuple[str, ...] = ()
        self.plan: SlowPlan = ()

    def fields(self, miner: BaseMiner, modes: bool) -> tuple[str, ...]:
        """This poll's fields; ``modes``: the miner has mining modes (read ``config``)."""
        full = self.full_poll_due or self.polls % FULL_POLL_EVERY == 0
        self.polls += 1
        if full:
            self.full_poll_due = False
        self.read, self.plan = _poll_fields(type(miner), full, modes)
        return self.read

    def carry(self, data: MinerData, read: Sequence[str]) -> None:
        # the fields of this poll: which slow ones they hold is known already
        plan = self.plan if read is self.read else _slow_plan(read)
        _carry(self.slow_readings, data, plan)


_POLL_FIELDS: dict[tuple[type[BaseMiner], bool, bool], tuple[tuple[str, ...], SlowPlan]] = {}


def _poll_fields(
    miner_type: type[BaseMiner], full: bool, modes: bool
) -> tuple[tuple[str, ...], SlowPlan]:
    """A poll's fields and their slow plan, made once per driver and kind of poll (every
    poll of every miner asked for them, and carrying scanned them for each slow field)."""
    key = (miner_type, full, modes)
    cached = _POLL_FIELDS.get(key)
    if cached is None:
        if full:
            fields = (*POLL_FIELDS, *(f for f in SLOW_FIELDS if f != "config" or modes))
        else:
            fields = (*POLL_FIELDS, *free_slow_fields(miner_type))
        cached = _POLL_FIELDS[key] = (fields, _slow_plan(fields))
    return cached


class PollSlots(asyncio.Semaphore):
    """``asyncio.Semaphore`` with a cheaper way in while a slot is free and nobody waits.

    Every poll of every miner enters the pollers' semaphore, and asyncio's ``acquire``
    asks ``locked()``, which runs a generator over the waiters even when there are none,
    inside a coroutine of its own: 4.0 -> 1.8 us per ``async with`` uncontended.  The same
    semantics: with a waiter queued, or no slot free, it is asyncio's own ``acquire``.
    """

    async def acquire(self) -> Literal[True]:
        if self._value > 0 and not self._waiters:
            self._value -= 1
            return True
        return await super().acquire()

    async def __aenter__(self) -> None:
        if self._value > 0 and not self._waiters:
            self._value -= 1
        else:
            await super().acquire()


Connect = Callable[["Device"], Awaitable[BaseMiner | None]]


class Poller:
    """Polls one miner on its schedule, under its deadline, and counts missed polls.

    A poll's outcome goes out as events: PollSucceeded every time, MinerOnline /
    MinerOffline on a change.
    """

    def __init__(
        self,
        device: Device,
        *,
        connect: Connect,
        bus: EventBus,
        interval: float,
        offline_after: int,
        semaphore: asyncio.Semaphore,
    ):
        self.device = device
        self.connect = connect
        self.bus = bus
        self.interval = interval
        self.offline_after = offline_after
        self.semaphore = semaphore
        self.policy = FieldPolicy()
        self.failures = 0
        self.online: bool | None = None
        self.settle_until = 0.0  # monotonic; poll failures before this are not counted
        #: this miner's own poll interval (device/options), over the bridge's ``interval``
        self.own_interval: float | None = None
        #: a disabled miner is not polled (device/options)
        self.disabled = False
        self.last_success: float | None = None  # monotonic time of the last answer
        self.poll_now = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._loop(), name=f"poll:{self.device.id}")

    def request(self, full: bool = False) -> None:
        """Poll soon; ``full``: read the slow fields too (a command may have changed them)."""
        if full:
            self.policy.full_poll_due = True
        self.poll_now.set()

    def settle(self, seconds: float) -> None:
        """For ``seconds``, silence is not counted as offline: a write was sent that may
        restart the miner's backend (BOSminer does to apply a power target)."""
        self.settle_until = time.monotonic() + seconds

    async def _loop(self) -> None:
        interval = self.own_interval or self.interval
        tick = min(POLL_TICK, interval / 10)
        # spread the first polls so a large fleet does not poll in lock-step
        first = on_tick(random.uniform(0, min(interval, 2.0)), tick)
        await wait_or_wake(self.poll_now, first)
        while True:
            self.poll_now.clear()
            started = time.monotonic()
            if not self.disabled:
                try:
                    async with self.semaphore:
                        await self.poll()
                except Exception:
                    log.exception("poll of %s failed unexpectedly", self.device.id)
            interval = self.own_interval or self.interval  # options may change it
            tick = min(POLL_TICK, interval / 10)
            delay = max(0.0, interval - (time.monotonic() - started))
            delay = on_tick(delay * random.uniform(0.95, 1.05), tick)
            await wait_or_wake(self.poll_now, delay)

    async def poll(self) -> bool:
        """Read the miner once and tell the features; returns whether it answered."""
        device = self.device
        async with device.lock:
            # the miner's own limits; one still to be made gets the settings' of now
            limits = device.miner.limits if device.miner is not None else settings.limits()
            deadline = limits.request_timeout + 2
            data: MinerData | None = None
            fields: tuple[str, ...] = ()
            started = time.monotonic()
            error: BaseException | type[BaseException] | None = None
            try:
                async with Deadline(deadline * 2):
                    miner = await self.connect(device)
                    if miner is not None:
                        fields = self.policy.fields(miner, bool(device.record.modes))
                        data = await miner.get_data(include=fields)
            except (AsicBridgeError, TimeoutError) as exc:
                log.debug("poll of %s failed: %s", device.id, exc)
                data, error = None, exc
            now = time.monotonic()
            duration = now - started
            if data is None or nothing_read(data):
                if data is not None and device.miner is not None:
                    error = error or device.miner.last_error_type  # why the sources failed
                reason = "unreachable" if data is None and error is None else failure_reason(error)
                await self.bus.emit(PollFailed(device, reason, duration))
                await self._failed()
                return False
            self.failures = 0
            self.last_success = now
            self.policy.carry(data, fields)
            await self.bus.emit(PollSucceeded(device, data, time.time(), duration))
            if self.online is not True:
                back = self.online is False
                self.online = True
                await self.bus.emit(MinerOnline(device, back))
            return True

    async def _failed(self) -> None:
        if time.monotonic() < self.settle_until:
            # Shortly after a command: BOSminer, for one, rewrites its config and restarts,
            # so silence here is ours, not the miner's.  Not counted toward offline_after.
            log.debug("poll of %s failed while it applies a command", self.device.id)
            return
        self.failures += 1
        if self.failures < self.offline_after or self.online is False:
            return
        device = self.device
        was_online = self.online
        self.online = False
        # Re-identify next time: the miner may have changed firmware or address.  Forget it
        # before the first await, so a scan running meanwhile cannot be handed the cached
        # identification and "find" the miner where it no longer is.
        factory.forget(device.record.ip)
        miner, device.miner = device.miner, None
        device.record.last_power_w = None
        device.record.last_power_at = None
        await self.bus.emit(MinerOffline(device, was_online is True))
        if miner is not None:
            with contextlib.suppress(Exception):
                await miner.aclose()


class Pollers:
    """The pollers of every adopted miner: started on adoption, told about commands."""

    def __init__(
        self,
        bus: EventBus,
        connect: Connect,
        interval: float,
        offline_after: int,
        concurrency: int,
        command_settle: float = 0.0,
    ):
        self.bus = bus
        self.command_settle = command_settle
        self.connect = connect
        self.interval = interval
        self.offline_after = offline_after
        self.semaphore = PollSlots(concurrency)
        self.by_id: dict[str, Poller] = {}
        bus.on(MinerAdopted, self._adopted)
        bus.on(MinerRemoved, self._removed)
        bus.on(MinerRenamed, self._renamed)

    def get(self, device: Device) -> Poller:
        poller = self.by_id.get(device.id)
        if poller is None or poller.device is not device:
            poller = self.by_id[device.id] = Poller(
                device,
                connect=self.connect,
                bus=self.bus,
                interval=self.interval,
                offline_after=self.offline_after,
                semaphore=self.semaphore,
            )
        return poller

    def set_interval(self, interval: float) -> None:
        """The bridge's poll interval changed: every poller without its own takes it."""
        self.interval = interval
        for poller in self.by_id.values():
            poller.interval = interval

    def last_poll_age(self) -> float | None:
        """Seconds since any miner last answered (None: none has yet)."""
        times = [p.last_success for p in self.by_id.values() if p.last_success is not None]
        return round(time.monotonic() - max(times), 3) if times else None

    def online(self, miner_id: str) -> bool:
        poller = self.by_id.get(miner_id)
        return poller is not None and poller.online is True

    def start(self, device: Device) -> None:
        self.get(device).start()

    def request(self, device: Device, full: bool = False) -> None:
        self.get(device).request(full)

    def settle(self, device: Device) -> None:
        self.get(device).settle(self.command_settle)

    async def _adopted(self, event: MinerAdopted) -> None:
        poller = self.get(event.device)
        poller.start()
        poller.request()

    async def _removed(self, event: MinerRemoved) -> None:
        poller = self.by_id.pop(event.device.id, None)
        if poller is not None and poller.task is not None:
            poller.task.cancel()

    async def _renamed(self, event: MinerRenamed) -> None:
        poller = self.by_id.pop(event.old_id, None)
        if poller is not None:
            self.by_id[event.device.id] = poller

    async def stop(self) -> None:
        tasks = [p.task for p in self.by_id.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

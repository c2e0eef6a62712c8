"""Typed events between the bridge's parts, and the dispatcher that delivers them.

The parts never call each other's internals: the poller says a poll succeeded, adoption says
a miner was adopted, and each feature that cares subscribes to that event's type.  Handlers
run in the order they subscribed, one after the other, in the emitter's task (no task per
event: a poll's PollSucceeded is on the hot path).  A failing handler is logged and the
others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from asic_bridge.bridge.adoption import Device
    from asic_bridge.data import MinerData

log = logging.getLogger("asic_bridge.bridge")


@dataclass(frozen=True, slots=True)
class Announce:
    """Publish everything retained again: after a (re)connect, after Home Assistant's birth."""


@dataclass(frozen=True, slots=True)
class Connected:
    """An MQTT session is up and everything retained was published again (after Announce)."""


@dataclass(frozen=True, slots=True)
class ScanFinished:
    """A scan is over; ``found`` miners answered it."""

    found: int


@dataclass(frozen=True, slots=True)
class MinerAdopted:
    """A scan found ``device``; ``found`` is true the first time the bridge sees it."""

    device: Device
    found: bool


@dataclass(frozen=True, slots=True)
class MinerMoved:
    """An adopted miner answers at a new address."""

    device: Device
    old_ip: str


@dataclass(frozen=True, slots=True)
class RecordChanged:
    """Something ``bridge/devices`` shows of the miner changed (its power range, say)."""

    device: Device


@dataclass(frozen=True, slots=True)
class PollSucceeded:
    """One poll answered (slow fields not read this time are carried over in ``data``)."""

    device: Device
    data: MinerData
    now: float
    #: seconds the poll took (connect and read), for the metrics' histogram
    duration: float = 0.0


#: Why a poll failed, as a small fixed set (metrics labels): never the error's text.
PollFailureReason = Literal[
    "timeout", "connection", "auth", "invalid_response", "unreachable", "no_data", "other"
]


def failure_reason(error: BaseException | type[BaseException] | None) -> PollFailureReason:
    """The reason label for a poll that failed with ``error`` (an exception or its type; None:
    the miner answered, but nothing usable)."""
    from asic_bridge import errors

    if error is None:
        return "no_data"
    kind = error if isinstance(error, type) else type(error)
    if issubclass(kind, TimeoutError):  # MinerTimeoutError is one too
        return "timeout"
    if issubclass(kind, errors.AuthenticationError):
        return "auth"
    if issubclass(kind, (errors.InvalidResponseError, errors.ResponseTooLargeError)):
        return "invalid_response"
    if issubclass(kind, (errors.MinerConnectionError, OSError)):
        return "connection"
    return "other"


@dataclass(frozen=True, slots=True)
class PollFailed:
    """One poll got no usable answer (before any offline decision: every failed poll)."""

    device: Device
    reason: PollFailureReason
    duration: float


@dataclass(frozen=True, slots=True)
class MinerOnline:
    """The miner answered after being offline (``back``) or for the first time since start."""

    device: Device
    back: bool


@dataclass(frozen=True, slots=True)
class MinerOffline:
    """The miner missed ``offline_after`` polls in a row; ``was_online``: it was seen online."""

    device: Device
    was_online: bool


@dataclass(frozen=True, slots=True)
class StateKeysChanged:
    """The miner reported a state key it never reported before (or a new hash-rate unit):
    its discovery configs change."""

    device: Device


@dataclass(frozen=True, slots=True)
class CommandAnswered:
    """A ``<id>/set`` command was answered with ``status`` (ok, error, unknown, expired...)."""

    miner_id: str
    status: str


@dataclass(frozen=True, slots=True)
class WatchdogActed:
    """The watchdog took ``action`` on the miner for ``rule``; ``outcome`` as for commands
    (``ok``, ``error``, ``unknown``) or ``event`` for a rule that only reports."""

    device: Device
    rule: str
    action: str
    outcome: str


@dataclass(frozen=True, slots=True)
class CommandDone:
    """A command was answered; ``ok`` false: refused or failed, so what a UI shows of the
    write is to be corrected at once with the real state."""

    device: Device
    ok: bool


@dataclass(frozen=True, slots=True)
class MinerRemoved:
    """A miner was removed (``bridge/request/device/remove``); its topics are to be cleared."""

    device: Device


@dataclass(frozen=True, slots=True)
class MinerRenamed:
    """A miner's id changed from ``old_id`` (``bridge/request/device/rename``);
    ``homeassistant_rename``: HA's entity ids are to follow the new name too."""

    device: Device
    old_id: str
    homeassistant_rename: bool = False


E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]


class EventBus:
    """Subscribe a coroutine function to an event type; ``emit`` awaits every subscriber."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def on(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def emit(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                await handler(event)
            except Exception:
                log.exception("%s handler %s failed", type(event).__name__, handler)

"""The watchdog feature: the rules of bridge.watchdog applied to every poll of the miners of
groups that opt in (``fleet.groups.<group>.watchdog``).

Each decision is carried out through the command path (the same ``execute`` as an MQTT
command: the miner's lock, deadlines, the settle time after it) in a task of its own, never in
the poll's handler (the poll holds the miner's lock).  Every action is published on
``<base>/bridge/event`` as ``{"type": "watchdog", ...}`` and goes out as a WatchdogActed event
(the metrics count them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Device
from asic_bridge.bridge.events import (
    EventBus,
    MinerOffline,
    MinerRemoved,
    MinerRenamed,
    PollSucceeded,
    WatchdogActed,
)
from asic_bridge.bridge.watchdog import (
    Decision,
    Engine,
    HashrateZero,
    NoShares,
    TemperatureAbove,
    WatchdogConfig,
    reading_of,
    rules_for,
)

log = logging.getLogger("asic_bridge.bridge")

#: The command each action sends (``event`` sends none).
COMMANDS = {
    "restart_backend": cmd.Action("action", "restart_backend"),
    "reboot": cmd.Action("action", "reboot"),
    "sleep": cmd.Action("mining", False),
}

Execute = Callable[[Device, cmd.Command], Awaitable[dict[str, Any]]]
PublishEvent = Callable[[str, dict[str, Any]], Awaitable[None]]
Groups = Iterable[tuple[Sequence[str], WatchdogConfig | None]]


class Watchdog:
    """Subscribed only when some group has an enabled watchdog: otherwise it costs nothing."""

    def __init__(
        self,
        bus: EventBus,
        groups: Groups,
        execute: Execute,
        publish_event: PublishEvent,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.bus = bus
        self.groups = [(list(members), w) for members, w in groups]
        self.execute = execute
        self.publish_event = publish_event
        self.clock = clock
        self.engine = Engine()
        self._rules: dict[str, list[HashrateZero | NoShares | TemperatureAbove]] = {}
        self._acting: dict[str, asyncio.Task[None]] = {}
        self.enabled = any(w is not None and w.enabled for _, w in self.groups)
        if self.enabled:
            bus.on(PollSucceeded, self._polled)
            bus.on(MinerOffline, self._offline)
            bus.on(MinerRemoved, self._removed)
            bus.on(MinerRenamed, self._renamed)

    async def _polled(self, event: PollSucceeded) -> None:
        miner_id = event.device.id
        rules = self._rules.get(miner_id)
        if rules is None:
            rules = self._rules[miner_id] = rules_for(miner_id, self.groups)
        if not rules:
            return
        running = self._acting.get(miner_id)
        if running is not None and not running.done():
            return  # the last action is still under way: this poll predates its effect
        decisions = self.engine.observe(miner_id, rules, reading_of(event.data), self.clock())
        if decisions:
            # in a task: this handler runs inside the poll, which holds the miner's lock
            self._acting[miner_id] = asyncio.create_task(
                self._act(event.device, decisions), name=f"watchdog:{miner_id}"
            )

    async def _act(self, device: Device, decisions: list[Decision]) -> None:
        for decision in decisions:
            data: dict[str, Any] = {
                "id": device.id,
                "rule": decision.rule,
                "action": decision.action,
                "reason": decision.reason,
                "attempt": decision.attempt,
            }
            action = COMMANDS.get(decision.action)
            if action is None:
                outcome, error = "event", None
            else:
                try:
                    result = await self.execute(device, cmd.Command((action,)))
                    outcome, error = str(result.get("status")), result.get("error")
                except Exception as exc:  # a bug in the command path must not kill the rules
                    log.exception("watchdog %s on %s failed", decision.action, device.id)
                    outcome, error = "error", type(exc).__name__
            data.update(status=outcome, error=error)
            log.warning(
                "watchdog %s on %s: %s (%s, attempt %d): %s",
                decision.rule,
                device.id,
                decision.action,
                decision.reason,
                decision.attempt,
                outcome,
            )
            await self.publish_event("watchdog", data)
            await self.bus.emit(WatchdogActed(device, decision.rule, decision.action, outcome))

    async def _offline(self, event: MinerOffline) -> None:
        self.engine.interrupt(event.device.id)

    async def _removed(self, event: MinerRemoved) -> None:
        self._forget(event.device.id)

    async def _renamed(self, event: MinerRenamed) -> None:
        self._forget(event.old_id)

    def _forget(self, miner_id: str) -> None:
        self.engine.forget(miner_id)
        self._rules.pop(miner_id, None)
        task = self._acting.pop(miner_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._acting.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

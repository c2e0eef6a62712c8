"""The watchdog feature without a broker: polls of the miners of groups that opt in feed the
rules, a decision goes through the command path in its own task, and every action is
published as a ``watchdog`` bridge event and a WatchdogActed event.  (The rules themselves:
tests/test_watchdog.py; through a real broker: tests/test_bridge_metrics.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

from bridge_fakes import device

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Device
from asic_bridge.bridge.events import (
    EventBus,
    MinerOffline,
    MinerRemoved,
    PollSucceeded,
    WatchdogActed,
)
from asic_bridge.bridge.features.watchdog import Watchdog
from asic_bridge.bridge.watchdog import WatchdogConfig
from asic_bridge.data import MinerData

STUCK = MinerData("10.0.0.1", hashrate=0.0, is_mining=True)
FINE = MinerData("10.0.0.1", hashrate=100.0, is_mining=True)


class Rig:
    """A Watchdog on a bus, with the command path and the event publisher recorded."""

    def __init__(self, watchdog: dict[str, Any] | None, members: list[str] | None = None):
        self.bus = EventBus()
        self.executed: list[tuple[str, cmd.Command]] = []
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.acted: list[WatchdogActed] = []
        self.answer: dict[str, Any] | Exception = {"status": "ok", "error": None}
        self.gate: asyncio.Event | None = None  # set: execute waits for it
        self.bus.on(WatchdogActed, self._acted)
        config = WatchdogConfig.model_validate(watchdog) if watchdog is not None else None
        self.feature = Watchdog(
            self.bus, [(members or [], config)], self._execute, self._publish, clock=self.clock
        )
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def _execute(self, device: Device, command: cmd.Command) -> dict[str, Any]:
        self.executed.append((device.id, command))
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def _publish(self, kind: str, data: dict[str, Any]) -> None:
        self.published.append((kind, data))

    async def _acted(self, event: WatchdogActed) -> None:
        self.acted.append(event)

    async def polls(self, miner: Device, data: MinerData, count: int) -> None:
        """``count`` polls 10 s apart, then the actions they started run to their end."""
        for _ in range(count):
            await self.bus.emit(PollSucceeded(miner, data, self.now))
            self.now += 10.0
            await asyncio.sleep(0)
        await self.settled()

    async def settled(self) -> None:
        tasks = [t for t in self.feature._acting.values() if not t.done()]
        if tasks and (self.gate is None or self.gate.is_set()):
            await asyncio.gather(*tasks, return_exceptions=True)


RESTART = {"rules": [{"when": "hashrate_zero", "polls": 3, "action": "restart_backend"}]}


async def test_a_stuck_miner_is_restarted_through_the_command_path() -> None:
    rig = Rig(RESTART)
    miner = device("m1")
    await rig.polls(miner, STUCK, 2)
    assert rig.executed == []  # two polls are not yet three
    await rig.polls(miner, STUCK, 1)
    assert rig.executed == [("m1", cmd.Command((cmd.Action("action", "restart_backend"),)))]
    [(kind, data)] = rig.published
    assert kind == "watchdog"
    assert data == {
        "id": "m1",
        "rule": "hashrate_zero",
        "action": "restart_backend",
        "reason": data["reason"],
        "attempt": 1,
        "status": "ok",
        "error": None,
    }
    assert data["reason"]  # says why
    assert [(e.device.id, e.rule, e.action, e.outcome) for e in rig.acted] == [
        ("m1", "hashrate_zero", "restart_backend", "ok")
    ]


async def test_nothing_is_watched_without_an_enabled_watchdog() -> None:
    for watchdog in (None, {**RESTART, "enabled": False}):
        rig = Rig(watchdog)
        assert rig.feature.enabled is False
        await rig.polls(device("m1"), STUCK, 10)
        assert rig.executed == [] and rig.published == []


async def test_only_the_groups_members_are_watched() -> None:
    rig = Rig(RESTART, members=["m1"])
    await rig.polls(device("m2"), STUCK, 5)
    assert rig.executed == []
    await rig.polls(device("m1"), STUCK, 3)
    assert [miner for miner, _ in rig.executed] == ["m1"]


async def test_a_fine_poll_or_going_offline_breaks_the_streak() -> None:
    rig = Rig(RESTART)
    miner = device("m1")
    await rig.polls(miner, STUCK, 2)
    await rig.polls(miner, FINE, 1)
    await rig.polls(miner, STUCK, 2)
    await rig.bus.emit(MinerOffline(miner, was_online=True))
    await rig.polls(miner, STUCK, 2)
    assert rig.executed == []


async def test_a_failing_command_path_is_reported_and_the_rules_go_on() -> None:
    rig = Rig({"rules": [{"when": "hashrate_zero", "polls": 1, "action": "reboot"}]})
    rig.answer = RuntimeError("bug in the command path")
    miner = device("m1")
    await rig.polls(miner, STUCK, 1)
    [(_, data)] = rig.published
    assert (data["action"], data["status"], data["error"]) == ("reboot", "error", "RuntimeError")
    assert [e.outcome for e in rig.acted] == ["error"]
    rig.answer = {"status": "ok", "error": None}
    rig.now += 1000.0  # past the rule's cool-down: the next decision is taken as usual
    await rig.polls(miner, STUCK, 1)
    assert [d["status"] for _, d in rig.published] == ["error", "ok"]


async def test_an_event_rule_sends_no_command() -> None:
    rig = Rig({"rules": [{"when": "hashrate_zero", "polls": 1}]})  # action: event
    await rig.polls(device("m1"), STUCK, 1)
    assert rig.executed == []
    assert [(d["action"], d["status"]) for _, d in rig.published] == [("event", "event")]
    assert [e.outcome for e in rig.acted] == ["event"]


async def test_polls_during_an_action_do_not_stack_actions_and_removal_cancels_it() -> None:
    rig = Rig({"rules": [{"when": "hashrate_zero", "polls": 1, "action": "reboot"}]})
    rig.gate = asyncio.Event()  # the reboot does not finish
    miner = device("m1")
    await rig.polls(miner, STUCK, 4)
    assert len(rig.executed) == 1  # polls while it runs predate its effect
    task = rig.feature._acting["m1"]
    await rig.bus.emit(MinerRemoved(miner))
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert rig.published == []  # a cancelled action is not reported as done

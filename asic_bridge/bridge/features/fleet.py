"""Fleet power management over MQTT: one :class:`PowerController` per ``fleet.groups`` entry.

The controllers are pure (bridge/power.py); this feature feeds them what the miners do (from
the bus), what MQTT says (``fleet/<g>/set``, ``/price``, ``/surplus`` and configured signal
topics), runs each group's cycle in its own task (every poll interval, and at once when a
command or a change a poll saw kicks it) and makes the writes through the commands feature,
under the miner's lock with the driver's read-back.  The group's state is retained on
``fleet/<g>``; the runtime settings and each miner's own setting (for release) survive a
restart in ``<state_dir>/power.json``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import orjson

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.config import BridgeConfig, FleetGroup
from asic_bridge.bridge.entities import fleet_group_discovery
from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerAdopted,
    MinerOffline,
    MinerRemoved,
    MinerRenamed,
    PollSucceeded,
    RecordChanged,
)
from asic_bridge.bridge.features.commands import Commands
from asic_bridge.bridge.features.pools import asks_for_pools, set_group_pools
from asic_bridge.bridge.mqtt import MqttSession, Publisher, Request, refused, request_transaction
from asic_bridge.bridge.power import CycleResult, Outcome, PowerController, Write, run_cycle
from asic_bridge.bridge.power_inputs import (
    GroupConfig,
    PowerInputError,
    parse_reading,
    parse_set_payload,
)
from asic_bridge.bridge.registry import write_atomic
from asic_bridge.bridge.topics import Incoming, Topics
from asic_bridge.bridge.waits import event_set_within
from asic_bridge.drivers.base import Capability

log = logging.getLogger("asic_bridge.bridge")

#: after a kick, wait this long for the other polls of the same tick: one cycle for them all
COALESCE_S = 0.2
#: a kicked cycle waits this long per member since the group's last cycle, at most
#: MAX_CYCLE_GAP_S (see cycle_delay)
CYCLE_GAP_PER_MEMBER_S = 0.002
MAX_CYCLE_GAP_S = 5.0


def cycle_delay(members: int, since_last: float) -> float:
    """Seconds a kicked cycle waits: the other kicks of the same tick, and for a large group
    the rest of a gap since its last cycle that grows with its size.

    A cycle builds, compares and saves the whole group's state, O(members).  While a fleet
    starts, every adoption and first poll kicks it (each joins or comes online): 5,000
    miners made hundreds of such cycles in their first minute (bench/bridge_5k.py).  Spaced
    by size, cycles cost a bounded share of a core whatever kicks them, and a group of
    5,000 still acts within 5 s (its loop's own wake-up, when nothing kicks it).
    """
    gap = min(MAX_CYCLE_GAP_S, members * CYCLE_GAP_PER_MEMBER_S)
    return max(COALESCE_S, gap - since_last)


#: the capabilities a group needs, as the record lists them (an enum's .value costs a lookup)
_POWER_LIMIT = Capability.POWER_LIMIT.value
_STOP_MINING = Capability.STOP_MINING.value

#: what moves with every poll or clock tick in a group's state: not a change to publish at once
MOVING = frozenset({"updated_at", "measured_w", "surplus", "price"})


def _unchanging(state: dict[str, Any], ctrl: PowerController) -> bytes:
    """``state`` without what moves (MOVING, each miner's ``measured_w``), as comparable bytes.

    Built on every cycle (every <= 5 s) for the whole group: the miners' part is the
    controller's (PowerController.still_of), kept per member between cycles, so a cycle pays
    for the members that changed, not for the group (5,000 members: 1.8 ms a cycle when
    every entry was encoded again)."""
    rest = {k: v for k, v in state.items() if k not in MOVING and k != "miners"}
    return orjson.dumps(rest) + ctrl.still_of(state)


def group_config(group: FleetGroup) -> GroupConfig:
    """The controller's part of a configured group (the watchdog is another feature's)."""
    return GroupConfig.model_validate(group.model_dump(exclude={"watchdog"}))


class Fleet:
    def __init__(
        self,
        bus: EventBus,
        publisher: Publisher,
        topics: Topics,
        config: BridgeConfig,
        adoption: Adoption,
        commands: Commands,
        clock: Any = time.time,
    ):
        self.publisher = publisher
        self.topics = topics
        self.config = config
        self.adoption = adoption
        self.commands = commands
        self.path = Path(config.state_dir) / "power.json"
        self.controllers = {
            g: PowerController(g, group_config(c), clock) for g, c in config.fleet.groups.items()
        }
        #: each group as bridge.yaml has it, for power.json (saved, so compared, every cycle)
        self._configured = {
            g: c.config.model_dump(mode="json") for g, c in self.controllers.items()
        }
        self.kicks = {g: asyncio.Event() for g in self.controllers}
        self._locks = {g: asyncio.Lock() for g in self.controllers}
        #: per group: what the last published state said (without the readings), and when
        self._published: dict[str, tuple[bytes, float]] = {}
        self._saved: bytes = b""
        self._tasks: list[asyncio.Task[None]] = []
        self._load()
        bus.on(Announce, self._announce)
        bus.on(MinerAdopted, self._adopted)
        bus.on(RecordChanged, self._record_changed)
        bus.on(PollSucceeded, self._polled)
        bus.on(MinerOffline, self._offline)
        bus.on(MinerRemoved, self._removed)
        bus.on(MinerRenamed, self._renamed)

    def routes(self, session: MqttSession) -> None:
        session.route("fleet_set", self._request)
        session.route("fleet_reading", self._reading)
        # a configured signal topic (a meter's, a price feed's) is read as the group's own
        for group, ctrl in self.controllers.items():
            cfg = ctrl.config
            if cfg.price is not None and cfg.price.topic:
                session.listen(cfg.price.topic, Incoming("fleet_reading", group, "price"))
            if cfg.surplus is not None and cfg.surplus.topic:
                session.listen(cfg.surplus.topic, Incoming("fleet_reading", group, "surplus"))

    # ------------------------------------------------------------------ members
    def _groups_of(self, miner_id: str) -> list[PowerController]:
        return [
            c
            for c in self.controllers.values()
            if not c.config.miners or miner_id in c.config.miners
        ]

    def _join(
        self,
        device: Device,
        unmeasured: bool = False,
        groups: list[PowerController] | None = None,
    ) -> None:
        """``device`` is (still) a member of its groups (``groups``: already looked up)."""
        rec = device.record
        low, high, source = rec.power_min, rec.power_max, rec.power_range_source
        if unmeasured and high is None and device.miner is not None:
            # It reports no power (stock Antminer) and has no range of its own: counted at
            # the catalog's top for its model (a high guess), not as drawing nothing.
            bounds = device.miner.power_range()
            if bounds.source != "unknown":
                low, high, source = bounds.low, bounds.high, bounds.source
        capabilities = rec.capabilities
        can_limit, can_stop = _POWER_LIMIT in capabilities, _STOP_MINING in capabilities
        for ctrl in self._groups_of(rec.id) if groups is None else groups:
            ctrl.join(
                rec.id,
                power_min=low,
                power_max=high,
                range_source=source,
                can_limit=can_limit,
                can_stop=can_stop,
            )

    def _kick(self, miner_id: str | None = None) -> None:
        for group, ctrl in self.controllers.items():
            if miner_id is None or miner_id in ctrl.members:
                self.kicks[group].set()

    async def _adopted(self, event: MinerAdopted) -> None:
        self._join(event.device)
        self._kick(event.device.id)

    async def _record_changed(self, event: RecordChanged) -> None:
        self._join(event.device)  # a learned range or new capabilities

    async def _polled(self, event: PollSucceeded) -> None:
        data, device = event.data, event.device
        miner_id = device.id
        groups = self._groups_of(miner_id)  # once a poll: the same for the join and readings
        if not groups:
            return
        watts = data.wattage
        # (miners loaded from the registry are never "adopted": they join here)
        self._join(device, watts is None, groups)
        # J/TH (a computed field, ~1 us) only while a group has none for it, and never
        # without a power reading (it is the power over the hash rate)
        efficiency = None
        if watts is not None:
            for ctrl in groups:
                if ctrl.needs_efficiency(miner_id):
                    efficiency = data.efficiency_fract
                    break
        for ctrl in groups:
            ctrl.observe(
                miner_id,
                measured_w=watts,
                power_limit=data.wattage_limit,
                mining=data.is_mining,
                efficiency=efficiency,
                limit_read="wattage_limit" not in data.field_errors,
            )
            # Only a change the plan acts on wakes the group's task (the cycle runs there,
            # not in the poll).  A cycle builds the whole group's state, so waking it for
            # every poll's readings made each poll cost O(fleet) (bench/bridge_5k.py: 2.0 ms
            # per poll at 2,000 miners against 1.3 at 500); the readings alone are published
            # by the loop's own wake, as often as they ever were (once per poll interval).
            if ctrl.due:
                self.kicks[ctrl.group].set()

    async def _offline(self, event: MinerOffline) -> None:
        for ctrl in self._groups_of(event.device.id):
            ctrl.offline(event.device.id)
        self._kick(event.device.id)

    async def _removed(self, event: MinerRemoved) -> None:
        for ctrl in self.controllers.values():
            ctrl.remove(event.device.id)
        self._kick()
        self._save()

    async def _renamed(self, event: MinerRenamed) -> None:
        """The same miner under a new id: its remembered setting and last change move too."""
        old, new = event.old_id, event.device.id
        for ctrl in self.controllers.values():
            own = ctrl.remembered.get(old)
            member = ctrl.members.get(old)
            ctrl.remove(old)
            if own is not None:
                ctrl.remembered[new] = own
            if member is not None:
                self._join(event.device)
                joined = ctrl.members.get(new)
                if joined is not None:
                    joined.last_change = member.last_change
        self._kick()
        self._save()

    # ------------------------------------------------------------------ the group loops
    def start(self) -> None:
        for group in self.controllers:
            task = asyncio.create_task(self._loop(group), name=f"fleet {group}")
            self._tasks.append(task)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, group: str) -> None:
        ctrl, kick = self.controllers[group], self.kicks[group]
        last = -float("inf")
        while True:
            # the controller itself decides whether a plan is due (cadence, holds running
            # out, changes): waking it often costs a pure function call
            wait = min(ctrl.config.replan_interval, self.config.miners.poll_interval, 5.0)
            if await event_set_within(kick, wait):
                since = time.monotonic() - last
                await asyncio.sleep(cycle_delay(len(ctrl.members), since))
            kick.clear()
            last = time.monotonic()
            try:
                await self.cycle(group)
            except Exception:  # a bug must not end the group's control
                log.exception("fleet %s: cycle failed", group)

    async def cycle(self, group: str) -> CycleResult:
        """One plan-and-write cycle; the state is published if it changed."""
        async with self._locks[group]:
            result = await self._run(group)
        await self._publish(group, result.state)
        self._save()
        return result

    async def _run(self, group: str, emergency: bool = False) -> CycleResult:
        ctrl = self.controllers[group]
        result = await run_cycle(ctrl, self._writer)
        if not any(o.learned_range for o in result.outcomes.values()):
            return result
        # a clamp showed a miner's real range: the plan is made again with it
        ctrl.replan("a miner's range was learned", emergency=emergency)
        again = await run_cycle(ctrl, self._writer)
        outcomes = {**result.outcomes, **again.outcomes}
        return CycleResult([*result.writes, *again.writes], outcomes, again.state)

    async def _writer(self, write: Write) -> Outcome:
        """One controller write -> one command (limit first, then mining), confirmed by the
        driver's read-back."""
        device = self.adoption.devices.get(write.id)
        if device is None:
            return Outcome(False, "the miner was removed")
        actions = []
        if write.power_limit is not None:
            actions.append(cmd.Action("power_limit", write.power_limit))
        if write.mining is not None:
            actions.append(cmd.Action("mining", write.mining))
        if not actions:
            return Outcome(True)
        result = await self.commands.execute(device, cmd.Command(tuple(actions)))
        if result["status"] == "ok":
            return Outcome(True, power_limit=write.power_limit)
        error = str(result.get("error"))
        learned = self._learned_range(device, result)
        if learned is None or write.power_limit is None or "power_limit" in result["applied"]:
            return Outcome(False, error, learned_range=learned)
        # The limit was clamped: did the miner keep the nearest limit its real range allows?
        # Then it did what the plan means within that range (the plan had the catalog's
        # guess); the rest of the write (waking it) is still to be made.
        low, high = learned
        kept = result.get("reported", {}).get("power_limit")
        if kept != min(max(write.power_limit, low), high):
            return Outcome(False, error, learned_range=learned)
        if write.mining is not None:
            rest = await self.commands.execute(
                device, cmd.Command((cmd.Action("mining", write.mining),))
            )
            if rest["status"] != "ok":
                return Outcome(False, str(rest.get("error")), learned_range=learned)
        return Outcome(True, power_limit=kept, learned_range=learned)

    @staticmethod
    def _learned_range(device: Device, result: dict[str, Any]) -> tuple[int, int] | None:
        """The firmware's range, if a refused write (NotAppliedError) showed it."""
        miner = device.miner
        if "reported" not in result or miner is None:
            return None
        if not miner.supports(Capability.POWER_LIMIT):
            return None
        bounds = miner.power_range()
        return (bounds.low, bounds.high) if bounds.source == "firmware" else None

    async def _publish(self, group: str, state: dict[str, Any], force: bool = False) -> None:
        """Retained; at once when what the group is doing changed, and the readings (which
        move with every poll) at most once per poll interval."""
        key = _unchanging(state, self.controllers[group])
        now = time.monotonic()
        last_key, last_at = self._published.get(group, (b"", -float("inf")))
        if not force and key == last_key and now - last_at < self.config.miners.poll_interval:
            return
        self._published[group] = (key, now)
        await self.publisher.publish(self.topics.fleet_state(group), state, retain=True)

    # ------------------------------------------------------------------ MQTT
    async def _request(self, request: Request) -> None:
        group = request.incoming.target or ""
        body: dict[str, Any] = {
            "status": "error",
            "data": None,
            "error": None,
            "transaction": request_transaction(request),
        }
        ctrl = self.controllers.get(group)
        try:
            if ctrl is None:
                raise PowerInputError(f"unknown fleet group {group[:40]!r}")
            if asks_for_pools(request.payload):  # a pool list (features/pools.py), not power
                await self._pools(ctrl, body, request)
                return
            parsed = parse_set_payload(request.payload)
            async with self._locks[group]:  # this command's own cycle, not the loop's
                ctrl.command(parsed)  # all of it validated first; invalid: nothing changed
                result = await self._run(group, parsed.emergency)
            await self._publish(group, result.state)
            self._save()
            body.update(status=result.status, data=result.state, error=result.error)
        except PowerInputError as exc:
            body.update(status="error", error=str(exc))
            if ctrl is not None:
                body["data"] = ctrl.state()
            log.info("refused fleet command for %s: %s", group[:40], exc)
        await self.publisher.respond(self.topics.fleet_response(group), body, request)

    async def _pools(self, ctrl: PowerController, body: dict[str, Any], request: Request) -> None:
        """The group's online miners get the pool list (the pools feature's own answer)."""
        online = [i for i, m in ctrl.members.items() if m.online]
        members = [self.adoption.devices[i] for i in sorted(online) if i in self.adoption.devices]
        try:
            body["data"] = await set_group_pools(self.commands, members, request.payload)
            body["status"] = "ok" if not body["data"]["failed"] else "partial"
        except cmd.RequestError as exc:
            refused(body, str(exc), f"fleet pools for {ctrl.group[:40]}")
        await self.publisher.respond(self.topics.fleet_response(ctrl.group), body, request)

    async def _reading(self, request: Request) -> None:
        """A plain-number price or surplus reading; a bad one is logged and changes nothing."""
        group, what = request.incoming.target or "", request.incoming.name or ""
        ctrl = self.controllers.get(group)
        if ctrl is None:
            return
        try:
            value = parse_reading(request.payload, f"fleet {group} {what}")
        except PowerInputError as exc:
            log.info("ignored: %s", exc)
            return
        if what == "price":
            ctrl.price_reading(value)
        else:
            ctrl.surplus_reading(value)
        self.kicks[group].set()

    async def _announce(self, event: Announce) -> None:
        """After a connect or HA's birth: the groups' state and their HA entities again."""
        for group, ctrl in self.controllers.items():
            await self._publish(group, ctrl.state(), force=True)
            if self.config.mqtt.discovery:
                for topic, config in fleet_group_discovery(self.topics, group).items():
                    await self.publisher.publish(topic, config, retain=True)

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        """The runtime settings and remembered miners of the last run.  The runtime settings
        are dropped when bridge.yaml's group changed since (the file wins over old commands);
        what each miner was set to before curtailment is kept either way."""
        try:
            saved = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("%s is not readable (%s); fleet settings start afresh", self.path, exc)
            return
        groups = saved.get("groups", {}) if isinstance(saved, dict) else {}
        for group, ctrl in self.controllers.items():
            data = groups.get(group)
            if not isinstance(data, dict):
                continue
            configured = self._configured[group]
            if data.get("configured") != configured:
                data = {**data, "config": configured}
            try:
                ctrl.restore(data)
            except PowerInputError as exc:
                log.warning("fleet %s: %s; starting afresh", group, exc)
        self._saved = self._payload()

    def _payload(self) -> bytes:
        groups = {
            g: {**c.snapshot(), "configured": self._configured[g]}
            for g, c in self.controllers.items()
        }
        return orjson.dumps({"groups": groups}, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)

    def _save(self) -> None:
        """Atomically (registry.write_atomic), and only when something to remember changed."""
        payload = self._payload()
        if payload == self._saved:
            return
        try:
            write_atomic(self.path, payload)
        except OSError as exc:
            log.warning("could not save %s: %s", self.path, exc)
            return
        self._saved = payload

"""``<b>/fleet/<group>/set``: a power target shared among a group's miners (bridge.fleet
plans it), applied through the commands feature, the outcome retained on ``fleet/<group>``."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.config import BridgeConfig
from asic_bridge.bridge.events import Announce, EventBus
from asic_bridge.bridge.features.commands import Commands
from asic_bridge.bridge.features.pools import asks_for_pools, set_group_pools
from asic_bridge.bridge.features.state import StateFeature
from asic_bridge.bridge.fleet import (
    Allocation,
    FleetMember,
    allocate,
    allocated_power,
    parse_fleet_request,
)
from asic_bridge.bridge.mqtt import MqttSession, Publisher, Request, refused, request_transaction
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.topics import Topics
from asic_bridge.drivers.base import Capability


class Fleet:
    def __init__(
        self,
        bus: EventBus,
        publisher: Publisher,
        topics: Topics,
        config: BridgeConfig,
        adoption: Adoption,
        pollers: Pollers,
        state: StateFeature,
        commands: Commands,
    ):
        self.bus = bus
        self.publisher = publisher
        self.topics = topics
        self.config = config
        self.adoption = adoption
        self.pollers = pollers
        self.state = state
        self.commands = commands
        #: the last outcome per group (republished after a reconnect)
        self.outcomes: dict[str, dict[str, Any]] = {}
        #: monotonic time of each miner's last fleet change
        self.last_change: dict[str, float] = {}
        bus.on(Announce, self._announce)

    def routes(self, session: MqttSession) -> None:
        session.route("fleet_set", self._request)

    async def _announce(self, event: Announce) -> None:
        for group, outcome in self.outcomes.items():
            await self.publisher.publish(self.topics.fleet_state(group), outcome, retain=True)

    async def _request(self, request: Request) -> None:
        group, payload = request.incoming.target or "", request.payload
        body: dict[str, Any] = {
            "status": "error",
            "data": None,
            "error": None,
            "transaction": request_transaction(request),
        }
        try:
            if group not in self.config.fleet.groups:
                raise cmd.RequestError(f"unknown fleet group {group[:40]!r}")
            if asks_for_pools(payload):  # a pool list, not a power target
                body["data"] = await set_group_pools(self.commands, self._members(group), payload)
                body["status"] = "ok" if not body["data"]["failed"] else "partial"
                await self.publisher.respond(self.topics.fleet_response(group), body, request)
                return
            parsed = parse_fleet_request(payload)  # all of it, before any control call
            body["data"] = await self.curtail(group, parsed.target_w, emergency=parsed.emergency)
            body["status"] = "ok" if not body["data"]["failed"] else "partial"
        except cmd.RequestError as exc:
            refused(body, str(exc), f"fleet request for {group[:40]}")
        await self.publisher.respond(self.topics.fleet_response(group), body, request)

    def _members(self, group: str) -> list[Device]:
        wanted = self.config.fleet.groups[group].miners
        chosen = [d for d in self.adoption.devices.values() if not wanted or d.id in wanted]
        return [d for d in chosen if self.pollers.online(d.id)]

    async def curtail(
        self, group: str, target_w: int, *, emergency: bool = False
    ) -> dict[str, Any]:
        """Apply a fleet power target: most efficient miners first (see bridge.fleet).

        A miner changed less than the group's ``min_change_interval`` ago is held as it is
        (many firmwares restart hashing on every change), unless ``emergency`` is set.
        """
        devices = self._members(group)
        hold_for = self.config.fleet.groups[group].min_change_interval
        now = time.monotonic()

        def member(device: Device) -> FleetMember:
            rec = device.record
            state = self.state.last_state(rec.id)
            high = rec.power_max or int(state.get("power") or 0) or 3000
            low = rec.power_min or high
            return FleetMember(
                id=rec.id,
                min_w=low,
                max_w=high,
                efficiency=state.get("efficiency"),
                can_limit=Capability.POWER_LIMIT.value in rec.capabilities,
                can_stop=Capability.STOP_MINING.value in rec.capabilities,
            )

        members = [member(device) for device in devices]
        plan = allocate(target_w, members)
        failed: dict[str, str] = {}
        learned: list[Device] = []  # clamped: their real range is known now
        held: list[str] = []

        async def apply(item: Allocation, *, exempt: bool = False) -> None:
            device = self.adoption.devices[item.id]
            last = self.last_change.get(item.id, -math.inf)
            if not (emergency or exempt) and now - last < hold_for:
                held.append(item.id)
                return
            actions = []
            if item.mining and item.power_limit is not None:
                actions.append(cmd.Action("power_limit", item.power_limit))
            if Capability.STOP_MINING.value in device.record.capabilities:
                actions.append(cmd.Action("mining", item.mining))
            if not actions:
                return
            self.last_change[item.id] = now
            result = await self.commands.execute(device, cmd.Command(tuple(actions)))
            if result["status"] != "ok":
                failed[item.id] = str(result.get("error"))
                if "power_limit_range" in result:
                    learned.append(device)

        await asyncio.gather(*(apply(item) for item in plan))
        # A miner that clamped its target has shown its real range (the catalog's was a
        # guess): plan once more with what it showed, and re-apply where the plan moved.
        if learned:
            before = {p.id: p for p in plan}
            members = [member(device) for device in devices]
            plan = allocate(target_w, members)
            retry = {d.id for d in learned}
            for item in plan:
                if item.id in retry:
                    failed.pop(item.id, None)
            await asyncio.gather(
                *(
                    apply(item, exempt=item.id in retry)
                    for item in plan
                    if item.id in retry or before.get(item.id) != item
                )
            )
        outcome = {
            "target_w": target_w,
            "allocated_w": allocated_power(plan, members),
            "measured_w": sum(int(self.state.last_state(d.id).get("power") or 0) for d in devices),
            "flex_min_w": sum(m.min_w for m in members if not m.can_stop),
            "flex_max_w": sum(m.max_w for m in members),
            "miners": {
                "on": sorted(p.id for p in plan if p.mining),
                "sleeping": sorted(p.id for p in plan if not p.mining),
            },
            "plan": {p.id: {"mining": p.mining, "power_limit": p.power_limit} for p in plan},
            "failed": failed,
            "held": sorted(held),
            "updated_at": time.time(),
        }
        self.outcomes[group] = outcome
        await self.publisher.publish(self.topics.fleet_state(group), outcome, retain=True)
        return outcome

"""``<b>/<id>/set``, ``set/<field>`` and ``get``: validated commands run on the miner.

A command runs under the miner's lock, every action under a deadline, in order, stopping at
the first failure; it is never retried.  A repeated transaction (the same command under the
same id, within ``mqtt.transaction_ttl``) is answered with the first outcome, not run again.
Whatever the outcome, the next poll is a full one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge import pools as pool_lists
from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.events import CommandAnswered, CommandDone, EventBus, RecordChanged
from asic_bridge.bridge.fans import shown_description
from asic_bridge.bridge.mqtt import MqttSession, Publisher, Request, refused, request_transaction
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.pools import PoolEntry
from asic_bridge.bridge.topics import Topics
from asic_bridge.config import (
    FanModeImmersion,
    FanModeManual,
    FanModeNormal,
    MinerConfig,
    describe_fan_mode,
)
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import (
    AsicBridgeError,
    ConfigError,
    MinerConnectionError,
    MinerTimeoutError,
    NotAppliedError,
    UnsupportedError,
)

log = logging.getLogger("asic_bridge.bridge")


class Commands:
    def __init__(
        self,
        bus: EventBus,
        publisher: Publisher,
        topics: Topics,
        adoption: Adoption,
        pollers: Pollers,
        transaction_ttl: float,
    ):
        self.bus = bus
        self.publisher = publisher
        self.topics = topics
        self.adoption = adoption
        self.pollers = pollers
        # outcomes of recent commands by transaction id: a retry is answered, not run again
        self.transactions: cmd.Transactions[asyncio.Future[dict[str, Any]]] = cmd.Transactions(
            transaction_ttl
        )

    def routes(self, session: MqttSession) -> None:
        session.route("set", self.handle)
        session.route("set_field", self.handle)
        session.route("get", self.handle)

    async def handle(self, request: Request) -> None:
        """One command on <id>/set, set/<field> or get: answered whatever happens."""
        incoming = request.incoming
        kind, target = incoming.kind, incoming.target or ""
        response_topic = self.topics.response(target)
        command_name = "get" if kind == "get" else (incoming.name or "set")
        body: dict[str, Any] = {
            "status": "error",
            "command": command_name[:40],
            "transaction": request_transaction(request),
            "error": None,
            "applied": {},
        }
        device = self.adoption.devices.get(target)
        if device is None:
            refused(body, f"unknown miner {target[:64]!r}", f"a command to {target[:64]}")
            await self.publisher.respond(response_topic, body, request)
            await self.bus.emit(CommandAnswered(target[:64], "error"))
            return
        if kind == "get":
            self.pollers.request(device)
            body["status"] = "ok"
            await self.publisher.respond(response_topic, body, request)
            return
        try:
            if kind == "set":
                command = cmd.parse_set(request.payload, device.record)
            else:
                command = cmd.parse_set_field(incoming.name or "", request.payload, device.record)
        except cmd.RequestError as exc:
            refused(body, str(exc), f"{command_name[:40]} on {target}")
            await self.publisher.respond(response_topic, body, request)
            await self.bus.emit(CommandAnswered(target, "error"))
            await self.bus.emit(CommandDone(device, ok=False))
            return
        body["command"] = command.name
        transaction = body["transaction"]
        outcome: asyncio.Future[dict[str, Any]] | None = None
        if transaction is not None:
            earlier = self.transactions.recall(target, transaction, command.actions)
            if earlier is not None:
                # A retry (QoS 1 redelivery, a retrying client) is answered with the first
                # outcome, waiting for it if the first is still running: never executed twice.
                first = dict(await asyncio.shield(earlier))
                first["duplicate"] = True
                await self.publisher.respond(response_topic, first, request)
                return
            # remembered before the first await, so a retry arriving meanwhile sees it
            outcome = asyncio.get_running_loop().create_future()
            self.transactions.remember(target, transaction, command.actions, outcome)
        result: dict[str, Any] | None = None
        try:
            result = await self.execute(device, command)
        finally:
            if result is None:  # interrupted (shutdown): the outcome is unknown
                result = {"status": "unknown", "error": "interrupted; the outcome is unknown"}
            body.update(result)
            if outcome is not None:
                outcome.set_result(body)
        if body["status"] != "ok":
            log.info("%s on %s: %s: %s", command.name, target, body["status"], body["error"])
        await self.publisher.respond(response_topic, body, request)
        await self.bus.emit(CommandAnswered(target, str(body["status"])))
        if body["status"] != "ok":
            await self.bus.emit(CommandDone(device, ok=False))

    async def execute(self, device: Device, command: cmd.Command) -> dict[str, Any]:
        """Run the actions in order; stop at the first failure.  Never retried.

        ``applied`` echoes what was done, as validated (``{"power_limit": 3000}``).
        """
        if self.adoption.devices.get(device.id) is not device:
            return {"status": "error", "error": "the miner was removed", "applied": {}}
        done: dict[str, Any] = {}
        current: cmd.Action | None = None  # the action running (what a NotAppliedError is of)
        restarts = False  # a write that may restart the miner's backend was sent
        result: dict[str, Any]
        try:
            async with device.lock:
                miner = await self.adoption.connect(device)
                if miner is None:
                    return {"status": "error", "error": "miner is not reachable", "applied": done}
                deadline = miner.limits.request_timeout * 3
                for action in command.actions:
                    current = action
                    restarts = restarts or may_restart(action)
                    async with asyncio.timeout(deadline):
                        await apply(miner, action)
                    done.update(cmd.shown(action))
                    current = None
            result = {"status": "ok", "error": None, "applied": done}
        except NotAppliedError as exc:  # answered ok, did something else: say what
            failed = current.field if current is not None else command.name
            result = {"status": "error", "error": str(exc), "applied": done,
                      "reported": {failed: reported(failed, exc.applied)}}  # fmt: skip
            if await self.relearn_range(device):  # a clamp showed the real bound
                result["power_limit_range"] = [device.record.power_min, device.record.power_max]
        except (MinerTimeoutError, TimeoutError):
            result = {
                "status": "unknown",
                "error": "the miner did not confirm in time; the outcome is unknown (not retried)",
                "applied": done,
            }
        except MinerConnectionError as exc:
            status = "unknown" if done or "reset" in str(exc).lower() else "error"
            result = {"status": status, "error": str(exc), "applied": done}
        except (UnsupportedError, ConfigError, AsicBridgeError) as exc:
            result = {"status": "error", "error": str(exc), "applied": done}
        finally:
            # read the settings a command may have changed, and republish soon
            self.pollers.request(device, full=True)
        if restarts and result["status"] != "error":
            # it may be restarting its backend to apply this: silence is ours for a while
            self.pollers.settle(device)
        return result

    async def relearn_range(self, device: Device) -> bool:
        """Copy a range the driver learned (a clamped write) into the record; True if new."""
        miner, rec = device.miner, device.record
        if miner is None or not miner.supports(Capability.POWER_LIMIT):
            return False
        bounds = miner.power_range()
        if bounds.source != "firmware" or (rec.power_min, rec.power_max) == (
            bounds.low,
            bounds.high,
        ):
            return False
        rec.power_min, rec.power_max, rec.power_range_source = bounds.low, bounds.high, "firmware"
        self.adoption.registry.mark_dirty()
        await self.bus.emit(RecordChanged(device))  # bridge/devices, HA's number
        return True


FAN_FIELDS = ("fan_mode", "fan_speed")


def reported(field: str, applied: object) -> object:
    """What a NotAppliedError says the miner runs, as an answer may show it.

    A driver whose send_config confirms itself hands back the whole read-back MinerConfig:
    not encodable, and it holds the pool passwords.  Only the part the action is about is
    shown (a fan mode described in the MQTT names, a pool list's urls and users)."""
    if isinstance(applied, MinerConfig):
        if field == "pools":
            return pool_lists.configured_shown(applied)
        applied = applied.fan_mode if field in FAN_FIELDS else None
    if field in FAN_FIELDS:
        if isinstance(applied, FanModeNormal | FanModeManual | FanModeImmersion):
            applied = describe_fan_mode(applied)
        return shown_description(applied) if isinstance(applied, str) else None
    return None if isinstance(applied, BaseModel) else applied


def may_restart(action: cmd.Action) -> bool:
    """Whether applying ``action`` may restart the mining backend (BOSminer rewrites its
    config and restarts for a power target; many firmwares restart hashing on a change).
    Not a reboot: a rebooting miner is really away, and shown so."""
    return action.field in ("power_limit", "mode", "preset", "mining", "pools") or (
        action.value == "restart_backend"
    )


_DRIVER_CALLS: dict[str, Callable[[BaseMiner, Any], Awaitable[Any]]] = {
    "power_limit": lambda miner, watts: miner.set_power_limit(int(watts)),
    "mining": lambda miner, on: miner.resume_mining() if on else miner.stop_mining(),
    "fault_light": lambda miner, on: miner.fault_light_on() if on else miner.fault_light_off(),
    "mode": lambda miner, mode: miner.set_mode(str(mode)),
    "preset": lambda miner, name: miner.set_preset(str(name)),
    "fan_mode": lambda miner, fan: miner.set_fan_mode(fan.config()),
    "fan_speed": lambda miner, fan: miner.set_fan_mode(fan.config()),
    "pools": lambda miner, pools: write_pools(miner, pools),
    "action": lambda miner, name: {
        "reboot": miner.reboot,
        "restart_backend": miner.restart_backend,
        "identify": miner.fault_light_on,
    }[name](),
}


async def write_pools(miner: BaseMiner, pools: tuple[PoolEntry, ...]) -> None:
    """Write the pool list (every other setting kept: send_config reads, modifies, writes)
    and confirm it by reading it back."""
    await miner.send_config(pool_lists.as_config(pools))
    applied = pool_lists.configured_shown(await miner.get_config())
    if applied != pool_lists.shown(pools):
        raise NotAppliedError(
            "pools: the miner reports another pool list than the one written",
            wanted=pool_lists.shown(pools),
            applied=applied,
            ip=miner.ip,
            command="pools",
        )


async def apply(miner: BaseMiner, action: cmd.Action) -> None:
    """One validated action -> one driver call."""
    await _DRIVER_CALLS[action.field](miner, action.value)

"""The requests about miners: ``scan``, ``poll``, ``device/remove`` (``remove``),
``device/rename`` and ``device/options``."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from pydantic import ValidationError

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.config import BridgeConfig
from asic_bridge.bridge.events import (
    EventBus,
    MinerAdopted,
    MinerRemoved,
    MinerRenamed,
    RecordChanged,
)
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.options import DeviceOptions, OptionsStore, validation_message
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.topics import valid_id


class DeviceRequests:
    def __init__(
        self,
        bus: EventBus,
        config: BridgeConfig,
        adoption: Adoption,
        pollers: Pollers,
        store: OptionsStore,
    ):
        self.bus = bus
        self.config = config
        self.adoption = adoption
        self.pollers = pollers
        self.store = store
        # after the pollers (they start on MinerAdopted): a disabled miner stays unpolled
        bus.on(MinerAdopted, self._adopted)

    def register(self, requests: BridgeRequests) -> None:
        requests.register("scan", self._scan)
        requests.register("poll", self._poll)
        requests.register("remove", self._remove)
        requests.register("device/remove", self._remove)
        requests.register("device/rename", self._rename)
        requests.register("device/options", self._options)

    async def _scan(self, args: dict[str, Any]) -> Any:
        return {"found": await self.adoption.scan()}

    async def _poll(self, args: dict[str, Any]) -> Any:
        targets = self._targets(args.get("id"))
        results = await asyncio.gather(*(self.pollers.get(d).poll() for d in targets))
        return {d.id: ok for d, ok in zip(targets, results, strict=True)}

    def _targets(self, ids: Any) -> list[Device]:
        devices = self.adoption.devices
        if ids is None:
            return list(devices.values())
        wanted = [ids] if isinstance(ids, str) else ids
        if not isinstance(wanted, list) or not all(isinstance(i, str) for i in wanted):
            raise cmd.RequestError("id must be a miner id or a list of ids")
        missing = [i for i in wanted if i not in devices]
        if missing:
            raise cmd.RequestError(f"unknown miner(s): {', '.join(m[:64] for m in missing)}")
        return [devices[i] for i in wanted]

    def _device(self, miner_id: Any, key: str = "id") -> Device:
        if not isinstance(miner_id, str) or miner_id not in self.adoption.devices:
            raise cmd.RequestError(f"{key}: unknown miner {str(miner_id)[:64]!r}")
        return self.adoption.devices[miner_id]

    @staticmethod
    def _flag(args: dict[str, Any], key: str) -> bool:
        value = args.get(key, False)
        if not isinstance(value, bool):
            raise cmd.RequestError(f"{key} must be true or false")
        return value

    # ------------------------------------------------------------------ remove
    async def _remove(self, args: dict[str, Any]) -> Any:
        """``{id, block, force}``: every retained topic of the miner is cleared; ``block``
        keeps later scans from adopting it again.  ``force`` is accepted for zigbee2mqtt's
        clients: removing never needs the miner to answer, so it always goes through."""
        block = self._flag(args, "block")
        self._flag(args, "force")
        device = self._device(args.get("id"))
        if block:
            entry = device.record.mac or device.record.ip
            blocklist = list(self.store.bridge.blocklist or [])
            if entry not in blocklist:
                blocklist.append(entry)
            self.store.bridge = self.store.bridge.model_copy(update={"blocklist": blocklist})
        self.store.devices.pop(device.id, None)
        self.store.save()
        await self.remove(device.id)
        self._update_credentials()
        return {"id": device.id, "removed": device.id, "block": block}

    async def remove(self, miner_id: str) -> None:
        """Forget a miner: every feature clears its retained topics (on MinerRemoved)."""
        device = await self.adoption.remove(miner_id)
        await self.bus.emit(MinerRemoved(device))

    # ------------------------------------------------------------------ rename
    async def _rename(self, args: dict[str, Any]) -> Any:
        """``{from, to, homeassistant_rename}``: the id (and friendly name) becomes ``to``;
        its topics move, the old retained ones are cleared, HA keeps the entities."""
        device = self._device(args.get("from"), "from")
        new_id = args.get("to")
        if not isinstance(new_id, str) or not valid_id(new_id):
            raise cmd.RequestError(
                "to must be 1-64 letters, digits, '_' or '-' (it becomes a topic level), "
                "and not 'bridge' or 'fleet'"
            )
        ha_rename = self._flag(args, "homeassistant_rename")
        old_id = device.id
        if new_id == old_id:
            raise cmd.RequestError(f"{old_id} is already called {new_id}")
        if new_id in self.adoption.devices:
            raise cmd.RequestError(f"to: {new_id!r} is the id of another miner")
        async with device.lock:  # no poll or command publishes under the old id meanwhile
            await self.adoption.rename(old_id, new_id)
            if old_id in self.store.devices:
                self.store.devices[new_id] = self.store.devices.pop(old_id)
                self.store.save()
            await self.bus.emit(MinerRenamed(device, old_id, homeassistant_rename=ha_rename))
        return {"from": old_id, "to": new_id, "homeassistant_rename": ha_rename}

    # ------------------------------------------------------------------ options
    async def _options(self, args: dict[str, Any]) -> Any:
        """``{id, options}``: poll interval, friendly name, credentials, disabled; only the
        options given change, ``null`` resets one to the bridge's."""
        device = self._device(args.get("id"))
        wanted = args.get("options")
        if not isinstance(wanted, dict) or not wanted:
            raise cmd.RequestError('options must be an object like {"poll_interval": 30}')
        current = self.store.device(device.id).model_dump()
        try:
            options = DeviceOptions.model_validate({**current, **wanted})
        except ValidationError as exc:
            raise cmd.RequestError(f"options.{validation_message(exc)}") from None
        if options.credentials is not None and options.credentials not in self.config.credentials:
            known = ", ".join(sorted(self.config.credentials)) or "none are configured"
            raise cmd.RequestError(f"options.credentials: unknown entry; known: {known}")
        self.store.devices[device.id] = options
        self.store.save()
        if self.apply(device, options):
            await self.bus.emit(RecordChanged(device))
        return {"id": device.id, "options": options.model_dump(exclude_none=True)}

    def apply(self, device: Device, options: DeviceOptions) -> bool:
        """Put ``options`` in force; True if the record changed (the name HA shows)."""
        changed = False
        poller = self.pollers.get(device)
        poller.own_interval = options.poll_interval
        was_disabled, poller.disabled = poller.disabled, bool(options.disabled)
        if was_disabled and not poller.disabled:
            poller.request()
        name = options.friendly_name
        if name is not None and device.record.friendly_name != name:
            device.record.friendly_name = name
            self.adoption.registry.mark_dirty()
            changed = True
        self._update_credentials()
        return changed

    def _update_credentials(self) -> None:
        """The config's credential table, with each miner's ``credentials`` option as the
        entry of its address (the most specific level)."""
        table = self.config.credential_table()
        hosts = dict(table.hosts)
        for miner_id, options in self.store.devices.items():
            device = self.adoption.devices.get(miner_id)
            if device is not None and options.credentials is not None:
                hosts[device.record.ip] = self.config.credentials[
                    options.credentials
                ].as_credentials()
        self.adoption.credentials = dataclasses.replace(table, hosts=hosts)

    async def _adopted(self, event: MinerAdopted) -> None:
        options = self.store.devices.get(event.device.id)
        if options is not None:
            self.apply(event.device, options)

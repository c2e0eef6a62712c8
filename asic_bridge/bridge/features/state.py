"""``<b>/<id>``: the retained state of every miner, its per-field topics, and its energy.

On every PollSucceeded (the hot path): the record learns what the poll says (last seen,
hostname, firmware, energy), the state is built and published, and the registry saved when
due.  A refused or failed command republishes the real state at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from asic_bridge.bridge.commands import read_presets
from asic_bridge.bridge.config import BridgeConfig
from asic_bridge.bridge.events import (
    Announce,
    CommandDone,
    EventBus,
    MinerRemoved,
    MinerRenamed,
    PollSucceeded,
    RecordChanged,
    StateKeysChanged,
)
from asic_bridge.bridge.mqtt import Publisher
from asic_bridge.bridge.registry import Registry
from asic_bridge.bridge.state import stable_boot_time, state_payload
from asic_bridge.bridge.topics import Topics


@dataclass
class MinerState:
    """What the state feature remembers about one miner between polls."""

    reported: set[str] = field(default_factory=set)  # every key it ever reported
    boot_time: float | None = None
    mode: str | None = None
    last: dict[str, Any] | None = None
    field_keys: set[str] | None = None  # keys on per-field topics (None: none since start)
    unknown_preset: str | None = None  # the last active preset not in the record's list


class StateFeature:
    def __init__(
        self,
        bus: EventBus,
        publisher: Publisher,
        topics: Topics,
        config: BridgeConfig,
        registry: Registry,
    ):
        self.bus = bus
        self.publisher = publisher
        self.topics = topics
        self.config = config
        self.registry = registry
        self.miners: dict[str, MinerState] = {}
        bus.on(Announce, self._announce)
        bus.on(PollSucceeded, self._poll_succeeded)
        bus.on(CommandDone, self._command_done)
        bus.on(MinerRemoved, self._removed)
        bus.on(MinerRenamed, self._renamed)

    def last_state(self, miner_id: str) -> dict[str, Any]:
        """The miner's last published state (empty before its first poll)."""
        miner = self.miners.get(miner_id)
        return (miner.last if miner is not None else None) or {}

    async def _poll_succeeded(self, event: PollSucceeded) -> None:
        device, data, now = event.device, event.data, event.now
        record = device.record
        miner = self.miners.get(record.id)
        if miner is None:
            miner = self.miners[record.id] = MinerState(reported=set(record.reported))
        record.last_seen = now
        record.add_energy(data.wattage, now, self.config.miners.poll_interval)
        if data.hostname:
            record.hostname = data.hostname
        if data.fw_ver:
            record.fw_ver = data.fw_ver
        if data.fan_percent is not None:
            record.fan_percent = data.fan_percent  # what a bare "fan_mode manual" keeps
        miner.boot_time = stable_boot_time(miner.boot_time, data.uptime, now)
        if data.config is not None and data.config.mining_mode is not None:
            miner.mode = data.config.mining_mode.mode
        preset = data.active_preset
        if preset is not None and preset not in record.presets:
            # the firmware's list changed (a profile added): the select's options follow; a
            # preset still missing from it is left out, never shown outside the options.
            # Asked once per unknown name (a carried-over reading repeats it every poll).
            if device.miner is not None and miner.unknown_preset != preset:
                miner.unknown_preset = preset
                if await read_presets(device.miner, record):
                    await self.bus.emit(RecordChanged(device))
            if preset not in record.presets:
                data.active_preset = None
        state = state_payload(
            data,
            # the total as saved, never ahead of the disk (see Registry.persist)
            energy_kwh=self.registry.saved_energy(record.id),
            boot_time=miner.boot_time,
            mode=miner.mode,
            now=now,
        )
        keys_changed = not miner.reported.issuperset(state)
        if keys_changed:
            miner.reported.update(state)
            record.reported = sorted(miner.reported)
        unit = state["hashrate_unit"]  # data.hashrate_unit, always in the state
        if record.hashrate_unit != unit:
            record.hashrate_unit = unit
            # discovery (units, any new key) and bridge/devices: one announcement for both
            await self.bus.emit(RecordChanged(device))
        elif keys_changed:
            await self.bus.emit(StateKeysChanged(device))
        miner.last = state
        await self._publish(record.id, miner)
        self.registry.mark_dirty()
        await self.registry.persist_if_due(self.config.state_save_interval)

    async def _publish(self, miner_id: str, miner: MinerState) -> None:
        state = miner.last
        assert state is not None
        qos = self.config.mqtt.state_qos
        publish = self.publisher.publish
        await publish(self.topics.state(miner_id), state, retain=True, qos=qos)
        if self.config.mqtt.per_field_topics:
            # a key that left the state (efficiency at 0 TH/s, unreadable after a recovery)
            # must not keep its old retained value; after a restart, every key ever reported
            previous = miner.field_keys if miner.field_keys is not None else miner.reported
            miner.field_keys = set(state)
            for key in sorted(previous - miner.field_keys):
                await publish(self.topics.field(miner_id, key), "", retain=True)
            for key, value in state.items():
                if isinstance(value, (list, dict)):
                    value = json.dumps(value)
                elif isinstance(value, bool):
                    value = "true" if value else "false"
                await publish(self.topics.field(miner_id, key), str(value), retain=True, qos=qos)

    async def _announce(self, event: Announce) -> None:
        for miner_id, miner in list(self.miners.items()):
            if miner.last is not None:
                await self._publish(miner_id, miner)

    async def _command_done(self, event: CommandDone) -> None:
        """The real state right after a refused or failed write: a UI that showed the write
        (an HA entity, a dashboard) goes back at once instead of at the next poll."""
        miner = self.miners.get(event.device.id)
        if not event.ok and miner is not None and miner.last is not None:
            await self._publish(event.device.id, miner)

    async def _clear(self, miner_id: str, keys: set[str]) -> None:
        await self.publisher.publish(self.topics.state(miner_id), "", retain=True)
        if self.config.mqtt.per_field_topics:
            for key in sorted(keys):
                await self.publisher.publish(self.topics.field(miner_id, key), "", retain=True)

    async def _removed(self, event: MinerRemoved) -> None:
        miner = self.miners.pop(event.device.id, None)
        keys = set(event.device.record.reported)
        if miner is not None:
            keys |= miner.reported | (miner.field_keys or set())
        await self._clear(event.device.id, keys)

    async def _renamed(self, event: MinerRenamed) -> None:
        miner = self.miners.pop(event.old_id, None)
        await self._clear(event.old_id, set(event.device.record.reported))
        if miner is not None:
            self.miners[event.device.id] = miner
            miner.field_keys = None
            if miner.last is not None:
                await self._publish(event.device.id, miner)

"""The device registry: every miner the bridge has seen, persisted atomically.

The MAC is a miner's identity; its IP is only where it was last found.  A miner that is off
keeps its record (and so its Home Assistant entities, shown unavailable) across restarts, and
its energy total keeps counting from where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

log = logging.getLogger(__name__)

# A gap longer than this many poll intervals is not integrated (the miner was away).
MAX_INTEGRATION_GAP_POLLS = 3.0


@dataclass
class DeviceRecord:
    """What the bridge knows about one miner."""

    id: str
    mac: str | None
    ip: str
    make: str | None = None
    model: str | None = None
    firmware: str | None = None
    fw_ver: str | None = None
    hostname: str | None = None
    serial_number: str | None = None
    algo: str = "SHA256"
    hashrate_unit: str = "TH/s"
    ports: dict[str, int] = field(default_factory=dict)
    capabilities: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)  # the firmware's preset names, its order
    fan_modes: list[str] = field(default_factory=list)  # MQTT names (bridge.fans): auto, ...
    #: the fans' duty (%) the last poll reported: the speed a bare "fan_mode manual" keeps
    fan_percent: int | None = None
    power_min: int | None = None
    power_max: int | None = None
    power_range_source: str | None = None  # "firmware" / "catalog" / "unknown"
    expected_hashboards: int | None = None
    expected_fans: int | None = None
    friendly_name: str | None = None
    group: str | None = None
    energy_kwh: float = 0.0
    last_power_w: float | None = None
    last_power_at: float | None = None  # wall-clock seconds
    last_seen: float | None = None
    # Retained discovery topics published for this miner, so stale ones can be cleared.
    discovery_topics: list[str] = field(default_factory=list)
    # State keys this miner has ever reported: which sensors it gets.  Persisted so a restart
    # neither re-announces sensors it never reports nor withdraws ones a first poll missed.
    reported: list[str] = field(default_factory=list)
    #: The id the miner was adopted under: Home Assistant's unique ids and discovery topics
    #: keep it when the miner is renamed (bridge/request/device/rename).
    uid: str = ""

    def __post_init__(self) -> None:
        if not self.uid:
            self.uid = self.id

    def public(self) -> dict[str, Any]:
        """The fields published on ``bridge/devices`` (no internal bookkeeping)."""
        return {
            "id": self.id,
            "ip": self.ip,
            "mac": self.mac,
            "make": self.make,
            "model": self.model,
            "firmware": self.firmware,
            "fw_ver": self.fw_ver,
            "hostname": self.hostname,
            "friendly_name": self.friendly_name,
            "capabilities": self.capabilities,
            "modes": self.modes,
            "presets": self.presets,
            "fan_modes": self.fan_modes,
            "power_limit_range": [self.power_min, self.power_max]
            if self.power_min is not None and self.power_max is not None
            else None,
            "power_limit_range_source": self.power_range_source,
            "hashrate_unit": self.hashrate_unit,
        }

    def add_energy(self, power_w: float | None, now: float, poll_interval: float) -> None:
        """Integrate power over the time since the last reading (trapezoid rule).

        A gap longer than a few poll intervals (miner away, bridge stopped) is not filled in:
        energy is never invented.
        """
        if power_w is None or power_w < 0:
            self.last_power_w, self.last_power_at = None, None
            return
        if self.last_power_w is not None and self.last_power_at is not None:
            elapsed = now - self.last_power_at
            if 0 < elapsed <= poll_interval * MAX_INTEGRATION_GAP_POLLS:
                watts = (self.last_power_w + power_w) / 2
                self.energy_kwh += watts * elapsed / 3_600_000
        self.last_power_w, self.last_power_at = power_w, now


# Validates a stored record against DeviceRecord's type hints (lax: "3" is 3, "x" is an error).
_RECORD: TypeAdapter[DeviceRecord] = TypeAdapter(DeviceRecord)


class Registry:
    """All device records, keyed by id, saved to ``<state_dir>/devices.json``."""

    def __init__(self, state_dir: str | Path):
        self.path = Path(state_dir) / "devices.json"
        self.devices: dict[str, DeviceRecord] = {}
        self._dirty = False
        self._last_save = 0.0
        # energy_kwh of each record as last written: what may be published (never ahead
        # of the disk, so a kill -9 cannot make a total_increasing sensor go down)
        self._saved_energy: dict[str, float] = {}
        self._changes = 0  # persist() calls so far
        self._saved_changes = 0  # of those, how many the last completed write covers
        self._write_lock = asyncio.Lock()
        self._by_mac: dict[str, DeviceRecord] = {}  # see by_mac

    def load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or not isinstance(raw.get("devices", []), list):
                raise ValueError("not a registry object")
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # Keep the broken file for inspection; start empty rather than crash.
            backup = self.path.with_suffix(".broken")
            log.error("device registry %s is unreadable (%s); moved to %s", self.path, exc, backup)
            self.path.replace(backup)
            return
        known = set(DeviceRecord.__dataclass_fields__)
        for item in raw.get("devices", []):
            try:
                if not isinstance(item, dict):
                    raise TypeError(f"an entry must be an object, got {type(item).__name__}")
                record = _RECORD.validate_python({k: v for k, v in item.items() if k in known})
            except (TypeError, ValidationError) as exc:
                # A wrong type would only fail later, mid-poll; drop the entry now instead.
                log.warning("skipping a malformed registry entry: %s", str(exc).splitlines()[0])
                continue
            self._put(record)
            self._saved_energy[record.id] = record.energy_kwh

    def saved_energy(self, device_id: str) -> float:
        """The energy total of ``device_id`` as it is on disk (0 before its first write)."""
        return self._saved_energy.get(device_id, 0.0)

    def _snapshot(self) -> tuple[bytes, dict[str, float]]:
        # vars(), not asdict(): asdict deep-copies every list of every record first, which
        # cost more than the write itself on a large fleet.
        payload = {"version": 1, "devices": [vars(d) for d in self.devices.values()]}
        energy = {d.id: d.energy_kwh for d in self.devices.values()}
        return orjson.dumps(payload), energy

    def _write(self, data: bytes) -> None:
        write_atomic(self.path, data)

    async def persist(self) -> None:
        """Write now; returns once every change made before the call is on disk.

        Callers arriving during a write share the next one (a scan adopting 500 miners
        writes a handful of times, not 500), and the file work runs in a thread.
        """
        self._dirty = True
        self._changes += 1
        wanted = self._changes
        async with self._write_lock:
            if self._saved_changes >= wanted:
                return  # a write that started after our change has finished
            covered = self._changes
            data, energy = self._snapshot()
            self._dirty = False
            write = asyncio.ensure_future(asyncio.to_thread(self._write, data))
            try:
                # a cancelled caller still waits for the thread: an older snapshot must
                # never land after a newer one
                await asyncio.shield(write)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await write
                raise
            except BaseException:
                self._dirty = True
                raise
            self._saved_changes = covered
            self._saved_energy = energy
            self._last_save = time.monotonic()

    async def persist_if_due(self, min_interval: float) -> None:
        """persist() when something changed and the last write is ``min_interval`` old."""
        if self._dirty and time.monotonic() - self._last_save >= min_interval:
            await self.persist()

    def save(self, force: bool = False, min_interval: float = 30.0) -> None:
        """Write atomically (temp file, fsync, rename); throttled unless ``force``."""
        now = time.monotonic()
        if not force and (not self._dirty or now - self._last_save < min_interval):
            return
        data, energy = self._snapshot()
        self._write(data)
        self._saved_energy = energy
        self._dirty = False
        self._last_save = now

    def mark_dirty(self) -> None:
        self._dirty = True

    def by_mac(self, mac: str) -> DeviceRecord | None:
        """The first record with this MAC.  Indexed: a scan asks once per miner it adopts,
        and a walk over every record made a 5,000-miner scan quadratic (~1 s of CPU)."""
        return self._by_mac.get(mac.lower())

    def _index(self, record: DeviceRecord) -> None:
        if record.mac is not None:
            self._by_mac.setdefault(record.mac, record)  # the first one, as a walk finds

    def by_ip(self, ip: str) -> DeviceRecord | None:
        return next((d for d in self.devices.values() if d.ip == ip), None)

    def add(self, record: DeviceRecord) -> None:
        self._put(record)
        self._dirty = True

    def _put(self, record: DeviceRecord) -> None:
        old = self.devices.get(record.id)
        self.devices[record.id] = record
        if old is not None and old is not record:
            self._unindex(old)
        self._index(record)

    def remove(self, device_id: str) -> DeviceRecord | None:
        self._dirty = True
        record = self.devices.pop(device_id, None)
        if record is not None:
            self._unindex(record)
        return record

    def _unindex(self, record: DeviceRecord) -> None:
        if record.mac is None or self._by_mac.get(record.mac) is not record:
            return
        del self._by_mac[record.mac]
        for other in self.devices.values():  # another record with that MAC (rare)
            if other.mac == record.mac:
                self._by_mac[record.mac] = other
                break

    def rename(self, old_id: str, new_id: str) -> DeviceRecord:
        """Give a record a new id (its saved energy total moves with it)."""
        record = self.devices.pop(old_id)
        record.id = new_id
        self.devices[new_id] = record
        if old_id in self._saved_energy:
            self._saved_energy[new_id] = self._saved_energy.pop(old_id)
        self._dirty = True
        return record


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename: a crash leaves the old file or the new, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

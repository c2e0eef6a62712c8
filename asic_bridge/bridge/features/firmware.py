"""Firmware updates: ``bridge/request/device/firmware_update {id | group, file}`` and the
Home Assistant ``update`` entity of each miner the firmware folder has an image for.

The request is checked whole before anything starts (the file is in the folder, each miner
takes uploads, the driver's own check of the image, no update already running on it) and
answered at once with the miners started; progress goes to ``bridge/event`` as
``firmware_update`` events: ``uploading``, ``rebooting``, ``done`` (with the version the miner
reports) or ``failed`` (with the reason).  ``upgrade_firmware`` returns once the image is
accepted, so the feature watches for the reboot and the new version itself.  While a miner
updates its poll failures do not count towards offline (the poller's settle time), and its
``<b>/<id>/firmware_update`` state says ``in_progress``.  At most ``firmware.concurrency``
updates run at once per fleet group, and one per miner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.config import BridgeConfig, FirmwareConfig
from asic_bridge.bridge.entities import firmware_update_discovery
from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerRemoved,
    MinerRenamed,
    PollSucceeded,
    RecordChanged,
)
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.firmware_files import (
    FirmwareEntry,
    FirmwareFileError,
    load_manifest,
    match,
    resolve,
)
from asic_bridge.bridge.mqtt import Publisher
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.topics import Topics
from asic_bridge.drivers.base import Capability
from asic_bridge.drivers.firmware import UPLOAD_TIMEOUT, FirmwareFile, load_firmware
from asic_bridge.errors import AsicBridgeError, ConfigError

log = logging.getLogger("asic_bridge.bridge")

EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]
KEYS = {"id", "group", "file", "keep_settings", "transaction"}


class FirmwareUpdates:
    def __init__(
        self,
        bus: EventBus,
        publisher: Publisher,
        topics: Topics,
        config: BridgeConfig,
        adoption: Adoption,
        pollers: Pollers,
        event: EventSink,
    ):
        self.bus = bus
        self.publisher = publisher
        self.topics = topics
        self.config = config
        self.adoption = adoption
        self.pollers = pollers
        self.event = event
        #: ids of the miners updating now (one update per miner)
        self.updating: set[str] = set()
        self.semaphores: dict[str, asyncio.Semaphore] = {}
        #: the last update state published per miner (republished only on a change)
        self.published: dict[str, dict[str, Any]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        bus.on(Announce, self._announce)
        bus.on(PollSucceeded, self._polled)
        bus.on(RecordChanged, self._record_changed)
        bus.on(MinerRemoved, self._removed)
        bus.on(MinerRenamed, self._renamed)

    def register(self, requests: BridgeRequests) -> None:
        requests.register("device/firmware_update", self._request)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # ------------------------------------------------------------------ the request
    def _folder(self) -> FirmwareConfig:
        if self.config.firmware is None:
            raise cmd.RequestError("no firmware folder is configured (firmware: {dir: ...})")
        return self.config.firmware

    def _targets(self, args: dict[str, Any]) -> tuple[str, list[Device]]:
        """``(group, devices)``: one miner by id, or the adopted miners of a fleet group."""
        miner_id, group = args.get("id"), args.get("group")
        if (miner_id is None) == (group is None):
            raise cmd.RequestError("give either id (one miner) or group (a fleet group)")
        devices = self.adoption.devices
        if miner_id is not None:
            if not isinstance(miner_id, str) or miner_id not in devices:
                raise cmd.RequestError(f"id: unknown miner {str(miner_id)[:64]!r}")
            return self._group_of(miner_id), [devices[miner_id]]
        groups = self.config.fleet.groups
        if not isinstance(group, str) or group not in groups:
            raise cmd.RequestError(f"group: unknown fleet group {str(group)[:40]!r}")
        wanted = groups[group].miners
        chosen = [d for d in devices.values() if not wanted or d.id in wanted]
        if not chosen:
            raise cmd.RequestError(f"group {group!r} has no adopted miner")
        return group, chosen

    def _group_of(self, miner_id: str) -> str:
        """The first fleet group the miner belongs to (its concurrency limit)."""
        for name, group in self.config.fleet.groups.items():
            if not group.miners or miner_id in group.miners:
                return name
        return f"miner:{miner_id}"

    async def _request(self, args: dict[str, Any]) -> Any:
        folder = self._folder()
        unknown = sorted(str(k)[:40] for k in args if k not in KEYS)
        if unknown:
            raise cmd.RequestError(
                f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}"
            )
        keep = args.get("keep_settings", True)
        if not isinstance(keep, bool):
            raise cmd.RequestError("keep_settings must be true or false")
        try:
            path = resolve(folder.dir, args.get("file"))
        except FirmwareFileError as exc:
            raise cmd.RequestError(str(exc)) from None
        group, devices = self._targets(args)
        try:
            image = await asyncio.to_thread(load_firmware, path)
        except ConfigError as exc:
            raise cmd.RequestError(str(exc)) from None
        for device in devices:  # all checked before any miner is touched
            self._check(device, image)
        version = self._version_of(path.name, devices)
        for device in devices:
            self.updating.add(device.id)
        semaphore = self.semaphores.setdefault(group, asyncio.Semaphore(folder.concurrency))
        for device in devices:
            task = asyncio.create_task(
                self._update(device, image, semaphore, version.get(device.id), keep),
                name=f"firmware:{device.id}",
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return {
            "file": path.name,
            "group": group,
            "started": [d.id for d in devices],
            "concurrency": folder.concurrency,
        }

    def _check(self, device: Device, image: FirmwareFile) -> None:
        where = f"{device.id}: "
        if Capability.FIRMWARE_UPGRADE.value not in device.record.capabilities:
            rec = device.record
            raise cmd.RequestError(f"{where}{rec.make} {rec.firmware} takes no firmware uploads")
        if device.id in self.updating:
            raise cmd.RequestError(f"{where}a firmware update is already running on it")
        miner = device.miner
        if miner is None or not self.pollers.online(device.id):
            raise cmd.RequestError(f"{where}the miner is not online")
        try:
            miner.check_firmware(image)
        except AsicBridgeError as exc:
            raise cmd.RequestError(f"{where}{exc}; nothing was sent") from None

    def _version_of(self, name: str, devices: list[Device]) -> dict[str, str]:
        """The version the manifest gives this file for each miner (where it lists it)."""
        try:
            entries = load_manifest(self._folder().dir)
        except FirmwareFileError as exc:
            log.warning("firmware manifest: %s", exc)
            return {}
        out = {}
        for device in devices:
            entry = match([e for e in entries if e.file == name], device.record)
            if entry is not None:
                out[device.id] = entry.version
        return out

    # ------------------------------------------------------------------ one update
    async def _emit(self, device: Device, stage: str, file: str, **more: Any) -> None:
        await self.event("firmware_update", {"id": device.id, "stage": stage, "file": file, **more})

    async def _update(
        self,
        device: Device,
        image: FirmwareFile,
        semaphore: asyncio.Semaphore,
        expected: str | None,
        keep: bool,
    ) -> None:
        config = self._folder()
        poller = self.pollers.get(device)
        try:
            async with semaphore:
                deadline = time.monotonic() + config.timeout
                poller.settle(config.timeout)  # its silence is the update's, not offline
                await self._publish_state(device)
                await self._emit(device, "uploading", image.name, expected_version=expected)
                old = device.record.fw_ver
                failure = await self._upload(device, image, keep)
                if failure is not None:
                    await self._emit(device, "failed", image.name, reason=failure)
                    return
                await self._emit(device, "rebooting", image.name)
                version, failure = await self._wait_back(device, old, expected, deadline)
                if failure is not None:
                    await self._emit(device, "failed", image.name, reason=failure, version=version)
                    return
                device.record.fw_ver = version
                self.adoption.registry.mark_dirty()
                await self._emit(device, "done", image.name, version=version)
                await self.bus.emit(RecordChanged(device))
        except Exception as exc:  # a bug must still end the update and say so
            log.exception("firmware update of %s failed unexpectedly", device.id)
            await self._emit(device, "failed", image.name, reason=f"internal error: {exc}")
        finally:
            self.updating.discard(device.id)
            poller.settle(0)
            poller.request(full=True)
            with contextlib.suppress(Exception):
                await self._publish_state(device)

    async def _upload(self, device: Device, image: FirmwareFile, keep: bool) -> str | None:
        """None once the firmware accepted the image; else why not (it was left as it was)."""
        try:
            async with device.lock:
                miner = await self.adoption.connect(device)
                if miner is None:
                    return "the miner is not reachable; nothing was sent"
                async with asyncio.timeout(UPLOAD_TIMEOUT):
                    await miner.upgrade_firmware(image, keep_settings=keep)
            return None
        except TimeoutError:
            return "the upload timed out; the miner did not accept the image"
        except AsicBridgeError as exc:
            return f"the miner did not accept the image ({exc}); it runs its old firmware"

    async def _wait_back(
        self, device: Device, old: str | None, expected: str | None, deadline: float
    ) -> tuple[str | None, str | None]:
        """``(version, failure)``: watch the miner reboot and report its version."""
        interval = self._folder().check_interval
        poller = self.pollers.get(device)
        went_away = False
        seen: str | None = None
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            poller.settle(max(0.0, deadline - time.monotonic()))  # a command may shorten it
            seen = None
            try:
                async with device.lock:
                    miner = await self.adoption.connect(device)
                    if miner is not None:
                        miner.identity.fw_ver = None  # a static fact: read it afresh
                        async with asyncio.timeout(interval + 5):
                            seen = (await miner.get_data(include=["fw_ver"])).fw_ver
            except (AsicBridgeError, TimeoutError):
                seen = None
            if seen is None:
                went_away = True
                continue
            if expected is not None and expected in seen:
                return seen, None
            if went_away and expected is not None:
                return seen, f"the miner came back reporting {seen}, not {expected}"
            if expected is None and (went_away or seen != old):
                return seen, None
        waited = self._folder().timeout
        return seen, f"the miner did not report its new firmware within {waited:g} s"

    # ------------------------------------------------------------------ HA update entity
    def _offer(self, device: Device) -> FirmwareEntry | None:
        if (
            self.config.firmware is None
            or Capability.FIRMWARE_UPGRADE.value not in device.record.capabilities
        ):
            return None
        try:
            return match(load_manifest(self.config.firmware.dir), device.record)
        except FirmwareFileError as exc:
            log.warning("firmware manifest: %s", exc)
            return None

    async def _publish_state(self, device: Device, force: bool = False) -> None:
        entry = self._offer(device)
        if entry is None or not self.config.mqtt.discovery:
            return
        record = device.record
        state = {
            "installed_version": record.fw_ver,
            "latest_version": entry.version,
            "title": f"{record.firmware} {entry.version}",
            "release_summary": entry.file,
            "in_progress": device.id in self.updating,
        }
        if force or self.published.get(device.id) != state:
            if device.id not in self.published or force:
                topic, config = firmware_update_discovery(record, self.topics, entry.file)
                await self.publisher.publish(topic, config, retain=True)
            self.published[device.id] = state
            await self.publisher.publish(self.topics.firmware(device.id), state, retain=True)

    async def _announce(self, event: Announce) -> None:
        for device in list(self.adoption.devices.values()):
            if device.record.fw_ver is not None:
                await self._publish_state(device, force=True)

    async def _polled(self, event: PollSucceeded) -> None:
        await self._publish_state(event.device)

    async def _record_changed(self, event: RecordChanged) -> None:
        await self._publish_state(event.device, force=True)

    async def _removed(self, event: MinerRemoved) -> None:
        if self.published.pop(event.device.id, None) is None:
            return
        topic, _ = firmware_update_discovery(event.device.record, self.topics, "")
        await self.publisher.publish(topic, "", retain=True)
        await self.publisher.publish(self.topics.firmware(event.device.id), "", retain=True)

    async def _renamed(self, event: MinerRenamed) -> None:
        """Same discovery topic (the uid), a new id in the install payload and state topic."""
        if self.published.pop(event.old_id, None) is not None:
            await self.publisher.publish(self.topics.firmware(event.old_id), "", retain=True)
            await self._publish_state(event.device, force=True)

"""Adoption: scans, the miners they find, their addresses, credentials and the registry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from asic_bridge import factory
from asic_bridge.bridge.commands import read_presets
from asic_bridge.bridge.config import BridgeConfig, HostConfig
from asic_bridge.bridge.events import (
    EventBus,
    MinerAdopted,
    MinerMoved,
    ScanFinished,
)
from asic_bridge.bridge.fans import shown_fan_modes
from asic_bridge.bridge.registry import DeviceRecord, Registry
from asic_bridge.bridge.shard import Shard
from asic_bridge.bridge.topics import mac_id
from asic_bridge.bridge.waits import event_set_within
from asic_bridge.data.hashrate import ALGORITHMS
from asic_bridge.drivers.base import BaseMiner, Capability, UnknownMiner
from asic_bridge.errors import AsicBridgeError
from asic_bridge.network import Host, MinerNetwork

log = logging.getLogger("asic_bridge.bridge")


@dataclass(eq=False)
class Device:
    """One adopted miner as every part sees it: its record, its driver, its lock.

    Everything else about a miner belongs to the feature that needs it (the poller's
    schedule, the state feature's last state, the commands' transactions).
    """

    record: DeviceRecord
    miner: BaseMiner | None = None
    host: HostConfig | None = None
    #: held by a poll or a command: one conversation with the miner at a time
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def id(self) -> str:
        return self.record.id


class Adoption:
    """Finds miners (scans), adopts them as Devices, follows their addresses, connects.

    The registry is this part's: records are created, updated and removed here only.
    """

    def __init__(
        self,
        config: BridgeConfig,
        registry: Registry,
        bus: EventBus,
        extra_hosts: list[Host] | None = None,
        blocked: Callable[[str | None, str], bool] | None = None,
    ):
        self.config = config
        self.registry = registry
        self.bus = bus
        # known before identification, so a non-default password still reads the MAC
        self.credentials = config.credential_table()
        #: hosts scanned besides the configured ones (the simulated miners)
        self.extra_hosts: list[Host] = extra_hosts if extra_hosts is not None else []
        #: the adopted miners, by id
        self.devices: dict[str, Device] = {}
        self._found_tasks: set[asyncio.Task[None]] = set()
        #: (mac, ip) -> whether a scan must leave this miner alone (the block list)
        self.blocked = blocked or (lambda mac, ip: False)
        #: the part of the fleet this instance owns (all of it unless ``shard`` says otherwise)
        self.shard = Shard(config.shard.index, config.shard.count)
        #: the configured hosts by address (the first of each): looked up per adoption
        self._hosts: dict[str, HostConfig] = {}
        for host in config.miners.hosts:
            self._hosts.setdefault(host.ip, host)

    def load(self) -> None:
        """The miners adopted before (the registry), so they are polled before any scan.

        A miner another instance owns now (``shard.count`` changed) is forgotten here without
        clearing its topics: its new owner publishes them."""
        self.registry.load()
        for record in list(self.registry.devices.values()):
            if not self.shard.owns(record.mac, record.ip):
                log.info("%s belongs to another shard now; forgotten here", record.id)
                self.registry.remove(record.id)
                continue
            self.devices[record.id] = Device(record)

    def _scan_targets(self) -> tuple[list[Host], list[str]]:
        hosts = [Host(h.ip, h.ports or None) for h in self.config.miners.hosts]
        hosts += self.extra_hosts
        return hosts, list(self.config.miners.scan)

    async def scan(self) -> int:
        """Scan every configured target once; returns how many miners answered."""
        hosts, subnets = self._scan_targets()
        found = 0
        networks = []
        if hosts:
            networks.append(MinerNetwork.from_hosts(hosts))
        if subnets:
            networks.append(MinerNetwork.from_list(subnets))
        for network in networks:
            async for miner in network.scan_iter(credentials=self.credentials):
                found += 1
                try:
                    await self.adopt(miner)
                except Exception:
                    log.exception("could not add miner at %s", miner.ip)
        await self.bus.emit(ScanFinished(found))
        return found

    async def scan_loop(
        self, connected: asyncio.Event, stop: asyncio.Event, ready: asyncio.Event
    ) -> None:
        """Scan once connected, then every ``scan_interval`` (never if it is 0); ``ready`` is
        set after the first scan."""
        await connected.wait()
        while not stop.is_set():
            try:
                await self.scan()
            except Exception:
                log.exception("scan failed")
            ready.set()
            interval = self.config.miners.scan_interval
            if interval <= 0:
                return
            await event_set_within(stop, interval)

    async def adopt(self, miner: BaseMiner) -> Device | None:
        """A scan found ``miner``: create or update its device, follow IP changes."""
        if isinstance(miner, UnknownMiner):
            return None
        host = self._hosts.get(miner.ip)
        mac = miner.identity.mac
        if mac is None:
            with contextlib.suppress(AsicBridgeError):
                mac = await miner.get_mac()
        if not self.shard.owns(mac, miner.ip):
            # not closed: the identification cache may hand this driver to the owner
            log.debug("%s (%s) belongs to another shard; not adopted", miner.ip, mac)
            return None
        record = self.registry.by_mac(mac) if mac else self.registry.by_ip(miner.ip)
        if record is None and self.blocked(mac, miner.ip):
            log.debug("%s (%s) is on the block list; not adopted", miner.ip, mac)
            return None
        found = record is None
        moved_from: str | None = None
        if record is None:
            name = (host.friendly_name if host else None) or (
                self.config.miners.names.get(mac or "") if mac else None
            )
            miner_id = name or (mac_id(mac) if mac else "ip_" + miner.ip.replace(".", "_"))
            if mac is None:
                notes = " ".join(map(str, miner.identity.extra.get("notes", ()))).lower()
                refused = "credentials" in notes or "401" in notes or "password" in notes
                log.warning(
                    "%s reports no MAC; using %s as its id%s",
                    miner.ip,
                    miner_id,
                    "; it refused the login (set its password in miners.hosts or credentials)"
                    if refused
                    else "",
                )
            record = DeviceRecord(id=miner_id, mac=mac, ip=miner.ip, friendly_name=name)
            self.registry.add(record)
            device = self.devices[miner_id] = Device(record, host=host)
        else:
            device = self.devices.setdefault(record.id, Device(record))
            device.host = host or device.host
            if record.ip != miner.ip:
                moved_from = record.ip
                log.info("%s moved from %s to %s", record.id, moved_from, miner.ip)
                record.ip = miner.ip
                self.update_record(record, miner)
                await self.registry.persist()
        if moved_from is not None:
            await self.bus.emit(MinerMoved(device, moved_from))
        if device.miner is not miner:
            # Under the miner's lock: a poll or command in flight keeps its connection.
            async with device.lock:
                old, device.miner = device.miner, miner
                if old is not None:
                    with contextlib.suppress(Exception):
                        await old.aclose()
        if miner.supports(Capability.POWER_LIMIT):
            try:  # the firmware's own bounds, once per adoption; the catalog's guess otherwise
                await miner.get_power_range()
            except AsicBridgeError as exc:
                log.info("%s: power range not readable (%s); using the catalog's", record.id, exc)
        await read_presets(miner, record)
        self.update_record(record, miner)
        if found:
            task = asyncio.create_task(self._announce_found(device), name="adopted")
            self._found_tasks.add(task)
            task.add_done_callback(self._found_tasks.discard)
        else:
            await self.bus.emit(MinerAdopted(device, found=False))
        return device

    async def announced(self) -> None:
        """Wait until every miner adopted so far has been announced (MinerAdopted sent)."""
        await asyncio.gather(*self._found_tasks, return_exceptions=True)

    async def _announce_found(self, device: Device) -> None:
        """A new miner is on disk before anything about it is published, so a kill -9 right
        after a scan never loses one HA was told about.  In a task: the adoptions of a scan
        share a few registry writes instead of waiting for one each."""
        await self.registry.persist()
        if self.devices.get(device.id) is not device:
            return  # removed meanwhile
        await self.bus.emit(MinerAdopted(device, found=True))

    def update_record(self, record: DeviceRecord, miner: BaseMiner) -> None:
        ident = miner.identity
        record.make = ident.make
        record.model = ident.model or ident.raw_model
        record.firmware = ident.firmware
        record.fw_ver = ident.fw_ver or record.fw_ver
        record.hostname = ident.hostname or record.hostname
        record.serial_number = ident.serial_number or record.serial_number
        record.algo = ident.algo
        # known from the algorithm before the first poll, so bridge/devices is right at once
        record.hashrate_unit = ALGORITHMS.get(ident.algo, record.hashrate_unit)
        record.ports = dict(miner.ports)
        record.capabilities = sorted(c.value for c in miner.capabilities)
        record.modes = (
            list(miner.supported_modes) if miner.supports(Capability.MINING_MODES) else []
        )
        record.fan_modes = shown_fan_modes(miner.fan_modes())
        if miner.supports(Capability.POWER_LIMIT):
            bounds = miner.power_range()
            known = bounds.source != "unknown"  # unknown: the miner decides, no bounds offered
            record.power_min = bounds.low if known else None
            record.power_max = bounds.high if known else None
            record.power_range_source = bounds.source
        info = miner.model_info
        if info is not None:
            record.expected_hashboards = info.hashboards
            record.expected_fans = info.fans
        self.registry.mark_dirty()

    async def connect(self, device: Device) -> BaseMiner | None:
        """The device's driver, identifying the miner again if it was dropped (offline)."""
        if device.miner is not None:
            return device.miner
        record = device.record
        miner = await factory.get_miner(
            record.ip, credentials=self.credentials, ports=record.ports or None
        )
        if miner is None or isinstance(miner, UnknownMiner):
            return None
        if record.mac and miner.identity.mac and miner.identity.mac != record.mac:
            # a different miner now answers at this address: the scan will find ours
            log.info("%s: address %s now belongs to %s", record.id, record.ip, miner.identity.mac)
            return None
        device.miner = miner
        self.update_record(record, miner)
        return miner

    async def remove(self, miner_id: str) -> Device:
        """Forget a miner (its topics are cleared by the features, on MinerRemoved)."""
        device = self.devices.pop(miner_id)
        self.registry.remove(miner_id)
        await self.registry.persist()
        miner, device.miner = device.miner, None
        if miner is not None:
            factory.forget(device.record.ip)  # the next scan identifies it afresh
            async with device.lock:  # a poll or command in flight finishes first
                with contextlib.suppress(Exception):
                    await miner.aclose()
        return device

    async def rename(self, old_id: str, new_id: str) -> Device:
        """Give an adopted miner a new id (its topics move; see features on MinerRenamed)."""
        device = self.devices.pop(old_id)
        self.registry.rename(old_id, new_id)
        device.record.friendly_name = new_id
        self.devices[new_id] = device
        await self.registry.persist()
        return device

    async def close(self) -> None:
        """Save the registry and close every driver's connections."""
        for task in list(self._found_tasks):
            task.cancel()
        await asyncio.gather(*self._found_tasks, return_exceptions=True)
        await self.registry.persist()
        for device in self.devices.values():
            if device.miner is not None:
                with contextlib.suppress(Exception):
                    await device.miner.aclose()

"""The bridge daemon: discover miners, poll them, publish to MQTT, act on commands.

One asyncio process.  Tasks: the MQTT session (reconnecting with backoff), the scanner, one
poll loop per miner (bounded by a semaphore, each under its own deadline, so one hanging
miner never delays the others), and one task per command (commands to one miner run one at a
time under that miner's lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import random
import signal
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import orjson

from asic_bridge import __version__, factory, settings
from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Device
from asic_bridge.bridge.broker import EmbeddedBroker
from asic_bridge.bridge.config import BridgeConfig, HostConfig, load_config
from asic_bridge.bridge.entities import bridge_discovery, discovery_messages
from asic_bridge.bridge.events import (
    CommandAnswered,
    Connected,
    EventBus,
    MinerOffline,
    MinerOnline,
    MinerRemoved,
    PollFailed,
    PollSucceeded,
    failure_reason,
)
from asic_bridge.bridge.features.metrics import Metrics
from asic_bridge.bridge.features.watchdog import Watchdog
from asic_bridge.bridge.fleet import FleetMember, allocate, allocated_power, parse_fleet_request
from asic_bridge.bridge.logs import configure_logging
from asic_bridge.bridge.poller import (
    FULL_POLL_EVERY,
    POLL_FIELDS,
    POLL_TICK,
    SLOW_FIELDS,
    carry_slow_fields,
    free_slow_fields,
    nothing_read,
    on_tick,
    wait_or_wake,
)
from asic_bridge.bridge.registry import DeviceRecord, Registry
from asic_bridge.bridge.state import stable_boot_time, state_payload
from asic_bridge.bridge.topics import Topics, mac_id
from asic_bridge.data import MinerData
from asic_bridge.data.hashrate import ALGORITHMS
from asic_bridge.drivers.base import BaseMiner, Capability, UnknownMiner
from asic_bridge.errors import (
    AsicBridgeError,
    ConfigError,
    MinerConnectionError,
    MinerTimeoutError,
    NotAppliedError,
    UnsupportedError,
)
from asic_bridge.network import Host, MinerNetwork

log = logging.getLogger("asic_bridge.bridge")

#: How long adoptions are collected before bridge/devices is published.
DEVICES_COALESCE = 0.5
#: MQTT 5 session expiry (s): how long the broker queues commands for an absent bridge.
#: Longer than command_expiry on purpose, so a late command is answered "expired".
SESSION_EXPIRY = 3600


@dataclass
class MinerSlot:
    """Runtime state of one miner (the persistent part is its DeviceRecord)."""

    record: DeviceRecord
    miner: BaseMiner | None = None
    host: HostConfig | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    online: bool | None = None
    boot_time: float | None = None
    mode: str | None = None
    last_state: dict[str, Any] | None = None
    reported: set[str] = field(default_factory=set)
    poll_now: asyncio.Event = field(default_factory=asyncio.Event)
    polls: int = 0
    full_poll_due: bool = True
    last_fleet_change: float = float("-inf")  # monotonic time of the last fleet change
    settle_until: float = 0.0  # monotonic; poll failures before this are not counted
    slow_readings: dict[str, tuple[Any, str | None]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    field_keys: set[str] | None = None  # keys on per-field topics (None: none since start)
    device: Device = field(init=False)  # what the events carry (bridge.events)

    def __post_init__(self) -> None:
        self.reported |= set(self.record.reported)
        self.device = Device(self.record, lock=self.lock)


class Bridge:
    """Everything ``asic-bridge run`` does; ``await Bridge(config).run()``."""

    def __init__(self, config: BridgeConfig):
        self.config = config
        self.topics = Topics(config.mqtt.base_topic, config.mqtt.discovery_prefix)
        self.registry = Registry(config.state_dir)
        # known before identification, so a non-default password still reads the MAC
        self.credentials = config.credential_table()
        self.slots: dict[str, MinerSlot] = {}
        self.started_at = time.time()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._lost_at: float | None = None  # monotonic time the last MQTT session ended
        # resolved when the MQTT session ends (a fresh future for every session)
        self._session_ended: asyncio.Future[None] | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._devices_task: asyncio.Task[Any] | None = None
        self._devices_published: bytes | None = None
        self._devices_dirty = False
        self._poll_sem = asyncio.Semaphore(config.miners.concurrency)
        self._broker: EmbeddedBroker | None = None
        self._sims: list[Any] = []
        self._sim_hosts: list[Host] = []
        self._published_discovery: dict[str, str] = {}
        self._protocol: aiomqtt.ProtocolVersion | None = None
        self._fleet_state: dict[str, dict[str, Any]] = {}
        # outcomes of recent commands by transaction id: a retry is answered, not run again
        self._transactions: cmd.Transactions[asyncio.Future[dict[str, Any]]] = cmd.Transactions(
            config.mqtt.transaction_ttl
        )
        self.ready = asyncio.Event()  # set after the first connect and scan (for tests)
        self._tls_context = tls_context(config) if config.mqtt.endpoint()[2] else None
        # the features on the event bus (bridge.events)
        self.bus = EventBus()
        self.metrics = Metrics(
            self.bus, lambda: [s.device for s in self.slots.values()], config.metrics
        )
        groups = [(g.miners, g.watchdog) for g in config.fleet.groups.values()]
        self.watchdog = Watchdog(self.bus, groups, self._run_command, self._publish_event)

    # ================================================================== lifecycle
    async def run(self) -> None:
        """Run until ``stop()`` or SIGINT/SIGTERM."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        await self.metrics.start()
        self.registry.load()
        for record in self.registry.devices.values():
            self.slots[record.id] = MinerSlot(record=record)
        if self.config.simulator.miners:
            from asic_bridge.sim import start_fleet

            self._sims = await start_fleet(self.config.simulator.miners)
            for sim in self._sims:
                overrides = {
                    k: v for k, v in sim.ports.items() if v != type(sim).default_ports.get(k)
                }
                self._sim_hosts.append(Host(sim.address, overrides or None))
        if self.config.mqtt.embedded_broker:
            self._broker = EmbeddedBroker.from_config(
                self.config.mqtt.embedded, self.config.state_dir
            )
            await self._broker.start()
        self._spawn(self._mqtt_loop(), "mqtt")
        self._spawn(self._scan_loop(), "scanner")
        for slot in self.slots.values():
            self._ensure_poller(slot)

    async def shutdown(self) -> None:
        for slot in self.slots.values():
            if slot.task is not None:
                slot.task.cancel()
        for task in list(self._tasks):
            if task.get_name() != "mqtt":
                task.cancel()
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                await client.publish(self.topics.bridge_state, "offline", qos=1, retain=True)
        for task in list(self._tasks):
            task.cancel()
        pending = [t for t in self._tasks] + [s.task for s in self.slots.values() if s.task]
        await asyncio.gather(*pending, return_exceptions=True)
        await self.registry.persist()
        await self.watchdog.close()
        await self.metrics.close()
        for slot in self.slots.values():
            if slot.miner is not None:
                with contextlib.suppress(Exception):
                    await slot.miner.aclose()
        if self._sims:
            from asic_bridge.sim import stop_fleet

            await stop_fleet(self._sims)
        if self._broker is not None:
            await self._broker.stop()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    # ================================================================== MQTT session
    def _client_kwargs(self) -> dict[str, Any]:
        mqtt = self.config.mqtt
        host, port, tls, user, password = mqtt.endpoint()
        kwargs: dict[str, Any] = {
            "hostname": host,
            "port": port,
            "username": user,
            "password": password,
            "identifier": mqtt.client_id,
            "keepalive": mqtt.keepalive,
            "will": aiomqtt.Will(self.topics.bridge_state, "offline", qos=1, retain=True),
            "logger": logging.getLogger("asic_bridge.mqtt"),
            "timeout": 10,
        }
        if tls:
            kwargs["tls_context"] = self._tls_context
        return kwargs

    def _session_kwargs(self, protocol: aiomqtt.ProtocolVersion) -> dict[str, Any]:
        """A persistent session under the stable client id, so the broker queues the QoS 1
        commands published while the bridge reconnects (MQTT 5: kept SESSION_EXPIRY s after
        a disconnect; what was queued longer than command_expiry is answered "expired")."""
        if protocol != aiomqtt.ProtocolVersion.V5:
            return {"clean_session": False}
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY
        return {"clean_start": False, "properties": props}

    def _protocols(self) -> list[aiomqtt.ProtocolVersion]:
        choice = self.config.mqtt.protocol
        if self._protocol is not None:
            return [self._protocol]
        if choice == "5":
            return [aiomqtt.ProtocolVersion.V5]
        if choice == "3.1.1" or (self._broker is not None and not self._broker.supports_v5):
            return [aiomqtt.ProtocolVersion.V311]
        return [aiomqtt.ProtocolVersion.V5, aiomqtt.ProtocolVersion.V311]

    async def _mqtt_loop(self) -> None:
        backoff = 1.0
        logging.getLogger("asic_bridge.mqtt").setLevel(logging.ERROR)
        while not self._stop.is_set():
            for protocol in self._protocols():
                try:
                    kwargs = {**self._client_kwargs(), **self._session_kwargs(protocol)}
                    async with aiomqtt.Client(protocol=protocol, **kwargs) as client:
                        self._protocol = protocol
                        backoff = 1.0
                        await self._session(client)
                except aiomqtt.MqttError as exc:
                    # Never connected yet: try 3.1.1.  Some 3.1.1-only brokers refuse MQTT 5
                    # with a CONNACK code, others (amqtt) never answer, so any failure counts.
                    if protocol == aiomqtt.ProtocolVersion.V5 and self._protocol is None:
                        log.info("MQTT 5 connect failed (%s); trying 3.1.1", exc)
                        continue
                    log.warning("MQTT connection lost or refused: %s", exc)
                finally:
                    if self._client is not None:
                        self._lost_at = time.monotonic()
                    self._client = None
                    self._connected.clear()
                    if self._session_ended is not None and not self._session_ended.done():
                        self._session_ended.set_result(None)
                break
            if self._stop.is_set():
                return
            delay = backoff * (0.5 + random.random())
            log.info("reconnecting to the MQTT broker in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            backoff = min(backoff * 2, 60.0)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._session_ended = asyncio.get_running_loop().create_future()
        self._client = client
        qos = max(1, self.config.mqtt.qos)  # QoS 1 at least: queued while we are away
        v5 = self._protocol == aiomqtt.ProtocolVersion.V5
        for topic in self.topics.subscriptions():
            options = None
            if v5 and topic != self.topics.ha_status:
                from paho.mqtt.subscribeoptions import SubscribeOptions

                # retain as published: a retained command is seen as one and refused;
                # retained commands are never replayed to the bridge on subscribing
                options = SubscribeOptions(qos=qos, retainAsPublished=True, retainHandling=2)
                await client.subscribe(topic, options=options)
            else:
                await client.subscribe(topic, qos=qos)
        # What the broker queued for our session while we were away arrives at once, before
        # the subscriptions are confirmed.  After an outage longer than command_expiry (or
        # at start, when the outage is unknown) those commands may be that old: each is
        # answered "expired" instead of run.
        expiry = self.config.mqtt.command_expiry
        lost_at = self._lost_at
        outage = float("inf") if lost_at is None else time.monotonic() - lost_at
        backlog = len(client.messages) if outage > expiry else 0
        await self._announce_all(force=True)
        await self.bus.emit(Connected())
        self._connected.set()
        log.info("connected to MQTT broker %s", self.config.mqtt.redacted_url())
        async for message in client.messages:
            if backlog > 0:
                backlog -= 1
                self._spawn(self._refuse_expired(message, outage), "message")
                continue
            self._spawn(self._on_message(message), "message")

    async def _publish(
        self,
        topic: str,
        payload: Any,
        *,
        retain: bool = False,
        qos: int | None = None,
        properties: Any = None,
    ) -> None:
        """Publish if connected; while disconnected the caches are republished on reconnect."""
        client, ended = self._client, self._session_ended
        if client is None or ended is None:
            return
        if isinstance(payload, (dict, list)):
            payload = orjson.dumps(payload)  # compact UTF-8, 5-10x faster than json
        publish = asyncio.ensure_future(
            client.publish(
                topic,
                payload,
                qos=self.config.mqtt.qos if qos is None else qos,
                retain=retain,
                properties=properties,
            )
        )
        # aiomqtt does not wake a QoS 1 publish whose connection died: it would wait out the
        # whole client timeout (10 s) for a PUBACK that cannot come, holding up the caller (a
        # poll holding its miner's lock, a command reply).  Give up when the session ends.
        try:
            await asyncio.wait((publish, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            abandoned = not publish.done()
            if abandoned:
                publish.cancel()
        if abandoned:
            log.debug("publish to %s abandoned: the MQTT connection was lost", topic)
            return
        exc = publish.exception()
        if isinstance(exc, aiomqtt.MqttError):
            log.debug("publish to %s failed: %s", topic, exc)
        elif exc is not None:
            raise exc

    # ================================================================== announcements
    async def _announce_all(self, force: bool = False) -> None:
        """Bridge state/info/devices, discovery, and every cached state (after a (re)connect)."""
        await self._publish(self.topics.bridge_state, "online", retain=True)
        await self._publish_info()
        await self.registry.persist()  # no device listed that is not on disk
        await self._publish_devices(force=True)
        if self.config.mqtt.discovery:
            for topic, payload in bridge_discovery(self.topics).items():
                await self._publish(topic, payload, retain=True)
        for slot in list(self.slots.values()):
            await self._announce(slot, force=force)
            if slot.online is not None:
                await self._publish_availability(slot)
            if slot.last_state is not None:
                await self._publish_state(slot)
        for group, state in self._fleet_state.items():
            await self._publish(self.topics.fleet_state(group), state, retain=True)

    async def _publish_info(self) -> None:
        info = {
            "version": __version__,
            "started_at": self.started_at,
            "base_topic": self.topics.base,
            "discovery_prefix": self.topics.discovery_prefix,
            "miner_count": len(self.slots),
            "config": self.config.summary(),
            "mqtt_protocol": "5" if self._protocol == aiomqtt.ProtocolVersion.V5 else "3.1.1",
            "broker": self._broker.description if self._broker is not None else "external",
        }
        await self._publish(self.topics.bridge_info, info, retain=True)

    async def _publish_devices(self, force: bool = False) -> None:
        """The retained device list; skipped when nothing in it changed (unless ``force``)."""
        devices = orjson.dumps([slot.record.public() for slot in self.slots.values()])
        if devices == self._devices_published and not force:
            return
        self._devices_published = devices
        await self._publish(self.topics.bridge_devices, devices, retain=True)

    def _devices_changed(self) -> None:
        """Publish the device list shortly: the miners a scan adopts share one message.

        Publishing it per adopted miner made a scan quadratic (a 500-miner scan wrote 500
        lists of up to 500 devices).
        """
        self._devices_dirty = True
        if self._devices_task is None or self._devices_task.done():
            self._devices_task = self._spawn(self._publish_devices_soon(), "devices")

    async def _publish_devices_soon(self) -> None:
        while self._devices_dirty:  # a change while publishing is published after it
            self._devices_dirty = False
            await asyncio.sleep(DEVICES_COALESCE)
            await self.registry.persist()  # the list never names a miner the disk does not
            await self._publish_devices()

    async def _event(self, kind: str, **data: Any) -> None:
        await self._publish(self.topics.bridge_event, {"type": kind, "data": data})

    async def _publish_event(self, kind: str, data: dict[str, Any]) -> None:
        await self._event(kind, **data)

    async def _run_command(self, device: Device, command: cmd.Command) -> dict[str, Any]:
        """The command path for features (the watchdog)."""
        slot = self.slots.get(device.id)
        if slot is None:
            return {"status": "error", "error": "the miner was removed"}
        return await self._execute(slot, command)

    async def _announce(self, slot: MinerSlot, force: bool = False) -> None:
        """Publish this miner's discovery configs; clear the ones it no longer has."""
        if not self.config.mqtt.discovery:
            return
        if not slot.reported:
            # Nothing read yet: the first poll announces what the miner really reports (the
            # model's every possible sensor would show in HA, then be deleted again).
            return
        messages = discovery_messages(
            slot.record,
            self.topics,
            device_mode=self.config.mqtt.discovery_mode == "device",
            reported=slot.reported,
        )
        wanted = {
            t: json.dumps(p, separators=(",", ":"), sort_keys=True) for t, p in messages.items()
        }
        stale = [t for t in slot.record.discovery_topics if t not in wanted]
        changed = {
            t: text
            for t, text in wanted.items()
            if force or self._published_discovery.get(t) != text
        }
        # All at once: one after the other, each QoS 1 config waited for its PUBACK, and a
        # miner has ~30 of them (start-up of 500 miners took ~40 s).  Different topics, so
        # their order does not matter.
        await asyncio.gather(
            *(self._publish(topic, "", retain=True) for topic in stale),
            *(self._publish(topic, text, retain=True) for topic, text in changed.items()),
        )
        for topic in stale:
            self._published_discovery.pop(topic, None)
        self._published_discovery.update(changed)
        if sorted(wanted) != sorted(slot.record.discovery_topics):
            slot.record.discovery_topics = sorted(wanted)
            self.registry.mark_dirty()

    async def _publish_availability(self, slot: MinerSlot) -> None:
        await self._publish(
            self.topics.availability(slot.record.id),
            "online" if slot.online else "offline",
            retain=True,
        )

    async def _publish_state(self, slot: MinerSlot) -> None:
        assert slot.last_state is not None
        miner_id = slot.record.id
        qos = self.config.mqtt.state_qos
        await self._publish(self.topics.state(miner_id), slot.last_state, retain=True, qos=qos)
        if self.config.mqtt.per_field_topics:
            # a key that left the state (efficiency at 0 TH/s, unreadable after a recovery)
            # must not keep its old retained value; after a restart, every key ever reported
            previous = slot.field_keys if slot.field_keys is not None else slot.reported
            slot.field_keys = set(slot.last_state)
            for key in sorted(previous - slot.field_keys):
                await self._publish(self.topics.field(miner_id, key), "", retain=True)
            for key, value in slot.last_state.items():
                if isinstance(value, (list, dict)):
                    value = json.dumps(value)
                elif isinstance(value, bool):
                    value = "true" if value else "false"
                await self._publish(
                    self.topics.field(miner_id, key), str(value), retain=True, qos=qos
                )

    # ================================================================== discovery of miners
    def _scan_targets(self) -> tuple[list[Host], list[str]]:
        hosts = [Host(h.ip, h.ports or None) for h in self.config.miners.hosts]
        hosts += self._sim_hosts
        return hosts, list(self.config.miners.scan)

    async def _scan_loop(self) -> None:
        await self._connected.wait()
        while not self._stop.is_set():
            try:
                await self.scan()
            except Exception:
                log.exception("scan failed")
            self.ready.set()
            interval = self.config.miners.scan_interval
            if interval <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

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
                    await self._adopt(miner)
                except Exception:
                    log.exception("could not add miner at %s", miner.ip)
        await self.registry.persist()  # the scan's adoptions on disk before they are listed
        await self._publish_devices()  # the scan's adoptions, now complete (if any changed)
        await self._publish_info()
        return found

    async def _adopt(self, miner: BaseMiner) -> MinerSlot | None:
        """A scan found ``miner``: create or update its device, follow IP changes."""
        if isinstance(miner, UnknownMiner):
            return None
        host = next((h for h in self.config.miners.hosts if h.ip == miner.ip), None)
        mac = miner.identity.mac
        if mac is None:
            with contextlib.suppress(AsicBridgeError):
                mac = await miner.get_mac()
        record = self.registry.by_mac(mac) if mac else self.registry.by_ip(miner.ip)
        found = record is None
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
            slot = MinerSlot(record=record, host=host)
            self.slots[miner_id] = slot
            found = True
        else:
            slot = self.slots.setdefault(record.id, MinerSlot(record=record))
            slot.host = host or slot.host
            if record.ip != miner.ip:
                old_ip = record.ip
                # another slot may still think it lives at the new address
                log.info("%s moved from %s to %s", record.id, old_ip, miner.ip)
                record.ip = miner.ip
                self._update_record(record, miner)
                await self.registry.persist()
                await self._event("ip_changed", id=record.id, old_ip=old_ip, new_ip=miner.ip)
        if slot.miner is not miner:
            # Under the miner's lock: a poll or command in flight keeps its connection.
            async with slot.lock:
                old, slot.miner = slot.miner, miner
                if old is not None:
                    with contextlib.suppress(Exception):
                        await old.aclose()
        if miner.supports(Capability.POWER_LIMIT):
            try:  # the firmware's own bounds, once per adoption; the catalog's guess otherwise
                await miner.get_power_range()
            except AsicBridgeError as exc:
                log.info("%s: power range not readable (%s); using the catalog's", record.id, exc)
        await cmd.read_presets(miner, record)
        self._update_record(record, miner)
        if found:
            self._spawn(self._publish_found(slot), "adopted")
        else:
            await self._publish_adopted(slot)
        return slot

    async def _publish_found(self, slot: MinerSlot) -> None:
        """A new miner is on disk before anything about it is published, so a kill -9 right
        after a scan never loses one HA was told about.  In a task: the adoptions of a scan
        share a few registry writes instead of waiting for one each."""
        await self.registry.persist()
        record = slot.record
        if self.slots.get(record.id) is not slot:
            return  # removed meanwhile
        await self._event(
            "miner_found",
            id=record.id,
            ip=record.ip,
            mac=record.mac,
            make=record.make,
            model=record.model,
        )
        await self._publish_adopted(slot)

    async def _publish_adopted(self, slot: MinerSlot) -> None:
        await self._announce(slot)
        self._devices_changed()
        self._ensure_poller(slot)
        slot.poll_now.set()

    def _update_record(self, record: DeviceRecord, miner: BaseMiner) -> None:
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

    # ================================================================== polling
    def _ensure_poller(self, slot: MinerSlot) -> None:
        if slot.task is None or slot.task.done():
            slot.task = asyncio.create_task(self._poll_loop(slot), name=f"poll:{slot.record.id}")

    async def _poll_loop(self, slot: MinerSlot) -> None:
        interval = self.config.miners.poll_interval
        tick = min(POLL_TICK, interval / 10)
        # spread the first polls so a large fleet does not poll in lock-step
        first = on_tick(random.uniform(0, min(interval, 2.0)), tick)
        await wait_or_wake(slot.poll_now, first)
        while not self._stop.is_set():
            slot.poll_now.clear()
            started = time.monotonic()
            try:
                async with self._poll_sem:
                    await self.poll(slot)
            except Exception:
                log.exception("poll of %s failed unexpectedly", slot.record.id)
            delay = max(0.0, interval - (time.monotonic() - started))
            delay = on_tick(delay * random.uniform(0.95, 1.05), tick)
            await wait_or_wake(slot.poll_now, delay)

    async def _miner_for(self, slot: MinerSlot) -> BaseMiner | None:
        if slot.miner is not None:
            return slot.miner
        record = slot.record
        miner = await factory.get_miner(
            record.ip, credentials=self.credentials, ports=record.ports or None
        )
        if miner is None or isinstance(miner, UnknownMiner):
            return None
        if record.mac and miner.identity.mac and miner.identity.mac != record.mac:
            # a different miner now answers at this address: the scan will find ours
            log.info("%s: address %s now belongs to %s", record.id, record.ip, miner.identity.mac)
            return None
        slot.miner = miner
        self._update_record(record, miner)
        return miner

    async def poll(self, slot: MinerSlot) -> bool:
        """Read one miner and publish; returns whether it answered."""
        async with slot.lock:
            deadline = float(settings.get("api_function_timeout")) + 2
            data: MinerData | None = None
            fields: list[str] = []
            started = time.monotonic()
            error: BaseException | type[BaseException] | None = None
            try:
                async with asyncio.timeout(deadline * 2):
                    miner = await self._miner_for(slot)
                    if miner is not None:
                        fields = self._poll_fields(slot, miner)
                        data = await miner.get_data(include=fields)
            except (AsicBridgeError, TimeoutError) as exc:
                log.debug("poll of %s failed: %s", slot.record.id, exc)
                data, error = None, exc
            duration = time.monotonic() - started
            if data is None or nothing_read(data):
                if data is not None and slot.miner is not None:
                    error = error or slot.miner.last_error_type  # why the sources failed
                reason = "unreachable" if data is None and error is None else failure_reason(error)
                await self.bus.emit(PollFailed(slot.device, reason, duration))
                await self._poll_failed(slot)
                return False
            await self._poll_succeeded(slot, data, fields)
            await self.bus.emit(PollSucceeded(slot.device, data, time.time(), duration))
            return True

    @staticmethod
    def _poll_fields(slot: MinerSlot, miner: BaseMiner) -> list[str]:
        full = slot.full_poll_due or slot.polls % FULL_POLL_EVERY == 0
        slot.polls += 1
        if not full:
            return [*POLL_FIELDS, *free_slow_fields(type(miner))]
        slot.full_poll_due = False
        slow = [f for f in SLOW_FIELDS if f != "config" or slot.record.modes]
        return [*POLL_FIELDS, *slow]

    async def _poll_failed(self, slot: MinerSlot) -> None:
        if time.monotonic() < slot.settle_until:
            # Shortly after a command: many firmwares restart their backend to apply one
            # (BOSminer rewrites its config and restarts), so silence here is ours, not the
            # miner's.  Not counted toward offline_after.
            log.debug("poll of %s failed while it applies a command", slot.record.id)
            return
        slot.failures += 1
        if slot.failures >= self.config.miners.offline_after and slot.online is not False:
            was_online = slot.online
            slot.online = False
            # Re-identify next time: the miner may have changed firmware or address.  Forget
            # it before the first await, so a scan running meanwhile cannot be handed the
            # cached identification and "find" the miner where it no longer is.
            factory.forget(slot.record.ip)
            miner, slot.miner = slot.miner, None
            slot.record.last_power_w = None
            slot.record.last_power_at = None
            await self._publish_availability(slot)
            await self.bus.emit(MinerOffline(slot.device, was_online is True))
            if was_online:
                await self._event("miner_lost", id=slot.record.id, ip=slot.record.ip)
            if miner is not None:
                with contextlib.suppress(Exception):
                    await miner.aclose()

    async def _poll_succeeded(
        self, slot: MinerSlot, data: MinerData, fields: Sequence[str]
    ) -> None:
        record = slot.record
        now = time.time()
        slot.failures = 0
        record.last_seen = now
        record.add_energy(data.wattage, now, self.config.miners.poll_interval)
        if data.hostname:
            record.hostname = data.hostname
        if data.fw_ver:
            record.fw_ver = data.fw_ver
        slot.boot_time = stable_boot_time(slot.boot_time, data.uptime, now)
        if data.config is not None and data.config.mining_mode is not None:
            slot.mode = data.config.mining_mode.mode
        if data.active_preset is not None and data.active_preset not in record.presets:
            # the firmware's list changed (a profile added): the select's options follow;
            # a preset still missing from it is left out, never shown outside the options
            if slot.miner is not None and await cmd.read_presets(slot.miner, record):
                await self._announce(slot)
            if data.active_preset not in record.presets:
                data.active_preset = None
        carry_slow_fields(slot.slow_readings, data, read=fields)
        state = state_payload(
            data,
            # the total as saved, never ahead of the disk (see Registry.persist)
            energy_kwh=self.registry.saved_energy(record.id),
            boot_time=slot.boot_time,
            mode=slot.mode,
            now=now,
        )
        new_keys = set(state) - slot.reported
        slot.reported |= set(state)
        if new_keys:
            record.reported = sorted(slot.reported)
        if record.hashrate_unit != data.hashrate_unit:
            record.hashrate_unit = data.hashrate_unit
            new_keys.add("hashrate_unit")
            self._devices_changed()  # bridge/devices shows the unit
        if new_keys:
            await self._announce(slot)
        slot.last_state = state
        await self._publish_state(slot)
        if slot.online is not True:
            back = slot.online is False
            slot.online = True
            await self._publish_availability(slot)
            await self.bus.emit(MinerOnline(slot.device, back))
            if back:
                await self._event("miner_online", id=record.id, ip=record.ip)
        self.registry.mark_dirty()
        await self.registry.persist_if_due(self.config.state_save_interval)

    # ================================================================== commands
    async def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        incoming = self.topics.classify(topic)
        if incoming is None:
            return
        payload = (
            message.payload
            if isinstance(message.payload, bytes)
            else (str(message.payload).encode() if message.payload is not None else b"")
        )
        reply_to, correlation = _response_properties(message)
        try:
            if incoming.kind == "ha_status":
                if payload.strip().lower() == b"online":
                    await asyncio.sleep(random.uniform(0.5, 3.0))
                    await self._announce_all(force=True)
                return
            if message.retain:
                # A retained command would replay on every reconnect: never act on it.  On
                # MQTT 5 (retain as published, no replay on subscribe) this is a command
                # just published with the retain flag: its sender is told why.
                log.warning("ignoring retained command on %s", topic)
                if self._protocol == aiomqtt.ProtocolVersion.V5:
                    error = "retained commands are refused (they would replay); publish without"
                    await self._refuse(
                        incoming, payload, "error", error + " retain", reply_to, correlation
                    )
                return
            if incoming.kind == "bridge_request":
                await self._bridge_request(incoming.name or "", payload, reply_to, correlation)
            elif incoming.kind == "fleet_set":
                await self._fleet_request(incoming.target or "", payload, reply_to, correlation)
            elif incoming.kind in ("set", "set_field", "get"):
                await self._miner_command(
                    incoming.kind,
                    incoming.target or "",
                    incoming.name,
                    payload,
                    reply_to,
                    correlation,
                )
        except Exception:
            log.exception("handling %s failed", topic)

    async def _refuse(
        self,
        incoming: Any,
        payload: bytes,
        status: str,
        error: str,
        reply_to: str | None,
        correlation: Any,
    ) -> None:
        """Answer a command that is not run, on the response topic its kind uses."""
        if incoming.kind == "bridge_request":
            topic = self.topics.bridge_response(incoming.name or "")
        elif incoming.kind == "fleet_set":
            topic = self.topics.fleet_response(incoming.target or "")
        else:
            topic = self.topics.response(incoming.target or "")
        body: dict[str, Any] = {
            "status": status,
            "command": (incoming.name or incoming.kind)[:40],
            "transaction": _transaction(payload, correlation),
            "error": error,
        }
        if incoming.kind in ("set", "set_field", "get"):
            body["applied"] = {}
        await self._respond(topic, body, reply_to, correlation)

    async def _refuse_expired(self, message: aiomqtt.Message, outage: float) -> None:
        """Answer a command the broker kept for us too long, without acting on it."""
        incoming = self.topics.classify(message.topic.value)
        if incoming is None or incoming.kind == "ha_status" or message.retain:
            return  # (a retained command replayed on subscribing: ignored, as always)
        payload = message.payload if isinstance(message.payload, bytes) else b""
        away = "since start-up" if math.isinf(outage) else f"for {outage:.0f} s"
        log.warning("refused a command on %s queued while away %s", message.topic.value, away)
        error = (
            f"queued by the broker while the bridge was away {away}, longer than "
            f"mqtt.command_expiry ({self.config.mqtt.command_expiry} s); not run"
        )
        await self._refuse(incoming, payload, "expired", error, *_response_properties(message))

    async def _respond(
        self, default_topic: str, body: dict[str, Any], reply_to: str | None, correlation: Any
    ) -> None:
        properties = None
        if reply_to is not None:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if correlation is not None:
                properties.CorrelationData = correlation
        topic = reply_to or default_topic
        try:
            payload = orjson.dumps(body)
        except TypeError as exc:  # orjson.JSONEncodeError; inputs are checked, so a bug
            log.warning("answer on %s could not be encoded (%s); sent a plain error", topic, exc)
            payload = orjson.dumps(
                {"status": "error", "transaction": None, "error": "the answer could not be encoded"}
            )
        await self._publish(topic, payload, properties=properties)

    @staticmethod
    def _refused(body: dict[str, Any], error: str, what: str) -> None:
        """Bad input is an expected event: an error answer and one log line, no traceback."""
        body.update(status="error", error=error)
        log.info("refused %s: %s", what, error)

    async def _miner_command(
        self,
        kind: str,
        target: str,
        field_name: str | None,
        payload: bytes,
        reply_to: str | None,
        correlation: Any,
    ) -> None:
        response_topic = self.topics.response(target)
        slot = self.slots.get(target)
        command_name = "get" if kind == "get" else (field_name or "set")
        body: dict[str, Any] = {
            "status": "error",
            "command": command_name[:40],
            "transaction": _transaction(payload, correlation),
            "error": None,
            "applied": {},
        }
        if slot is None:
            self._refused(body, f"unknown miner {target[:64]!r}", f"a command to {target[:64]}")
            await self._respond(response_topic, body, reply_to, correlation)
            await self.bus.emit(CommandAnswered(target[:64], "error"))
            return
        if kind == "get":
            slot.poll_now.set()
            body["status"] = "ok"
            await self._respond(response_topic, body, reply_to, correlation)
            return
        try:
            if kind == "set":
                command = cmd.parse_set(payload, slot.record)
            else:
                command = cmd.parse_set_field(field_name or "", payload, slot.record)
        except cmd.CommandError as exc:
            self._refused(body, str(exc), f"{command_name[:40]} on {target}")
            await self._respond(response_topic, body, reply_to, correlation)
            await self.bus.emit(CommandAnswered(target, "error"))
            await self._republish_after_failure(slot)
            return
        body["command"] = command.name
        transaction = body["transaction"]
        outcome: asyncio.Future[dict[str, Any]] | None = None
        if transaction is not None:
            earlier = self._transactions.recall(target, transaction, command.actions)
            if earlier is not None:
                # A retry (QoS 1 redelivery, a retrying client) is answered with the first
                # outcome, waiting for it if the first is still running: never executed twice.
                first = dict(await asyncio.shield(earlier))
                first["duplicate"] = True
                await self._respond(response_topic, first, reply_to, correlation)
                return
            # remembered before the first await, so a retry arriving meanwhile sees it
            outcome = asyncio.get_running_loop().create_future()
            self._transactions.remember(target, transaction, command.actions, outcome)
        result: dict[str, Any] | None = None
        try:
            result = await self._execute(slot, command)
        finally:
            if result is None:  # interrupted (shutdown): the outcome is unknown
                result = {"status": "unknown", "error": "interrupted; the outcome is unknown"}
            body.update(result)
            if outcome is not None:
                outcome.set_result(body)
        if body["status"] != "ok":
            log.info("%s on %s: %s: %s", command.name, target, body["status"], body["error"])
        await self._respond(response_topic, body, reply_to, correlation)
        await self.bus.emit(CommandAnswered(target, str(body["status"])))
        if body["status"] != "ok":
            await self._republish_after_failure(slot)

    async def _republish_after_failure(self, slot: MinerSlot) -> None:
        """The real state right after a refused or failed write: a UI that showed the write
        (an HA entity, a dashboard) goes back at once instead of at the next poll."""
        if slot.last_state is not None:
            await self._publish_state(slot)

    async def _execute(self, slot: MinerSlot, command: cmd.Command) -> dict[str, Any]:
        """Run the actions in order; stop at the first failure.  Never retried.

        ``applied`` echoes what was done, as validated (``{"power_limit": 3000}``).
        """
        done: dict[str, Any] = {}
        restarts = False  # a write that may restart the miner's backend was sent
        result: dict[str, Any]
        try:
            async with slot.lock:
                miner = await self._miner_for(slot)
                if miner is None:
                    return {"status": "error", "error": "miner is not reachable", "applied": done}
                deadline = float(settings.get("api_function_timeout")) * 3
                for action in command.actions:
                    restarts = restarts or _may_restart(action)
                    async with asyncio.timeout(deadline):
                        await _apply(miner, action)
                    done[action.field] = action.value
            result = {"status": "ok", "error": None, "applied": done}
        except NotAppliedError as exc:  # answered ok, did something else: say what
            failed = command.actions[len(done)].field
            result = {"status": "error", "error": str(exc), "applied": done,
                      "reported": {failed: exc.applied}}  # fmt: skip
            if self._relearn_range(slot):  # a clamp showed the real bound: HA's number too
                await self._announce(slot)
                result["power_limit_range"] = [slot.record.power_min, slot.record.power_max]
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
            slot.full_poll_due = True  # read the settings a command may have changed
            slot.poll_now.set()  # republish the new state soon
        if restarts and result["status"] != "error":
            # it may be restarting its backend to apply this: silence is ours for a while
            slot.settle_until = time.monotonic() + self.config.miners.command_settle
        return result

    # ================================================================== bridge requests
    async def _bridge_request(
        self, op: str, payload: bytes, reply_to: str | None, correlation: Any
    ) -> None:
        body: dict[str, Any] = {
            "status": "error",
            "data": None,
            "error": None,
            "transaction": _transaction(payload, correlation),
        }
        try:
            args = cmd.decode_json(payload, "invalid JSON") if payload.strip() else {}
            if not isinstance(args, dict):
                raise cmd.CommandError("payload must be a JSON object")
            cmd.check_transaction(args.get("transaction"))
            if op == "scan":
                body["data"] = {"found": await self.scan()}
            elif op == "poll":
                targets = self._targets(args.get("id"))
                results = await asyncio.gather(*(self.poll(s) for s in targets))
                body["data"] = {s.record.id: ok for s, ok in zip(targets, results, strict=True)}
            elif op == "devices":
                body["data"] = [s.record.public() for s in self.slots.values()]
            elif op == "info":
                body["data"] = {"version": __version__, "miner_count": len(self.slots)}
            elif op == "remove":
                target = args.get("id")
                if not isinstance(target, str) or target not in self.slots:
                    raise cmd.CommandError(f"unknown miner {str(target)[:64]!r}")
                await self.remove(target)
                body["data"] = {"removed": target}
            else:
                raise cmd.CommandError(
                    f"unknown request {op[:40]!r}; known: scan, poll, devices, info, remove"
                )
            body["status"] = "ok"
        except ValueError as exc:
            error = str(exc) if isinstance(exc, cmd.CommandError) else "invalid request"
            self._refused(body, error, f"bridge request {op[:40]}")
        await self._respond(self.topics.bridge_response(op), body, reply_to, correlation)

    def _targets(self, ids: Any) -> list[MinerSlot]:
        if ids is None:
            return list(self.slots.values())
        wanted = [ids] if isinstance(ids, str) else ids
        if not isinstance(wanted, list) or not all(isinstance(i, str) for i in wanted):
            raise cmd.CommandError("id must be a miner id or a list of ids")
        missing = [i for i in wanted if i not in self.slots]
        if missing:
            raise cmd.CommandError(f"unknown miner(s): {', '.join(missing)}")
        return [self.slots[i] for i in wanted]

    async def remove(self, miner_id: str) -> None:
        """Forget a miner: clear its retained topics and discovery, drop it from the registry."""
        slot = self.slots.pop(miner_id)
        if slot.task is not None:
            slot.task.cancel()
        for topic in slot.record.discovery_topics:
            await self._publish(topic, "", retain=True)
            self._published_discovery.pop(topic, None)
        await self._publish(self.topics.state(miner_id), "", retain=True)
        await self._publish(self.topics.availability(miner_id), "", retain=True)
        if self.config.mqtt.per_field_topics:
            for key in sorted((slot.field_keys or set()) | slot.reported):
                await self._publish(self.topics.field(miner_id, key), "", retain=True)
        self.registry.remove(miner_id)
        await self.registry.persist()
        await self._publish_devices()
        await self.bus.emit(MinerRemoved(slot.device))
        await self._event("miner_removed", id=miner_id)

    # ================================================================== fleet
    async def _fleet_request(
        self, group: str, payload: bytes, reply_to: str | None, correlation: Any
    ) -> None:
        body: dict[str, Any] = {
            "status": "error",
            "data": None,
            "error": None,
            "transaction": _transaction(payload, correlation),
        }
        try:
            if group not in self.config.fleet.groups:
                raise cmd.CommandError(f"unknown fleet group {group[:40]!r}")
            request = parse_fleet_request(payload)  # all of it, before any control call
            body["data"] = await self.curtail(group, request.target_w, emergency=request.emergency)
            body["status"] = "ok" if not body["data"]["failed"] else "partial"
        except cmd.CommandError as exc:
            self._refused(body, str(exc), f"fleet request for {group[:40]}")
        await self._respond(self.topics.fleet_response(group), body, reply_to, correlation)

    def _relearn_range(self, slot: MinerSlot) -> bool:
        """Copy a range the driver learned (a clamped write) into the record; True if new."""
        miner, rec = slot.miner, slot.record
        if miner is None or not miner.supports(Capability.POWER_LIMIT):
            return False
        bounds = miner.power_range()
        if bounds.source != "firmware" or (rec.power_min, rec.power_max) == (
            bounds.low,
            bounds.high,
        ):
            return False
        rec.power_min, rec.power_max, rec.power_range_source = bounds.low, bounds.high, "firmware"
        self.registry.mark_dirty()
        self._devices_changed()
        return True

    def _group_slots(self, group: str) -> list[MinerSlot]:
        members = self.config.fleet.groups[group].miners
        chosen = [s for s in self.slots.values() if not members or s.record.id in members]
        return [s for s in chosen if s.online]

    async def curtail(
        self, group: str, target_w: int, *, emergency: bool = False
    ) -> dict[str, Any]:
        """Apply a fleet power target: most efficient miners first (see bridge.fleet).

        A miner changed less than the group's ``min_change_interval`` ago is held as it is
        (many firmwares restart hashing on every change), unless ``emergency`` is set.
        """
        slots = self._group_slots(group)
        hold_for = self.config.fleet.groups[group].min_change_interval
        now = time.monotonic()

        def member(slot: MinerSlot) -> FleetMember:
            rec = slot.record
            state = slot.last_state or {}
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

        members = [member(slot) for slot in slots]
        plan = allocate(target_w, members)
        failed: dict[str, str] = {}
        learned: list[MinerSlot] = []  # clamped: their real range is known now
        held: list[str] = []

        async def apply(item: Any, *, exempt: bool = False) -> None:
            slot = self.slots[item.id]
            if not (emergency or exempt) and now - slot.last_fleet_change < hold_for:
                held.append(item.id)
                return
            actions = []
            if item.mining and item.power_limit is not None:
                actions.append(cmd.Action("power_limit", item.power_limit))
            if Capability.STOP_MINING.value in slot.record.capabilities:
                actions.append(cmd.Action("mining", item.mining))
            if not actions:
                return
            slot.last_fleet_change = now
            result = await self._execute(slot, cmd.Command(tuple(actions)))
            if result["status"] != "ok":
                failed[item.id] = str(result.get("error"))
                if "power_limit_range" in result:
                    learned.append(slot)

        await asyncio.gather(*(apply(item) for item in plan))
        # A miner that clamped its target has shown its real range (the catalog's was a
        # guess): plan once more with what it showed, and re-apply where the plan moved.
        if learned:
            before = {p.id: p for p in plan}
            members = [member(slot) for slot in slots]
            plan = allocate(target_w, members)
            retry = {s.record.id for s in learned}
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
        state = {
            "target_w": target_w,
            "allocated_w": allocated_power(plan, members),
            "measured_w": sum(int((s.last_state or {}).get("power") or 0) for s in slots),
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
        self._fleet_state[group] = state
        await self._publish(self.topics.fleet_state(group), state, retain=True)
        return state


def tls_context(config: BridgeConfig) -> ssl.SSLContext:
    """The broker's TLS context, built once at start: a CA or certificate file that cannot
    be loaded is a ConfigError naming its key (exit 2), not a failing MQTT task."""
    tls = config.mqtt.tls
    key = "mqtt.tls.ca_certs"
    try:
        context = ssl.create_default_context(cafile=tls.ca_certs)
        if tls.certfile:
            key = "mqtt.tls.certfile"
            context.load_cert_chain(tls.certfile, tls.keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{key}: cannot be loaded ({exc.strerror or exc})") from None
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _may_restart(action: cmd.Action) -> bool:
    """Whether applying ``action`` may restart the mining backend (BOSminer rewrites its
    config and restarts for a power target; many firmwares restart hashing on a change).
    Not a reboot: a rebooting miner is really away, and shown so."""
    return action.field in ("power_limit", "mode", "preset", "mining") or (
        action.value == "restart_backend"
    )


async def _apply(miner: BaseMiner, action: cmd.Action) -> None:
    """One validated action -> one driver call."""
    if action.field == "power_limit":
        await miner.set_power_limit(int(action.value))
    elif action.field == "mining":
        await (miner.resume_mining() if action.value else miner.stop_mining())
    elif action.field == "fault_light":
        await (miner.fault_light_on() if action.value else miner.fault_light_off())
    elif action.field == "mode":
        await miner.set_mode(str(action.value))
    elif action.field == "preset":
        await miner.set_preset(str(action.value))
    elif action.value == "reboot":
        await miner.reboot()
    elif action.value == "restart_backend":
        await miner.restart_backend()
    elif action.value == "identify":
        await miner.fault_light_on()


def _transaction(payload: bytes, correlation: Any) -> str | int | None:
    """The transaction to echo: the payload's own, else the MQTT 5 correlation data as text."""
    transaction = cmd.transaction_of(payload)
    return transaction if transaction is not None else cmd.correlation_transaction(correlation)


def _response_properties(message: aiomqtt.Message) -> tuple[str | None, Any]:
    props = message.properties
    if props is None:
        return None, None
    reply_to = getattr(props, "ResponseTopic", None)
    correlation = getattr(props, "CorrelationData", None)
    if reply_to is not None and ("+" in reply_to or "#" in reply_to):
        reply_to = None
    return reply_to, correlation


async def run_bridge(config_path: str) -> int:
    """Entry point of ``asic-bridge run``."""
    config = load_config(config_path)
    configure_logging(config.log_level, config.log_levels)
    bridge = Bridge(config)
    freezer = asyncio.create_task(_freeze_after_start_up(bridge))
    try:
        await bridge.run()
    finally:
        freezer.cancel()
    return 0


async def _freeze_after_start_up(bridge: Bridge) -> None:
    """Once the first scan is done, move what start-up built (modules, the catalog, the
    drivers) out of the garbage collector's way: the daemon's full collections then walk only
    what it allocates from there on.  Process-wide, so here in the entry point only."""
    await bridge.ready.wait()
    gc.freeze()

"""The bridge assembled: build the parts from a BridgeConfig, start them, stop them.

Nothing here does the bridge's work; it only wires (zigbee2mqtt's controller).  The parts:
``mqtt`` (the session), ``adoption`` (scans, the registry), ``pollers`` (one per miner), and
the features, each subscribed to the events it needs on one ``EventBus``.  The order the
features are built in is the order they hear an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from typing import Any

from asic_bridge.bridge.adoption import Adoption, Device
from asic_bridge.bridge.broker import EmbeddedBroker
from asic_bridge.bridge.config import BridgeConfig, load_config
from asic_bridge.bridge.events import EventBus
from asic_bridge.bridge.features.availability import Availability
from asic_bridge.bridge.features.bridge import BridgeTopics
from asic_bridge.bridge.features.commands import Commands
from asic_bridge.bridge.features.devices import DeviceRequests
from asic_bridge.bridge.features.discovery import Discovery
from asic_bridge.bridge.features.firmware import FirmwareUpdates
from asic_bridge.bridge.features.fleet import Fleet
from asic_bridge.bridge.features.logging import MqttLogging
from asic_bridge.bridge.features.metrics import Metrics
from asic_bridge.bridge.features.options import BridgeOptionsFeature, apply_stored
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.features.state import StateFeature
from asic_bridge.bridge.features.watchdog import Watchdog
from asic_bridge.bridge.logs import configure_logging
from asic_bridge.bridge.mqtt import MqttSession, Request, Route
from asic_bridge.bridge.options import OptionsStore
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.registry import Registry
from asic_bridge.bridge.shard import answered_here
from asic_bridge.bridge.topics import Topics
from asic_bridge.network import Host

log = logging.getLogger("asic_bridge.bridge")


class Bridge:
    """Everything ``asic-bridge run`` does; ``await Bridge(config).run()``."""

    def __init__(self, config: BridgeConfig):
        self.config = config
        self.store = store = OptionsStore(config.state_dir)
        store.load()
        apply_stored(config, store.bridge)  # the runtime options over the YAML config
        self.topics = topics = Topics(
            config.mqtt.base_topic, config.mqtt.discovery_prefix, config.shard.instance
        )
        self.bus = bus = EventBus()
        self.mqtt = mqtt = MqttSession(config, topics, bus)
        self.adoption = adoption = Adoption(
            config, Registry(config.state_dir), bus, blocked=store.blocked
        )
        miners = config.miners
        self.pollers = pollers = Pollers(
            bus,
            adoption.connect,
            miners.poll_interval,
            miners.offline_after,
            miners.concurrency,
            miners.command_settle,
        )
        self.broker: EmbeddedBroker | None = None
        self.sims: list[Any] = []
        # the features, in the order they hear an event
        self.bridge_topics = BridgeTopics(bus, mqtt, topics, config, adoption, self._info)
        self.discovery = Discovery(bus, mqtt, topics, config, adoption)
        self.state = StateFeature(bus, mqtt, topics, config, adoption.registry)
        self.availability = Availability(bus, mqtt, topics)
        self.commands = Commands(bus, mqtt, topics, adoption, pollers, config.mqtt.transaction_ttl)
        self.fleet = Fleet(bus, mqtt, topics, config, adoption, self.commands)
        self.requests = BridgeRequests(mqtt, topics)
        self.devices = DeviceRequests(bus, config, adoption, pollers, store)
        self.logging = MqttLogging(mqtt, topics, store.bridge.mqtt_log_level)
        self.options = BridgeOptionsFeature(
            config,
            store,
            mqtt,
            adoption,
            pollers,
            self.restart,
            self.bridge_topics.publish_info,
            self.logging,
        )
        # observability (issue #17): Prometheus metrics, the watchdog
        self.metrics = Metrics(bus, lambda: list(adoption.devices.values()), config.metrics)
        groups = [(g.miners, g.watchdog) for g in config.fleet.groups.values()]
        self.watchdog = Watchdog(bus, groups, self.commands.execute, self.bridge_topics.event_of)
        # firmware updates (issue #17): the request, progress events, HA update entities
        self.firmware = FirmwareUpdates(
            bus, mqtt, topics, config, adoption, pollers, self.bridge_topics.event_of
        )
        self.firmware.register(self.requests)
        self.commands.routes(mqtt)
        self.requests.routes(mqtt)
        if topics.instance is None:
            self.fleet.routes(mqtt)
        else:  # sharded: each message answered by one instance; no fleet groups
            index = config.shard.index
            mqtt.answers = lambda incoming, payload: answered_here(
                incoming, payload, adoption.devices, index
            )
            mqtt.route("fleet_set", _refuse_fleet_when_sharded(mqtt))
        self.devices.register(self.requests)
        self.bridge_topics.register(self.requests)
        self.options.register(self.requests)
        #: set by bridge/request/restart: ``run_bridge`` starts a new Bridge after this one
        self.restart_requested = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()  # set after the first connect and scan (for tests)

    @property
    def slots(self) -> dict[str, Device]:
        """The adopted miners, by id."""
        return self.adoption.devices

    def _info(self) -> dict[str, Any]:
        return {
            "mqtt_protocol": self.mqtt.protocol_name,
            "broker": self.broker.description if self.broker is not None else "external",
            **self.options.info(),
        }

    def restart(self) -> None:
        """Stop, and have ``run_bridge`` start again with the config read anew."""
        self.restart_requested = True
        self._stop.set()

    # ------------------------------------------------------------------ lifecycle
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
        self.adoption.load()
        if self.config.simulator.miners:
            from asic_bridge.sim import start_fleet

            self.sims = await start_fleet(self.config.simulator.miners)
            for sim in self.sims:
                overrides = {
                    k: v for k, v in sim.ports.items() if v != type(sim).default_ports.get(k)
                }
                self.adoption.extra_hosts.append(Host(sim.address, overrides or None))
        if self.config.mqtt.embedded_broker:
            self.broker = EmbeddedBroker.from_config(
                self.config.mqtt.embedded, self.config.state_dir
            )
            await self.broker.start()
            self.mqtt.broker_supports_v5 = self.broker.supports_v5
        self.logging.start()
        self._spawn(self.mqtt.run(self._stop), "mqtt")
        self._spawn(self.adoption.scan_loop(self.mqtt.connected, self._stop, self.ready), "scanner")
        for device in self.adoption.devices.values():
            self.pollers.start(device)
        self.fleet.start()

    async def shutdown(self) -> None:
        scanner = [t for t in self._tasks if t.get_name() != "mqtt"]
        for task in scanner:
            task.cancel()
        await self.fleet.close()  # no fleet writes while the parts stop
        await self.pollers.stop()
        await asyncio.gather(*scanner, return_exceptions=True)
        await self.discovery.close()
        await self.bridge_topics.close()
        await self.logging.stop()
        await self.mqtt.close()  # says offline while still connected
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.adoption.close()
        await self.watchdog.close()
        await self.firmware.close()
        await self.metrics.close()
        if self.sims:
            from asic_bridge.sim import stop_fleet

            await stop_fleet(self.sims)
        if self.broker is not None:
            await self.broker.stop()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(_log_failure)


def _refuse_fleet_when_sharded(mqtt: MqttSession) -> Route:
    async def refuse(request: Request) -> None:
        error = "fleet groups are not available with shard.count > 1 (see the README)"
        await mqtt.refuse(request, "error", error)

    return refuse


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())


GC_THRESHOLDS = (20_000, 50, 50)
"""The collector's thresholds in the daemon (Python's default: 700, 10, 10).  Every poll
allocates thousands of short-lived objects; with the default, enough of them outlive a
young collection to set off full ones, each walking the whole heap: at 5,000 miners (450
MB) the collector took 42 s of the bridge's CPU in 3 minutes, 7 s with these, and a poll
cost 2.4 instead of 3.0 ms at the same RSS (bench/bridge_5k.py --profile gc)."""


async def run_bridge(config_path: str) -> int:
    """Entry point of ``asic-bridge run``; a restart request runs a new Bridge in place."""
    gc.set_threshold(*GC_THRESHOLDS)  # process-wide, so here in the entry point only
    while True:
        bridge = Bridge(load_config(config_path))
        configure_logging(bridge.config.log_level, bridge.config.log_levels)
        freezer = asyncio.create_task(_freeze_after_start_up(bridge))
        try:
            await bridge.run()
        finally:
            freezer.cancel()
        if not bridge.restart_requested:
            return 0
        log.info("restarting (bridge/request/restart)")


async def _freeze_after_start_up(bridge: Bridge) -> None:
    """Once the first scan is done, move what start-up built (modules, the catalog, the
    drivers) out of the garbage collector's way: the daemon's full collections then walk only
    what it allocates from there on.  Process-wide, so here in the entry point only."""
    await bridge.ready.wait()
    gc.freeze()

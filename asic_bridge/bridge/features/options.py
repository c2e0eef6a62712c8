"""``bridge/request/options``, ``restart`` and ``health_check``: the bridge's runtime
options (persisted in options.json), a restart in place, and a health summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.config import BridgeConfig
from asic_bridge.bridge.features.logging import MqttLogging
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.logs import configure_logging
from asic_bridge.bridge.mqtt import MqttSession
from asic_bridge.bridge.options import (
    CONFIG_SCHEMA_VERSION,
    RESTART_REQUIRED,
    BridgeOptions,
    OptionsStore,
    validation_message,
)
from asic_bridge.bridge.poller import Pollers


def apply_stored(config: BridgeConfig, options: BridgeOptions) -> None:
    """Put the persisted runtime options over the YAML config (at start)."""
    if options.poll_interval is not None:
        config.miners.poll_interval = options.poll_interval
    if options.scan_interval is not None:
        config.miners.scan_interval = options.scan_interval
    if options.log_level is not None:
        config.log_level = options.log_level
    if options.per_field_topics is not None:
        config.mqtt.per_field_topics = options.per_field_topics
    if options.discovery is not None:
        config.mqtt.discovery = options.discovery


class BridgeOptionsFeature:
    def __init__(
        self,
        config: BridgeConfig,
        store: OptionsStore,
        mqtt: MqttSession,
        adoption: Adoption,
        pollers: Pollers,
        restart: Callable[[], None],
        info_changed: Callable[[], Any],
        mqtt_logging: MqttLogging,
    ):
        self.config = config
        self.store = store
        self.mqtt = mqtt
        self.adoption = adoption
        self.pollers = pollers
        self.restart = restart
        #: publishes bridge/info again (log_level, restart_required changed)
        self.info_changed = info_changed
        self.mqtt_logging = mqtt_logging
        #: options changed that only a restart puts in force
        self.pending: set[str] = set()

    def register(self, requests: BridgeRequests) -> None:
        requests.register("options", self._options)
        requests.register("restart", self._restart, then=self.restart)
        requests.register("health_check", self._health)

    def info(self) -> dict[str, Any]:
        """What bridge/info shows of the options."""
        return {
            "log_level": self.config.log_level,
            "restart_required": bool(self.pending),
            "config_schema_version": CONFIG_SCHEMA_VERSION,
            "mqtt_log_level": self.mqtt_logging.level_name,
            "options": self.store.bridge.model_dump(exclude_none=True),
        }

    async def _options(self, args: dict[str, Any]) -> Any:
        """``{options: {...}}``: only the options given change; ``null`` resets one to the
        YAML config's value at the next start."""
        wanted = args.get("options")
        if not isinstance(wanted, dict) or not wanted:
            raise cmd.RequestError('options must be an object like {"log_level": "debug"}')
        try:
            options = BridgeOptions.model_validate({**self.store.bridge.model_dump(), **wanted})
        except ValidationError as exc:
            raise cmd.RequestError(f"options.{validation_message(exc)}") from None
        self.store.bridge = options
        self.store.save()
        restart = self._apply(options, set(wanted))
        self.pending |= restart
        await self.info_changed()
        return {
            "options": options.model_dump(exclude_none=True),
            "restart_required": bool(self.pending),
        }

    def _apply(self, options: BridgeOptions, changed: set[str]) -> set[str]:
        """Put what can change at once in force; returns what needs a restart."""
        config, restart = self.config, set()
        if "poll_interval" in changed and options.poll_interval is not None:
            config.miners.poll_interval = options.poll_interval
            self.pollers.set_interval(options.poll_interval)
        if "scan_interval" in changed and options.scan_interval is not None:
            if config.miners.scan_interval <= 0 < options.scan_interval:
                restart.add("scan_interval")  # the scan loop has ended; it starts again
            config.miners.scan_interval = options.scan_interval
        if "log_level" in changed and options.log_level is not None:
            config.log_level = options.log_level
            configure_logging(config.log_level, config.log_levels)
        if "mqtt_log_level" in changed:
            self.mqtt_logging.set_level(options.mqtt_log_level)
        for key in RESTART_REQUIRED & changed:
            if getattr(options, key) is not None and getattr(options, key) != getattr(
                config.mqtt, key
            ):
                restart.add(key)
        return restart

    async def _restart(self, args: dict[str, Any]) -> Any:
        return {"restarting": True}

    async def _health(self, args: dict[str, Any]) -> Any:
        connected = self.mqtt.client is not None and self.mqtt.connected.is_set()
        devices = self.adoption.devices
        online = sum(1 for miner_id in devices if self.pollers.online(miner_id))
        return {
            "healthy": connected,
            "broker": "connected" if connected else "disconnected",
            "miners_online": online,
            "miners_total": len(devices),
            "last_poll_age": self.pollers.last_poll_age(),
        }

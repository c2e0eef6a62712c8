"""Config flow: one entry per bridge, keyed by its base topic (and instance, when sharded).

Two ways in:

- MQTT discovery: the manifest's ``mqtt`` key makes Home Assistant's MQTT integration start
  a flow for every ``asic_bridge/bridge/info`` and, for several sharded bridges on one base
  topic, every ``asic_bridge/bridge/<instance>/info`` message (retained by the daemon), then
  the user confirms.
- The user step: enter a base topic (and, sharded, an instance name); the flow waits briefly
  for that bridge's retained info to prove a bridge is there.

An unsharded entry is ``{base_topic}`` with unique id ``<base>``, as it always was; a sharded
one adds ``instance`` and has unique id ``<base>#<instance>`` (``#`` is never in a base topic,
so it cannot collide with an unsharded one), so each instance of a farm is its own entry.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from homeassistant.components import mqtt
from homeassistant.components.mqtt import ReceiveMessage
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
import voluptuous as vol

from .const import CONF_BASE_TOPIC, CONF_INSTANCE, DEFAULT_BASE_TOPIC, DOMAIN, TIMEOUTS

INFO_SUFFIX = "/bridge/info"
# The daemon's shard.name: what a topic level under <b>/bridge/ may be.
_INSTANCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Levels under <b>/bridge/ that are the bridge's own topics, never an instance.
_BRIDGE_LEVELS = frozenset({"state", "info", "devices", "event", "logging", "request", "response"})


def _decode(payload: Any) -> dict[str, Any] | None:
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not payload:
        return None
    try:
        info = json.loads(payload)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _valid_base_topic(base: str) -> bool:
    """A base topic is a publishable topic: no wildcards, no empty level, no ``$`` prefix."""
    if not base or base.startswith("$") or "" in base.split("/"):
        return False
    try:
        mqtt.valid_publish_topic(f"{base}{INFO_SUFFIX}")
        mqtt.valid_subscribe_topic(f"{base}/+/response")
    except vol.Invalid:
        return False
    return True


def _valid_instance(instance: str) -> bool:
    return bool(_INSTANCE.match(instance)) and instance not in _BRIDGE_LEVELS


def info_topic(base: str, instance: str | None) -> str:
    return f"{base}/bridge/{instance}/info" if instance else f"{base}{INFO_SUFFIX}"


def _split_info_topic(topic: str, info: dict[str, Any]) -> tuple[str, str | None] | None:
    """(base, instance) of a ``<b>/bridge/info`` or ``<b>/bridge/<instance>/info`` topic.

    The info's own ``base_topic`` says where the base ends (a base may itself contain a
    ``bridge`` level); its ``shard.name`` must match the instance level.
    """
    base = info.get("base_topic")
    if not isinstance(base, str):  # a daemon older than base_topic in info
        base = topic.removesuffix(INFO_SUFFIX) if topic.endswith(INFO_SUFFIX) else None
    if base is None or not topic.startswith(f"{base}/"):
        return None
    shard = info.get("shard")
    name = shard.get("name") if isinstance(shard, dict) else None
    rest = topic[len(base) + 1 :].split("/")
    if rest == ["bridge", "info"] and name is None:
        return base, None
    if len(rest) == 3 and rest[0] == "bridge" and rest[2] == "info" and rest[1] == name:
        return (base, name) if _valid_instance(name) else None
    return None


def unique_id(base: str, instance: str | None) -> str:
    return f"{base}#{instance}" if instance else base


def entry_data(base: str, instance: str | None) -> dict[str, str]:
    return {CONF_BASE_TOPIC: base, CONF_INSTANCE: instance} if instance else {CONF_BASE_TOPIC: base}


async def async_wait_for_bridge_info(
    hass: HomeAssistant, base: str, wait: float, instance: str | None = None
) -> dict[str, Any] | None:
    """Subscribe to the bridge's info topic and wait for its retained message."""
    future: asyncio.Future[dict[str, Any]] = hass.loop.create_future()

    @callback
    def received(msg: ReceiveMessage) -> None:
        info = _decode(msg.payload)
        if info is not None and not future.done():
            future.set_result(info)

    unsubscribe = await mqtt.async_subscribe(hass, info_topic(base, instance), received)
    try:
        async with asyncio.timeout(wait):
            return await future
    except TimeoutError:
        return None
    finally:
        unsubscribe()


def _title(base: str, instance: str | None = None) -> str:
    """The daemon's name for its bridge device: the base topic only when it is not the
    default, the instance when sharded."""
    title = "ASIC Bridge" if base == DEFAULT_BASE_TOPIC else f"ASIC Bridge ({base})"
    return f"{title} {instance}" if instance else title


def _label(base: str, instance: str | None) -> str:
    return f"{base} ({instance})" if instance else base


class AsicBridgeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a bridge."""

    VERSION = 1

    def __init__(self) -> None:
        self._base: str = DEFAULT_BASE_TOPIC
        self._instance: str | None = None
        self._info: dict[str, Any] = {}

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """A bridge announced itself on ``asic_bridge/bridge/info`` (sharded:
        ``asic_bridge/bridge/<instance>/info``)."""
        info = _decode(discovery_info.payload)
        where = _split_info_topic(discovery_info.topic, info) if info is not None else None
        if info is None or "version" not in info or where is None:
            return self.async_abort(reason="invalid_discovery_info")
        base, instance = where
        if not _valid_base_topic(base):
            return self.async_abort(reason="invalid_discovery_info")
        await self.async_set_unique_id(unique_id(base, instance))
        self._abort_if_unique_id_configured()
        self._base, self._instance, self._info = base, instance, info
        self.context["title_placeholders"] = {"base_topic": _label(base, instance)}
        return await self.async_step_mqtt_confirm()

    async def async_step_mqtt_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask before adding a discovered bridge."""
        if user_input is not None:
            return self.async_create_entry(
                title=_title(self._base, self._instance),
                data=entry_data(self._base, self._instance),
            )
        self._set_confirm_only()
        return self.async_show_form(
            step_id="mqtt_confirm",
            description_placeholders={
                "base_topic": _label(self._base, self._instance),
                "version": str(self._info.get("version", "?")),
                "miner_count": str(self._info.get("miner_count", "?")),
            },
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Enter a base topic; a bridge must answer on it."""
        errors: dict[str, str] = {}
        base, instance = DEFAULT_BASE_TOPIC, ""
        if user_input is not None:
            base = str(user_input[CONF_BASE_TOPIC]).strip()
            instance = str(user_input.get(CONF_INSTANCE) or "").strip()
            if not _valid_base_topic(base):
                errors[CONF_BASE_TOPIC] = "invalid_topic"
            elif instance and not _valid_instance(instance):
                errors[CONF_INSTANCE] = "invalid_instance"
            elif not await mqtt.async_wait_for_mqtt_client(self.hass):
                errors["base"] = "mqtt_unavailable"
            else:
                name = instance or None
                await self.async_set_unique_id(unique_id(base, name), raise_on_progress=False)
                self._abort_if_unique_id_configured()
                info = await async_wait_for_bridge_info(
                    self.hass, base, TIMEOUTS["bridge_info"], name
                )
                if info is None:
                    errors["base"] = "no_bridge"
                else:
                    return self.async_create_entry(
                        title=_title(base, name), data=entry_data(base, name)
                    )
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_BASE_TOPIC, default=base): str,
                    vol.Optional(CONF_INSTANCE, default=instance): str,
                }
            ),
            errors=errors,
            description_placeholders={"default": DEFAULT_BASE_TOPIC},
        )

"""Config flow: one entry per bridge, keyed by its base topic.

Two ways in:

- MQTT discovery: the manifest's ``mqtt`` key makes Home Assistant's MQTT integration start
  a flow for every ``asic_bridge/bridge/info`` message (retained by the daemon), then the
  user confirms.
- The user step: enter a base topic; the flow waits briefly for that bridge's retained
  ``<base>/bridge/info`` to prove a bridge is there.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from homeassistant.components import mqtt
from homeassistant.components.mqtt import ReceiveMessage
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
import voluptuous as vol

from .const import CONF_BASE_TOPIC, DEFAULT_BASE_TOPIC, DOMAIN, TIMEOUTS

INFO_SUFFIX = "/bridge/info"


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


async def async_wait_for_bridge_info(
    hass: HomeAssistant, base: str, wait: float
) -> dict[str, Any] | None:
    """Subscribe to ``<base>/bridge/info`` and wait for its retained message."""
    future: asyncio.Future[dict[str, Any]] = hass.loop.create_future()

    @callback
    def received(msg: ReceiveMessage) -> None:
        info = _decode(msg.payload)
        if info is not None and not future.done():
            future.set_result(info)

    unsubscribe = await mqtt.async_subscribe(hass, f"{base}{INFO_SUFFIX}", received)
    try:
        async with asyncio.timeout(wait):
            return await future
    except TimeoutError:
        return None
    finally:
        unsubscribe()


def _title(base: str) -> str:
    """The daemon's name for its bridge device: the base topic only when it is not the default."""
    return "ASIC Bridge" if base == DEFAULT_BASE_TOPIC else f"ASIC Bridge ({base})"


class AsicBridgeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a bridge."""

    VERSION = 1

    def __init__(self) -> None:
        self._base: str = DEFAULT_BASE_TOPIC
        self._info: dict[str, Any] = {}

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """A bridge announced itself on ``asic_bridge/bridge/info``."""
        topic = discovery_info.topic
        info = _decode(discovery_info.payload)
        if not topic.endswith(INFO_SUFFIX) or info is None or "version" not in info:
            return self.async_abort(reason="invalid_discovery_info")
        base = topic.removesuffix(INFO_SUFFIX)
        if not _valid_base_topic(base):
            return self.async_abort(reason="invalid_discovery_info")
        await self.async_set_unique_id(base)
        self._abort_if_unique_id_configured()
        self._base, self._info = base, info
        self.context["title_placeholders"] = {"base_topic": base}
        return await self.async_step_mqtt_confirm()

    async def async_step_mqtt_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask before adding a discovered bridge."""
        if user_input is not None:
            return self.async_create_entry(
                title=_title(self._base), data={CONF_BASE_TOPIC: self._base}
            )
        self._set_confirm_only()
        return self.async_show_form(
            step_id="mqtt_confirm",
            description_placeholders={
                "base_topic": self._base,
                "version": str(self._info.get("version", "?")),
                "miner_count": str(self._info.get("miner_count", "?")),
            },
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Enter a base topic; a bridge must answer on it."""
        errors: dict[str, str] = {}
        base = DEFAULT_BASE_TOPIC
        if user_input is not None:
            base = str(user_input[CONF_BASE_TOPIC]).strip()
            if not _valid_base_topic(base):
                errors[CONF_BASE_TOPIC] = "invalid_topic"
            elif not await mqtt.async_wait_for_mqtt_client(self.hass):
                errors["base"] = "mqtt_unavailable"
            else:
                await self.async_set_unique_id(base, raise_on_progress=False)
                self._abort_if_unique_id_configured()
                info = await async_wait_for_bridge_info(self.hass, base, TIMEOUTS["bridge_info"])
                if info is None:
                    errors["base"] = "no_bridge"
                else:
                    return self.async_create_entry(title=_title(base), data={CONF_BASE_TOPIC: base})
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema({vol.Required(CONF_BASE_TOPIC, default=base): str}),
            errors=errors,
            description_placeholders={"default": DEFAULT_BASE_TOPIC},
        )

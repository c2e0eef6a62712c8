"""The asic_bridge integration: a thin companion to the asic_bridge MQTT daemon.

The daemon announces every miner entity through MQTT discovery, so this integration creates
no entities.  It adds what discovery cannot: actions that wait for the bridge's answer
(reboot, power limit, fleet power, scan, ...), ``asic_bridge_event`` events and device
triggers (miner found/lost/back online, new errors), diagnostics, and a repair issue while
the bridge is offline.  It talks to the daemon over Home Assistant's MQTT integration only.
"""

from __future__ import annotations

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .bridge import AsicBridge, AsicBridgeConfigEntry, miner_id_of
from .const import CONF_BASE_TOPIC, CONF_INSTANCE, DOMAIN
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions once, whatever the number of bridges."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: AsicBridgeConfigEntry) -> bool:
    """Follow one bridge."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_unavailable")
    bridge = AsicBridge(hass, entry, entry.data[CONF_BASE_TOPIC], entry.data.get(CONF_INSTANCE))
    entry.runtime_data = bridge
    await bridge.async_start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: AsicBridgeConfigEntry) -> bool:
    """Stop following the bridge (its MQTT entities are MQTT's and stay)."""
    await entry.runtime_data.async_stop()
    return True


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: AsicBridgeConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow removing a device unless the bridge still reports it as one of its miners."""
    return miner_id_of(device) not in entry.runtime_data.devices

"""Diagnostics: what the bridge last published, with secrets and identifiers redacted."""

from __future__ import annotations

import re
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .bridge import AsicBridgeConfigEntry, miner_id_of

# Keys whose values never leave Home Assistant in a diagnostics file.
TO_REDACT = {
    "password",
    "passwd",
    "username",
    "user",
    "pool_user",
    "token",
    "api_key",
    "secret",
    "mac",
    "connections",
    "serial_number",
}
# Credentials inside URLs (mqtt://user:pass@host, stratum+tcp://worker:x@pool).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(r"\g<scheme>**REDACTED**@", value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _redact(data: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = _scrub(data)
    return async_redact_data(scrubbed, TO_REDACT)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: AsicBridgeConfigEntry
) -> dict[str, Any]:
    """The bridge: its state, info, device list and every miner's last state."""
    bridge = entry.runtime_data
    return _redact(
        {
            "entry": {"title": entry.title, "data": dict(entry.data)},
            "bridge": {
                "base_topic": bridge.base,
                "instance": bridge.instance,
                "online": bridge.online,
                "info": bridge.info,
                "devices": list(bridge.devices.values()),
            },
            "states": bridge.states,
        }
    )


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: AsicBridgeConfigEntry, device: dr.DeviceEntry
) -> dict[str, Any]:
    """One miner: the bridge's record of it and its last state."""
    bridge = entry.runtime_data
    miner_id = miner_id_of(device)
    return _redact(
        {
            "miner_id": miner_id,
            "bridge_online": bridge.online,
            "device": bridge.devices.get(miner_id) if miner_id else None,
            "state": bridge.states.get(miner_id) if miner_id else None,
        }
    )

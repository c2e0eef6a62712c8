"""Constants of the asic_bridge integration.

The integration is thin: the asic_bridge daemon publishes every entity through MQTT
discovery; this integration adds what discovery cannot express (commands that answer,
events, device triggers, diagnostics, a repair issue when the bridge goes offline).  It
talks to the daemon only through Home Assistant's MQTT integration and never imports the
daemon's package.
"""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "asic_bridge"

CONF_BASE_TOPIC: Final = "base_topic"
# Sharded (several bridges on one base topic): the instance's level in <b>/bridge/<instance>/.
CONF_INSTANCE: Final = "instance"
DEFAULT_BASE_TOPIC: Final = "asic_bridge"

# The identifiers MQTT discovery gives the devices: ("mqtt", "asic_bridge_<miner id>").
MQTT_DOMAIN: Final = "mqtt"
IDENTIFIER_PREFIX: Final = "asic_bridge_"

# The Home Assistant event fired for everything the bridge reports about a miner.
EVENT_ASIC_BRIDGE: Final = "asic_bridge_event"

EVENT_MINER_FOUND: Final = "miner_found"
EVENT_MINER_LOST: Final = "miner_lost"
EVENT_MINER_ONLINE: Final = "miner_online"
EVENT_IP_CHANGED: Final = "ip_changed"
EVENT_NEW_ERROR: Final = "new_error"
# A write without a transaction (what HA's MQTT entities send) that the bridge refused or
# the miner failed: nobody waits for that answer, so the integration shows it.
EVENT_COMMAND_FAILED: Final = "command_failed"

# Event types a device trigger can wait for (one per miner device).
TRIGGER_TYPES: Final = (
    EVENT_MINER_FOUND,
    EVENT_MINER_LOST,
    EVENT_MINER_ONLINE,
    EVENT_NEW_ERROR,
    EVENT_IP_CHANGED,
    EVENT_COMMAND_FAILED,
)

# How long a command waits for the bridge's answer, in seconds, per kind of request.
# A dict (not constants) so that tests can shorten them.
TIMEOUTS: dict[str, float] = {
    "command": 30.0,  # <b>/<id>/set -> <b>/<id>/response (the bridge's own deadline is 15 s)
    "poll": 60.0,
    "scan": 180.0,  # a subnet scan can take a while
    "fleet": 90.0,
    "bridge_info": 5.0,  # config flow: wait this long for a retained <b>/bridge/info
}

# The bridge must stay offline this long before a repair issue is raised (a restart of the
# daemon publishes offline, then online a few seconds later).
OFFLINE_GRACE_SECONDS: dict[str, float] = {"value": 60.0}

ISSUE_BRIDGE_OFFLINE: Final = "bridge_offline"

SERVICE_REBOOT: Final = "reboot"
SERVICE_RESTART_BACKEND: Final = "restart_backend"
SERVICE_SET_POWER_LIMIT: Final = "set_power_limit"
SERVICE_START_MINING: Final = "start_mining"
SERVICE_STOP_MINING: Final = "stop_mining"
SERVICE_FAULT_LIGHT_ON: Final = "fault_light_on"
SERVICE_FAULT_LIGHT_OFF: Final = "fault_light_off"
SERVICE_POLL_NOW: Final = "poll_now"
SERVICE_SCAN_NOW: Final = "scan_now"
SERVICE_SET_FLEET_POWER: Final = "set_fleet_power"
SERVICE_RELEASE_FLEET_POWER: Final = "release_fleet_power"
SERVICE_SET_POOLS: Final = "set_pools"
SERVICE_SET_FAN_MODE: Final = "set_fan_mode"

ATTR_POWER_LIMIT: Final = "power_limit"
ATTR_GROUP: Final = "group"
ATTR_TARGET_W: Final = "target_w"
ATTR_CONFIG_ENTRY: Final = "config_entry"
ATTR_POOLS: Final = "pools"
ATTR_FAN_MODE: Final = "mode"
ATTR_FAN_SPEED: Final = "speed"
# The fan modes as the bridge names them on MQTT (its "auto" is the library's "normal").
FAN_MODES: Final = ("auto", "manual", "immersion")

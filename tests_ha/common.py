"""Helpers shared by the HA tests: a fake bridge driven through the mocked MQTT client.

As with a real broker, only the first message on a retained topic (the replay on subscribe)
carries the retain flag; HA's MQTT client drops a second retained message on the same topic
for the same subscription, so later updates are fired with ``retain=False``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest.mock import MagicMock

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from custom_components.asic_bridge.const import CONF_BASE_TOPIC, DOMAIN

BASE = "asic_bridge"
MINER = "aabbccddeeff"
MINER2 = "garage_s19"

CAPABILITIES = [
    "fan_control",
    "fault_light",
    "power_limit",
    "reboot",
    "restart_backend",
    "stop_mining",
]


def device_record(miner_id: str, ip: str = "10.0.0.5", mac: str | None = None) -> dict[str, Any]:
    """One entry of <b>/bridge/devices, as the daemon publishes it."""
    return {
        "id": miner_id,
        "ip": ip,
        "mac": mac or "aa:bb:cc:dd:ee:ff",
        "make": "AntMiner",
        "model": "S19j Pro",
        "firmware": "Stock",
        "fw_ver": "2023.01.01",
        "hostname": "antminer",
        "friendly_name": None,
        "capabilities": CAPABILITIES,
        "modes": [],
        "fan_modes": ["auto", "manual"],
        "power_limit_range": [1000, 3500],
        "hashrate_unit": "TH/s",
    }


INFO = {
    "version": "0.1.0",
    "started_at": 1_700_000_000.0,
    "base_topic": BASE,
    "discovery_prefix": "homeassistant",
    "miner_count": 2,
    "config": {
        "mqtt": {"url": "mqtt://asic_bridge:***@broker.lan:1883", "base_topic": BASE},
        "miners": {"hosts": ["10.0.0.5"], "scan": [], "poll_interval": 10},
        "fleet_groups": ["all", "garage"],
        "simulated_miners": 0,
    },
    "mqtt_protocol": "3.1.1",
}


def bridge_device_id(base: str = BASE, instance: str | None = None) -> str:
    node = f"asic_bridge_{base.replace('/', '_')}"
    return f"{node}_{instance}" if instance else node


def discover_miner(
    hass: HomeAssistant, miner_id: str, base: str = BASE, instance: str | None = None
) -> None:
    """Announce one sensor of a miner through HA's MQTT discovery (creates the device);
    sharded (``instance``), it hangs from and is available with its owner instance."""
    bridge_topic = f"{base}/bridge/{instance}" if instance else f"{base}/bridge"
    config = {
        "name": "Hashrate",
        "unique_id": f"asic_bridge_{miner_id}_hashrate",
        "state_topic": f"{base}/{miner_id}",
        "value_template": "{{ value_json.hashrate }}",
        "unit_of_measurement": "TH/s",
        "state_class": "measurement",
        "device": {
            "identifiers": [f"asic_bridge_{miner_id}"],
            "name": f"S19j Pro {miner_id}",
            "manufacturer": "AntMiner",
            "model": "S19j Pro",
            "via_device": bridge_device_id(base, instance),
        },
        "origin": {"name": "asic_bridge"},
        "availability": [
            {"topic": f"{bridge_topic}/state"},
            {"topic": f"{base}/{miner_id}/availability"},
        ],
        "availability_mode": "all",
    }
    async_fire_mqtt_message(
        hass, f"homeassistant/sensor/{miner_id}/hashrate/config", json.dumps(config), retain=True
    )


def miner_device(hass: HomeAssistant, miner_id: str) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get_device(identifiers={("mqtt", f"asic_bridge_{miner_id}")})
    assert device is not None, f"no device for {miner_id}"
    return device


async def setup_bridge(
    hass: HomeAssistant,
    base: str = BASE,
    *,
    miners: tuple[str, ...] = (MINER, MINER2),
    online: bool = True,
) -> MockConfigEntry:
    """Discover the miners' devices, add the config entry, replay the retained bridge topics."""
    for miner_id in miners:
        discover_miner(hass, miner_id, base)
    await hass.async_block_till_done()
    entry = MockConfigEntry(
        domain=DOMAIN, title=f"asic_bridge ({base})", data={CONF_BASE_TOPIC: base}, unique_id=base
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(
        hass, f"{base}/bridge/state", "online" if online else "offline", retain=True
    )
    async_fire_mqtt_message(
        hass, f"{base}/bridge/info", json.dumps({**INFO, "base_topic": base}), retain=True
    )
    records = [device_record(m, ip=f"10.0.0.{i + 5}") for i, m in enumerate(miners)]
    async_fire_mqtt_message(hass, f"{base}/bridge/devices", json.dumps(records), retain=True)
    await hass.async_block_till_done()
    return entry


async def next_publish(
    hass: HomeAssistant, mqtt_mock: MagicMock, topic_part: str = ""
) -> tuple[str, Any]:
    """Wait until the integration publishes (on a topic containing ``topic_part``)."""
    for _ in range(200):
        for call in mqtt_mock.async_publish.call_args_list:
            topic, payload = call.args[0], call.args[1]
            if topic_part in topic and not topic.startswith("homeassistant/"):
                mqtt_mock.async_publish.reset_mock()
                return topic, json.loads(payload)
        await asyncio.sleep(0.005)
    raise AssertionError(f"nothing published on a topic containing {topic_part!r}")


def published(mqtt_mock: MagicMock) -> list[tuple[str, Any]]:
    """Every command the integration published so far."""
    out = []
    for call in mqtt_mock.async_publish.call_args_list:
        topic = call.args[0]
        if not topic.startswith("homeassistant/"):
            out.append((topic, json.loads(call.args[1])))
    return out


async def replay_discovery(hass: HomeAssistant, case: dict[str, Any]) -> None:
    """What HA gets from the broker: the retained discovery configs, then (replayed when the
    new entities subscribe) the retained availability and state."""
    for topic, payload in case["messages"].items():
        async_fire_mqtt_message(hass, topic, json.dumps(payload), retain=True)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, case["bridge_state_topic"], "online", retain=True)
    if case["availability_topic"]:
        async_fire_mqtt_message(hass, case["availability_topic"], "online", retain=True)
    if case["state"] is not None:
        state_topic = f"{case['base_topic']}/{case['miner_id']}"
        async_fire_mqtt_message(hass, state_topic, json.dumps(case["state"]), retain=True)
    await hass.async_block_till_done()

"""The bridge's own device in Home Assistant, as zigbee2mqtt's bridge device: restart and scan
buttons, a log-level select, the connection state and the version.

The discovery configs are the daemon's real ones (``gen_discovery.py``'s ``bridge_device``
case), fed through HA's own MQTT discovery; what HA publishes when an entity is used is read
from the mocked MQTT client, and what the bridge publishes (``bridge/state``,
``bridge/info``) is fired into it.
"""

from __future__ import annotations

import json
from typing import Any

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from .common import BASE, INFO, bridge_device_id, replay_discovery

NODE = bridge_device_id()
STATE_TOPIC = f"{BASE}/bridge/state"
INFO_TOPIC = f"{BASE}/bridge/info"
#: (component, key) of every entity the bridge device must have
ENTITIES = {
    ("button", "restart"),
    ("button", "scan"),
    ("select", "log_level"),
    ("binary_sensor", "connection_state"),
    ("sensor", "version"),
}


@pytest.fixture
async def bridge_device(
    hass: HomeAssistant, mqtt_mock, discovery_cases: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """The bridge device's entities (by key) after its discovery, online, and bridge/info."""
    await replay_discovery(hass, discovery_cases["bridge_device"])
    info = {**INFO, "version": "9.8.7", "log_level": "info"}
    async_fire_mqtt_message(hass, INFO_TOPIC, json.dumps(info), retain=True)
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    found = {}
    for component, key in ENTITIES:
        entity_id = registry.async_get_entity_id(component, "mqtt", f"{NODE}_{key}")
        assert entity_id is not None, f"no {component} {key} on the bridge device"
        found[key] = entity_id
    mqtt_mock.async_publish.reset_mock()
    return found


def _sent(mqtt_mock) -> list[tuple[str, str]]:
    return [(c.args[0], c.args[1]) for c in mqtt_mock.async_publish.call_args_list]


async def test_every_entity_is_on_the_bridge_device(
    hass: HomeAssistant, bridge_device: dict[str, str]
) -> None:
    registry = er.async_get(hass)
    device = dr.async_get(hass).async_get_device(identifiers={("mqtt", NODE)})
    assert device is not None and device.name == "ASIC Bridge"
    on_device = {
        (entry.domain, entry.unique_id.removeprefix(f"{NODE}_"))
        for entry in er.async_entries_for_device(registry, device.id)
    }
    assert on_device == ENTITIES


@pytest.mark.parametrize(("key", "device_class"), [("restart", "restart"), ("scan", None)])
async def test_buttons_send_their_bridge_request(
    hass: HomeAssistant,
    mqtt_mock,
    bridge_device: dict[str, str],
    key: str,
    device_class: str | None,
) -> None:
    """Restart sends bridge/request/restart, scan bridge/request/scan (``{}``)."""
    await hass.services.async_call(
        "button", "press", {"entity_id": bridge_device[key]}, blocking=True
    )
    assert _sent(mqtt_mock) == [(f"{BASE}/bridge/request/{key}", "{}")]
    assert hass.states.get(bridge_device[key]).attributes.get("device_class") == device_class


async def test_log_level_select_sets_and_shows_the_bridge_log_level(
    hass: HomeAssistant, mqtt_mock, bridge_device: dict[str, str]
) -> None:
    select = bridge_device["log_level"]
    state = hass.states.get(select)
    assert state.state == "info"  # bridge/info's log_level
    assert state.attributes["options"] == ["debug", "info", "warning", "error"]

    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "debug"}, blocking=True
    )
    [(topic, payload)] = _sent(mqtt_mock)
    assert topic == f"{BASE}/bridge/request/options"
    assert json.loads(payload) == {"options": {"log_level": "debug"}}
    # not optimistic: it shows what the bridge says it runs at, once bridge/info says so
    assert hass.states.get(select).state == "info"
    info = {**INFO, "version": "9.8.7", "log_level": "debug"}
    async_fire_mqtt_message(hass, INFO_TOPIC, json.dumps(info))
    await hass.async_block_till_done()
    assert hass.states.get(select).state == "debug"


async def test_version_sensor_shows_bridge_info_version(
    hass: HomeAssistant, bridge_device: dict[str, str]
) -> None:
    assert hass.states.get(bridge_device["version"]).state == "9.8.7"
    async_fire_mqtt_message(hass, INFO_TOPIC, json.dumps({**INFO, "version": "9.9.0"}))
    await hass.async_block_till_done()
    assert hass.states.get(bridge_device["version"]).state == "9.9.0"


async def test_connection_state_follows_the_bridge_availability(
    hass: HomeAssistant, bridge_device: dict[str, str]
) -> None:
    connection = bridge_device["connection_state"]
    controls = [bridge_device[k] for k in ("restart", "scan", "log_level", "version")]
    state = hass.states.get(connection)
    assert state.state == STATE_ON and state.attributes["device_class"] == "connectivity"
    assert STATE_UNAVAILABLE not in {hass.states.get(c).state for c in controls}

    async_fire_mqtt_message(hass, STATE_TOPIC, "offline")  # the bridge's last will
    await hass.async_block_till_done()
    # the connection state still says something (off); the controls cannot be used
    assert hass.states.get(connection).state == STATE_OFF
    assert {hass.states.get(c).state for c in controls} == {STATE_UNAVAILABLE}

    async_fire_mqtt_message(hass, STATE_TOPIC, "online")
    await hass.async_block_till_done()
    assert hass.states.get(connection).state == STATE_ON
    assert STATE_UNAVAILABLE not in {hass.states.get(c).state for c in controls}

"""The miner's firmware ``update`` entity, as the bridge announces it, through Home
Assistant's own MQTT update platform: installed and latest version from the bridge's state
topic, in progress while it updates, and Install publishes the bridge's firmware_update
request (the payload the bridge put in the config)."""

from __future__ import annotations

import json
import logging
from typing import Any

from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from .common import replay_discovery


async def test_update_entity_shows_versions_and_installs_over_mqtt(
    hass: HomeAssistant,
    mqtt_mock,
    caplog: pytest.LogCaptureFixture,
    discovery_cases: dict[str, dict[str, Any]],
) -> None:
    case = discovery_cases["s19_firmware_update"]
    caplog.set_level(logging.WARNING)
    await replay_discovery(hass, case)
    ((topic, config),) = case["messages"].items()
    assert topic.startswith("homeassistant/update/")
    entity_id = er.async_get(hass).async_get_entity_id("update", "mqtt", config["unique_id"])
    assert entity_id is not None, "HA did not create the update entity"
    update_topic = case["update_state_topic"]
    async_fire_mqtt_message(hass, update_topic, json.dumps(case["update_state"]), retain=True)
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_ON  # a newer version is offered
    assert state.attributes["installed_version"] == case["update_state"]["installed_version"]
    assert state.attributes["latest_version"] == "2024.01.10"
    assert state.attributes["device_class"] == "firmware"
    assert state.attributes["in_progress"] is False
    complaints = [r.getMessage() for r in caplog.records if r.name.startswith("homeassistant")]
    assert [c for c in complaints if "mqtt" in c.lower()] == [], complaints

    mqtt_mock.async_publish.reset_mock()
    await hass.services.async_call("update", "install", {"entity_id": entity_id}, blocking=True)
    ((args, _),) = [(c.args, c.kwargs) for c in mqtt_mock.async_publish.call_args_list]
    assert args[0] == "asic_bridge/bridge/request/device/firmware_update"
    assert json.loads(args[1]) == {"id": case["miner_id"], "file": "Antminer-S19j-Pro-2024.tar.gz"}

    # while it updates, and once the new version is reported
    updating = {**case["update_state"], "in_progress": True}
    async_fire_mqtt_message(hass, update_topic, json.dumps(updating))
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).attributes["in_progress"] is True
    done = {**case["update_state"], "installed_version": "2024.01.10"}
    async_fire_mqtt_message(hass, update_topic, json.dumps(done))
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state.state == STATE_OFF and state.attributes["in_progress"] is False
